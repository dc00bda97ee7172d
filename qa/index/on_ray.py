"""Indexing on Ray: new and changed files are read, split and embedded by a Ray Data pipeline.

``qa index FOLDER --ray [ADDRESS]`` and ``Assistant.from_folder(..., ray=RaySettings())``.
The update is the same as ``CorpusIndex.sync``'s (by content hash: only new and changed files
are embedded), except that the embedding runs in ``map_batches`` over Ray actors, each with
one copy of the model's ONNX encoder:

- each actor runs qa's own code on a batch of files (``read_entry``, ``embed_entries``), so
  the spans and vectors are those of a build in one process, bit for bit;
- with a Milvus server store, each actor writes its batch's rows to the collection itself
  (``write_documents``), while this process holds the collection's write lease;
- this process collects the texts, spans and vectors (the index folder holds them: answers
  are cut from them) and saves each batch as it arrives in ``<index>/ray-parts/``, after its
  rows reached the store. A build that is killed resumes from those parts: their files are
  not embedded again if unchanged. The parts are deleted once the index is saved.

Without an address, Ray is started on this machine (and stopped afterwards). The files must
be readable at the same paths by every worker (a shared file system on a cluster), and qa
installed there; the ONNX export is sent to the workers through Ray's object store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import ClusterError, SettingsError
from qa.ingest.documents import Document, file_sha256

log = logging.getLogger(__name__)

PARTS = "ray-parts"  # folder of the index folder holding the batches of an unfinished build
MAX_BLOCKS = 10_000  # Ray Data's blocks per build at most (a million files: 100 per block)


@dataclass(frozen=True)
class RaySettings:
    """How to build on Ray.

    ``address``: a running cluster ("ray://HOST:10001", "auto"); None starts Ray here.
    ``workers``: embedding actors, one model each. ``cpus_per_worker``: the CPUs each actor
    reserves, and the threads its encoder runs. ``batch_size``: files per batch (each batch is
    one encode call and one write to the store). ``cpus``: the CPUs of a Ray started here
    (None: all of this machine's).
    """

    address: str | None = None
    workers: int = 2
    batch_size: int = 8
    cpus: int | None = None
    # One thread per reserved CPU: with the encoder's default of 2 threads, 2 actors on this
    # 2-core machine ran 0.80x as fast as one (`python -m eval.perf --ray`, docs/milvus.md).
    cpus_per_worker: int = 1

    def __post_init__(self):
        if self.workers < 1 or self.batch_size < 1 or self.cpus_per_worker < 1:
            raise SettingsError(
                "Ray needs at least one worker, one CPU per worker and one file per batch, not "
                f"{self.workers}, {self.cpus_per_worker} and {self.batch_size}"
            )


def build_on_ray(index, settings: RaySettings | None = None, progress=None):
    """Bring ``index`` (a ``CorpusIndex``) up to date, embedding on Ray; returns its SyncReport.

    With a Milvus store the collection's write lease is held from before the first worker
    writes until the store is in sync.
    """
    settings = settings or RaySettings()
    builder = RayBuilder(index, settings)
    with index.store.lease():
        report = index.sync(progress=progress, embed_files=builder)
    report.store_written = sorted(set(report.store_written) | set(builder.written))
    report.resumed = sorted(builder.resumed)
    shutil.rmtree(index.index_dir / PARTS, ignore_errors=True)  # saved in the index now
    return report


class RayBuilder:
    """``CorpusIndex.sync``'s ``embed_files`` on Ray (see the module's description)."""

    def __init__(self, index, settings: RaySettings):
        self.index = index
        self.settings = settings
        self.written: list[str] = []  # documents the workers wrote to the store
        self.resumed: list[str] = []  # documents taken from an earlier build's parts
        self._writer: dict | None = None  # how workers write to the store, if they do

    def __call__(self, todo, report, progress) -> dict:
        from qa.index.sync import skip

        index = self.index
        parts = index.index_dir / PARTS
        entries = _resume(parts, todo)
        self.resumed = sorted(entries)
        todo = [(doc_id, path) for doc_id, path in todo if doc_id not in entries]
        if not todo:
            return entries
        parts.mkdir(exist_ok=True)
        began, done = time.perf_counter(), 0
        with _ray(self.settings) as ray:
            for batch in _batches(self._pipeline(ray, todo)):
                found = []
                for doc_id, error, payload in zip(
                    batch["doc_id"], batch["error"], batch["payload"]
                ):
                    if error:
                        skip(report, str(doc_id), str(error))
                    else:
                        found.append(_unpack(bytes(payload)))
                _save_part(parts, found)  # its rows are in the store: a resume may use it
                for entry in found:
                    entries[entry.document.doc_id] = entry
                self.written += [e.document.doc_id for e in found if self._writer]
                index.store.keep_writing()  # a shared store's lease: still ours, renewed
                done += len(batch["doc_id"])
                if progress:
                    progress(done / len(todo), f"Indexed {done} of {len(todo)} files on Ray")
        log.info("Embedded %d files on Ray in %.1f s", done, time.perf_counter() - began)
        return entries

    def _pipeline(self, ray, todo):
        index, settings = self.index, self.settings
        from qa.models.embedder import resolve_model
        from qa.models.onnx_encoder import encoder_file

        model = index.embedder.model_name
        onnx = encoder_file(resolve_model(model))
        store = index.store
        bm25 = None if store.lexical_embedded else index.lexical_settings.to_dict()
        # Workers write rows straight into a store that takes them from other processes.
        self._writer = store.remote_writer(index.fingerprint(), self._dimension, bm25)
        items = [{"doc_id": doc_id, "path": str(Path(path).resolve())} for doc_id, path in todo]
        # One block per batch: Ray hands each block to one actor and returns it whole, so
        # fewer blocks than actors leave actors idle, and a block is what a part saves.
        blocks = min(-(-len(items) // settings.batch_size), MAX_BLOCKS)
        dataset = ray.data.from_items(items, override_num_blocks=blocks)
        return dataset.map_batches(
            FileIndexer,
            fn_constructor_kwargs={
                "folder": str(index.folder.resolve()),
                "passages": index.settings.to_dict(),
                "model": model,
                "onnx": ray.put(onnx.read_bytes()) if onnx.exists() else None,
                "writer": self._writer,
                "threads": settings.cpus_per_worker,
            },
            batch_size=settings.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=settings.workers),
            num_cpus=settings.cpus_per_worker,
        )

    def _dimension(self) -> int:
        """The vector length, from the index or one embedded text (no torch when exported)."""
        vectors = self.index.corpus.passage_vectors
        if len(vectors):
            return int(vectors.shape[1])
        return int(self.index.embedder.encode(["dimension"], progress=False).shape[1])


class FileIndexer:
    """A Ray actor: reads, splits and embeds batches of files with qa's own code, and writes
    their rows to a Milvus server when given one."""

    def __init__(
        self, folder: str, passages: dict, model: str, onnx, writer: dict | None, threads: int = 1
    ):
        from qa.ingest.splitter import PassageSplitter
        from qa.models.embedder import Embedder
        from qa.settings import PassageSettings

        self.folder = Path(folder)
        self.splitter = PassageSplitter(PassageSettings.from_dict(passages))
        self.embedder = Embedder(model)
        if onnx is not None:  # the export's bytes, from Ray's object store
            import ray

            if isinstance(onnx, ray.ObjectRef):
                onnx = ray.get(onnx)
            handle, name = tempfile.mkstemp(suffix=".onnx", prefix="qa-encoder-")
            with os.fdopen(handle, "wb") as out:
                out.write(onnx)
            self.embedder.use_onnx(Path(name), threads)
            self.embedder.onnx_encoder()  # loaded now: the file goes next
            os.unlink(name)
        self.writer = None
        if writer is not None:  # the store's own writer, as the store described it
            from qa.search.store import open_writer

            self.writer = open_writer(writer)

    def __call__(self, batch: dict) -> dict:
        from qa.errors import DocumentError
        from qa.index.entries import embed_entries, read_entry

        read, errors = {}, {}
        for doc_id, path in zip(batch["doc_id"], batch["path"]):
            doc_id = str(doc_id)
            try:
                read[doc_id] = read_entry(Path(str(path)), doc_id, self.folder, self.splitter)
            except DocumentError as error:
                errors[doc_id] = error.reason
        entries = embed_entries(self.embedder, list(read.values()))
        if self.writer is not None and entries:
            self.writer(entries, self.splitter.settings.titles)
        packed = {e.document.doc_id: _pack(e) for e in entries}
        ids = [str(d) for d in batch["doc_id"]]
        return {
            "doc_id": np.array(ids, dtype=object),
            "error": np.array([errors.get(d, "") for d in ids], dtype=object),
            "payload": np.array([packed.get(d, b"") for d in ids], dtype=object),
        }


def _batches(dataset):
    """The pipeline's output batches; a failure inside Ray (a worker's error, a lost node)
    becomes a ClusterError that says what failed."""
    batches = iter(dataset.iter_batches(batch_size=None, batch_format="numpy"))
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as error:
            if type(error).__module__.split(".")[0] != "ray":
                raise
            cause = getattr(error, "cause", None) or error
            raise ClusterError(f"The build on Ray failed: {cause}") from error
        yield batch


@contextlib.contextmanager
def _ray(settings: RaySettings):
    """Ray, connected to ``settings.address`` or started here; shut down afterwards."""
    try:
        import ray
    except ImportError as error:
        raise ClusterError("Indexing on Ray needs Ray: pip install 'qa[ray]'") from error
    started = not ray.is_initialized()
    if started:
        options = {"include_dashboard": False, "log_to_driver": False}
        if settings.address is None:
            options["num_cpus"] = settings.cpus
        try:
            ray.init(address=settings.address, **options)
        except Exception as error:
            where = settings.address or "this machine"
            raise ClusterError(f"Cannot start or reach Ray at {where}: {error}") from error
        ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


# ----- the parts of an unfinished build -------------------------------------------------------


def _pack(entry) -> bytes:
    """A document entry with its vectors, as bytes (for Ray, and the parts)."""
    import io

    buffer = io.BytesIO()
    np.savez(
        buffer,
        document=np.frombuffer(json.dumps(entry.document.to_dict()).encode(), dtype=np.uint8),
        stat=np.array([entry.size, entry.mtime_ns, entry.ctime_ns], dtype=np.int64),
        indexed=np.array(entry.indexed, dtype=np.float64),
        sentences=entry.sentences,
        passages=entry.passages,
        sentence_vectors=entry.sentence_vectors,
        passage_vectors=entry.passage_vectors,
    )
    return buffer.getvalue()


def _unpack(data: bytes):
    import io

    from qa.index.corpus import DocumentEntry

    with np.load(io.BytesIO(data)) as arrays:
        size, mtime_ns, ctime_ns = arrays["stat"].tolist()
        return DocumentEntry(
            document=Document.from_dict(json.loads(arrays["document"].tobytes())),
            size=size,
            mtime_ns=mtime_ns,
            ctime_ns=ctime_ns,
            indexed=float(arrays["indexed"]) if "indexed" in arrays else 0.0,  # older parts
            sentences=arrays["sentences"],
            passages=arrays["passages"],
            sentence_vectors=arrays["sentence_vectors"],
            passage_vectors=arrays["passage_vectors"],
        )


def _save_part(parts: Path, entries: list) -> None:
    """Save a batch's entries as one part file, atomically (a killed write leaves none)."""
    if not entries:
        return
    handle, temporary = tempfile.mkstemp(dir=parts, prefix=".part-")
    with os.fdopen(handle, "wb") as out:
        for entry in entries:
            data = _pack(entry)
            out.write(len(data).to_bytes(8, "little") + data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, parts / f"part-{time.time_ns()}-{os.getpid()}")


def _resume(parts: Path, todo) -> dict:
    """Entries of ``todo``'s files from an earlier, unfinished build's parts, where the file
    has not changed since (same content hash)."""
    if not parts.is_dir():
        return {}
    wanted = dict(todo)
    found = {}
    for path in sorted(parts.glob("part-*")):
        try:
            data = path.read_bytes()
            offset = 0
            while offset < len(data):
                size = int.from_bytes(data[offset : offset + 8], "little")
                entry = _unpack(data[offset + 8 : offset + 8 + size])
                offset += 8 + size
                doc_id = entry.document.doc_id
                if doc_id in wanted:
                    found[doc_id] = entry
        except (OSError, ValueError, KeyError) as error:
            log.warning("Ignoring %s: %s", path, error)
    resumed = {}
    for doc_id, entry in found.items():
        path = Path(wanted[doc_id])
        try:
            if file_sha256(path) != entry.document.sha256:
                continue  # changed since: embedded again
            entry.stamp(path.stat())
        except OSError:
            continue
        resumed[doc_id] = entry
    if resumed:
        log.warning("Resuming a Ray build: %d files from %s", len(resumed), parts)
    return resumed
