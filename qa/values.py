"""The values that cross the stages: a question worked out once (``Query``), the corpus's
``Passage`` and ``Sentence``, a retrieved ``Candidate``, the reader's ``PassageReading``, and
what ``Assistant.ask`` returns: an ``Answer`` of ``Extract``s with the exact source span of
every extract. Stages take and return these; none holds ids into another stage's arrays.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np

from qa.ingest.text import terms
from qa.pipeline.focus import demands_type, question_type
from qa.pipeline.query import (
    about_code,
    attribution,
    conditions,
    identifiers,
    negated,
    reader_question,
)


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


@dataclass(frozen=True)
class Candidate:
    """A retrieved passage, carrying its text, document and span, with its fused score
    (higher is better) and the two raw signals."""

    passage: Passage
    score: float
    dense: float
    lexical: float

    @property
    def doc_id(self) -> str:
        return self.passage.doc_id


@dataclass(frozen=True)
class PassageReading:
    """The reader's answer in a retrieved passage, in document offsets."""

    passage: Passage
    start: int
    end: int
    has_answer: float

    @property
    def doc_id(self) -> str:
        return self.passage.doc_id


@dataclass(frozen=True, eq=False)
class Query:
    """One question, as the pipeline reads it.

    ``question`` is the cleaned question as asked; ``text`` the same resolved with the
    conversation (``qa.pipeline.conversation.resolve``; equal to ``question`` unless it is a
    follow-up).
    ``vector`` embeds ``text``; ``question_vector`` embeds ``question`` when it differs.
    """

    question: str
    text: str
    vector: np.ndarray
    question_vector: np.ndarray | None = None

    @classmethod
    def of(cls, question: str, vector: np.ndarray) -> Query:
        """A question on its own (no conversation)."""
        return cls(question, question, vector)

    @property
    def follow_up(self) -> bool:
        return self.text != self.question

    @cached_property
    def terms(self) -> list[str]:
        """The resolved text's terms (what BM25 searches with)."""
        return terms(self.text)

    @cached_property
    def question_terms(self) -> list[str]:
        """The terms of the question as asked."""
        return terms(self.question) if self.follow_up else self.terms

    @cached_property
    def kind(self) -> str | None:
        """The kind of phrase the question asks for (``qa.pipeline.focus.question_type``)."""
        return question_type(self.question)

    @cached_property
    def demands_type(self) -> bool:
        """Whether a sentence without a phrase of that kind cannot answer it."""
        return demands_type(self.question)

    @cached_property
    def negated(self) -> bool:
        """Whether the question as asked is negated (``qa.pipeline.query.negated``)."""
        return negated(self.question)

    @cached_property
    def attribution(self) -> re.Pattern | None:
        """The attribution lines (author, source) the question asks about, if any."""
        return attribution(self.text)

    @cached_property
    def about_code(self) -> bool:
        """Whether a code block may answer the question (``qa.pipeline.query.about_code``)."""
        return about_code(self.question)

    @cached_property
    def conditions(self) -> list[str]:
        """The numbers the question as asked names (``qa.pipeline.query.conditions``)."""
        return conditions(self.question)

    @cached_property
    def identifiers(self) -> list[str]:
        """The program, package or setting names the question as asked names
        (``qa.pipeline.query.identifiers``)."""
        return identifiers(self.question)

    @cached_property
    def reader_text(self) -> str:
        """What the reader reads with (``reader_question``)."""
        return reader_question(self.question, self.text)


NO_ANSWER = "The sources do not answer this."


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
    # Where the extract is, as a citation names it: "page 3", "slide 2", "§ Installation"
    # (``Document.location_at``); None for text without locations.
    location: str | None = None
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
    # Why qa abstained: one of the reasons of ``qa.pipeline.policy`` (LOW_CONFIDENCE,
    # MISSING_TYPE, MISSING_NUMBER, MISSING_NAME, NEGATION_UNMATCHED, DOUBTFUL, NO_READER_ANSWER,
    # NOT_IN_SOURCES: see ``unknown``...).
    # None when it answered.
    abstain_reason: str | None = None
    # The question's words that no source mentions, when that is why qa abstained.
    unknown: list[str] = field(default_factory=list)
    # The numbers the question names that the best passage lacks, when that is why.
    missing_numbers: list[str] = field(default_factory=list)
    # The names (programs, packages, settings) the question names and the corpus holds, but
    # not the best passage, when that is why (MISSING_NAME).
    missing_names: list[str] = field(default_factory=list)
    # Why qa abstained, in a sentence for the asker, where no field above says it
    # (``qa.pipeline.policy.WHY``); None otherwise.
    why: str | None = None
    # The reader's highest has_answer among the passages it read; None without the reader.
    answerability: float | None = None
    # The verifier's probability that the best extract does not answer the question
    # (``qa.pipeline.verify``); None without the reader or the verifier.
    doubt: float | None = None
    # The pronoun qa asks about instead of answering, when the question leans on an earlier
    # one that the conversation does not have (``qa.pipeline.policy.clarification``).
    clarify: str | None = None
    # Something the asker should know about how this answer was found, in qa's words (the
    # reader model could not be used, so it was found without it); None when all went well.
    notice: str | None = None

    @property
    def message(self) -> str:
        """A one-line plain reading of the answer: the best extract, or that there is none."""
        if self.clarify:
            return (
                f"What does “{self.clarify}” refer to? This conversation has no earlier "
                "question it could refer to: please ask again, naming it."
            )
        if said := self.explanation:
            return f"{NO_ANSWER} {said}"
        if self.abstained or not self.extracts:
            return NO_ANSWER
        return " ".join(self.extracts[0].text.split())  # one line, as a wrapped source is not

    @property
    def explanation(self) -> str | None:
        """Why there is no answer, in a sentence for the asker, where qa knows one: the words
        no source mentions, the numbers or names the closest passage lacks, or ``why``."""
        if self.abstained and self.unknown:
            return f"No source mentions {', '.join(self.unknown)}."
        if missing := self.missing_numbers + self.missing_names:
            return f"The closest passage does not mention {', '.join(missing)}."
        return self.why if self.abstained else None

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
