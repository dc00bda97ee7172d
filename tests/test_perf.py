"""The speed benchmark (python -m eval.perf) runs and reports every figure; no timing asserts."""

from __future__ import annotations

import json

import pytest

from eval import perf, scale, squad
from qa.settings import DenseSettings

from .conftest import require_data


def test_query_latency_reports_ask_the_bare_encode_and_each_stage(seeds_assistant):
    questions = ["Where was the road transport agreement signed?", "Who wrote the article?"]
    stage = seeds_assistant.reading()
    memo_size = stage.reader.memo_size if stage is not None else None
    report = perf.query_latency(seeds_assistant, questions, rounds=2)
    # The benchmark reads without the memo, and leaves the process's reader as it found it.
    assert stage is None or stage.reader.memo_size == memo_size
    assert report["questions"] == 2 and report["rounds"] == 2
    assert report["ask_p50_ms"] > 0 and report["bare_encode_p50_ms"] > 0
    assert report["ask_p95_ms"] >= report["ask_p50_ms"]
    ratio = report["ask_p50_ms"] / report["bare_encode_p50_ms"]
    assert report["ratio_ask_to_bare_encode"] == pytest.approx(ratio)
    assert set(report["breakdown_p50_ms"]) == {
        "question embedding",
        "dense search",
        "bm25",
        "fusion (retrieve - dense - bm25)",
        "reader",
        "extraction",
    }
    assert all(value >= 0 for value in report["breakdown_p50_ms"].values())


@pytest.mark.slow
def test_perf_end_to_end(tmp_path):
    require_data(squad.FILE)
    arguments = ["--rounds", "1", "--articles", "1", "--runs", "1", "--out", str(tmp_path)]
    report = perf.main(arguments + ["--scale-sizes", "2000,5000", "--ask-passages", "3000"])
    assert report == json.loads((tmp_path / "perf.json").read_text())
    assert report["indexing"]["characters"] > 10_000
    assert report["indexing"]["ratio_to_bare_same_texts"] > 0
    assert report["cold_start"]["qa_ask_median_s"] > 0
    assert report["cold_start"]["app_ready_median_s"] > 0
    assert report["ask_at_scale"]["passages"] >= 3000
    assert [r["passages"] for r in report["dense_scale"]["sizes"]] == [2000, 5000]
    assert all(r["recall@10_vs_exact"] == 1.0 for r in report["dense_scale"]["sizes"])  # flat


def test_scale_measures_an_ivf_index_against_exact_search(seeds_assistant, embedder):
    base = seeds_assistant.index.corpus.passage_vectors
    queries = embedder.encode(["Where was the agreement signed?", "Who said it?"])
    report = scale.measure(4000, base, queries, settings=DenseSettings(exact_limit=1000))
    assert report["kind"] == "ivf" and report["passages"] == 4000
    assert 0.8 <= report["recall@10_vs_exact"] <= 1.0
    assert report["build_s"] > 0 and report["query_p50_ms"] > 0
    assert 0 < report["index_mb"] < 4000 * 384 * 4 / 1e6
    assert report["peak_rss_mb"] > 0


@pytest.mark.slow  # an end-to-end benchmark run: minutes on 2 cores
def test_ask_at_scale_times_ask_on_a_copied_corpus(seeds_assistant):
    questions = ["Where was the road transport agreement signed?"]
    report = scale.ask_at_scale(seeds_assistant.index, questions, 2000, ("milvus-lite",))
    assert report["passages"] >= 2000 and report["documents"] > len(seeds_assistant.documents)
    assert report["vectors_memory_mapped"] and report["vectors_on_disk_mb"] > 0
    fresh = report["fresh_process"]  # the saved copy, opened by a new process
    assert fresh["embedded_on_open"] == 0 and fresh["ask_p50_ms"] > 0
    assert fresh["torch_imported"] is False and fresh["process_anonymous_rss_mb"] > 0
    milvus = report["stores"]["milvus-lite"]  # the same, searched in a local Milvus
    assert milvus["store"] == "milvus" and milvus["embedded_on_open"] == 0
    assert milvus["store_documents_written"] == report["documents"]
    assert milvus["ask_p50_ms"] > 0 and milvus["process_anonymous_rss_mb"] > 0
    assert report["ask_p50_ms"] > 0 and report["bare_encode_p50_ms"] > 0
    ratio = report["ask_p50_ms"] / report["bare_encode_p50_ms"]
    assert report["ratio_ask_to_bare_encode"] == pytest.approx(ratio)


def test_memory_parts_count_the_bm25_arrays(seeds_assistant):
    parts = scale.memory_parts_mb(seeds_assistant.index)
    postings = seeds_assistant.index.corpus.lexical.postings
    expected = (postings.data.nbytes + postings.indices.nbytes + postings.indptr.nbytes) / 1e6
    assert parts["bm25_arrays"] == pytest.approx(expected) and parts["bm25_arrays"] > 0
