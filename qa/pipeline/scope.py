"""Scope: does the question ask about something the sources never mention?

A question about "the capital of Australia" cannot be answered from sources in which the word
Australia never occurs, however well some sentence about another capital scores. Two rules,
both over the terms of the whole corpus (the lexical index's vocabulary):

- a name in the question (a capitalised word that does not open it, or a program, package or
  setting name as ``qa.pipeline.query.identifiers`` reads them: "libfoo3") is unknown to the
  corpus;
- every term of the question is unknown or so common in the corpus (in half the passages or
  more, of ten or more) that it says nothing about where the answer is, and at least one
  term is unknown.

"Unknown" is lenient with word forms and typing: a term is known when a corpus term starts
with it and is at most four letters longer ("Kazakh", "Kazakhstan"), when it starts with a
corpus term at most two letters shorter, or when a corpus term is one edit away (two for
terms of eight letters or more: "Sigimund", "Sigismund"). Names in capitals only ("EU",
"WWII") are abbreviations the corpus may spell out, so they never decide.
"""

from __future__ import annotations

import bisect
import re

from qa.index.lexical import LexicalIndex
from qa.ingest.text import terms
from qa.pipeline.query import identifiers

# A run of capitalised words that follows another word: a name, not the question's first word.
_NAME = re.compile(r"(?<=[\w,;:’'\")] )[A-Z][\w’'-]*(?:\s+(?:of\s+|and\s+)?[A-Z][\w’'-]*)*")
UBIQUITOUS = 0.5  # a term in this share of passages or more does not locate anything
MIN_PASSAGES = 10  # below this many passages, no term is called ubiquitous


class Scope:
    """Which of a question's words the corpus never mentions, by the rules above."""

    def __init__(self, lexical: LexicalIndex):
        self.frequency = lexical.document_frequency
        self.passages = max(1, len(lexical))
        self._sorted = sorted(self.frequency)

    def knows(self, term: str) -> bool:
        """Whether ``term`` (a stemmed term) or a close form of it occurs in the corpus."""
        if term in self.frequency:
            return True
        i = bisect.bisect_left(self._sorted, term)
        if len(term) >= 4 and i < len(self._sorted):
            longer = self._sorted[i]
            if longer.startswith(term) and len(longer) - len(term) <= 4:
                return True
        if any(term[:k] in self.frequency for k in range(max(4, len(term) - 2), len(term))):
            return True
        return len(term) >= 4 and self._near(term)

    def _near(self, term: str) -> bool:
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        edits = 2 if len(term) >= 8 else 1
        found = process.extractOne(
            term, self._sorted, scorer=Levenshtein.distance, score_cutoff=edits
        )
        return found is not None

    def holds(self, word: str) -> bool:
        """Whether every term of ``word`` is a term of the corpus as it is, no close form: so
        a name the corpus uses ("libxml2"), not a typing error of one."""
        found = terms(word)
        return bool(found) and all(t in self.frequency for t in found)

    def ubiquitous(self, term: str) -> bool:
        """Whether ``term`` is in so many passages that it does not say where an answer is."""
        share = self.frequency.get(term, 0) / self.passages
        return self.passages >= MIN_PASSAGES and share >= UBIQUITOUS

    def unknown(
        self, question: str, query: str | None = None, named: list[str] | None = None
    ) -> list[str]:
        """The question's words that place it outside the sources, or [] when it is in scope.

        ``query`` is the question resolved from the conversation (a follow-up's terms then
        include the earlier question's); names are taken from ``question`` as asked.
        ``named``: its identifiers when the caller has them (``Query.identifiers``), else
        read off ``question`` here.
        """
        named = identifiers(question) if named is None else named
        found = _NAME.findall(question) + named
        names = [
            name
            for name in dict.fromkeys(found)
            if any(not self.knows(t) for t in terms(_spelled_words(name)))
        ]
        if names:
            return names
        query_terms = terms(query or question)
        missing = [t for t in query_terms if not self.knows(t)]
        locating = [t for t in query_terms if t in self.frequency and not self.ubiquitous(t)]
        if missing and not locating:
            words = re.findall(r"[\w’'-]{3,}", question)
            return list(dict.fromkeys(word for word in words if _unknown(self, word)))
        return []


def _unknown(scope: Scope, word: str) -> bool:
    found = terms(word)
    return bool(found) and not all(scope.knows(t) for t in found)


def _spelled_words(name: str) -> str:
    """``name`` without its all-capital words (abbreviations such as "EU", "TDs")."""
    return " ".join(w for w in name.split() if not re.fullmatch(r"[A-Z0-9]{2,}s?", w))
