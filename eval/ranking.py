"""Asking an index many questions: embed them once, rank passages, and batch ``ask_many``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import numpy as np

from qa import Assistant
from qa.models.embedder import Embedder
from qa.values import Query


def embed_queries(embedder: Embedder, queries: Sequence[str]) -> tuple[np.ndarray, float]:
    """Vectors for ``queries`` (embedded once, reused by every configuration) and seconds."""
    _ = embedder.model  # load first, so the time is the embedding alone
    began = time.perf_counter()
    vectors = embedder.encode(list(queries), progress=False)
    return vectors, time.perf_counter() - began


def rank_passages(
    assistant: Assistant, queries: Sequence[str], vectors: np.ndarray, k: int
) -> tuple[list[list[int]], list[float]]:
    """Each query's ``k`` best passage ids, best first, and the seconds each ranking took."""
    rankings, seconds = [], []
    for query, vector in zip(queries, vectors):
        began = time.perf_counter()
        found = assistant.retrieve(Query.of(query, vector), k=k)
        seconds.append(time.perf_counter() - began)
        rankings.append([c.passage.id for c in found])
    return rankings, seconds


def batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
