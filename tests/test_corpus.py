"""qa.corpus, qa.storage and qa.store on a tiny hand-made corpus: no model is loaded.

The vectors are made up (random, normalised); what is checked is the bookkeeping that every
stage relies on: ids run through the documents in order, every span cuts its own text,
the store's hits are passages of the corpus it is handed, a saved generation reads back the
same, and a damaged one is refused.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from qa.corpus import Corpus, DocumentEntry, StoredArrays, searchable_passage
from qa.dense import DenseSettings
from qa.documents import Document
from qa.errors import IndexError_, IndexFolderError
from qa.lexical import LexicalSettings
from qa.milvus import MilvusStore
from qa.storage import (
    MARKER,
    claim_index_dir,
    claim_name,
    current_generation,
    load,
    save,
    upload_copy,
)
from qa.store import EmbeddedStore, Store, open_store

DIM = 8
FINGERPRINT = {"format": 0, "model": "made-up", "settings": {}}
TEXTS = {
    "a.txt": ("Otters", "Otters hold hands. They sleep afloat. Kelp keeps them in place."),
    "b.txt": ("Walruses", "Walruses haul out on ice. Their tusks grow all their lives."),
}


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for n, char in enumerate(text):
        if char == ".":
            spans.append((start, n + 1))
            start = n + 2
    return spans


def make_entry(doc_id: str, rng: np.random.Generator) -> DocumentEntry:
    """A document whose sentences are its full stops' spans, two sentences a passage."""
    title, text = TEXTS[doc_id]
    sha = hashlib.sha256(text.encode()).hexdigest()
    sentences = np.array(sentence_spans(text), dtype=np.int64)
    passages = np.array(
        [
            (
                sentences[i][0],
                sentences[min(i + 1, len(sentences) - 1)][1],
                i,
                min(i + 2, len(sentences)),
            )
            for i in range(0, len(sentences), 2)
        ],
        dtype=np.int64,
    )

    def vectors(n: int) -> np.ndarray:
        v = rng.normal(size=(n, DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return DocumentEntry(
        Document(doc_id, title, text, sha),
        len(text),
        0,
        sentences,
        passages,
        vectors(len(sentences)),
        vectors(len(passages)),
    )


def make_corpus(**options) -> tuple[Corpus, bool]:
    rng = np.random.default_rng(0)
    entries = {doc_id: make_entry(doc_id, rng) for doc_id in sorted(TEXTS)}
    return Corpus.assemble(
        entries, True, DenseSettings(), LexicalSettings(), FINGERPRINT, **options
    )


@pytest.fixture
def corpus() -> Corpus:
    return make_corpus()[0]


def test_ids_run_through_the_documents_in_order_and_spans_cut_their_text(corpus):
    assert corpus.doc_ids == ["a.txt", "b.txt"]
    assert len(corpus) == 3 and corpus.sentence_count == 5  # a.txt: 2 passages, b.txt: 1
    seen = []
    for i in range(len(corpus)):
        passage = corpus.passage(i)
        text = corpus.document(passage.doc_id).text
        assert passage.text == text[passage.start : passage.end]
        assert corpus.passage_key(i) == (
            passage.doc_id,
            len([p for p in seen if p == passage.doc_id]),
        )
        assert corpus.passage_id(*corpus.passage_key(i)) == i
        seen.append(passage.doc_id)
        for j in passage.sentences:
            sentence = corpus.sentence(j)
            assert sentence.doc_id == passage.doc_id
            assert passage.start <= sentence.start < sentence.end <= passage.end
            assert sentence.text == text[sentence.start : sentence.end]
            assert corpus.passage_holding(j) <= i
    assert corpus.sentence(-1) is None and corpus.sentence(corpus.sentence_count) is None
    assert corpus.passage_id("a.txt", 2) is None and corpus.passage_id("zebra.txt", 0) is None
    assert list(corpus.sentences_of("b.txt")) == [3, 4]
    first, last = corpus.sentence_ranges(np.array([1, 2]))
    assert first.tolist() == [2, 3] and last.tolist() == [3, 5]


def test_vectors_are_served_as_float32_rows_and_entries_view_the_global_arrays(corpus):
    assert corpus.sentence_vectors.dtype == np.float16  # stored half size (qa.vectors)
    rows = corpus.sentence_rows(np.array([2, 0]))
    assert rows.dtype == np.float32
    np.testing.assert_array_equal(rows[1], corpus.sentence_vectors[0].astype(np.float32))
    entry = corpus.entries["b.txt"]
    assert np.shares_memory(entry.passage_vectors, corpus.passage_vectors)
    vector = corpus.passage_rows(np.array([2]))[0]
    assert corpus.sentence_similarity(np.array([3, 4]), vector).shape == (2,)


def test_searchable_text_carries_the_title_only_when_titles_are_on():
    assert searchable_passage("Otters", "Ch ina") == "Otters\nChina"
    assert searchable_passage("", "Ch ina") == "China"
    titled, _ = make_corpus()
    assert titled.searchable_text(0).startswith("Otters\n")


def test_stored_structures_are_reused_only_for_exactly_the_same_documents(corpus):
    stored = StoredArrays(
        corpus.doc_ids,
        corpus.sentence_vectors,
        corpus.passage_vectors,
        corpus.dense,
        corpus.lexical,
    )
    again, rebuilt = Corpus.assemble(
        dict(corpus.entries), True, DenseSettings(), LexicalSettings(), FINGERPRINT, stored=stored
    )
    assert not rebuilt and again.dense is corpus.dense and again.lexical is corpus.lexical
    fewer = {"a.txt": corpus.entries["a.txt"]}
    alone, rebuilt = Corpus.assemble(
        fewer, True, DenseSettings(), LexicalSettings(), FINGERPRINT, stored=stored
    )
    assert rebuilt and len(alone) == 2 and len(alone.dense) == 2


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


def test_a_saved_generation_reads_back_the_same(tmp_path, corpus):
    folder, index_dir = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    claim_index_dir(index_dir, folder)
    assert (index_dir / MARKER).is_file()
    saved = save(index_dir, corpus, FINGERPRINT)
    assert isinstance(saved.sentence_vectors, np.memmap)  # served from the files now
    entries, stored = load(index_dir, FINGERPRINT, DenseSettings())
    assert list(entries) == corpus.doc_ids and stored.doc_ids == corpus.doc_ids
    for doc_id, entry in entries.items():
        assert entry.document == corpus.entries[doc_id].document
        np.testing.assert_array_equal(entry.passages, corpus.entries[doc_id].passages)
    np.testing.assert_array_equal(stored.passage_vectors, corpus.passage_vectors)
    assert len(stored.dense) == len(corpus) and len(stored.lexical) == len(corpus)
    with pytest.raises(IndexError_, match="model"):
        load(index_dir, FINGERPRINT | {"model": "another"}, DenseSettings())
    generation = current_generation(index_dir)
    (generation / "spans.npz").write_bytes(b"garbage")
    with pytest.raises(IndexError_, match="checksum"):
        load(index_dir, FINGERPRINT, DenseSettings())


def test_an_index_folder_holding_anything_else_is_refused(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(IndexFolderError, match="not a qa index"):
        claim_index_dir(tmp_path / "home", folder)
    with pytest.raises(IndexFolderError, match="corpus folder itself"):
        claim_index_dir(folder, folder)
    assert (tmp_path / "home" / "notes.txt").read_text() == "mine"


def test_names_are_claimed_without_replacing_a_file(tmp_path):
    (tmp_path / "otters.txt").write_text("first")
    source = tmp_path / "upload.bin"
    source.write_text("second")
    copy = upload_copy(source, tmp_path / "otters.txt")
    assert copy.name.startswith(".upload-") and copy.suffix == ".txt" and source.exists()
    claimed = claim_name(copy, tmp_path / "otters.txt")
    assert claimed.name == "otters-1.txt" and claimed.read_text() == "second"
    assert (tmp_path / "otters.txt").read_text() == "first" and not copy.exists()


def test_hybrid_retrieval_fuses_min_max_scaled_dense_and_bm25(tmp_path, corpus):
    from qa.index import CorpusIndex
    from qa.query import Query
    from qa.retrieval import RetrievalSettings, Retriever

    index = CorpusIndex(tmp_path)  # nothing embedded: the hand-made corpus is served
    index.corpus = corpus
    vector = corpus.passage_rows(np.array([0]))[0]
    query = Query.of("Where do walruses sleep afloat?", vector)
    found = Retriever(index, RetrievalSettings(sentence_weight=0.0)).run(query, k=3)
    dense = corpus.passage_rows(np.arange(3)) @ vector
    lexical = corpus.lexical.scores(query.terms)
    assert lexical[0] > 0 and lexical[2] > 0  # "afloat" in a.txt, "walruses" in b.txt

    def scaled(x):
        return (x - x.min()) / (x.max() - x.min())

    expected = 0.5 * scaled(dense) + 0.5 * scaled(lexical)
    assert [c.passage.id for c in found] == np.argsort(-expected, kind="stable").tolist()
    for c in found:
        assert c.score == pytest.approx(expected[c.passage.id], abs=1e-6)
        assert c.dense == pytest.approx(dense[c.passage.id], abs=1e-6)
        assert c.lexical == pytest.approx(lexical[c.passage.id], abs=1e-6)
        assert c.passage == corpus.passage(c.passage.id)
