"""Retrieval: the fusion formula, and passages searched with their title when titles are on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qa import Assistant
from qa.index.sync import searchable_passage
from qa.settings import PassageSettings, ReaderSettings, Settings
from qa.values import Query

from .fakes import make_corpus

FILLER = " ".join(
    f"Paragraph {n} describes the laboratory, its staff and its many instruments at length."
    for n in range(12)
)


def _write(corpus):
    # The birth sentence sits far from the title, in a passage that names only "he".
    for name, title, year in [
        ("varnholt.txt", "Ilse Varnholt", 1901),
        ("oudemans.txt", "Piet Oudemans", 1902),
    ]:
        text = f"{title}\n\n{FILLER}\n\nHe was born in {year} and later moved to New York."
        (corpus / name).write_text(text, encoding="utf-8")


def test_searchable_passage_puts_the_title_first_and_repairs_splits():
    assert searchable_passage("Report", "Ch ina grew.") == "Report\nChina grew."
    assert searchable_passage("", "Ch ina grew.") == "China grew."


def test_with_titles_a_passage_is_found_by_its_documents_subject(corpus, embedder):
    """Titles are retrieval's: the subject's passage ranks first, and so does its extract
    without the reader. (With it, the two passages differ only in name and year and the
    reader reads the other one as likelier: the two extracts scored 0.3844 against 0.3817.)"""
    _write(corpus)
    settings = Settings(passages=PassageSettings(titles=True))
    assistant = Assistant.from_folder(corpus, settings=settings, embedder=embedder)
    plain = Assistant(assistant.index, replace(settings, reader=ReaderSettings(enabled=False)))
    for subject, doc_id, year in [
        ("Ilse Varnholt", "varnholt.txt", "1901"),
        ("Piet Oudemans", "oudemans.txt", "1902"),
    ]:
        question = f"In which year was {subject} born?"
        query = Query.of(question, embedder.encode_questions([question])[0])
        index = assistant.index
        (first,) = assistant.retriever.run(query, index.corpus, index.store, 1)
        assert first.passage.doc_id == doc_id
        best = plain.ask(question).extracts[0]
        assert (best.doc_id, year in best.text) == (doc_id, True)
        # The title helps find the passage; the extract is still the document's own text.
        assert assistant.document(doc_id).text[best.start : best.end] == best.text
        with_reader = assistant.ask(question).extracts[:2]
        assert doc_id in {e.doc_id for e in with_reader}


def test_titles_are_part_of_the_index_settings(corpus, embedder, tmp_path):
    _write(corpus)
    plain = Assistant.from_folder(corpus, index_dir=tmp_path / "i", embedder=embedder)
    titled = Assistant.from_folder(
        corpus,
        index_dir=tmp_path / "i",
        embedder=embedder,
        settings=Settings(passages=PassageSettings(titles=True)),
    )
    # Switching the setting rebuilds the index instead of mixing two kinds of vectors.
    assert titled.index.last_sync.rebuilt_reason
    assert plain.index.corpus.lexical is not titled.index.corpus.lexical


def test_dense_scores_mix_the_passage_and_its_best_sentence(seeds_assistant):
    from qa.pipeline.retrieve import Retriever
    from qa.settings import RetrievalSettings
    from qa.values import Query

    index = seeds_assistant.index
    vector = seeds_assistant.embedder.encode(["Where was the road transport agreement signed?"])[0]
    ids = np.arange(len(index))
    own = index.corpus.passage_vectors @ vector
    best = np.array(
        [
            max(
                index.corpus.sentence_vectors[j] @ vector
                for j in range(*index.corpus.passage_sentences[i])
            )
            for i in ids
        ]
    )
    for weight in (0.0, 0.5, 1.0):
        retriever = Retriever(RetrievalSettings(sentence_weight=weight))
        got = retriever._dense(index.corpus, ids, vector)
        assert np.allclose(got, (1 - weight) * own + weight * best, atol=1e-5)
    # The fused ranking reports the mixed dense score of each passage it returns.
    query = Query("?", "?", vector)  # no terms: the dense side alone decides
    assert query.terms == []
    found = Retriever(RetrievalSettings(sentence_weight=0.5)).run(
        query, index.corpus, index.store, k=3
    )
    for c in found:
        i = c.passage.id
        assert c.dense == pytest.approx(0.5 * own[i] + 0.5 * best[i], abs=1e-5)
        # a candidate carries its passage: the text is the document's own span
        document = index.corpus.entries[c.doc_id].document
        assert c.passage.text == document.text[c.passage.start : c.passage.end]


def test_hybrid_retrieval_fuses_min_max_scaled_dense_and_bm25(tmp_path):
    """On the hand-made corpus (tests/fakes.py): the fusion formula, checked by hand."""
    corpus = make_corpus()[0]
    from qa.index.sync import CorpusIndex
    from qa.pipeline.retrieve import Retriever
    from qa.settings import RetrievalSettings
    from qa.values import Query

    index = CorpusIndex(tmp_path)  # nothing embedded: the hand-made corpus is served
    index.corpus = corpus
    vector = corpus.passage_rows(np.array([0]))[0]
    query = Query.of("Where do walruses sleep afloat?", vector)
    found = Retriever(RetrievalSettings(sentence_weight=0.0)).run(query, corpus, index.store, k=3)
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
