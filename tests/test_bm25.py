"""BM25: the k1 / b sweep on a one-article SQuAD cache, and scoring from bm25s's saved arrays."""

from __future__ import annotations

import numpy as np
import pytest

from eval import benchmarks, squad
from eval import bm25 as sweep
from qa.index.lexical import LexicalIndex, Postings, bm25_scores
from qa.settings import K1, B, LexicalSettings

from .conftest import require_data


@pytest.mark.slow  # an end-to-end benchmark run: minutes on 2 cores
def test_sweep_on_one_article(tmp_path, embedder, capsys):
    require_data(squad.FILE)
    out = tmp_path / "out"
    args = ["squad", "--articles", "1", "--limit", "5", "--configs", "bm25", "--out", str(out)]
    assert benchmarks.main(args, embedder=embedder) == 0  # builds the cache the sweep reads
    rows = sweep.main(["1.2:0.75,0.5:0.4", "--out", str(out), "--articles", "1"])
    assert list(rows) == ["1.2:0.75", "0.5:0.4"]
    for row in rows.values():
        assert 0.3 <= row["all"] <= 1.0  # Super Bowl 50: about 0.5 measured
        assert row["held_out"] is None and row["tuning"] == row["all"]
    assert "SQuAD para@1" in capsys.readouterr().out


def test_use_bm25_rebuilds_only_bm25(seeds_assistant):
    index = seeds_assistant.index
    before, vectors = index.corpus.lexical, index.corpus.passage_vectors
    try:
        sweep.use_bm25(seeds_assistant, LexicalSettings(k1=1.2, b=0.75))
        assert (index.corpus.lexical.k1, index.corpus.lexical.b) == (1.2, 0.75)
        assert len(index.corpus.lexical) == len(index) and index.corpus.passage_vectors is vectors
    finally:
        index.corpus.lexical = before


CORPUS = [
    ["road", "transport", "agreement", "dushanb"],
    ["agreement", "sign", "septemb", "2014", "agreement"],
    ["shanghai", "spirit"],
    [],
    ["road", "road", "safeti"],
]


@pytest.mark.parametrize(
    "query",
    [["road", "agreement"], ["agreement", "agreement"], ["unknown", "spirit"], ["unknown", ""], []],
)
def test_scores_are_bm25s_scores_built_and_loaded(tmp_path, query):
    import bm25s

    reference = bm25s.BM25(k1=K1, b=B)
    reference.index(CORPUS, show_progress=False)
    known = [t for t in query if t and t in reference.vocab_dict]  # bm25s fails on ""
    expected = reference.get_scores(known) if known else np.zeros(len(CORPUS))
    built = Postings.from_bm25s(reference)
    np.testing.assert_allclose(bm25_scores(built, query), expected, rtol=1e-6)

    index = LexicalIndex().index([" ".join(doc) for doc in CORPUS])
    index.save(tmp_path)
    loaded = Postings.load(tmp_path)
    assert isinstance(loaded.data, np.memmap)
    terms = [t for t in query if t in index.document_frequency]
    np.testing.assert_allclose(
        bm25_scores(loaded, query), index.scores(terms) if terms else 0, rtol=1e-6
    )
    # a loaded index saved into another folder (a new generation) reads back the same
    again = tmp_path / "again"
    again.mkdir()
    LexicalIndex.load(tmp_path).save(again)
    np.testing.assert_array_equal(
        bm25_scores(Postings.load(again), query), bm25_scores(loaded, query)
    )


def test_arrays_that_do_not_fit_together_are_refused(tmp_path):
    LexicalIndex().index(["road transport", "shanghai spirit"]).save(tmp_path)
    indptr = np.load(tmp_path / "bm25_indptr.npy")
    np.save(tmp_path / "bm25_indptr.npy", np.concatenate([indptr, indptr[-1:], indptr[-1:]]))
    with pytest.raises(ValueError, match="fit together"):
        Postings.load(tmp_path)
    params = tmp_path / "bm25_params.json"
    params.write_text(params.read_text().replace('"lucene"', '"bm25+"', 1))
    with pytest.raises(ValueError, match="bm25\\+"):
        Postings.load(tmp_path)
