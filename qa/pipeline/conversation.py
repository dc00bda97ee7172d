"""Conversation: turn an elliptical follow-up into a self-contained query using the history.

No generative model: a follow-up ("And when was it signed?") is recognised by its form, and
the previous question is prepended so that retrieval sees the topic it refers to.
"""

from __future__ import annotations

import re

from qa.ingest.text import terms, words

_ANAPHORA = {
    "it", "its", "they", "them", "their", "this", "that", "these", "those", "he", "she",
    "his", "her", "him", "there", "then", "one", "ones",
}  # fmt: skip
_OPENERS = re.compile(r"^\s*(and|also|what about|how about|and what about|so|then)\b", re.I)


def is_follow_up(question: str) -> bool:
    """True when ``question`` leans on an earlier one (a pronoun, an opener, or few terms)."""
    tokens = words(question)
    if _OPENERS.match(question):
        return True
    if any(token in _ANAPHORA for token in tokens):
        return True
    return len(terms(question)) <= 1


def resolve(question: str, history: list[str] | None) -> str:
    """The query to search with: ``question``, prefixed by the last question when it follows."""
    history = [h for h in (history or []) if isinstance(h, str) and h.strip()]
    if not history or not is_follow_up(question):
        return question
    return f"{history[-1].strip()} {question.strip()}"


# Pronouns that name nothing by themselves (demonstratives such as "this" usually come with
# their noun: "this agreement").
_PERSONAL = {"it", "its", "they", "them", "their", "he", "she", "his", "her", "him"}


def missing_antecedent(question: str, history: list[str] | None) -> str | None:
    """The pronoun of ``question`` that nothing names, when it opens a conversation and is a
    bare follow-up ("And when was it signed?"): answering it would guess what "it" is."""
    if any(isinstance(h, str) and h.strip() for h in history or []):
        return None
    if (
        len(terms(question)) > 2
    ):  # enough of its own to search with ("Who founded it in Shanghai in 2001?")
        return None
    return next((token for token in words(question) if token in _PERSONAL), None)
