"""Lexical index: BM25 over passages, plus term statistics for sentence scoring.

bm25s builds and saves the index (each term's BM25 weight in each passage, precomputed, in
sparse arrays); a question is scored here from those arrays (``Postings``), so that answering
does not import bm25s, numba and scipy: 0.4-0.6 s of a fresh ``qa ask``'s 2.4 s (2026-12-01).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.ingest.text import terms, terms_many
from qa.settings import K1, B

TERMS_FILE = "bm25_terms.json"
# bm25s writes its arrays under these names, beside the index's other files.
_BM25_FILES = {
    "data_name": "bm25_data.npy",
    "indices_name": "bm25_indices.npy",
    "indptr_name": "bm25_indptr.npy",
    "vocab_name": "bm25_vocab.json",
    "params_name": "bm25_params.json",
    "nnoc_name": "bm25_nonoccurrence.npy",
}


@dataclass(frozen=True)
class Postings:
    """BM25 weights by term, as bm25s precomputes them: term ``t``'s passages are
    ``indices[indptr[t]:indptr[t + 1]]`` with weights ``data[...]`` at the same positions."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    vocabulary: dict[str, int]
    size: int  # passages
    params: dict  # bm25s's parameters file, as loaded ({} when built here: bm25s saves those)

    @classmethod
    def from_bm25s(cls, model) -> Postings:
        """The arrays of a ``bm25s.BM25`` just indexed."""
        scores = model.scores
        return cls(
            scores["data"],
            scores["indices"],
            scores["indptr"],
            dict(model.vocab_dict),
            int(scores["num_docs"]),
            {},
        ).checked(model.method)

    @classmethod
    def load(cls, folder: Path) -> Postings:
        """The arrays bm25s saved into ``folder`` (memory-mapped: a question reads only its
        terms' postings, and at a million passages they are ~0.4 GB that need not be the
        process's own memory). Raises OSError or ValueError when they are not usable."""
        params = json.loads((folder / _BM25_FILES["params_name"]).read_text(encoding="utf-8"))
        vocabulary = json.loads((folder / _BM25_FILES["vocab_name"]).read_text(encoding="utf-8"))
        arrays = [
            np.load(folder / _BM25_FILES[name], mmap_mode="r", allow_pickle=False)
            for name in ("data_name", "indices_name", "indptr_name")
        ]
        return cls(*arrays, vocabulary, int(params["num_docs"]), params).checked(
            params.get("method")
        )

    def save(self, folder: Path) -> None:
        """Write the loaded arrays into another generation's ``folder``, as bm25s wrote them."""
        for name, array in zip(
            ("data_name", "indices_name", "indptr_name"), (self.data, self.indices, self.indptr)
        ):
            np.save(folder / _BM25_FILES[name], np.asarray(array), allow_pickle=False)
        for name, facts in (("vocab_name", self.vocabulary), ("params_name", self.params)):
            text = json.dumps(facts, ensure_ascii=False)
            (folder / _BM25_FILES[name]).write_text(text, encoding="utf-8")

    def checked(self, method: str | None) -> Postings:
        """``self`` when its arrays fit together, else ValueError. Only bm25s's "lucene"
        weights (the kind qa builds) are a plain sum over the question's terms; the BM25L and
        BM25+ variants add a per-term constant for passages without the term."""
        if method != "lucene":
            raise ValueError(f"BM25 weights of method {method!r}, not 'lucene'")
        # bm25s's vocabulary also holds "", a term without postings (ids past the last).
        if (
            len(self.indptr) - 1 > len(self.vocabulary)
            or len(self.data) != len(self.indices)
            or (len(self.indices) and int(self.indptr[-1]) != len(self.indices))
        ):
            raise ValueError("BM25 arrays do not fit together")
        return self


def bm25_scores(postings: Postings, query: list[str]) -> np.ndarray:
    """Every passage's BM25 score for ``query`` (terms, repeats counted again, as bm25s does):
    the sum of its precomputed weights for the question's terms."""
    scores = np.zeros(postings.size, dtype=np.float32)
    for term in query:
        t = postings.vocabulary.get(term)
        if t is None or t >= len(postings.indptr) - 1:  # unknown, or a term without postings
            continue
        start, end = int(postings.indptr[t]), int(postings.indptr[t + 1])
        np.add.at(scores, postings.indices[start:end], postings.data[start:end])
    return scores


class LexicalIndex:
    """BM25 over a list of texts; ``save`` and ``load`` it with the index (tokenising a
    million passages again took minutes).

    Built with ``bm25=False`` it holds only the term statistics (``idf``), for an index whose
    BM25 search runs in another store (Milvus).
    """

    def __init__(self, k1: float = K1, b: float = B):
        self.k1 = k1
        self.b = b
        self._postings: Postings | None = None
        self._model = None  # the bm25s.BM25 that built the postings, kept to save them
        self._size = 0
        self.document_frequency: Counter[str] = Counter()
        self.statistics_only = False
        self._last: tuple[tuple[str, ...], np.ndarray] | None = None  # see scores

    def index(self, texts: list[str], bm25: bool = True) -> LexicalIndex:
        """Build the index over ``texts`` (one entry per passage, in passage order); without
        ``bm25``, only the term statistics."""
        corpus_terms = terms_many(texts)
        self._size = len(texts)
        self.document_frequency = Counter(t for doc in corpus_terms for t in set(doc))
        self._postings = None
        self._model = None
        self._last = None
        self.statistics_only = not bm25
        if bm25 and any(corpus_terms):  # bm25s cannot index a corpus without a single term
            self._model = _bm25s().BM25(k1=self.k1, b=self.b)
            self._model.index(corpus_terms, show_progress=False)
            self._postings = Postings.from_bm25s(self._model)
        return self

    @property
    def postings(self) -> Postings | None:
        """BM25's arrays (memory-mapped when loaded), or None without BM25 here."""
        return self._postings

    def __len__(self) -> int:
        return self._size

    def save(self, folder: str | os.PathLike) -> None:
        """Write the index into ``folder`` (files named bm25_*)."""
        folder = Path(folder)
        facts = {
            "k1": self.k1,
            "b": self.b,
            "size": self._size,
            "bm25": self._postings is not None,
            "statistics_only": self.statistics_only,
            "document_frequency": dict(self.document_frequency),
        }
        (folder / TERMS_FILE).write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")
        if self._model is not None:
            self._model.save(str(folder), show_progress=False, **_BM25_FILES)
        elif self._postings is not None:  # loaded from an earlier generation
            self._postings.save(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, bm25: bool = True) -> LexicalIndex:
        """Read an index written by ``save`` (without ``bm25``, only its term statistics);
        raises OSError or ValueError when it cannot."""
        folder = Path(folder)
        facts = json.loads((folder / TERMS_FILE).read_text(encoding="utf-8"))
        if bm25 and facts.get("statistics_only"):
            raise ValueError("only term statistics were stored, not BM25")
        index = cls(facts["k1"], facts["b"])
        index._size = facts["size"]
        index.document_frequency = Counter(facts["document_frequency"])
        index.statistics_only = not bm25
        if bm25 and facts["bm25"]:
            index._postings = Postings.load(folder)
        return index

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; unseen terms get the highest weight."""
        df = self.document_frequency.get(term, 0)
        return math.log(1 + (self._size - df + 0.5) / (df + 0.5))

    def scores(self, question: str | list[str]) -> np.ndarray:
        """BM25 score of every passage for ``question`` (text or its terms)."""
        if self.statistics_only:
            raise RuntimeError("this index holds term statistics only; BM25 runs in the store")
        query = terms(question) if isinstance(question, str) else question
        query = tuple(t for t in query if t in self.document_frequency)
        # A hybrid question asks twice (search, then the scores of the dense hits): bm25s
        # scores every passage each time, so the last question's scores are kept.
        last = self._last
        if last is not None and last[0] == query:
            return last[1]
        if self._postings is None:
            scores = np.zeros(self._size, dtype=np.float32)
        else:
            scores = bm25_scores(self._postings, list(query))
        scores.flags.writeable = False  # shared by the callers of a repeated question
        self._last = (query, scores)
        return scores

    def search(self, question: str | list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` passages as (ids, scores), best first; passages scoring 0 are left out."""
        scores = self.scores(question)
        top = top_scoring(scores, k)
        return top, scores[top]


def top_scoring(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest ``scores``, best first, leaving out those scoring 0."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return top[scores[top] > 0].astype(np.int64)


def _bm25s():
    import bm25s

    # bm25s sets its logger to DEBUG when imported; keep its chatter out of users' logs.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s
