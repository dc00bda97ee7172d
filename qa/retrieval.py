"""Retrieval: rank passages for a question by BM25, by dense similarity, or by both fused."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .corpus import Corpus, Passage
from .errors import SettingsError
from .index import CorpusIndex
from .query import Query

MODES = ("hybrid", "dense", "bm25")
FUSIONS = ("rrf", "score")


@dataclass(frozen=True)
class RetrievalSettings:
    """``mode``: hybrid, dense or bm25. ``fusion``: rrf (reciprocal rank) or score (min-max).

    A passage's dense score mixes its own vector's similarity with its best sentence's, by
    ``sentence_weight``: a question is usually about one sentence, which a passage vector
    dilutes (SQuAD, 12 articles: passage hit@1 0.765 -> 0.780; python -m eval.sweep).
    """

    mode: str = "hybrid"
    fusion: str = "score"
    candidates: int = 50
    rrf_k: int = 60
    dense_weight: float = 0.5
    sentence_weight: float = 0.5

    def __post_init__(self):
        if self.mode not in MODES:
            raise SettingsError(f"retrieval mode must be one of {MODES}, not {self.mode!r}")
        if self.fusion not in FUSIONS:
            raise SettingsError(f"fusion must be one of {FUSIONS}, not {self.fusion!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RetrievalSettings:
        return cls(**data)


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


class Retriever:
    """Ranks the passages of a ``CorpusIndex``."""

    def __init__(self, index: CorpusIndex, settings: RetrievalSettings | None = None):
        self.index = index
        self.settings = settings or RetrievalSettings()

    def run(self, query: Query, k: int = 10) -> list[Candidate]:
        """The ``k`` best passages, best first."""
        s = self.settings
        corpus, store = self.index.corpus, self.index.store  # one generation throughout
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
