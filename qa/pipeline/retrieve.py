"""Retrieval: rank passages for a question by BM25, by dense similarity, or by both fused."""

from __future__ import annotations

import numpy as np

from qa.index.corpus import Corpus
from qa.search.store import Store
from qa.settings import RetrievalSettings
from qa.values import Candidate, Query


class Retriever:
    """Ranks the passages of a corpus, searched in its store."""

    def __init__(self, settings: RetrievalSettings | None = None):
        self.settings = settings or RetrievalSettings()

    def run(self, query: Query, corpus: Corpus, store: Store, k: int = 10) -> list[Candidate]:
        """The ``k`` best passages of ``corpus`` (one generation, searched in ``store``), best
        first."""
        s = self.settings
        if len(corpus) == 0:
            return []
        query_terms, query_vector = query.terms, query.vector
        pool = max(k, s.candidates)
        if s.mode == "bm25":
            ids, lexical = store.search_lexical(corpus, query_terms, pool)
            ids, lexical = ids[:k], lexical[:k]
            dense = corpus.passage_rows(ids) @ query_vector
            return [
                Candidate(corpus.passage(int(i)), float(score), float(d), float(score))
                for i, score, d in zip(ids, lexical, dense)
            ]
        dense_ids, _ = store.search_dense(corpus, query_vector, pool)
        if s.mode == "dense":
            ids = dense_ids
        else:
            lexical_ids, _ = store.search_lexical(corpus, query_terms, pool)
            ids = np.unique(np.concatenate([dense_ids, lexical_ids]))
        dense = self._dense(corpus, ids, query_vector)
        lex = (
            store.score_lexical(corpus, query_terms, ids)
            if s.mode != "dense"
            else np.zeros(len(ids), np.float32)
        )
        if s.mode == "dense":
            fused = dense
        elif s.fusion == "rrf":
            fused = _rrf(dense, s.rrf_k) + _rrf(lex, s.rrf_k)
        else:
            fused = s.dense_weight * _minmax(dense) + (1 - s.dense_weight) * _minmax(lex)
        order = np.argsort(-fused, kind="stable")[:k]
        return [
            Candidate(corpus.passage(int(ids[o])), float(fused[o]), float(dense[o]), float(lex[o]))
            for o in order
        ]

    def _dense(self, corpus: Corpus, ids: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
        """Dense scores of passages ``ids``: their vectors' and their best sentences' mixed."""
        own = corpus.passage_rows(ids) @ query_vector
        weight = self.settings.sentence_weight
        if weight <= 0 or not len(ids):
            return own
        first, last = corpus.sentence_ranges(ids)
        counts = np.maximum(last - first, 0)
        rows = np.concatenate([np.arange(a, b) for a, b in zip(first, last)] or [[]])
        if not len(rows):
            return own
        sentence = corpus.sentence_rows(rows.astype(np.int64)) @ query_vector
        owner = np.repeat(np.arange(len(ids)), counts)
        best = np.full(len(ids), -np.inf, dtype=np.float32)
        np.maximum.at(best, owner, sentence)
        best = np.where(counts > 0, best, own)  # a passage without sentences keeps its own
        return (1 - weight) * own + weight * best


def _rrf(scores: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return 1.0 / (k + ranks)


def _minmax(scores: np.ndarray) -> np.ndarray:
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-9:
        return np.ones_like(scores, dtype=np.float64) if high > 0 else np.zeros_like(scores)
    return (scores - low) / (high - low)
