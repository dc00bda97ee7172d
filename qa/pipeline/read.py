"""Read: the reader stage. It reads the best retrieved passages of a question with the
extractive reader (``qa.models.reader``) and returns where each holds its answer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.errors import QAError
from qa.index.corpus import Corpus
from qa.models.cache import stamp
from qa.models.reader import MODEL_FILE, Reader, shared_reader
from qa.settings import ReaderSettings
from qa.values import Candidate, Passage, PassageReading, Query

log = logging.getLogger(__name__)


class ReadingStage:
    """Reads the best retrieved passages of a question with the ``Reader`` (one pair a call for
    an int8 reader, else in batches of like length: ``groups``)."""

    def __init__(self, reader: Reader, settings: ReaderSettings | None = None):
        self.reader = reader
        self.settings = settings or ReaderSettings()

    def run(
        self, query: Query, candidates: Sequence[Candidate], corpus: Corpus | None = None
    ) -> list[PassageReading]:
        """One ``PassageReading`` per passage read, read with ``query.reader_text`` (a
        follow-up's question first, then what it leans on): the best passage alone when the
        reader's answerability there reaches ``settings.stop_above``, else the first
        ``settings.passages``. With ``corpus`` and ``settings.window``, the reader reads the
        passage's sentences nearest the question, up to that many characters, not all of it."""
        chosen = [c.passage for c in candidates[: self.settings.passages]]
        if not chosen:
            return []
        spans = [self.span(query, p, corpus) for p in chosen]
        texts = [p.text[a - p.start : b - p.start] for p, (a, b) in zip(chosen, spans)]
        if self.settings.stop_above < 1.0:  # the best passage first: enough when it is sure
            readings = self.reader.run(query.reader_text, texts[:1])
            if len(chosen) > 1 and readings[0].has_answer < self.settings.stop_above:
                readings += self.reader.run(query.reader_text, texts[1:])
        else:
            readings = self.reader.run(query.reader_text, texts)
        return [
            PassageReading(p, a + r.start, a + r.end, r.has_answer)
            for p, (a, _), r in zip(chosen, spans, readings)
        ]

    def span(self, query: Query, passage: Passage, corpus: Corpus | None) -> tuple[int, int]:
        """The document characters of ``passage`` the reader reads: all of it, or the window
        of ``settings.window`` characters around its sentence nearest the question."""
        width = self.settings.window
        if corpus is None or width <= 0 or len(passage.text) <= width:
            return passage.start, passage.end
        ids = np.arange(passage.first, passage.last, dtype=np.int64)
        sentences = [corpus.sentence(int(j)) for j in ids]
        if not sentences or any(s is None for s in sentences):
            return passage.start, passage.end
        scores = corpus.sentence_similarity(ids, query.vector)
        bounds = [(max(s.start, passage.start), min(s.end, passage.end)) for s in sentences]
        first, last = window(bounds, scores, width)
        return bounds[first][0], bounds[last][1]


class ReaderSlot:
    """The reader stage an ``Assistant`` uses: loaded on first use, None when switched off or
    missing. A model that cannot be loaded or run (damaged, another model) means answers
    without the reader and a ``problem`` to tell the asker, not a failed question; it is not
    tried again until its file changes, so it costs one failed load, not one a question."""

    def __init__(self, settings: ReaderSettings):
        self.settings = settings
        self.path = Path(settings.model or MODEL_FILE)
        self._stage: ReadingStage | None = None
        self._failure: tuple[tuple, str] | None = None  # (the file's stamp then, why)

    def stage(self) -> ReadingStage | None:
        if not self.settings.enabled:
            return None
        if self._stage is None:
            if self._failure is not None and self._failure[0] == _stamp(self.path):
                return None
            try:
                reader = shared_reader(self.path)
            except Exception as error:  # a damaged file: answer without it, and say so
                self.failed(error)
                return None
            if reader is None:
                return None
            self._failure = None
            self._stage = ReadingStage(reader, self.settings)
        return self._stage

    @property
    def problem(self) -> str | None:
        """Why the reader, switched on, is not being used (qa's words), or None."""
        return None if self._failure is None else self._failure[1]

    def failed(self, error: Exception) -> None:
        """Stop using the reader after ``error`` (loading or reading), until its file changes."""
        log.warning("Answering without the reader: %s", error, exc_info=True)
        reason = str(error) if isinstance(error, QAError) else ""
        self._stage = None
        self._failure = (_stamp(self.path), reason or f"The reader model {self.path.name} failed.")


def window(
    bounds: Sequence[tuple[int, int]], scores: Sequence[float], width: int
) -> tuple[int, int]:
    """The first and last of consecutive sentences (``bounds``: their characters, in order) to
    read: the best scored, then whichever neighbour scores higher, while the run spans at most
    ``width`` characters (the best alone when it is longer)."""
    first = last = int(np.argmax(scores))
    while True:
        before = first - 1 if first > 0 else None
        after = last + 1 if last + 1 < len(bounds) else None
        options = [i for i in (before, after) if i is not None]
        options = [
            i
            for i in options
            if max(bounds[last][1], bounds[i][1]) - min(bounds[first][0], bounds[i][0]) <= width
        ]
        if not options:
            return first, last
        best = max(options, key=lambda i: scores[i])
        first, last = min(first, best), max(last, best)


def answerability(readings: Sequence[PassageReading] | None) -> float | None:
    """The reader's highest ``has_answer`` among the passages it read (rounded), None when it
    did not read."""
    if readings is None:
        return None
    return round(max((r.has_answer for r in readings), default=0.0), 4)


def without_reader(problem: str | None) -> str | None:
    """The notice for an answer found without the reader because of ``problem``."""
    if problem is None:
        return None
    return f"{problem} This answer was found without the reader, so it may be less precise."


def _stamp(path: Path) -> tuple:
    try:
        return stamp(path)
    except OSError:  # no file: a stamp of its own
        return ()


__all__ = ["ReaderSlot", "ReadingStage", "answerability", "window", "without_reader"]
