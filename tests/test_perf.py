"""The speed benchmark (python -m eval.perf) runs and reports every figure; no timing asserts."""

from __future__ import annotations

import json

import pytest

from eval import benchmarks, perf


def test_query_latency_reports_ask_the_bare_encode_and_each_stage(seeds_assistant):
    questions = ["Where was the road transport agreement signed?", "Who wrote the article?"]
    report = perf.query_latency(seeds_assistant, questions, rounds=2)
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
        "extraction",
    }
    assert all(value >= 0 for value in report["breakdown_p50_ms"].values())


@pytest.mark.slow
def test_perf_end_to_end(tmp_path):
    if not (benchmarks.data_dir() / benchmarks.SQUAD_FILE).exists():
        pytest.skip("benchmark data not found (set QA_DATA_DIR)")
    report = perf.main(["--rounds", "1", "--articles", "1", "--runs", "1", "--out", str(tmp_path)])
    assert report == json.loads((tmp_path / "perf.json").read_text())
    assert report["indexing"]["characters"] > 10_000
    assert report["indexing"]["ratio_to_bare_same_texts"] > 0
    assert report["cold_start"]["qa_ask_median_s"] > 0
    assert report["cold_start"]["app_ready_median_s"] > 0
