"""qa.search.store (and the Store protocol qa.search.milvus fits) on the hand-made corpus
(tests/fakes.py)."""

from __future__ import annotations

import numpy as np
import pytest

from qa.index.corpus import Corpus
from qa.search.local import EmbeddedStore
from qa.search.milvus import MilvusStore
from qa.search.store import Store, open_store
from qa.settings import DenseSettings, LexicalSettings

from .fakes import FINGERPRINT, make_corpus


@pytest.fixture
def corpus() -> Corpus:
    """The hand-made corpus (here, not conftest's folder of the same name)."""
    return make_corpus()[0]


def test_the_embedded_store_returns_passages_of_the_corpus_it_is_handed(corpus):
    store = EmbeddedStore()
    assert isinstance(store, Store) and store.index(corpus) == ([], [])
    vector = corpus.passage_rows(np.array([2]))[0]
    ids, scores = store.search_dense(corpus, vector, 3)
    assert ids[0] == 2 and scores[0] == pytest.approx(1.0, abs=1e-5)
    ids, scores = store.search_lexical(corpus, ["tusk"], 10)
    assert [corpus.passage(int(i)).doc_id for i in ids] == ["b.txt"] and scores[0] > 0
    np.testing.assert_array_equal(store.score_lexical(corpus, ["tusk"], ids), scores)
    assert store.score_lexical(corpus, ["tusk"], np.array([0]))[0] == 0
    # The same store over another corpus answers in that corpus's ids.
    other = Corpus.assemble(
        {"b.txt": corpus.entries["b.txt"]}, True, DenseSettings(), LexicalSettings(), FINGERPRINT
    )[0]
    ids, _ = store.search_lexical(other, ["tusk"], 10)
    assert ids.tolist() == [0] and other.passage(0).doc_id == "b.txt"


def test_stores_are_found_from_their_description_and_fit_the_protocol(tmp_path):
    assert isinstance(open_store(None), EmbeddedStore) and isinstance(open_store("faiss"), Store)
    milvus = open_store(f"milvus-lite:{tmp_path / 'm.db'}?collection=otters&index=FLAT")
    assert isinstance(milvus, MilvusStore) and isinstance(milvus, Store)
    assert milvus.describe()["collection"] == "otters"
    unnamed = open_store(f"milvus-lite:{tmp_path / 'm.db'}")
    unnamed.place(tmp_path / "corpus", tmp_path / "index")
    assert unnamed.collection.startswith("qa_corpus_")
    for bad in ("milvus-lite:x.db?shards=2", "milvus://", "postgres://db"):
        with pytest.raises(ValueError, match="store"):
            open_store(bad)


def test_every_registry_line_names_something_that_exists():
    """The registries name their targets as "module:name" (imported only when used): a moved
    class once left the Ray writer pointing at nothing, seen only by the slow Ray tests."""
    from qa.search import store

    for target in [*store.STORES.values(), *store.WRITERS.values()]:
        assert callable(store._load(target)), target


def test_the_local_store_refuses_options_rather_than_ignore_them():
    """ "faiss?index=FLAT" was refused before the registry; the registry kept it so."""
    import pytest

    from qa.errors import SettingsError

    with pytest.raises(SettingsError, match="takes no options"):
        open_store("faiss?index=FLAT")
