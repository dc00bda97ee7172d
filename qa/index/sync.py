"""Index: keeps a folder's corpus up to date, and serves it.

``CorpusIndex`` is the building side: it reads the folder, finds new, changed and deleted
files (by size, modification and change time, else content hash), reads and embeds only those
(``qa.index.entries``; on Ray, ``qa.index.on_ray``), assembles a new ``Corpus``
(``qa.index.corpus``) aside and swaps it in whole under ``lock``, saves it as a new generation
of the index folder (``qa.index.generations``) and hands it to its store (``qa.search``) to
search. Later stages read the current corpus through its methods (``passage``,
``sentence``...), which the index passes on.

Unchanged files keep their vectors. The change time (ctime) is what makes skipping them safe:
a program can set a file's mtime back after editing it, but not its ctime, which the system
sets to now on every write and every mtime change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np

from qa.errors import CorruptIndexError, DocumentError, FolderError
from qa.index import generations, uploads
from qa.index.corpus import VECTOR_FILES, Corpus, DocumentEntry, StoredArrays, searchable_passage
from qa.index.entries import embed_entries, read_entry
from qa.index.generations import INDEX_DIRNAME, MARKER, STORAGE_VERSION
from qa.index.report import SyncReport, skip, time_left
from qa.index.unreadable import UnreadableFiles
from qa.index.uploads import UPLOAD_PREFIX
from qa.ingest.documents import Document, document_id, file_sha256, find_files
from qa.ingest.splitter import PassageSplitter
from qa.models.embedder import Embedder
from qa.search.store import Store, open_store
from qa.settings import DenseSettings, LexicalSettings, PassageSettings
from qa.values import Passage, Sentence

__all__ = [  # with names of qa.index.corpus and qa.index.generations, importable from here
    "INDEX_DIRNAME",
    "MARKER",
    "STORAGE_VERSION",
    "UPLOAD_PREFIX",
    "VECTOR_FILES",
    "CorpusIndex",
    "DocumentEntry",
    "Passage",
    "Sentence",
    "StoredArrays",
    "SyncReport",
    "embed_entries",
    "read_entry",
    "searchable_passage",
    "skip",
]

log = logging.getLogger(__name__)

# 2: vectors and terms of split-repaired text (text.repair_splits); 3: passages searched
# with their document's title (searchable_passage); 4: sentences by layout blocks (wrapped
# lines joined, Markdown's own blocks; qa.ingest.splitter.layout_blocks); 5: PDF running
# lines, page numbers, line-end hyphens; Markdown sections; 6: a term's description over its
# hanging indent (Vim's help, man pages: qa.ingest.splitter._hangs)
_BUSY = "Another process has been updating the index for 10 minutes; gave up. Nothing was changed."
FORMAT_VERSION = 6
EMBED_BATCH = 512  # texts per encode call while indexing many files


class CorpusIndex:
    """All passages of a folder, kept up to date with its files, searchable by vector and by
    terms in its ``store``: FAISS and BM25 in this process by default, or a Milvus collection
    (``qa.search``). ``corpus`` is the current ``Corpus``; replaced whole, never changed."""

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
        self.lexical_settings = lexical or LexicalSettings()
        self.dense_settings = dense or DenseSettings()
        # Held by a reader for a whole question (Assistant) and by an update only while it swaps
        # in the corpus it built aside: a question sees one generation, never a mix of two.
        self.lock = threading.RLock()
        self.store = open_store(store)
        self.store.place(self.folder, self.index_dir)
        self.corpus = Corpus.empty(self.dense_settings, self.lexical_settings, self.fingerprint())
        self.last_sync: SyncReport | None = None

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

    def fingerprint(self) -> dict:
        """What the stored vectors and spans depend on: format, model and passage settings."""
        return {
            "format": FORMAT_VERSION,
            "model": self.embedder.model_name,
            # The model's files, not only its name: vectors of a changed model are made again.
            "model_files": self.embedder.digest,
            "settings": self.settings.to_dict(),
        }

    # ----- reading: the current corpus, as later stages see it ---------------------------

    def __len__(self) -> int:
        """Number of passages."""
        return len(self.corpus)

    @property
    def documents(self) -> dict[str, Document]:
        return self.corpus.documents

    def document(self, doc_id: str) -> Document:
        """The document ``doc_id``; raises KeyError when the index does not hold it."""
        return self.corpus.document(doc_id)

    def passage(self, i: int) -> Passage:
        return self.corpus.passage(i)

    def sentence(self, j: int) -> Sentence | None:
        return self.corpus.sentence(j)

    def sentences_of(self, doc_id: str) -> range:
        return self.corpus.sentences_of(doc_id)

    def sentence_ranges(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.corpus.sentence_ranges(ids)

    def passage_holding(self, j: int) -> int:
        return self.corpus.passage_holding(j)

    def passage_rows(self, ids: np.ndarray) -> np.ndarray:
        return self.corpus.passage_rows(ids)

    def sentence_rows(self, ids: np.ndarray) -> np.ndarray:
        return self.corpus.sentence_rows(ids)

    def sentence_similarity(self, ids: np.ndarray, vector: np.ndarray) -> np.ndarray:
        return self.corpus.sentence_similarity(ids, vector)

    def idf(self, term: str) -> float:
        return self.corpus.idf(term)

    # ----- searching: the store, over the current corpus ---------------------------------

    def search_dense(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` passages by inner product with a normalised ``vector``: (ids, scores)."""
        return self.store.search_dense(self.corpus, vector, k)

    def search_lexical(self, terms: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` passages by BM25 over ``terms``, none scoring 0: (ids, scores)."""
        return self.store.search_lexical(self.corpus, terms, k)

    def score_lexical(self, terms: list[str], ids: np.ndarray) -> np.ndarray:
        """The BM25 scores of passages ``ids`` for ``terms``."""
        return self.store.score_lexical(self.corpus, terms, ids)

    # ----- keeping it up to date ----------------------------------------------------------

    def sync(self, progress=None, embed_files=None) -> SyncReport:
        """Re-read the folder; embed new and changed files, drop deleted ones, persist.

        ``progress`` is called as ``progress(fraction, message)`` while documents are embedded.
        ``embed_files(todo, report, progress)`` embeds the new and changed files elsewhere
        (``qa.index.on_ray``: on Ray) instead of in this process (``_embed_files``).
        """
        began = time.perf_counter()
        if not self.folder.is_dir():
            raise FolderError(f"Not a folder: {self.folder}")
        generations.claim_index_dir(self.index_dir, self.folder)
        if generations.writable(self.index_dir):
            with self._folder_lock():
                report = self._sync_locked(progress, embed_files=embed_files)
        else:  # read-only use: no lock to take, as nothing will be written
            report = self._sync_locked(progress, save=False, embed_files=embed_files)
        self._onnx_encoder(export=False)
        report.seconds = time.perf_counter() - began
        self.last_sync = report
        return report

    def add_file(
        self, path: Path, doc_id: str, final_path: Path | None = None, progress=None
    ) -> Document:
        """Read, embed and index one file now (used by uploads), then persist.

        With ``final_path``, the file is moved there only after it was read and embedded, so
        a file that cannot be indexed never enters the corpus. The name is claimed atomically:
        when ``final_path`` exists by then (another upload of the same name), the file gets
        the next free name (``name-1.txt``...), never replaces it; the returned Document's
        ``doc_id`` is the name it got. Raises ``DocumentError``. ``progress(fraction,
        stage)`` is told each stage: reading, embedding n of N texts, saving.
        """
        tell = progress or (lambda fraction, stage: None)
        generations.claim_index_dir(self.index_dir, self.folder)
        # Read and embed before taking the lock: one slow file must not hold up the other
        # uploads and updates (a small upload waited 190 s behind a crafted PDF).
        tell(0.0, "reading")
        read = self._read_file(Path(path), doc_id)
        began = time.perf_counter()

        def embedded(done: int, n: int) -> None:
            left = time_left(time.perf_counter() - began, done, n)
            tell(
                0.05 + 0.85 * done / n,
                f"embedding {done:,} of {n:,}" + (f" · {left}" if left else ""),
            )

        entry = self._embed([read], report=embedded)[0]
        tell(0.92, "waiting for the index and saving")
        with self._folder_lock():
            if final_path is not None:
                final_path = uploads.claim_name(Path(path), Path(final_path))
                doc_id = document_id(final_path.relative_to(self.folder))
                entry.document = dataclasses.replace(entry.document, doc_id=doc_id)
                entry.stamp(final_path.stat())
            previous = self.corpus
            self._publish({**self.corpus.entries, doc_id: entry})
            try:
                self._save(previous)
            except CorruptIndexError:
                if final_path is not None:  # the upload did not happen: leave no trace of it
                    final_path.unlink(missing_ok=True)
                raise
            self.store.index(self.corpus)
        return entry.document

    @contextlib.contextmanager
    def _folder_lock(self):
        """The index folder's lock, which processes updating it take in turn; waiting over
        10 minutes is a CorruptIndexError in qa's words (the server's path in the log)."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.index_dir / ".lock"), timeout=600)
        try:
            lock.acquire()
        except Timeout as error:
            log.warning("Gave up waiting for the lock of %s", self.index_dir)
            raise CorruptIndexError(_BUSY) from error
        try:
            yield
        finally:
            lock.release()

    def prepare_questions(self) -> None:
        """Get question embedding ready: the ONNX export (made now if missing, which loads the
        model), else the model. ``qa index`` and the chat's start call it."""
        self._onnx_encoder(export=True)
        self.embedder.load_for_questions()

    def _onnx_encoder(self, export: bool) -> None:
        """Embed with the model's ONNX export (``Embedder.attach_onnx``): a later cold start
        then needs no torch, and indexing runs 2.3x faster."""
        self.embedder.attach_onnx(export)

    def _sync_locked(self, progress, save: bool = True, embed_files=None) -> SyncReport:
        report = SyncReport()
        if save:
            uploads.remove_stale_uploads(self.folder)
        try:
            stored, arrays = generations.load(
                self.index_dir,
                self.fingerprint(),
                self.dense_settings,
                embedded=self.store.embedded,
                lexical_embedded=self.store.lexical_embedded,
            )
        except CorruptIndexError as error:
            log.warning("Rebuilding the index in %s: %s", self.index_dir, error)
            report.rebuilt_reason = str(error)
            stored, arrays = {}, None
        files = find_files(self.folder)
        todo: list[tuple[str, Path]] = []
        entries: dict[str, DocumentEntry] = {}
        unreadable = UnreadableFiles.load(self.index_dir)
        tried: dict[str, tuple[os.stat_result, str]] = {}  # read now: stat and SHA-256
        for doc_id, path in files.items():
            try:
                stat = path.stat()
                old = stored.get(doc_id)
                if old and old.same_stat(stat):
                    entries[doc_id] = old
                    report.unchanged.append(doc_id)
                    continue
                if known := unreadable.reason(doc_id, stat):  # failed before, unchanged since
                    report.skipped[doc_id] = known
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
            if known := unreadable.reason(doc_id, stat, sha):  # touched, the same content
                unreadable.remember(doc_id, stat, sha, known)
                report.skipped[doc_id] = known
                continue
            tried[doc_id] = (stat, sha)
            todo.append((doc_id, path))
            (report.changed if old else report.added).append(doc_id)
        report.removed = sorted(set(stored) - set(files))
        if todo:
            self._onnx_encoder(export=True)
        entries.update((embed_files or self._embed_files)(todo, report, progress))
        for doc_id, reason in report.skipped.items():
            if doc_id in tried:
                unreadable.remember(doc_id, *tried[doc_id], reason)
        unreadable.keep_only(d for d in report.skipped if d in files)
        if save:
            unreadable.save(self.index_dir)
        # Unchanged documents reuse the stored arrays (memory-mapped) and FAISS index (an IVF
        # index takes a minute to train).
        if arrays is not None and arrays.storage < STORAGE_VERSION:
            report.upgraded_from = arrays.storage
            log.info("Rewriting the vectors of %s in storage %d", self.index_dir, STORAGE_VERSION)
        if report.modified:
            arrays = None
        previous = self.corpus
        rebuilt = self._publish(entries, arrays)
        if (
            report.modified
            or any(doc_id in stored for doc_id in report.skipped)  # now unreadable: dropped
            or rebuilt  # other dense settings, or an index from before these were stored
            or report.upgraded_from is not None
            or not (self.index_dir / "CURRENT").exists()
        ):
            if save:
                self._save(previous)
            else:
                log.warning("%s is read-only: the update is used but not saved", self.index_dir)
        report.store_written, report.store_removed = self.store.index(self.corpus)
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

    def _publish(self, entries: dict[str, DocumentEntry], stored: StoredArrays | None = None):
        """Make ``entries`` the corpus: assembled aside (FAISS and BM25 built), then swapped
        in at once under ``self.lock``. Returns whether a search structure was built anew."""
        corpus, rebuilt = Corpus.assemble(
            dict(sorted(entries.items())),
            self.settings.titles,
            self.dense_settings,
            self.lexical_settings,
            self.fingerprint(),
            embedded=self.store.embedded,
            lexical_embedded=self.store.lexical_embedded,
            stored=stored,
        )
        with self.lock:
            self.corpus = corpus
        return rebuilt

    def _save(self, previous: Corpus) -> None:
        """Save the current corpus as a new generation, then serve its vectors from the files.

        When it cannot be saved (a full disk) the ``previous`` corpus is served again and
        CorruptIndexError says so: the previous generation stays in use, on disk and here.
        """
        try:
            saved = generations.save(self.index_dir, self.corpus, self.fingerprint())
        except CorruptIndexError:
            with self.lock:
                self.corpus = previous
            raise
        with self.lock:
            self.corpus = saved

    def _read_file(self, path: Path, doc_id: str) -> tuple[DocumentEntry, list[str]]:
        """The file's entry without vectors yet, and the texts to embed for it."""
        return read_entry(path, doc_id, self.folder, self.splitter)

    def _embed(self, batch: list[tuple[DocumentEntry, list[str]]], report=None):
        """Fill in the vectors of read entries, encoding all their texts in one call."""
        return embed_entries(self.embedder, batch, report)
