"""Store: where passages are searched, by vector and by terms.

A store is handed data and queries, and holds no reference to the index that uses it
(txtai's backends): ``index(corpus)`` makes it hold a corpus's passages, and each search is
handed the corpus its passage ids refer to. The corpus is handed again with each search, not
kept, because the index swaps in a new corpus after an update while a store's rows are
rewritten: a question then resolves its hits in the generation it reads, never a mix.

The embedded default searches in-process: FAISS over the passage vectors and BM25 (bm25s),
both built with the corpus (``qa.index.corpus``) and saved in the index folder. A Milvus store
(``qa.search.milvus``) keeps the passages, their vectors and a BM25 index in a Milvus collection
instead, from one local file (milvus-lite) to a cluster. Either way the index folder keeps the
document texts, spans and vectors, so every extract is cut from the stored text and its
offsets are exact.

A store speaks in passage ids: positions in the corpus's passages (``Corpus.passage(i)``).
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qs

import numpy as np

from qa.errors import SettingsError
from qa.index.corpus import Corpus

EMBEDDED = "faiss"


@runtime_checkable
class Store(Protocol):
    """The search side of an index: dense and lexical search over a corpus's passages."""

    # Whether FAISS and BM25 live in (and are saved with) the index folder: the corpus then
    # builds them (qa.index.corpus.Corpus.assemble).
    embedded: bool
    # Whether BM25 runs in this process (bm25s, saved in the index folder) even when dense
    # search does not: a Milvus server older than 2.5 has no BM25 function (qa.search.milvus).
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

    def lease(self) -> AbstractContextManager:
        """Exclusive writing while it is held (a shared store's lease; nothing to hold for a
        store only this process writes)."""

    def keep_writing(self) -> None:
        """Raise ``StoreError`` unless this process may still write (a shared store's lease,
        renewed); nothing to check for a store only this process writes."""

    def remote_writer(self, fingerprint: dict, dimension, bm25: dict | None) -> dict | None:
        """What other processes (Ray workers) need to write rows straight into the store, as
        plain data for ``open_writer``; None when only this process can write it.
        ``dimension()`` gives the vector length, computed only when needed."""

    def close(self) -> None:
        """Release connections; the store may not be used afterwards."""


# The stores qa knows, by the scheme of their description: "module:function" of a function
# taken (the description without its query, the ?options) that returns the store. Imported
# only when named, so that pymilvus loads only for Milvus. To add a store: one module with
# such a function and a class following ``Store``, and one line here.
STORES = {
    EMBEDDED: "qa.search.local:open_local",
    "milvus-lite": "qa.search.milvus:open_lite",
    "milvus": "qa.search.milvus:open_server",
    "http": "qa.search.milvus:open_server",
    "https": "qa.search.milvus:open_server",
}
# Who writes rows for other processes, by ``remote_writer``'s "kind" (see ``open_writer``).
WRITERS = {"milvus": "qa.search.milvus_rows:RowWriter"}
OPTIONS = ("collection", "index")


def _load(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def open_store(spec: str | Store | None) -> Store:
    """A store from its description.

    ``None`` or ``"faiss"``: the embedded default. ``"milvus-lite:PATH.db"``: a Milvus in a
    local file. ``"milvus://HOST:PORT"`` (or ``http(s)://...``): a Milvus server, its token
    read from ``$QA_MILVUS_TOKEN``. Milvus descriptions take ``?collection=NAME`` and
    ``&index=FLAT`` (or HNSW, IVF_FLAT; default AUTOINDEX) for the dense index.
    """
    if isinstance(spec, Store):
        return spec
    spec = (spec or EMBEDDED).strip() or EMBEDDED
    base, _, query = spec.partition("?")
    options = {key: values[-1] for key, values in parse_qs(query).items()}
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise SettingsError(
            f"Unknown store option(s) {sorted(unknown)} in {spec!r}: use collection or index"
        )
    scheme = base.split(":", 1)[0]
    if scheme not in STORES or (scheme == EMBEDDED and base != EMBEDDED):
        raise SettingsError(
            f"Unknown store {spec!r}: use 'faiss' (default), 'milvus-lite:PATH.db' or "
            "'milvus://HOST:PORT'"
        )
    return _load(STORES[scheme])(base, options)


def open_writer(description: dict):
    """The writer ``Store.remote_writer`` described: called with entries and whether titles
    are searched, it writes their rows into the store from this process."""
    return _load(WRITERS[description["kind"]])(description)
