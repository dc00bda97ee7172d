"""The local store: FAISS and BM25 in this process, the search structures the corpus carries
and the index folder keeps (``qa.index.dense``, ``qa.index.lexical``). The default."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from qa.errors import SettingsError
from qa.index.corpus import Corpus
from qa.search.store import EMBEDDED


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

    def lease(self) -> AbstractContextManager:
        return nullcontext()  # only this process writes it

    def keep_writing(self) -> None:
        pass  # only this process writes it

    def remote_writer(self, fingerprint: dict, dimension, bm25: dict | None) -> None:
        return None  # the index folder is written here only

    def close(self) -> None:
        pass


def open_local(base: str, options: dict) -> EmbeddedStore:
    """``faiss``: takes no options (``faiss?index=FLAT`` is refused, not ignored)."""
    if options:
        raise SettingsError(
            f"The store 'faiss' takes no options, not {sorted(options)}: they are for Milvus"
        )
    return EmbeddedStore()
