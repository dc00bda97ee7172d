"""Index: documents, sentences, passages and their vectors, with FAISS, persisted to disk.

Layout of an index folder (default ``<corpus>/.qa-index``)::

    CURRENT              name of the generation folder in use (replaced atomically)
    gen-<n>/manifest.json    format, model, settings, every file's content hash, array checksums
    gen-<n>/documents.jsonl  text, title and sentence/passage spans of each document
    gen-<n>/spans.npz        sentence and passage spans of all documents, in order
    gen-<n>/sentence_vectors.npy, passage_vectors.npy   float16 and float32 (VECTOR_DTYPES),
                             L2-normalised
    gen-<n>/dense.faiss      the FAISS index over passage vectors (kind in the manifest)
    gen-<n>/bm25_*           the BM25 index (bm25s) and its term statistics
    .lock                held while a process updates the index
    QA-INDEX             marks the folder as qa's: qa writes and deletes only in a marked folder

An update writes a whole new generation and then swaps ``CURRENT``, so a process killed
mid-write leaves the previous index loadable. The vector files are memory-mapped, never
read whole: a million passages' vectors (about 3.6 GB with their sentences) need not fit in
memory, and queries read the few rows they need from the files as float32 (``sentence_rows``,
``passage_rows``; qa/vectors.py), so none stay in the process's resident memory. (Indexes
written before kept every array in one ``vectors.npz``; they still load, and are rewritten in
the new layout at once.) Unchanged files
(same size, modification time and inode change time, or else the same content hash) keep
their vectors; only new or changed files are embedded. The change time (ctime) is what makes
this safe: a program can set a file's mtime back after editing it, but not its ctime, which
the system sets to now on every write and every mtime change.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dense import DenseIndex, DenseSettings
from .documents import Document, document_id, file_sha256, find_files, read_document
from .embedding import Embedder
from .errors import DocumentError, FolderError, IndexFolderError
from .errors import IndexError_ as CorruptIndexError
from .lexical import TERMS_FILE, LexicalIndex, LexicalSettings
from .passages import PassageSettings, PassageSplitter
from .store import Store, open_store
from .text import repair_splits
from .vectors import VECTOR_DTYPES, VectorRows, map_vectors, save_vectors

log = logging.getLogger(__name__)

# 2: vectors and terms of split-repaired text (text.repair_splits); 3: passages searched
# with their document's title (searchable_passage)
FORMAT_VERSION = 3
# How the vectors lie on disk, apart from what they mean (FORMAT_VERSION, which a Milvus
# collection is also keyed on): 1 (no "storage" in the manifest) float32 sentence vectors;
# 2 float16 sentence vectors. An index of an older storage still loads as it is, and is
# rewritten in this one at once (nothing is re-embedded).
STORAGE_VERSION = 2
INDEX_DIRNAME = ".qa-index"
EMBED_BATCH = 512  # texts per encode call while indexing many files
VECTOR_FILES = ("sentence_vectors", "passage_vectors")
UPLOAD_PREFIX = ".upload-"  # an upload's copy in the corpus until it is indexed (qa.ui)
# mkstemp's eight random characters: only names qa made this way are ever removed
STALE_UPLOAD = re.compile(re.escape(UPLOAD_PREFIX) + r"[a-z0-9_]{8}\.[a-z]+")
STALE_UPLOAD_SECONDS = 3600  # older than any upload still copying or waiting for the lock
MARKER = "QA-INDEX"  # written into every index folder qa makes; see _claim_index_dir
GENERATION_NAME = re.compile(r"gen-[A-Za-z0-9_]+")  # what tempfile.mkdtemp(prefix="gen-") makes


def searchable_passage(title: str, text: str) -> str:
    """What is embedded and BM25-indexed for a passage: its document's title, then its text.

    A passage often names its subject only through the title ("He was born in..."); with the
    title, passage hit@1 on 12 SQuAD articles rose from 0.725 to 0.745. Used when
    ``PassageSettings.titles`` is on. Offsets and extracts still refer to the text alone.
    """
    return f"{title}\n{repair_splits(text)}" if title else repair_splits(text)


@dataclass
class DocumentEntry:
    """One document with its spans and vectors, as stored in the index."""

    document: Document
    size: int
    mtime_ns: int
    sentences: np.ndarray  # (n, 2) int64 spans
    passages: np.ndarray  # (p, 4) int64: start, end, first sentence, last sentence (exclusive)
    sentence_vectors: np.ndarray
    passage_vectors: np.ndarray
    ctime_ns: int = 0  # inode change time: cannot be set back like mtime (0: unknown)

    def same_stat(self, stat: os.stat_result) -> bool:
        """Whether the file is surely unchanged: same size, mtime and ctime as when read."""
        return (self.size, self.mtime_ns, self.ctime_ns) == (
            stat.st_size,
            stat.st_mtime_ns,
            stat.st_ctime_ns,
        )

    def stamp(self, stat: os.stat_result) -> None:
        self.size, self.mtime_ns, self.ctime_ns = stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


@dataclass(frozen=True)
class Passage:
    """A passage as stages see it: ``text`` is its document's ``text[start:end]``, and its
    sentences are ids ``first`` to ``last - 1``."""

    id: int
    doc_id: str
    start: int
    end: int
    text: str
    first: int
    last: int

    @property
    def sentences(self) -> range:
        return range(self.first, self.last)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document: ``text`` is the document's ``text[start:end]``."""

    id: int
    doc_id: str
    start: int
    end: int
    text: str


@dataclass
class StoredArrays:
    """The arrays of a loaded generation, reusable while its documents stay the same."""

    doc_ids: list[str]
    sentence_vectors: np.ndarray
    passage_vectors: np.ndarray
    dense: DenseIndex | None
    lexical: LexicalIndex | None
    storage: int = STORAGE_VERSION  # the layout they were read from (older: rewrite it)


@dataclass
class SyncReport:
    """What an update did: documents embedded, reused, removed, skipped (with reasons)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    rebuilt_reason: str | None = None
    upgraded_from: int | None = None  # the older storage version rewritten (nothing embedded)
    # Documents whose passages were (re)written to, or removed from, a store that is not the
    # index folder's own (Milvus): only those of new, changed and deleted files.
    store_written: list[str] = field(default_factory=list)
    store_removed: list[str] = field(default_factory=list)
    # Documents of an interrupted Ray build taken from its saved parts, not embedded again
    # (qa.distributed).
    resumed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def modified(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.rebuilt_reason)


class CorpusIndex:
    """All passages of a folder, searchable by vector and by terms in its ``store``: FAISS
    and BM25 in this process by default, or a Milvus collection (see ``qa.store``)."""

    def __init__(
        self,
        folder: str | os.PathLike,
        index_dir: str | os.PathLike | None = None,
        embedder: Embedder | None = None,
        settings: PassageSettings | None = None,
        dense: DenseSettings | None = None,
        store: str | Store | None = None,
        lexical: LexicalSettings | None = None,
    ):
        self.folder = Path(folder)
        self.index_dir = Path(index_dir) if index_dir else self.folder / INDEX_DIRNAME
        self.embedder = embedder or Embedder()
        self.settings = settings or PassageSettings()
        self.splitter = PassageSplitter(self.settings)
        self.entries: dict[str, DocumentEntry] = {}
        self.lexical_settings = lexical or LexicalSettings()
        self.lexical = LexicalIndex()
        self.dense = DenseIndex(dense)
        self._stored: StoredArrays | None = None  # what _load read, for _assemble to reuse
        self._readers: dict[str, VectorRows] = {}  # see _rows
        # Held by a reader for a whole question (Assistant) and by an update only while it swaps
        # in what it built aside: a question sees one generation, never a mix of two.
        self.lock = threading.RLock()
        self.store = open_store(store)
        self.store.attach(self)
        self._assemble()

    # ----- public API ---------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        folder,
        index_dir=None,
        embedder=None,
        settings=None,
        progress=None,
        dense=None,
        store=None,
        lexical=None,
    ):
        """Load the persisted index of ``folder`` and bring it up to date with the files."""
        index = cls(folder, index_dir, embedder, settings, dense, store, lexical)
        index.sync(progress=progress)
        return index

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()

    @property
    def documents(self) -> dict[str, Document]:
        return {doc_id: entry.document for doc_id, entry in self.entries.items()}

    def __len__(self) -> int:
        """Number of passages."""
        return len(self.passage_doc)

    def sync(self, progress=None, embed_files=None) -> SyncReport:
        """Re-read the folder; embed new and changed files, drop deleted ones, persist.

        ``progress`` is called as ``progress(fraction, message)`` while documents are embedded.
        ``embed_files(todo, report, progress)`` embeds the new and changed files elsewhere
        (``qa.distributed``: on Ray) instead of in this process (``_embed_files``).
        """
        from filelock import FileLock, Timeout

        began = time.perf_counter()
        if not self.folder.is_dir():
            raise FolderError(f"Not a folder: {self.folder}")
        self._claim_index_dir()
        lock = FileLock(str(self.index_dir / ".lock"), timeout=600)
        try:
            if _writable(self.index_dir):
                with lock:
                    report = self._sync_locked(progress, embed_files=embed_files)
            else:  # read-only use: no lock to take, as nothing will be written
                report = self._sync_locked(progress, save=False, embed_files=embed_files)
        except Timeout as error:
            raise CorruptIndexError(
                f"Another process has been updating {self.index_dir} for 10 minutes; gave up."
            ) from error
        self._onnx_encoder(export=False)
        report.seconds = time.perf_counter() - began
        return report

    def add_file(self, path: Path, doc_id: str, final_path: Path | None = None) -> Document:
        """Read, embed and index one file now (used by uploads), then persist.

        With ``final_path``, the file is moved there only after it was read and embedded, so
        a file that cannot be indexed never enters the corpus. The name is claimed atomically:
        when ``final_path`` exists by then (another upload of the same name), the file gets
        the next free name (``name-1.txt``...), never replaces it; the returned Document's
        ``doc_id`` is the name it got. Raises ``DocumentError``.
        """
        from filelock import FileLock

        self._claim_index_dir()
        with FileLock(str(self.index_dir / ".lock"), timeout=600):
            entry = self._embed_file(Path(path), doc_id)
            if final_path is not None:
                final_path = _claim_name(Path(path), Path(final_path))
                doc_id = document_id(final_path.relative_to(self.folder))
                entry.document = dataclasses.replace(entry.document, doc_id=doc_id)
                entry.stamp(final_path.stat())
            previous = dict(self.__dict__)
            self._publish({**self.entries, doc_id: entry})
            try:
                self._save(previous)
            except CorruptIndexError:
                if final_path is not None:  # the upload did not happen: leave no trace of it
                    final_path.unlink(missing_ok=True)
                raise
            self.store.sync()
        return entry.document

    def _claim_index_dir(self) -> None:
        """Make sure the index folder is qa's before anything is written or deleted in it.

        qa replaces ``CURRENT`` and deletes ``gen-*`` folders, so a folder chosen with
        ``--index-dir`` that holds anything else (the corpus, a home folder) is refused rather
        than damaged. A new or empty folder is marked with ``QA-INDEX``; an unmarked folder
        holding only an index of earlier versions (``CURRENT``, ``gen-*``, ``.lock``) is adopted.
        """
        folder = self.index_dir
        if folder.resolve() == self.folder.resolve():
            raise IndexFolderError(
                f"The index folder {folder} is the corpus folder itself; "
                "choose a folder of its own for the index."
            )
        if (folder / MARKER).is_file():
            return
        if folder.is_dir() and not _holds_only_an_index(folder):
            examples = ", ".join(sorted(p.name for p in folder.iterdir())[:3])
            raise IndexFolderError(
                f"{folder} is not empty and is not a qa index (it holds {examples}...); qa "
                "will not write or delete there. Choose an empty or new folder for the index."
            )
        folder.mkdir(parents=True, exist_ok=True)
        _replace_text(folder / MARKER, "This folder is a qa index: qa rewrites what is in it.\n")

    # ----- searching ----------------------------------------------------------------------

    def dense_search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` passages by inner product with a normalised ``vector``: (ids, scores)."""
        scores, ids = self.dense.search(vector.reshape(1, -1), k)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    def sentence_rows(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of sentences ``ids``, as float32 (they are stored as float16)."""
        return self._rows("sentence_vectors")(ids)

    def passage_rows(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of passages ``ids``, as float32."""
        return self._rows("passage_vectors")(ids)

    def _rows(self, name: str) -> VectorRows:
        """The row reader of the vectors ``name`` now holds (made anew when they change)."""
        vectors = getattr(self, name)
        reader = self._readers.get(name)
        if reader is None or reader.vectors is not vectors:
            reader = self._readers[name] = VectorRows(vectors)
        return reader

    def passage_text(self, i: int) -> str:
        start, end = self.passage_span[i]
        return self.entries[self.doc_ids[self.passage_doc[i]]].document.text[start:end]

    def searchable_text(self, i: int) -> str:
        """What BM25 indexes for passage ``i`` (see ``searchable_passage``)."""
        title = self.entries[self.doc_ids[self.passage_doc[i]]].document.title
        return searchable_passage(title if self.settings.titles else "", self.passage_text(i))

    def sentence_text(self, j: int) -> str:
        start, end = self.sentence_span[j]
        return self.entries[self.doc_ids[self.sentence_doc[j]]].document.text[start:end]

    # ----- reading: what later stages are handed ------------------------------------------

    def passage(self, i: int) -> Passage:
        """Passage ``i``: its document, span, text and sentences."""
        doc_id = self.doc_ids[self.passage_doc[i]]
        start, end = (int(x) for x in self.passage_span[i])
        first, last = (int(x) for x in self.passage_sentences[i])
        document = self.entries[doc_id].document
        return Passage(i, doc_id, start, end, document.text[start:end], first, last)

    def sentence(self, j: int) -> Sentence | None:
        """Sentence ``j`` (ids run through the documents in order), or None past either end."""
        if not 0 <= j < len(self.sentence_span):
            return None
        doc_id = self.doc_ids[self.sentence_doc[j]]
        start, end = (int(x) for x in self.sentence_span[j])
        return Sentence(j, doc_id, start, end, self.entries[doc_id].document.text[start:end])

    def sentences_of(self, doc_id: str) -> range:
        """The ids of document ``doc_id``'s sentences."""
        number = self.doc_ids.index(doc_id)
        found = np.flatnonzero(self.sentence_doc == number)
        return range(int(found[0]), int(found[-1]) + 1) if len(found) else range(0)

    def passage_holding(self, j: int) -> int:
        """The first passage whose sentences include sentence ``j``."""
        found = int(np.searchsorted(self.passage_sentences[:, 1], j, side="right"))
        return min(found, len(self) - 1)

    def sentence_similarity(self, ids: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Inner products of sentences ``ids`` with a normalised ``vector``."""
        return self.sentence_rows(ids) @ vector

    def prepare_questions(self) -> None:
        """Get question embedding ready: the ONNX export (made now if missing, which loads the
        model), else the model. ``qa index`` and the chat's start call it."""
        self._onnx_encoder(export=True)
        self.embedder.load_for_questions()

    def _onnx_encoder(self, export: bool) -> None:
        """Embed with the model's ONNX export; with ``export``, make it first when missing.

        A later cold start then needs no torch, and indexing runs 2.3x faster. Without
        ``export`` it is made only when the model is loaded anyway, so opening an unchanged
        index never imports torch for it.
        """
        from .embedding import resolve_model
        from .onnx_encoder import encoder_file

        try:
            location = resolve_model(self.embedder.model_name)
        except Exception:  # no model: nothing can be embedded either way
            return
        if not Path(location).is_dir():  # a hub name: no local files to export from
            return
        path = encoder_file(location)
        if path.exists():
            self.embedder.use_onnx(path)
        elif (export or self.embedder._model is not None) and _onnx_available():
            self.embedder.export_onnx(path)

    # ----- building -----------------------------------------------------------------------

    def _sync_locked(self, progress, save: bool = True, embed_files=None) -> SyncReport:
        report = SyncReport()
        if save:
            _remove_stale_uploads(self.folder)
        try:
            stored = self._load()
        except CorruptIndexError as error:
            log.warning("Rebuilding the index in %s: %s", self.index_dir, error)
            report.rebuilt_reason = str(error)
            stored = {}
        files = find_files(self.folder)
        todo: list[tuple[str, Path]] = []
        entries: dict[str, DocumentEntry] = {}
        for doc_id, path in files.items():
            try:
                stat = path.stat()
                old = stored.get(doc_id)
                if old and old.same_stat(stat):
                    entries[doc_id] = old
                    report.unchanged.append(doc_id)
                    continue
                sha = file_sha256(path)
            except OSError as error:  # gone or unreadable since it was listed: skip it alone
                log.warning("Skipped %s: %s", doc_id, error.strerror)
                report.skipped[doc_id] = f"the file could not be opened ({error.strerror})"
                continue
            if old and old.document.sha256 == sha:
                old.stamp(stat)
                entries[doc_id] = old
                report.unchanged.append(doc_id)
                continue
            todo.append((doc_id, path))
            (report.changed if old else report.added).append(doc_id)
        report.removed = sorted(set(stored) - set(files))
        if todo:
            self._onnx_encoder(export=True)
        entries.update((embed_files or self._embed_files)(todo, report, progress))
        # Unchanged documents reuse the stored arrays (memory-mapped) and FAISS index (an IVF
        # index takes a minute to train).
        stored, self._stored = self._stored, None
        if stored is not None and stored.storage < STORAGE_VERSION:
            report.upgraded_from = stored.storage
            log.info("Rewriting the vectors of %s in storage %d", self.index_dir, STORAGE_VERSION)
        if report.modified:
            stored = None
        previous = dict(self.__dict__)
        rebuilt = self._publish(entries, stored)
        if (
            report.modified
            or report.skipped
            or rebuilt  # other dense settings, or an index from before these were stored
            or report.upgraded_from is not None
            or not (self.index_dir / "CURRENT").exists()
        ):
            if save:
                self._save(previous)
            else:
                log.warning("%s is read-only: the update is used but not saved", self.index_dir)
        report.store_written, report.store_removed = self.store.sync()
        return report

    def _embed_files(self, todo, report: SyncReport, progress) -> dict[str, DocumentEntry]:
        """Read, split and embed the files ``todo`` ((doc_id, path) pairs) in this process;
        a file that cannot be read is skipped and taken out of ``report``'s added/changed."""
        entries: dict[str, DocumentEntry] = {}
        # Small files share encode calls: one call per file made SciFact's abstracts (14 texts
        # each) embed 1.8x slower than batches of EMBED_BATCH texts.
        batch: list[tuple[DocumentEntry, list[str]]] = []
        for n, (doc_id, path) in enumerate(todo):
            if progress:
                progress(n / len(todo), f"Indexing {doc_id}")
            try:
                batch.append(self._read_file(path, doc_id))
            except DocumentError as error:
                skip(report, doc_id, error.reason)
                continue
            if sum(len(texts) for _, texts in batch) >= EMBED_BATCH:
                for entry in self._embed(batch):
                    entries[entry.document.doc_id] = entry
                batch = []
        for entry in self._embed(batch):
            entries[entry.document.doc_id] = entry
        if progress and todo:
            progress(1.0, "Indexed")
        return entries

    def _publish(self, entries: dict[str, DocumentEntry], stored=None) -> bool:
        """Make ``entries`` the index: search structures are built aside (a copy of this
        index), then swapped in at once under ``self.lock``. Returns what _assemble does."""
        staged = copy.copy(self)
        staged.entries = dict(sorted(entries.items()))
        rebuilt = staged._assemble(stored)
        with self.lock:
            self.__dict__.update(staged.__dict__)
        return rebuilt

    def _embed_file(self, path: Path, doc_id: str) -> DocumentEntry:
        """Read, split and embed one file."""
        return self._embed([self._read_file(path, doc_id)])[0]

    def _read_file(self, path: Path, doc_id: str) -> tuple[DocumentEntry, list[str]]:
        """The file's entry without vectors yet, and the texts to embed for it."""
        return read_entry(path, doc_id, self.folder, self.splitter)

    def _embed(self, batch: list[tuple[DocumentEntry, list[str]]]) -> list[DocumentEntry]:
        """Fill in the vectors of read entries, encoding all their texts in one call."""
        return embed_entries(self.embedder, batch)

    def _assemble(self, stored: StoredArrays | None = None) -> bool:
        """Concatenate the per-document tables into global arrays and build FAISS and BM25.

        ``stored`` arrays and FAISS index, read from disk for unchanged documents, are used as
        they are when they hold exactly these documents, in this order. Returns whether a
        search structure was built anew (so the index folder should be saved).
        """
        self.doc_ids = list(self.entries)
        entries = list(self.entries.values())
        dim = entries[0].passage_vectors.shape[1] if entries else 0
        sentence_offsets = np.cumsum([0] + [len(e.sentences) for e in entries])
        passage_offsets = np.cumsum([0] + [len(e.passages) for e in entries]).tolist()
        self.first_passage = dict(zip(self.doc_ids, passage_offsets))
        self.sentence_doc = np.concatenate(
            [np.full(len(e.sentences), i, dtype=np.int32) for i, e in enumerate(entries)]
            or [np.zeros(0, np.int32)]
        )
        self.sentence_span = np.concatenate(
            [e.sentences for e in entries] or [np.zeros((0, 2), np.int64)]
        )
        self.passage_doc = np.concatenate(
            [np.full(len(e.passages), i, dtype=np.int32) for i, e in enumerate(entries)]
            or [np.zeros(0, np.int32)]
        )
        rows = [e.passages + [0, 0, off, off] for e, off in zip(entries, sentence_offsets)]
        rows = np.concatenate(rows or [np.zeros((0, 4), np.int64)])
        self.passage_span = rows[:, :2]
        self.passage_sentences = rows[:, 2:]
        if stored is not None and stored.doc_ids != self.doc_ids:
            stored = None
        if stored is not None:
            self.sentence_vectors = stored.sentence_vectors
            self.passage_vectors = stored.passage_vectors
        else:
            # In the stored dtypes already: what is served before the save is what is saved.
            self.sentence_vectors, self.passage_vectors = (
                np.concatenate(
                    [getattr(e, name) for e in entries] or [np.zeros((0, dim))],
                    dtype=VECTOR_DTYPES[name],
                )
                for name in VECTOR_FILES
            )
        self._point_entries()
        # Another store searches in its own engine: FAISS stays empty and BM25 keeps only the
        # term statistics that extraction and the scope check read.
        embedded = self.store.embedded
        rebuilt = False
        dense = stored.dense if stored is not None else None
        if not embedded or not len(self.passage_vectors):
            self.dense = DenseIndex(self.dense.settings)
        elif dense is not None and len(dense) == len(self.passage_vectors):
            self.dense = dense
        else:
            self.dense = DenseIndex(self.dense.settings).build(self.passage_vectors)
            rebuilt = True
        lexical = stored.lexical if stored is not None else None
        wanted, bm25 = self.lexical_settings, self.store.lexical_embedded
        if (
            lexical is not None
            and len(lexical) == len(self.passage_doc)
            and (lexical.k1, lexical.b) == (wanted.k1, wanted.b)
            and lexical.statistics_only != bm25
        ):
            self.lexical = lexical
        elif not len(self.passage_doc):
            self.lexical = LexicalIndex(wanted.k1, wanted.b)
        else:
            self.lexical = LexicalIndex(wanted.k1, wanted.b).index(
                [self.searchable_text(i) for i in range(len(self.passage_doc))], bm25=bm25
            )
            rebuilt = True
        return rebuilt

    # ----- persistence --------------------------------------------------------------------

    def fingerprint(self) -> dict:
        """What the stored vectors and spans depend on: format, model and passage settings."""
        return {
            "format": FORMAT_VERSION,
            "model": self.embedder.model_name,
            "settings": self.settings.to_dict(),
        }

    def _load(self) -> dict[str, DocumentEntry]:
        """The stored entries, or {} when there is no index yet; raises when it is unusable."""
        generation = self._current_generation()
        if generation is None:
            return {}
        manifest = _read_manifest(generation)
        fingerprint = self.fingerprint()
        for key, value in fingerprint.items():
            if manifest.get(key) != value:
                raise CorruptIndexError(f"built with {key}={manifest.get(key)!r}, now {value!r}")
        storage = manifest.get("storage", 1)
        if storage not in range(1, STORAGE_VERSION + 1):
            raise CorruptIndexError(f"stored as {storage!r}, which this qa cannot read")
        for name, expected in manifest["checksums"].items():
            path = generation / name
            if not path.exists() or file_sha256(path) != expected:
                raise CorruptIndexError(f"{name} is missing or does not match its checksum")
        try:
            # Materialise once: indexing an NpzFile re-reads the whole array on every access.
            legacy = (generation / "vectors.npz").exists()
            with np.load(generation / ("vectors.npz" if legacy else "spans.npz")) as npz:
                arrays = {name: npz[name] for name in npz.files}
            if not legacy:
                for name in VECTOR_FILES:
                    arrays[name] = map_vectors(generation / f"{name}.npy")
            for vectors, spans in zip(VECTOR_FILES, ("sentences", "passages")):
                if arrays[vectors].ndim != 2 or arrays[vectors].dtype.kind != "f":
                    raise ValueError(
                        f"{vectors} are {arrays[vectors].dtype} of {arrays[vectors].ndim} axes"
                    )
                if len(arrays[vectors]) != len(arrays[spans]):
                    raise ValueError(
                        f"{len(arrays[vectors])} {vectors} for {len(arrays[spans])} spans"
                    )
            entries = {}
            with open(generation / "documents.jsonl", encoding="utf-8") as handle:
                for line in handle:
                    record = json.loads(line)
                    doc_id = record["document"]["doc_id"]
                    info = manifest["documents"][doc_id]
                    s0, s1, p0, p1 = record["rows"]
                    entries[doc_id] = DocumentEntry(
                        document=Document.from_dict(record["document"]),
                        size=info["size"],
                        mtime_ns=info["mtime_ns"],
                        ctime_ns=info.get("ctime_ns", 0),  # none before: hashed once
                        sentences=arrays["sentences"][s0:s1],
                        passages=arrays["passages"][p0:p1],
                        sentence_vectors=arrays["sentence_vectors"][s0:s1],
                        passage_vectors=arrays["passage_vectors"][p0:p1],
                    )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise CorruptIndexError(f"unreadable index data ({error!r})") from error
        self._stored = StoredArrays(
            list(entries),
            arrays["sentence_vectors"],
            arrays["passage_vectors"],
            self._load_dense(generation, manifest) if self.store.embedded else None,
            self._load_lexical(generation),
            storage,
        )
        return entries

    def _current_generation(self) -> Path | None:
        """The generation folder ``CURRENT`` names, None without one; raises when ``CURRENT``
        is garbage or names anything but a generation folder here (``../x`` included)."""
        current = self.index_dir / "CURRENT"
        if not current.exists():
            return None
        try:
            name = current.read_bytes().decode("ascii").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise CorruptIndexError(f"unreadable CURRENT pointer ({error})") from error
        if not GENERATION_NAME.fullmatch(name) or not (self.index_dir / name).is_dir():
            raise CorruptIndexError(f"CURRENT names no generation folder ({name[:40]!r})")
        return self.index_dir / name

    def _load_lexical(self, generation: Path) -> LexicalIndex | None:
        """The stored BM25 index, or None (rebuilt from the text) when absent or unreadable."""
        if not (generation / TERMS_FILE).exists():
            return None
        try:
            return LexicalIndex.load(generation, bm25=self.store.lexical_embedded)
        except Exception as error:  # checksummed, so rare; bm25s raises many types: rebuild
            log.warning("Rebuilding the BM25 index of %s: %s", self.index_dir, error)
            return None

    def _load_dense(self, generation: Path, manifest: dict) -> DenseIndex | None:
        """The stored FAISS index when it is what the current settings would build, else None."""
        description = manifest.get("dense")
        if not description or description.get("settings") != self.dense.settings.to_dict():
            return None
        if description["kind"] != self.dense.settings.kind_for(description["vectors"]):
            return None
        try:
            return DenseIndex.load(generation / "dense.faiss", description)
        except (RuntimeError, ValueError, KeyError) as error:  # checksummed, so rare: rebuild it
            log.warning("Rebuilding the dense index of %s: %s", self.index_dir, error)
            return None

    def _save(self, previous: dict | None = None) -> None:
        """Write a new generation, then point ``CURRENT`` at it.

        On an OSError (a full disk) the partial generation is removed, this index's state
        before the update (``previous``, its attributes) is restored, and IndexError_ says so:
        the previous generation stays in use, on disk and here.
        """
        generation = None
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            generation = Path(tempfile.mkdtemp(prefix="gen-", dir=self.index_dir))
            os.chmod(generation, _default_mode(directory=True))
            self._write_generation(generation)
            _replace_text(self.index_dir / "CURRENT", generation.name)
        except OSError as error:
            if generation is not None:
                shutil.rmtree(generation, ignore_errors=True)
            if previous is not None:
                with self.lock:
                    self.__dict__.update(previous)
            raise CorruptIndexError(
                f"Could not save the index in {self.index_dir} ({error.strerror or error}); "
                "the previous index is kept."
            ) from error
        for old in self.index_dir.glob("gen-*"):
            if old != generation:
                shutil.rmtree(old, ignore_errors=True)  # a live map of its files stays valid
        for temporary in self.index_dir.glob("CURRENT.*"):  # left by a writer killed mid-way
            temporary.unlink(missing_ok=True)
        with self.lock:
            self._map_vectors(generation)

    def _write_generation(self, generation: Path) -> None:
        entries = list(self.entries.values())
        with open(generation / "documents.jsonl", "w", encoding="utf-8") as handle:
            s = p = 0
            for entry in entries:
                rows = [s, s + len(entry.sentences), p, p + len(entry.passages)]
                s, p = rows[1], rows[3]
                record = {"document": entry.document.to_dict(), "rows": rows}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        dim = self.passage_vectors.shape[1] if len(self.passage_vectors) else 0
        np.savez(
            generation / "spans.npz",
            sentences=np.concatenate(
                [e.sentences for e in entries] or [np.zeros((0, 2), np.int64)]
            ),
            passages=np.concatenate([e.passages for e in entries] or [np.zeros((0, 4), np.int64)]),
        )
        sentence_vectors = self.sentence_vectors.reshape(-1, dim) if dim else self.sentence_vectors
        for name, vectors in zip(VECTOR_FILES, (sentence_vectors, self.passage_vectors)):
            save_vectors(generation / f"{name}.npy", vectors, VECTOR_DTYPES[name])
        self.dense.save(generation / "dense.faiss")
        self.lexical.save(generation)
        manifest = self.fingerprint() | {
            "storage": STORAGE_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "dense": self.dense.to_dict(),
            "documents": {
                doc_id: {
                    "sha256": e.document.sha256,
                    "size": e.size,
                    "mtime_ns": e.mtime_ns,
                    "ctime_ns": e.ctime_ns,
                    "title": e.document.title,
                    "sentences": len(e.sentences),
                    "passages": len(e.passages),
                }
                for doc_id, e in self.entries.items()
            },
            "checksums": {path.name: file_sha256(path) for path in sorted(generation.iterdir())},
        }
        (generation / "manifest.json").write_text(json.dumps(manifest, indent=1))
        for path in generation.iterdir():
            _fsync(path)

    def _map_vectors(self, generation: Path) -> None:
        """Serve the vectors from the files just written, so memory holds only what is read."""
        self.sentence_vectors, self.passage_vectors = (
            map_vectors(generation / f"{name}.npy") for name in VECTOR_FILES
        )
        self._point_entries()

    def _point_entries(self) -> None:
        """Make each entry's vectors views into the global arrays, so each is held once."""
        s = p = 0
        for entry in self.entries.values():
            s1, p1 = s + len(entry.sentences), p + len(entry.passages)
            entry.sentence_vectors = self.sentence_vectors[s:s1]
            entry.passage_vectors = self.passage_vectors[p:p1]
            s, p = s1, p1


def read_entry(
    path: Path, doc_id: str, folder: Path, splitter: PassageSplitter
) -> tuple[DocumentEntry, list[str]]:
    """A file's entry without vectors yet, and the texts to embed for it (its sentences',
    then its passages'). Raises DocumentError. (A function, so Ray workers run the same code.)
    """
    try:  # before reading: a change made while it is read then shows at the next sync
        stat = path.stat()
    except OSError as error:
        raise DocumentError(
            str(path), f"the file could not be opened ({error.strerror})"
        ) from error
    document = read_document(path, doc_id, root=folder)
    sentences, passages = splitter.run(document)
    text = document.text
    sentence_spans = np.array([(s.start, s.end) for s in sentences], dtype=np.int64)
    passage_rows = np.array(
        [(p.start, p.end, p.first_sentence, p.last_sentence) for p in passages], dtype=np.int64
    )
    # Vectors of the split-repaired text ("Ch ina" -> "China"); spans stay on the raw text.
    title = document.title if splitter.settings.titles else ""
    texts = [repair_splits(text[s.start : s.end]) for s in sentences] + [
        searchable_passage(title, text[p.start : p.end]) for p in passages
    ]
    entry = DocumentEntry(
        document=document,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        ctime_ns=stat.st_ctime_ns,
        sentences=sentence_spans.reshape(-1, 2),
        passages=passage_rows.reshape(-1, 4),
        sentence_vectors=None,
        passage_vectors=None,
    )
    return entry, texts


def embed_entries(
    embedder: Embedder, batch: list[tuple[DocumentEntry, list[str]]]
) -> list[DocumentEntry]:
    """Fill in the vectors of read entries, encoding all their texts in one call."""
    if not batch:
        return []
    vectors = embedder.encode([t for _, texts in batch for t in texts])
    offset = 0
    for entry, texts in batch:
        own = vectors[offset : offset + len(texts)]
        offset += len(texts)
        entry.sentence_vectors = own[: len(entry.sentences)]
        entry.passage_vectors = own[len(entry.sentences) :]
    return [entry for entry, _ in batch]


def skip(report: SyncReport, doc_id: str, reason: str) -> None:
    """Record that ``doc_id`` could not be indexed, and why."""
    log.warning("Skipped %s: %s", doc_id, reason)
    report.skipped[doc_id] = reason
    for bucket in (report.added, report.changed):
        if doc_id in bucket:
            bucket.remove(doc_id)


def _writable(folder: Path) -> bool:
    """Whether this process may update the index in ``folder`` (and take its lock)."""
    lock = folder / ".lock"
    return os.access(folder, os.W_OK) and (not lock.exists() or os.access(lock, os.W_OK))


def _default_mode(directory: bool = False) -> int:
    """The mode open() or mkdir() would give under this process's umask. mkstemp and mkdtemp
    give 0600 and 0700, which would keep other users from reading the index."""
    try:
        with open("/proc/self/status") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):  # not Linux: read it by setting it
        umask = os.umask(0o022)
        os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _claim_name(source: Path, target: Path) -> Path:
    """Give ``source`` the name ``target``, or ``target-1``, ``target-2``... when taken: a
    hard link fails rather than replace an existing file, so two uploads of one name at the
    same moment both keep their file."""
    n = 0
    while True:
        name = target if n == 0 else target.with_name(f"{target.stem}-{n}{target.suffix}")
        try:
            os.link(source, name)
        except FileExistsError:
            n += 1
            continue
        except OSError:  # no hard links on this file system: create exclusively, then replace
            try:
                os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                n += 1
                continue
            os.replace(source, name)
            return name
        os.unlink(source)
        return name


def _remove_stale_uploads(folder: Path) -> None:
    """Delete the hidden copies that uploads killed mid-way left in the corpus folder.

    Only names of the form qa gives them, and only those untouched for an hour: a live
    upload's copy is younger (it is indexed, or waits at most 10 minutes for the lock).
    """
    cutoff = time.time() - STALE_UPLOAD_SECONDS
    for path in folder.glob(UPLOAD_PREFIX + "*"):
        try:
            if STALE_UPLOAD.fullmatch(path.name) and path.lstat().st_mtime < cutoff:
                path.unlink()
                log.warning("Removed %s, left by an upload that did not finish", path)
        except OSError as error:  # gone already, or not ours to remove: leave it
            log.warning("Could not remove %s: %s", path, error)


def _holds_only_an_index(folder: Path) -> bool:
    """Whether ``folder`` is empty or holds nothing but what earlier versions of qa wrote (an
    index from before the ``QA-INDEX`` mark): ``.lock``, ``gen-*`` folders, and a ``CURRENT``
    naming one (or its temporary files)."""
    for path in folder.iterdir():
        name = path.name
        if name == "CURRENT" and path.is_file():
            pointer = path.read_bytes()[:100].decode("ascii", "replace").strip()
            if not GENERATION_NAME.fullmatch(pointer):
                return False  # someone else's file called CURRENT
            continue
        qa_file = name == ".lock" or name.startswith("CURRENT.")
        if not (path.is_file() if qa_file else GENERATION_NAME.fullmatch(name) and path.is_dir()):
            return False
    return True


def _read_manifest(generation: Path) -> dict:
    """The generation's manifest, checked to be the shape _save writes (a JSON object whose
    ``documents`` and ``checksums`` are objects, the latter naming files of the generation);
    raises CorruptIndexError otherwise."""
    try:
        manifest = json.loads((generation / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CorruptIndexError(f"unreadable manifest ({error})") from error
    if not isinstance(manifest, dict):
        raise CorruptIndexError(f"the manifest is a JSON {type(manifest).__name__}, not an object")
    manifest.setdefault("checksums", {})
    for key in ("documents", "checksums"):
        if not isinstance(manifest.get(key), dict):
            raise CorruptIndexError(f"the manifest's {key!r} is not an object")
    if any("/" in name or name.startswith(".") for name in manifest["checksums"]):
        raise CorruptIndexError("the manifest lists files outside its generation folder")
    return manifest


def _onnx_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime", "tokenizers"))


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file, flushed, then renamed."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    os.fchmod(fd, _default_mode())
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
