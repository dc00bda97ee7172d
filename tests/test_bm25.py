"""BM25 k1 / b sweep: runs on a one-article SQuAD cache and reports each setting."""

from __future__ import annotations

import pytest

from eval import benchmarks, squad
from eval import bm25 as sweep
from qa.lexical import LexicalSettings

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
