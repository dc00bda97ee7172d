"""Answers: what ``Assistant.ask`` returns, with the exact source span of every extract."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

NO_ANSWER = "The sources do not answer this."
LOW_CONFIDENCE = "low confidence"
MISSING_TYPE = "no phrase of the kind asked for"
NOT_IN_SOURCES = "asks about what the sources never mention"
NO_READER_ANSWER = "the reader finds no answer in the best passages"


@dataclass(frozen=True)
class Extract:
    """A verbatim span of a document: ``document.text[start:end] == text``, always.

    ``context`` is the passage around the extract (``context_start``/``context_end`` in the same
    document), for display. ``focus_start``/``focus_end``, when set, mark the phrase inside the
    extract that answers the question. ``page`` is the 1-based PDF page, or None.
    """

    doc_id: str
    title: str
    start: int
    end: int
    text: str
    score: float
    context_start: int
    context_end: int
    context: str
    page: int | None = None
    focus_start: int | None = None
    focus_end: int | None = None
    signals: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Extract:
        """The extract ``to_dict`` wrote."""
        return cls(**{**data, "signals": dict(data.get("signals", {}))})


@dataclass(frozen=True)
class Answer:
    """The extracts that answer a question, best first, or an abstention.

    When ``abstained`` is true, ``extracts`` is empty and ``related`` holds the closest
    passages, which are shown (if at all) as *not* an answer.
    """

    question: str
    query: str
    abstained: bool
    confidence: float
    extracts: list[Extract]
    related: list[Extract] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # Why qa abstained: LOW_CONFIDENCE, MISSING_TYPE (a date/number/name was asked for and
    # the best passage has none) or NOT_IN_SOURCES (see ``unknown``). None when it answered.
    abstain_reason: str | None = None
    # The question's words that no source mentions, when that is why qa abstained.
    unknown: list[str] = field(default_factory=list)
    # The reader's highest has_answer among the passages it read; None without the reader.
    answerability: float | None = None

    @property
    def message(self) -> str:
        """A one-line plain reading of the answer: the best extract, or that there is none."""
        if self.abstained and self.unknown:
            return f"{NO_ANSWER} No source mentions {', '.join(self.unknown)}."
        return NO_ANSWER if self.abstained or not self.extracts else self.extracts[0].text

    def to_dict(self) -> dict:
        data = asdict(self)
        data["message"] = self.message
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Answer:
        """The answer ``to_dict`` wrote (``message`` is derived, so it is not read back)."""
        fields = {k: v for k, v in data.items() if k != "message"}
        fields["extracts"] = [Extract.from_dict(e) for e in data.get("extracts", [])]
        fields["related"] = [Extract.from_dict(e) for e in data.get("related", [])]
        return cls(**fields)
