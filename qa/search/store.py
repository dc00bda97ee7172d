"""Store: where passages are searched, by vector and by terms.

A store is handed data and queries, and holds no reference to the index that uses it
(txtai's backends): ``index(corpus)`` makes it hold a corpus's passages, and each search is
handed the corpus its passage ids refer to. The corpus is handed again with each search, not
kept, because the index swaps in a new corpus after an update while a store's rows are
rewritten: a question then resolves its hits in the generation it reads, never a mix.

The embedded default searches in-process: FAISS over the passage vectors and BM25 (bm25s),
both built with the corpus (``qa.corpus``) and saved in the index folder. A Milvus store
(``qa.milvus``) keeps the passages, their vectors and a BM25 index in a Milvus collection
instead, from one local file (milvus-lite) to a cluster. Either way the index folder keeps the
document texts, spans and vectors, so every extract is cut from the stored text and its
offsets are exact.

A store speaks in passage ids: positions in the corpus's passages (``Corpus.passage(i)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

import numpy as np

from qa.errors import SettingsError
from qa.index.corpus import Corpus

EMBEDDED = "faiss"


@runtime_checkable
class Store(Protocol):
    """The search side of an index: dense and lexical search over a corpus's passages."""

    # Whether FAISS and BM25 live in (and are saved with) the index folder: the corpus then
    # builds them (qa.corpus.Corpus.assemble).
    embedded: bool
    # Whether BM25 runs in this process (bm25s, saved in the index folder) even when dense
    # search does not: a Milvus server older than 2.5 has no BM25 function (qa.milvus).
    lexical_embedded: bool

    def place(self, folder: Path, index_dir: Path) -> None:
        """Where the index lives, for a store that names what it keeps after it."""

    def index(self, corpus: Corpus) -> tuple[list[str], list[str]]:
        """Hold exactly ``corpus``'s passages: (documents written, documents removed)."""

    def search_dense(
        self, corpus: Corpus, vector: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` passages by inner product with a normalised ``vector``: (ids, scores)."""

    def search_lexical(
        self, corpus: Corpus, terms: list[str], k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` passages by BM25 over ``terms``, best first, none scoring 0: (ids, scores)."""

    def score_lexical(self, corpus: Corpus, terms: list[str], ids: np.ndarray) -> np.ndarray:
        """The BM25 scores of passages ``ids`` for ``terms`` (0 where no term occurs)."""

    def describe(self) -> dict:
        """What the store is, for results and logs (never a secret)."""

    def close(self) -> None:
        """Release connections; the store may not be used afterwards."""


class EmbeddedStore:
    """FAISS and bm25s in this process: the search structures the corpus carries."""

    embedded = True
    lexical_embedded = True

    def place(self, folder: Path, index_dir: Path) -> None:
        pass

    def index(self, corpus: Corpus) -> tuple[list[str], list[str]]:
        return [], []  # the corpus built FAISS and BM25 as it was assembled

    def search_dense(self, corpus, vector, k):
        return corpus.dense_search(vector, k)

    def search_lexical(self, corpus, terms, k):
        return corpus.lexical.search(list(terms), k)

    def score_lexical(self, corpus, terms, ids):
        return corpus.lexical.scores(list(terms))[ids]

    def describe(self) -> dict:
        return {"kind": EMBEDDED}

    def close(self) -> None:
        pass


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
        raise SettingsError(
            f"Unknown store option(s) {sorted(unknown)} in {spec!r}: use collection or index"
        )
    index_type = options.get("index", "AUTOINDEX")
    if base.startswith("milvus-lite:"):
        from qa.search.milvus import MilvusStore

        path = base.removeprefix("milvus-lite:")
        return MilvusStore.local(path, options.get("collection"), index_type=index_type)
    if base.startswith(("milvus://", "http://", "https://")):
        from qa.search.milvus import MilvusStore

        parts = urlsplit(base)
        if not parts.hostname:
            raise SettingsError(f"No host in store {spec!r}: use milvus://HOST:PORT")
        scheme = "http" if parts.scheme == "milvus" else parts.scheme
        uri = f"{scheme}://{parts.hostname}:{parts.port or 19530}"
        return MilvusStore(uri, options.get("collection"), index_type=index_type)
    raise SettingsError(
        f"Unknown store {spec!r}: use 'faiss' (default), 'milvus-lite:PATH.db' or "
        "'milvus://HOST:PORT'"
    )
