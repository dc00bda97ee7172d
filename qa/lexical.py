"""Lexical index: BM25 (bm25s) over passages, plus term statistics for sentence scoring."""

from __future__ import annotations

import logging
import math
from collections import Counter

import numpy as np

from .text import terms, terms_many


class LexicalIndex:
    """BM25 over a list of texts. Built in memory from the stored passages on load."""

    def __init__(self, k1: float = 1.2, b: float = 0.75):
        self.k1 = k1
        self.b = b
        self._bm25 = None
        self._size = 0
        self.document_frequency: Counter[str] = Counter()

    def index(self, texts: list[str]) -> LexicalIndex:
        """Build the index over ``texts`` (one entry per passage, in passage order)."""
        import bm25s

        # bm25s sets its logger to DEBUG when imported; keep its chatter out of users' logs.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        corpus_terms = terms_many(texts)
        self._size = len(texts)
        self.document_frequency = Counter(t for doc in corpus_terms for t in set(doc))
        self._bm25 = None
        if any(corpus_terms):  # bm25s cannot index a corpus without a single term
            self._bm25 = bm25s.BM25(k1=self.k1, b=self.b)
            self._bm25.index(corpus_terms, show_progress=False)
        return self

    def __len__(self) -> int:
        return self._size

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; unseen terms get the highest weight."""
        df = self.document_frequency.get(term, 0)
        return math.log(1 + (self._size - df + 0.5) / (df + 0.5))

    def scores(self, question: str | list[str]) -> np.ndarray:
        """BM25 score of every passage for ``question`` (text or its terms)."""
        query = terms(question) if isinstance(question, str) else question
        query = [t for t in query if t in self.document_frequency]
        if not query or self._bm25 is None:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(query), dtype=np.float32)

    def search(self, question: str | list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` passages as (ids, scores), best first; passages scoring 0 are left out."""
        scores = self.scores(question)
        if not len(scores):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top]
