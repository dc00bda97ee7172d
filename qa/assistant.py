"""Assistant: the facade that composes index, retrieval, extraction and conversation."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from qa import config
from qa.config import default_folder
from qa.errors import DocumentNotFound, SettingsError, UsageError
from qa.index import uploads
from qa.index.sync import CorpusIndex, SyncReport
from qa.ingest.documents import Document, file_sha256, find_files
from qa.models.embedder import Embedder
from qa.models.reader import MODEL_FILE, load_in_background
from qa.pipeline import policy, verify
from qa.pipeline.conversation import resolve
from qa.pipeline.extract import Extractor
from qa.pipeline.query import clean_history, clean_question
from qa.pipeline.read import ReaderSlot, ReadingStage, answerability, without_reader
from qa.pipeline.retrieve import Retriever
from qa.pipeline.scope import Scope
from qa.settings import Settings
from qa.values import Answer, Candidate, Query

TRASH_DIRNAME = ".qa-trash"  # removed documents go here (hidden: never indexed), not away


@dataclass(frozen=True)
class CorpusSummary:
    """What answers come from: counts of the indexed documents and passages, and when the
    index was last saved (seconds since the epoch; None when it has not been saved)."""

    documents: int
    passages: int
    indexed_at: float | None


@dataclass(frozen=True)
class SourceInfo:
    """One indexed document as a list of sources shows it: ``size`` is the file's size in
    bytes when it was indexed, ``passages`` how many passages answers can come from."""

    doc_id: str
    title: str
    size: int
    passages: int
    modified: float = 0.0  # the file's modification time when indexed (seconds, UTC epoch)
    indexed: float = 0.0  # when qa read and embedded it (seconds, UTC epoch; 0: unknown)


class Assistant:
    """Answers questions from a folder of documents with verbatim, cited extracts."""

    def __init__(self, index: CorpusIndex, settings: Settings | None = None):
        self.index = index
        self.settings = settings or Settings()
        self.retriever = Retriever(self.settings.retrieval)
        self.extractor = Extractor(self.settings.extraction)
        self._reader = ReaderSlot(self.settings.reader)
        self._lock = index.lock  # held for a whole answer; index updates swap under it
        self._scope: tuple[object, Scope] | None = None

    @classmethod
    def from_folder(
        cls,
        folder: str | os.PathLike | None = None,
        *,
        index_dir: str | os.PathLike | None = None,
        settings: Settings | None = None,
        model: str | None = None,
        embedder: Embedder | None = None,
        progress=None,
        store: str | None = None,
        ray=None,
    ) -> Assistant:
        """Open (building or updating as needed) the index of ``folder`` and return an Assistant.

        ``folder`` defaults to ``seeds/`` in the working directory, else the project's own.

        ``index_dir`` defaults to ``$QA_INDEX_DIR`` when set, else ``<folder>/.qa-index``.
        ``model`` (a path or sentence-transformers name) overrides ``settings.model``.
        ``store`` is where passages are searched: ``"faiss"`` (in this process, the default,
        or ``$QA_STORE``), ``"milvus-lite:PATH.db"`` or ``"milvus://HOST:PORT"`` (see
        ``qa.search.store.open_store``). Raises ``StoreError`` when the store cannot be reached.
        ``ray`` (a ``qa.index.on_ray.RaySettings``) embeds new and changed files on Ray.
        """
        settings = settings or Settings()
        if model is not None:
            settings = Settings(**{**settings.__dict__, "model": model})
        if settings.reader.enabled:  # its session is made while the index opens
            load_in_background(settings.reader.model or MODEL_FILE)
        embedder = embedder or Embedder(settings.model)
        if embedder.model_name != settings.model:
            raise SettingsError(
                f"embedder model {embedder.model_name!r} differs from settings {settings.model!r}"
            )
        index_dir = config.setting(index_dir, config.INDEX_DIR_VARIABLE)
        store = config.setting(store, config.STORE_VARIABLE)
        index = CorpusIndex(
            config.corpus_folder(folder),
            index_dir,
            embedder,
            settings.passages,
            settings.dense,
            store,
            settings.lexical,
        )
        try:
            if ray is not None:
                from qa.index.on_ray import build_on_ray

                index.last_sync = build_on_ray(index, ray, progress)
            else:
                index.last_sync = index.sync(progress=progress)
        except BaseException:
            index.close()
            raise
        return cls(index, settings)

    def close(self) -> None:
        """Release the store's connections (a Milvus client); the in-process store has none."""
        self.index.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder:
        return self.index.embedder

    @property
    def documents(self) -> dict[str, Document]:
        """Indexed documents by ``doc_id``."""
        return self.index.documents

    def document(self, doc_id: str) -> Document:
        """The indexed document ``doc_id``; its ``text`` is what extract offsets refer to."""
        try:
            return self.index.document(doc_id)
        except KeyError:
            raise DocumentNotFound(f"No document {doc_id!r} in the index") from None

    @property
    def folder(self) -> Path:
        """The corpus folder: the documents answers are quoted from."""
        return self.index.folder

    @property
    def index_dir(self) -> Path:
        """The folder of the index (also where ``qa.web.feedback`` keeps its marks)."""
        return self.index.index_dir

    def summary(self) -> CorpusSummary:
        """Counts of documents and passages, and the time of the index's last save."""
        current = self.index.index_dir / "CURRENT"  # replaced by every save of the index
        try:
            indexed_at: float | None = current.stat().st_mtime
        except OSError:  # never saved (or not readable): no time to give
            indexed_at = None
        return CorpusSummary(len(self.index.documents), len(self.index), indexed_at)

    def sources(self) -> list[SourceInfo]:
        """Every indexed document with its title, size and number of passages, in index order."""
        return [_source_info(entry) for entry in list(self.index.corpus.entries.values())]

    def source(self, doc_id: str) -> SourceInfo:
        """``sources()``' line for ``doc_id``; DocumentNotFound when it is not indexed."""
        try:
            return _source_info(self.index.corpus.entries[doc_id])
        except KeyError:
            raise DocumentNotFound(f"No document {doc_id!r} in the index") from None

    def duplicate_of(self, path: str | os.PathLike) -> str | None:
        """The ``doc_id`` of an indexed document with exactly the bytes of the file ``path``,
        or None (a file is compared by its SHA-256, as the index keeps it)."""
        sha = file_sha256(Path(path))
        return next((d.doc_id for d in self.index.documents.values() if d.sha256 == sha), None)

    def add_document(self, source: str | os.PathLike, name: str, progress=None) -> SourceInfo:
        """Copy the file ``source`` into the corpus folder as ``name`` and index it now.

        ``name`` is a plain file name (no folder, not hidden). The copy enters the corpus only
        once it is read and embedded, under ``name`` or, when another file took that name
        meanwhile, ``name-1``, ``name-2``... (claimed atomically, never replacing a file): the
        returned line's ``doc_id`` is the name it got. ``source`` itself is left as it is.
        Raises DocumentError when the file cannot be read (nothing changed), QAError when
        the index cannot be saved (nothing changed), StoreError when the store could not be
        updated (the file is in the corpus and the local index; the next refresh stores it).
        ``progress(fraction, stage)`` is told each stage (``CorpusIndex.add_file``).
        """
        if not name or Path(name).name != name or name.startswith("."):
            raise UsageError(f"{name!r} is not a plain file name")
        target = self.index.folder / name
        temporary = uploads.upload_copy(Path(source), target)
        try:
            document = self.index.add_file(temporary, name, final_path=target, progress=progress)
        finally:
            temporary.unlink(missing_ok=True)  # gone once it has its name; else not wanted
        return self.source(document.doc_id)

    def trash_document(self, doc_id: str) -> Path:
        """Move ``doc_id``'s file from the corpus folder into its ``.qa-trash/`` folder,
        under a flattened name that never replaces an earlier removal; returns where it went.

        The index keeps the document's passages until the next ``refresh()``. Raises
        DocumentNotFound when no file of the folder has that ``doc_id``.
        """
        files = find_files(self.index.folder)  # only files inside the corpus
        if doc_id not in files:
            raise DocumentNotFound(f"No document {doc_id!r} in the corpus folder.")
        trash = self.index.folder / TRASH_DIRNAME
        trash.mkdir(exist_ok=True)
        try:
            return uploads.claim_name(files[doc_id], trash / uploads.trash_name(doc_id))
        except FileNotFoundError as error:  # removed by another session at the same moment
            raise DocumentNotFound(f"{doc_id!r} was removed meanwhile.") from error

    def restore_document(self, trashed: str, doc_id: str) -> SourceInfo:
        """Undo ``trash_document``: move ``trashed`` (where it went, relative to the folder)
        back to ``doc_id`` (``doc_id-1``... when taken meanwhile) and index it. Raises
        DocumentNotFound when the trash no longer holds it, UsageError for any other move."""
        folder = self.index.folder
        source, target = folder / trashed, folder / doc_id
        inside = target.resolve().is_relative_to(folder.resolve())
        if source.parent != folder / TRASH_DIRNAME or not inside or doc_id.startswith("."):
            raise UsageError(f"{trashed!r} to {doc_id!r} is not a move qa makes")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            restored = uploads.claim_name(source, target)
        except FileNotFoundError as error:  # not (or no longer) in the trash
            raise DocumentNotFound(f"{trashed!r} is not in the trash.") from error
        self.refresh()
        return self.source(restored.relative_to(folder).as_posix())

    @property
    def last_sync(self) -> SyncReport | None:
        """What the last update of the index did (``from_folder``'s, or ``refresh``'s)."""
        return self.index.last_sync

    def prepare_questions(self) -> None:
        """Load what embedding a question needs (the ONNX encoder, or the model) now, so the
        first question does not wait for it; safe to run in a background thread."""
        self.index.prepare_questions()

    def describe_store(self) -> dict:
        """Where passages are searched: ``{"kind": "faiss"}`` (FAISS and BM25 in this
        process), or for Milvus ``kind``, ``uri``, ``collection``... (never a secret)."""
        return self.index.store.describe()

    def refresh(self, progress=None) -> SyncReport:
        """Re-read the folder and index what changed; questions are answered meanwhile (the
        index swaps in the new generation under the lock they hold)."""
        return self.index.sync(progress=progress)

    def ask(self, question: str, history: list[str] | None = None, k: int = 3) -> Answer:
        """Answer ``question`` with up to ``k`` verbatim extracts, or abstain.

        ``history`` is the list of earlier questions in the conversation, oldest first.
        Raises ``ValueError`` (``QuestionError``) for an empty or unusable question.
        """
        return self.ask_many([question], [history], k=k)[0]

    def ask_many(
        self,
        questions: list[str],
        histories: list[list[str]] | None = None,
        k: int = 3,
    ) -> list[Answer]:
        """``ask`` for many questions at once, embedding them in batches (for evaluation)."""
        if k < 1:
            raise UsageError("k must be at least 1")
        histories = histories or [[] for _ in questions]
        if len(histories) != len(questions):
            raise UsageError("give one history per question")
        cleaned = [clean_question(q) for q in questions]
        earlier = [clean_history(history) for history in histories]
        asked_back = {
            n: pronoun
            for n, (q, history) in enumerate(zip(cleaned, earlier))
            if (pronoun := policy.clarification(q, history))
        }
        todo = [n for n in range(len(cleaned)) if n not in asked_back]
        queries = [resolve(cleaned[n], earlier[n]) for n in todo]
        answers: dict[int, Answer] = {
            n: _asked_back(cleaned[n], pronoun) for n, pronoun in asked_back.items()
        }
        if todo:
            self.embedder.load_for_questions()  # before timing: timings describe the queries
            # A follow-up is embedded twice: as resolved (for retrieval) and as asked (its focus).
            follow_ups = [cleaned[n] for n, query in zip(todo, queries) if cleaned[n] != query]
            began = time.perf_counter()
            vectors = self.embedder.encode_questions(queries + follow_ups)
            embed_each = (time.perf_counter() - began) / max(1, len(queries))
            own = dict(zip(follow_ups, vectors[len(queries) :]))
            for n, text, vector in zip(todo, queries, vectors):
                query = Query(cleaned[n], text, vector, own.get(cleaned[n]))
                answers[n] = self._answer(query, k, embed_each)
        return [answers[n] for n in range(len(cleaned))]

    def _answer(self, query: Query, k: int, embed_seconds: float) -> Answer:
        timings = {"embed": embed_seconds}
        with self._lock:
            mark = time.perf_counter()
            corpus = self.index.corpus  # one generation throughout: swaps wait for the lock
            candidates = self.retriever.run(query, corpus, self.index.store, k=max(10, k))
            timings["retrieve"] = time.perf_counter() - mark
            readings = None
            stage = self.reading()
            if stage is not None:
                mark = time.perf_counter()
                try:
                    readings = stage.run(query, candidates, corpus)
                except Exception as error:  # a model that loads but cannot read: without it
                    self._reader.failed(error)
                timings["read"] = time.perf_counter() - mark
            mark = time.perf_counter()
            extracts = self.extractor.run(
                query,
                corpus,
                candidates,
                k=k,
                readings=readings,
                reader_weight=self.settings.reader.weight,
            )
            timings["extract"] = time.perf_counter() - mark
            unknown = self.scope().unknown(query.question, query.text, query.identifiers)
            names = list(filter(self.scope().holds, query.identifiers))  # the corpus knows
            reader_says = answerability(readings)
            doubt = verify.doubt(query, extracts, reader_says, corpus.idf, verify.load())
        timings["total"] = sum(timings.values())
        decision = policy.decide(query, extracts, readings, unknown, self.settings, names, doubt)
        return Answer(
            question=query.question,
            query=query.text,
            abstained=decision.abstained,
            confidence=round(float(extracts[0].score if extracts else 0.0), 4),
            extracts=[] if decision.abstained else decision.extracts,
            related=extracts if decision.abstained else [],
            timings={key: round(value, 5) for key, value in timings.items()},
            abstain_reason=decision.reason,
            notice=without_reader(self.reader_problem()),
            unknown=unknown if decision.reason == policy.NOT_IN_SOURCES else [],
            missing_numbers=decision.missing if decision.reason == policy.MISSING_NUMBER else [],
            missing_names=decision.missing if decision.reason == policy.MISSING_NAME else [],
            why=decision.why,
            answerability=reader_says,
            doubt=doubt,
        )

    def retrieve(self, query: Query, k: int = 10) -> list[Candidate]:
        """The ``k`` passages retrieval ranks best for ``query``, as answering sees them."""
        with self._lock:
            return self.retriever.run(query, self.index.corpus, self.index.store, k=k)

    def abstain_threshold(self) -> float:
        """The confidence under which qa abstains: calibrated with the reader, or without."""
        return policy.threshold(self.settings, self.reading() is not None)

    def reading(self) -> ReadingStage | None:
        """The reader stage, or None when it is switched off, its model is missing, or it
        cannot be used (``reader_problem`` then says why)."""
        return self._reader.stage()

    def reader_problem(self) -> str | None:
        """Why the reader, switched on, is not being used (qa's words), or None."""
        return self._reader.problem

    def scope(self) -> Scope:
        """The corpus vocabulary check, rebuilt when the index has changed."""
        lexical = self.index.corpus.lexical
        if self._scope is None or self._scope[0] is not lexical:
            self._scope = (lexical, Scope(lexical))
        return self._scope[1]


def _asked_back(question: str, pronoun: str) -> Answer:
    """The reply to a question that leans on an earlier one the conversation lacks: it asks
    what ``pronoun`` names, cites nothing and searches nothing (``policy.clarification``)."""
    return Answer(
        question=question,
        query=question,
        abstained=True,
        confidence=0.0,
        extracts=[],
        abstain_reason=policy.NO_REFERENT,
        clarify=pronoun,
    )


def _source_info(entry) -> SourceInfo:
    """The ``SourceInfo`` of an index entry (its ``document``, ``size`` and ``passages``)."""
    doc, stat = entry.document, (entry.size, len(entry.passages), entry.mtime_ns / 1e9)
    return SourceInfo(doc.doc_id, doc.title, *stat, entry.indexed)


__all__ = [
    "TRASH_DIRNAME",
    "Assistant",
    "CorpusSummary",
    "Settings",
    "SourceInfo",
    "clean_history",
    "clean_question",
    "default_folder",
]
