"""Read: the reader stage. It reads the best retrieved passages of a question with the
extractive reader (``qa.models.reader``) and returns where each holds its answer."""

from __future__ import annotations

from collections.abc import Sequence

from qa.models.reader import Reader
from qa.settings import ReaderSettings
from qa.values import Candidate, PassageReading, Query


class ReadingStage:
    """Reads the best retrieved passages of a question with the ``Reader`` (in batches of like
    length: ``groups``)."""

    def __init__(self, reader: Reader, settings: ReaderSettings | None = None):
        self.reader = reader
        self.settings = settings or ReaderSettings()

    def run(self, query: Query, candidates: Sequence[Candidate]) -> list[PassageReading]:
        """One ``PassageReading`` per passage read (the first ``settings.passages``), read
        with ``query.reader_text`` (a follow-up's question first, then what it leans on)."""
        chosen = [c.passage for c in candidates[: self.settings.passages]]
        if not chosen:
            return []
        readings = self.reader.run(query.reader_text, [p.text for p in chosen])
        return [
            PassageReading(p, p.start + r.start, p.start + r.end, r.has_answer)
            for p, r in zip(chosen, readings)
        ]


__all__ = ["ReadingStage"]
