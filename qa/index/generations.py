"""Storage: an index folder's generations on disk, and the file system care they need.

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
memory, and queries read the few rows they need from the files as float32 (qa/index/vectors.py),
so none stay in the process's resident memory. (Indexes written before kept every array in
one ``vectors.npz``; they still load, and are rewritten in the new layout at once.)
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from qa.errors import CorruptIndexError, IndexFolderError
from qa.index.corpus import VECTOR_FILES, Corpus, DocumentEntry, StoredArrays
from qa.index.dense import DenseIndex
from qa.index.lexical import TERMS_FILE, LexicalIndex
from qa.index.vectors import VECTOR_DTYPES, map_vectors, save_vectors
from qa.ingest.documents import Document, file_sha256
from qa.settings import DenseSettings

log = logging.getLogger(__name__)

# How the vectors lie on disk, apart from what they mean (qa.index.sync.FORMAT_VERSION, which a
# Milvus collection is also keyed on): 1 (no "storage" in the manifest) float32 sentence
# vectors; 2 float16 sentence vectors. An index of an older storage still loads as it is, and
# is rewritten in this one at once (nothing is re-embedded).
STORAGE_VERSION = 2
INDEX_DIRNAME = ".qa-index"
MARKER = "QA-INDEX"  # written into every index folder qa makes; see claim_index_dir
GENERATION_NAME = re.compile(r"gen-[A-Za-z0-9_]+")  # what tempfile.mkdtemp(prefix="gen-") makes


# ----- reading a generation -----------------------------------------------------------------


def load(
    index_dir: Path,
    fingerprint: dict,
    dense: DenseSettings,
    embedded: bool = True,
    lexical_embedded: bool = True,
) -> tuple[dict[str, DocumentEntry], StoredArrays | None]:
    """The stored entries and arrays of the current generation, ({}, None) without one.

    Raises CorruptIndexError when the index is unusable: built with another ``fingerprint`` (format,
    model, passage settings), a storage this qa cannot read, a file that fails its checksum.
    FAISS is read only when ``embedded``, and only when it is what ``dense`` would build.
    """
    generation = current_generation(index_dir)
    if generation is None:
        return {}, None
    manifest = read_manifest(generation)
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
                raise ValueError(f"{len(arrays[vectors])} {vectors} for {len(arrays[spans])} spans")
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
                    indexed=float(info.get("indexed", 0.0)),  # none before: unknown
                    sentences=arrays["sentences"][s0:s1],
                    passages=arrays["passages"][p0:p1],
                    sentence_vectors=arrays["sentence_vectors"][s0:s1],
                    passage_vectors=arrays["passage_vectors"][p0:p1],
                )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise CorruptIndexError(f"unreadable index data ({error!r})") from error
    stored = StoredArrays(
        list(entries),
        arrays["sentence_vectors"],
        arrays["passage_vectors"],
        load_dense(generation, manifest, dense) if embedded else None,
        load_lexical(generation, lexical_embedded),
        storage,
    )
    return entries, stored


def current_generation(index_dir: Path) -> Path | None:
    """The generation folder ``CURRENT`` names, None without one; raises when ``CURRENT``
    is garbage or names anything but a generation folder here (``../x`` included)."""
    current = index_dir / "CURRENT"
    if not current.exists():
        return None
    try:
        name = current.read_bytes().decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise CorruptIndexError(f"unreadable CURRENT pointer ({error})") from error
    if not GENERATION_NAME.fullmatch(name) or not (index_dir / name).is_dir():
        raise CorruptIndexError(f"CURRENT names no generation folder ({name[:40]!r})")
    return index_dir / name


def load_lexical(generation: Path, bm25: bool) -> LexicalIndex | None:
    """The stored BM25 index, or None (rebuilt from the text) when absent or unreadable."""
    if not (generation / TERMS_FILE).exists():
        return None
    try:
        return LexicalIndex.load(generation, bm25=bm25)
    except Exception as error:  # checksummed, so rare; bm25s raises many types: rebuild
        log.warning("Rebuilding the BM25 index of %s: %s", generation.parent, error)
        return None


def load_dense(generation: Path, manifest: dict, settings: DenseSettings) -> DenseIndex | None:
    """The stored FAISS index when it is what ``settings`` would build, else None."""
    description = manifest.get("dense")
    try:
        if not description or description.get("settings") != settings.to_dict():
            return None
        if description["kind"] != settings.kind_for(description["vectors"]):
            return None
        return DenseIndex.load(generation / "dense.faiss", description)
    except (RuntimeError, ValueError, KeyError, TypeError) as error:  # rare: rebuild it
        log.warning("Rebuilding the dense index of %s: %s", generation.parent, error)
        return None


def read_manifest(generation: Path) -> dict:
    """The generation's manifest, checked to be the shape ``save`` writes (a JSON object whose
    ``documents`` and ``checksums`` are objects, the latter naming files of the generation);
    raises CorruptIndexError otherwise."""
    try:
        manifest = json.loads((generation / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:  # RecursionError: 100,000 "["
        raise CorruptIndexError(f"unreadable manifest ({type(error).__name__})") from error
    if not isinstance(manifest, dict):
        raise CorruptIndexError(f"the manifest is a JSON {type(manifest).__name__}, not an object")
    manifest.setdefault("checksums", {})
    manifest.setdefault("dense", {})
    for key in ("documents", "checksums", "dense"):
        if not isinstance(manifest.get(key), dict):
            raise CorruptIndexError(f"the manifest's {key!r} is not an object")
    if any("/" in name or name.startswith(".") for name in manifest["checksums"]):
        raise CorruptIndexError("the manifest lists files outside its generation folder")
    return manifest


# ----- writing a generation -----------------------------------------------------------------


def save(index_dir: Path, corpus: Corpus, fingerprint: dict) -> Corpus:
    """Write ``corpus`` as a new generation, point ``CURRENT`` at it, delete older ones.

    Returns the corpus serving its vectors from the files just written (memory-mapped, so
    memory holds only what is read). On an OSError (a full disk) the partial generation is
    removed and CorruptIndexError says so: the previous generation stays in use.
    """
    generation = None
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        generation = Path(tempfile.mkdtemp(prefix="gen-", dir=index_dir))
        os.chmod(generation, default_mode(directory=True))
        write_generation(generation, corpus, fingerprint)
        replace_text(index_dir / "CURRENT", generation.name)
    except OSError as error:
        if generation is not None:
            shutil.rmtree(generation, ignore_errors=True)
        log.warning("Could not save the index in %s: %s", index_dir, error)
        raise CorruptIndexError(  # the reason in plain words; the server's path in the log
            f"Could not save the index ({error.strerror or type(error).__name__}); "
            "the previous index is kept."
        ) from error
    for old in index_dir.glob("gen-*"):
        if old != generation and is_generation(old):
            shutil.rmtree(old, ignore_errors=True)  # a live map of its files stays valid
    for temporary in index_dir.glob("CURRENT.*"):  # left by a writer killed mid-way
        temporary.unlink(missing_ok=True)
    return corpus.with_vectors(*(map_vectors(generation / f"{name}.npy") for name in VECTOR_FILES))


def write_generation(generation: Path, corpus: Corpus, fingerprint: dict) -> None:
    """Write every file of ``corpus`` into the (new, empty) folder ``generation``."""
    entries = list(corpus.entries.values())
    with open(generation / "documents.jsonl", "w", encoding="utf-8") as handle:
        s = p = 0
        for entry in entries:
            rows = [s, s + len(entry.sentences), p, p + len(entry.passages)]
            s, p = rows[1], rows[3]
            record = {"document": entry.document.to_dict(), "rows": rows}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    dim = corpus.passage_vectors.shape[1] if len(corpus.passage_vectors) else 0
    np.savez(
        generation / "spans.npz",
        sentences=np.concatenate([e.sentences for e in entries] or [np.zeros((0, 2), np.int64)]),
        passages=np.concatenate([e.passages for e in entries] or [np.zeros((0, 4), np.int64)]),
    )
    sentence_vectors = corpus.sentence_vectors
    sentence_vectors = sentence_vectors.reshape(-1, dim) if dim else sentence_vectors
    for name, vectors in zip(VECTOR_FILES, (sentence_vectors, corpus.passage_vectors)):
        save_vectors(generation / f"{name}.npy", vectors, VECTOR_DTYPES[name])
    corpus.dense.save(generation / "dense.faiss")
    corpus.lexical.save(generation)
    manifest = fingerprint | {
        "storage": STORAGE_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dense": corpus.dense.to_dict(),
        "documents": {
            doc_id: {
                "sha256": e.document.sha256,
                "size": e.size,
                "mtime_ns": e.mtime_ns,
                "ctime_ns": e.ctime_ns,
                "indexed": e.indexed,
                "title": e.document.title,
                "sentences": len(e.sentences),
                "passages": len(e.passages),
            }
            for doc_id, e in corpus.entries.items()
        },
        "checksums": {path.name: file_sha256(path) for path in sorted(generation.iterdir())},
    }
    (generation / "manifest.json").write_text(json.dumps(manifest, indent=1))
    for path in generation.iterdir():
        _fsync(path)


# ----- the folder ---------------------------------------------------------------------------


def claim_index_dir(index_dir: Path, corpus_folder: Path) -> None:
    """Make sure the index folder is qa's before anything is written or deleted in it.

    qa replaces ``CURRENT`` and deletes ``gen-*`` folders, so a folder chosen with
    ``--index-dir`` that holds anything else (the corpus, a home folder) is refused rather
    than damaged. A new or empty folder is marked with ``QA-INDEX``; an unmarked folder
    holding only an index of earlier versions (``CURRENT``, ``gen-*``, ``.lock``) is adopted.
    """
    folder = index_dir
    if folder.resolve() == corpus_folder.resolve():
        raise IndexFolderError(
            f"The index folder {folder} is the corpus folder itself; "
            "choose a folder of its own for the index."
        )
    lock = folder / ".lock"
    if (lock.exists() or lock.is_symlink()) and (lock.is_symlink() or not lock.is_file()):
        raise IndexFolderError(
            "The index folder's .lock is not a plain file (a folder or a link?); qa takes "
            "turns with other processes through it, so remove it and try again."
        )
    if (folder / MARKER).is_file():
        return
    if folder.is_dir() and not holds_only_an_index(folder):
        if (folder / MARKER).is_file():  # a rival process marked it while we looked
            return
        examples = ", ".join(sorted(p.name for p in folder.iterdir())[:3])
        raise IndexFolderError(
            f"{folder} is not empty and is not a qa index (it holds {examples}...); qa "
            "will not write or delete there. Choose an empty or new folder for the index."
        )
    folder.mkdir(parents=True, exist_ok=True)
    replace_text(folder / MARKER, "This folder is a qa index: qa rewrites what is in it.\n")


def holds_only_an_index(folder: Path) -> bool:
    """Whether ``folder`` is empty or holds nothing but what earlier versions of qa wrote (an
    index from before the ``QA-INDEX`` mark): ``.lock``, ``gen-*`` folders, and a ``CURRENT``
    naming one (or its temporary files, or the mark's)."""
    for path in folder.iterdir():
        name = path.name
        if name == "CURRENT" and path.is_file():
            pointer = path.read_bytes()[:100].decode("ascii", "replace").strip()
            if not GENERATION_NAME.fullmatch(pointer):
                return False  # someone else's file called CURRENT
            continue
        # CURRENT.* and QA-INDEX.* are those files being written (``replace_text``): another
        # process claiming the same new folder at the same moment left its marker half-written.
        qa_file = name in (".lock", MARKER) or name.startswith(("CURRENT.", MARKER + "."))
        if not (path.is_file() if qa_file else is_generation(path)):
            return False
    return True


# Every file a generation folder of any qa version holds (``vectors.npz``: before spans.npz).
GENERATION_FILE = re.compile(
    r"manifest\.json|documents\.jsonl|spans\.npz|vectors\.npz|"
    r"(sentence|passage)_vectors\.npy|dense\.faiss|bm25_[a-z_]+\.(npy|json)"
)


def is_generation(path: Path) -> bool:
    """Whether ``path`` looks like a generation folder qa wrote: named ``gen-*``, a real folder
    (not a link) holding only files of the names qa writes. Judged by what is inside, not the
    name alone: a user's ``gen-ai/weights.bin`` must never be adopted and then deleted."""
    if not GENERATION_NAME.fullmatch(path.name) or path.is_symlink() or not path.is_dir():
        return False
    return all(
        GENERATION_FILE.fullmatch(child.name) and child.is_file() and not child.is_symlink()
        for child in path.iterdir()
    )


def writable(folder: Path) -> bool:
    """Whether this process may update the index in ``folder`` (and take its lock)."""
    lock = folder / ".lock"
    return os.access(folder, os.W_OK) and (not lock.exists() or os.access(lock, os.W_OK))


def default_mode(directory: bool = False) -> int:
    """The mode open() or mkdir() would give under this process's umask. mkstemp and mkdtemp
    give 0600 and 0700, which would keep other users from reading the index."""
    try:
        with open("/proc/self/status") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):  # not Linux: read it by setting it
        umask = os.umask(0o022)
        os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file, flushed, then renamed."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    os.fchmod(fd, default_mode())
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
