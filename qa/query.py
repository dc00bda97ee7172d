"""Query: a question worked out once, then handed to every stage.

It holds the question as asked and as resolved with the conversation (``text``, what retrieval
searches), their vectors, and what the stages read off the words: the terms, the kind of phrase
asked for, whether a sentence without one cannot answer, and the attribution lines it asks
about. Each is computed the first time a stage asks for it, then kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .focus import demands_type, question_type
from .text import terms

# The question's target is the text's author ("Who wrote...") or its source ("Which newspaper...").
_AUTHOR_QUESTION = re.compile(
    r"\bwho\s+(?:\w+\s+)?(?:wrote|authored|penned)\b|\bwritten\s+by\b"
    r"|\b(?:which|what|who)\s+(?:\w+\s+){0,2}(?:author|writer)\b",
    re.IGNORECASE,
)
_SOURCE_QUESTION = re.compile(
    r"\bwho\s+(?:\w+\s+)?(?:published|reported|supplied)\b"
    r"|\b(?:which|what)\s+(?:\w+\s+){0,2}(?:newspaper|agency|outlet|publication|publisher"
    r"|source|paper)\b",
    re.IGNORECASE,
)
AUTHOR_LINE = re.compile(r"^\W*(?:author|by|written by|words by)\b\s*:?", re.IGNORECASE)
SOURCE_LINE = re.compile(r"^\W*(?:source|sources|via|published (?:in|by))\b\s*:?", re.IGNORECASE)


def attribution(question: str) -> re.Pattern | None:
    """The pattern of the attribution lines ``question`` asks about, if it asks about one."""
    if _AUTHOR_QUESTION.search(question):
        return AUTHOR_LINE
    if _SOURCE_QUESTION.search(question):
        return SOURCE_LINE
    return None


def reader_question(question: str, query: str) -> str:
    """What the reader reads with: the question as asked, then (for a follow-up) the earlier
    question it leans on, so that "it" has something to point at while the question word
    that decides the answer's kind comes first."""
    if query == question or not query.endswith(question):
        return query
    earlier = query[: -len(question)].strip()
    return f"{question} {earlier}"


@dataclass(frozen=True, eq=False)
class Query:
    """One question, as the pipeline reads it.

    ``question`` is the cleaned question as asked; ``text`` the same resolved with the
    conversation (``qa.conversation.resolve``; equal to ``question`` unless it is a follow-up).
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
        """The kind of phrase the question asks for (``qa.focus.question_type``)."""
        return question_type(self.question)

    @cached_property
    def demands_type(self) -> bool:
        """Whether a sentence without a phrase of that kind cannot answer it."""
        return demands_type(self.question)

    @cached_property
    def attribution(self) -> re.Pattern | None:
        """The attribution lines (author, source) the question asks about, if any."""
        return attribution(self.text)

    @cached_property
    def reader_text(self) -> str:
        """What the reader reads with (``reader_question``)."""
        return reader_question(self.question, self.text)


__all__ = ["Query", "attribution", "reader_question"]
