"""Store: where passages are searched, by vector and by terms.

The embedded default searches in-process: FAISS over the passage vectors and BM25 (bm25s),
both saved in the index folder. A Milvus store (``qa.milvus``) keeps the passages, their
vectors and a BM25 index in a Milvus collection instead, from one local file (milvus-lite) to
a cluster. Either way the index folder keeps the document texts, spans and vectors, so every
extract is cut from the stored text and its offsets are exact.

A store speaks in passage ids: positions in ``CorpusIndex``'s passage arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import numpy as np

if TYPE_CHECKING:
    from .index import CorpusIndex

EMBEDDED = "faiss"


class Store:
    """The search side of an index: dense and lexical search over its passages."""

    embedded = True  # whether FAISS and BM25 live in (and are saved with) the index folder
    # Whether BM25 runs in this process (bm25s, saved in the index folder) even when dense
    # search does not: a Milvus server older than 2.5 has no BM25 function (qa.milvus).
    lexical_embedded = True

    def attach(self, index: CorpusIndex) -> None:
        """Serve ``index``: its passages are what ids refer to."""
        self.index = index

    def sync(self) -> tuple[list[str], list[str]]:
        """Make the store hold exactly its index's passages: (documents written, removed)."""
        return [], []

    def search_dense(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` passages by inner product with a normalised ``vector``: (ids, scores)."""
        raise NotImplementedError

    def search_lexical(self, terms: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` passages by BM25 over ``terms``, best first, none scoring 0: (ids, scores)."""
        raise NotImplementedError

    def score_lexical(self, terms: list[str], ids: np.ndarray) -> np.ndarray:
        """The BM25 scores of passages ``ids`` for ``terms`` (0 where no term occurs)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """What the store is, for results and logs (never a secret)."""
        return {"kind": EMBEDDED}

    def close(self) -> None:
        """Release connections; the store may not be used afterwards."""


class EmbeddedStore(Store):
    """FAISS and bm25s in this process, over the index's own arrays."""

    def __init__(self):
        self._scores: tuple[object, tuple[str, ...], np.ndarray] | None = None

    def search_dense(self, vector, k):
        return self.index.dense_search(vector, k)

    def search_lexical(self, terms, k):
        from .lexical import top_scoring

        scores = self._all_scores(terms)
        top = top_scoring(scores, k)
        return top, scores[top]

    def score_lexical(self, terms, ids):
        return self._all_scores(terms)[ids]

    def _all_scores(self, terms: list[str]) -> np.ndarray:
        # bm25s scores every passage at once; a hybrid query asks twice (search, then score).
        lexical, key = self.index.lexical, tuple(terms)
        cached = self._scores
        if cached is not None and cached[0] is lexical and cached[1] == key:
            return cached[2]
        scores = lexical.scores(list(terms))
        self._scores = (lexical, key, scores)
        return scores


def open_store(spec: str | Store | None) -> Store:
    """A store from its description.

    ``None`` or ``"faiss"``: the embedded default. ``"milvus-lite:PATH.db"``: a Milvus in a
    local file. ``"milvus://HOST:PORT"`` (or ``http(s)://...``): a Milvus server, its token
    read from ``$QA_MILVUS_TOKEN``. Milvus descriptions take ``?collection=NAME`` and
    ``&index=FLAT`` (or HNSW, IVF_FLAT; default AUTOINDEX) for the dense index.
    """
    if isinstance(spec, Store):
        return spec
    if spec is None or spec.strip() in ("", EMBEDDED):
        return EmbeddedStore()
    spec = spec.strip()
    base, _, query = spec.partition("?")
    options = {key: values[-1] for key, values in parse_qs(query).items()}
    unknown = set(options) - {"collection", "index"}
    if unknown:
        raise ValueError(
            f"Unknown store option(s) {sorted(unknown)} in {spec!r}: use collection or index"
        )
    index_type = options.get("index", "AUTOINDEX")
    if base.startswith("milvus-lite:"):
        from .milvus import MilvusStore

        path = base.removeprefix("milvus-lite:")
        return MilvusStore.local(path, options.get("collection"), index_type=index_type)
    if base.startswith(("milvus://", "http://", "https://")):
        from .milvus import MilvusStore

        parts = urlsplit(base)
        if not parts.hostname:
            raise ValueError(f"No host in store {spec!r}: use milvus://HOST:PORT")
        scheme = "http" if parts.scheme == "milvus" else parts.scheme
        uri = f"{scheme}://{parts.hostname}:{parts.port or 19530}"
        return MilvusStore(uri, options.get("collection"), index_type=index_type)
    raise ValueError(
        f"Unknown store {spec!r}: use 'faiss' (default), 'milvus-lite:PATH.db' or "
        "'milvus://HOST:PORT'"
    )
