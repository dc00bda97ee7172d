"""qa.index.corpus on the hand-made corpus (tests/fakes.py): ids, spans, vectors as stages
read them."""

from __future__ import annotations

import numpy as np
import pytest

from qa.index.corpus import Corpus, StoredArrays, searchable_passage
from qa.settings import DenseSettings, LexicalSettings

from .fakes import FINGERPRINT, make_corpus


@pytest.fixture
def corpus() -> Corpus:
    """The hand-made corpus (here, not conftest's folder of the same name)."""
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
    assert corpus.sentence_vectors.dtype == np.float16  # stored half size (qa.index.vectors)
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
