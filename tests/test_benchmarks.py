"""Public-benchmark glue (eval/metrics.py, the runner and the benchmarks plugged into it:
eval/runner.py, eval/squad.py, eval/scifact.py, eval/benchmarks.py): hand-checked metric
values, data loading on tiny fake data sets, a tiny benchmark of a test's own plugged into the
runner, and one small end-to-end run per benchmark.
"""

from __future__ import annotations

import csv
import json
import math
import os

import pytest

from eval import benchmarks, corpus, data, metrics, ranking, report, runner, scifact, squad
from eval.configs import CONFIGS, configurations, shipped_configuration
from qa import Settings

from .conftest import require_data

# ----- SQuAD answer scores ------------------------------------------------------------------


def test_normalisation_follows_squad_v1_1():
    assert metrics.normalize_answer("The Cat sat.") == "cat sat"
    assert metrics.normalize_answer("  An   apple, a day! ") == "apple day"
    assert metrics.normalize_answer("theatre") == "theatre"  # articles only as whole words


def test_exact_match_is_after_normalisation_and_over_any_gold():
    assert metrics.exact_match("The Cat sat.", ["cat sat"]) == 1.0
    assert metrics.exact_match("cat", ["dog", "a cat!"]) == 1.0
    assert metrics.exact_match("cat sat on", ["cat sat"]) == 0.0
    assert metrics.exact_match("anything", []) == 0.0


def test_f1_is_token_overlap_and_the_best_over_golds():
    # prediction "cat sat on mat" vs "cat sat": precision 2/4, recall 2/2 -> 2/3
    assert metrics.f1("The cat sat on the mat.", ["cat sat"]) == pytest.approx(2 / 3)
    # vs "dog sat on a log": common "sat on" -> precision 2/4, recall 2/4 -> 1/2; best is 2/3
    assert metrics.f1("The cat sat on the mat.", ["dog sat on a log", "cat sat"]) == (
        pytest.approx(2 / 3)
    )
    assert metrics.f1("The cat", ["dog"]) == 0.0
    assert metrics.f1("", ["dog"]) == 0.0
    assert metrics.f1("the the", ["dog"]) == 0.0  # normalises to nothing
    # repeated tokens count as often as both sides hold them: "a a b" vs "a b b" -> 2/3
    assert metrics.token_f1("x x y", "x y y") == pytest.approx(2 / 3)


# ----- rankings -----------------------------------------------------------------------------


def test_ranx_glue_on_a_hand_computed_ranking():
    # q1 ranks d1, d2, d3; d2 and d3 are relevant.
    # nDCG@10 = (1/log2(3) + 1/log2(4)) / (1 + 1/log2(3)); MRR = 1/2; recall@2 = 1/2.
    qrels = {"q1": {"d2", "d3"}}
    rankings = {"q1": ["d1", "d2", "d3"]}
    expected_ndcg = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    scores = metrics.ranx_evaluate(
        qrels, rankings, ["ndcg@10", "mrr@20", "recall@2", "recall@100", "hit_rate@1"]
    )
    assert scores["ndcg@10"] == pytest.approx(expected_ndcg)
    assert scores["mrr@20"] == pytest.approx(0.5)
    assert scores["recall@2"] == pytest.approx(0.5)
    assert scores["recall@100"] == pytest.approx(1.0)
    assert scores["hit_rate@1"] == 0.0


def test_ranx_glue_keeps_our_order_not_the_ids_order():
    # The scores handed to ranx come from positions: reversing the ranking must change MRR.
    assert metrics.ranx_evaluate({"q": ["a"]}, {"q": ["a", "b"]}, ["mrr@10"])["mrr@10"] == 1.0
    assert metrics.ranx_evaluate({"q": ["a"]}, {"q": ["b", "a"]}, ["mrr@10"])["mrr@10"] == 0.5


def test_queries_without_relevant_ids_or_results_count_as_misses():
    qrels = {"q1": {"d1": 1}, "q2": set(), "q3": ["d3"]}
    rankings = {"q1": ["d1"], "q2": ["d1"]}  # q3 has no results at all
    scores = metrics.ranx_evaluate(qrels, rankings, ["mrr@10", "hit_rate@5"])
    assert scores == {"mrr@10": pytest.approx(1 / 3), "hit_rate@5": pytest.approx(1 / 3)}
    per_query = metrics.ranx_evaluate(qrels, rankings, ["mrr@10"], per_query=True)
    assert per_query["mrr@10"].tolist() == [1.0, 0.0, 0.0]


def test_ranks_and_curves():
    assert metrics.first_relevant_rank(["a", "b", "c"], {"c", "b"}) == 2
    assert metrics.first_relevant_rank(["a"], {"z"}) == 0
    assert metrics.hit_curve([1, 3, 0, 2], 3) == pytest.approx([0.25, 0.5, 0.75])
    assert metrics.hit_curve([5], 3) == [0.0, 0.0, 0.0]
    qrels = {"q1": {"d2", "d3"}, "q2": {"x"}}
    rankings = {"q1": ["d1", "d2", "d3"], "q2": ["x"]}
    curve = metrics.recall_curve(qrels, rankings, 3)
    assert curve == pytest.approx([0.5, 0.75, 1.0])
    for k in (1, 2, 3):
        assert curve[k - 1] == pytest.approx(
            metrics.ranx_evaluate(qrels, rankings, [f"recall@{k}"])[f"recall@{k}"]
        )


def test_spans_grouping_and_percentiles():
    assert metrics.contains((10, 20), (10, 20))
    assert metrics.contains((10, 20), (12, 15))
    assert not metrics.contains((10, 20), (15, 21))
    assert metrics.first_occurrences(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]
    assert metrics.percentile_ms([0.001, 0.002, 0.003], 50) == pytest.approx(2.0)
    assert math.isnan(metrics.percentile_ms([], 50))


# ----- loading and corpus files -------------------------------------------------------------


def _fake_squad(path):
    context_1 = "Paris is the capital of France. It lies on the Seine."
    context_2 = "The Loire is the longest river in France."
    data = {
        "version": "1.1",
        "data": [
            {
                "title": "France_Facts",
                "paragraphs": [
                    {
                        "context": context_1,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "What is the capital of France?",
                                "answers": [
                                    {"text": "Paris", "answer_start": 0},
                                    {"text": "Paris", "answer_start": 0},
                                ],
                            }
                        ],
                    },
                    {
                        "context": context_2,
                        "qas": [
                            {
                                "id": "q2",
                                "question": "Which river is the longest?",
                                "answers": [
                                    {"text": "The Loire", "answer_start": 0},
                                    {"text": "Loire", "answer_start": 4},
                                ],
                            }
                        ],
                    },
                ],
            },
            {"title": "Other", "paragraphs": [{"context": "Nothing.", "qas": []}]},
        ],
    }
    path.write_text(json.dumps(data))
    return path


def test_load_squad_gives_absolute_spans(tmp_path):
    data = squad.load_squad(_fake_squad(tmp_path / "dev.json"))
    text = data.documents["00_france-facts.txt"]
    assert text.startswith("France Facts\n\nParis is the capital")
    assert list(data.documents) == ["00_france-facts.txt", "01_other.txt"]
    q1, q2 = data.questions
    assert q1.spans == ((14, 19),)  # duplicates merged; title (12) + blank line (2)
    assert [text[s:e] for s, e in q2.spans] == ["The Loire", "Loire"]
    assert q2.paragraph == "00_france-facts.txt#1"
    start, end = data.paragraphs["00_france-facts.txt"][1]
    assert text[start:end] == "The Loire is the longest river in France."
    assert [q.qid for q in squad.load_squad(tmp_path / "dev.json", limit=1).questions] == ["q1"]
    assert list(squad.load_squad(tmp_path / "dev.json", articles=1).documents) == [
        "00_france-facts.txt"
    ]


def test_load_squad_rejects_a_misplaced_answer(tmp_path):
    path = _fake_squad(tmp_path / "dev.json")
    data = json.loads(path.read_text())
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="q1"):
        squad.load_squad(path)


def test_load_scifact_keeps_relevant_documents_and_the_first_others(tmp_path):
    folder = tmp_path / "scifact"
    (folder / "qrels").mkdir(parents=True)
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n5\t30\t1\n5\t31\t1\n7\t10\t1\n"
    )
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": f"claim {q}"}) + "\n" for q in ("7", "5", "9"))
    )
    (folder / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": d, "title": f"T{d}", "text": f"text {d}"}) + "\n"
            for d in ("10", "11", "12", "30", "31")
        )
    )
    data = scifact.load_scifact(folder)
    assert list(data.queries) == ["5", "7"]  # qrels order
    assert data.qrels == {"5": {"30": 1, "31": 1}, "7": {"10": 1}}
    assert data.documents["10.txt"] == "T10\ntext 10"
    assert len(data.documents) == 5
    small = scifact.load_scifact(folder, docs=1, limit=1)
    assert list(small.queries) == ["5"]
    assert sorted(small.documents) == ["10.txt", "30.txt", "31.txt"]  # relevant + first other


def test_write_corpus_rewrites_only_changed_files_and_removes_stale_ones(tmp_path):
    folder = tmp_path / "corpus"
    assert corpus.write_corpus(folder, {"a.txt": "alpha", "b.txt": "beta"}) == 2
    os.utime(folder / "a.txt", ns=(1, 1))
    assert corpus.write_corpus(folder, {"a.txt": "alpha", "c.txt": "gamma"}) == 1
    assert (folder / "a.txt").stat().st_mtime_ns == 1
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt", "c.txt"]
    assert (folder / "a.txt").read_bytes() == b"alpha"


def test_configurations_and_the_shipped_one():
    assert set(configurations()) == {"bm25", "dense", "hybrid-rrf", "hybrid-score"}
    with pytest.raises(ValueError, match="nope"):
        configurations(["bm25", "nope"])
    shipped = shipped_configuration()
    if shipped is not None:
        assert CONFIGS[shipped] == Settings().retrieval


def test_missing_data_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("QA_DATA_DIR", raising=False)
    missing = tmp_path / "nowhere"
    code = benchmarks.main(["squad", "--data", str(missing), "--out", str(tmp_path / "out")])
    assert code == 2
    assert str(missing / "squad" / "dev-v1.1.json") in capsys.readouterr().err
    monkeypatch.setenv("QA_DATA_DIR", str(missing))
    assert data.data_dir() == missing.resolve()
    assert data.data_dir(tmp_path) == tmp_path.resolve()


def test_markdown_table_marks_the_shipped_configuration():
    summary = {
        "configs": {
            "bm25": {"shipped": False, "ndcg@10": 0.5},
            "dense": {"shipped": True, "ndcg@10": 0.25},
        },
        "reference": [{"name": "ref. X", "ndcg@10": 0.665}],
    }
    table = report.markdown_table(summary, [("nDCG@10", "ndcg@10", ".3f"), ("R", "r", ".1f")])
    assert table.splitlines()[2:] == [
        "| bm25 | 0.500 | — |",
        "| dense (shipped) | 0.250 | — |",
        "| ref. X | 0.665 | — |",
    ]


# ----- a new benchmark plugs into the runner ------------------------------------------------


class _Capitals(runner.Benchmark):
    """A benchmark of this test's own, as small as a new one can be: a loader (a corpus and
    questions with the document that answers each) and a metric (document hit@1)."""

    name = "capitals"
    columns = [("doc@1", "document_hit@1", ".3f")]
    plot = runner.Plot(curve="document_hit", title="capitals", ylabel="document hit@k")
    question_columns = ("id", "question", "gold")
    config_columns = ("top_document", "hit")

    def load(self, args):
        folder = data.require(args.data / "capitals")
        documents = json.loads((folder / "documents.json").read_text())
        questions = [json.loads(line) for line in (folder / "questions.jsonl").open()]
        self.queries = [q["question"] for q in questions]
        self.gold = [q["gold"] for q in questions]
        return runner.Loaded(
            documents=documents,
            queries=self.queries,
            rows=[[q["id"], q["question"], q["gold"]] for q in questions],
            key="capitals",
            data=folder,
            options={"limit": args.limit},
        )

    def prepare(self, assistant):
        sentences = 0  # counted one by one, against open_corpus's count
        while assistant.index.sentence(sentences) is not None:
            sentences += 1
        return {"gold_documents": len(set(self.gold)), "sentences_one_by_one": sentences}

    def evaluate(self, name, assistant, vectors):
        rankings, _ = ranking.rank_passages(assistant, self.queries, vectors, 3)
        documents = [
            metrics.first_occurrences(assistant.index.passage(p).doc_id for p in ranked)
            for ranked in rankings
        ]
        ranks = [metrics.first_relevant_rank(d, {g}) for d, g in zip(documents, self.gold)]
        return runner.Evaluation(
            figures={"document_hit@1": sum(rank == 1 for rank in ranks) / len(ranks)},
            curves={"document_hit": metrics.hit_curve(ranks, 3)},
            cells=[[d[0] if d else "", int(rank == 1)] for d, rank in zip(documents, ranks)],
        )


def test_a_new_benchmark_plugs_into_the_runner(tmp_path, embedder, capsys):
    folder = tmp_path / "data" / "capitals"
    folder.mkdir(parents=True)
    documents = {
        "france.txt": "France\n\nParis is the capital of France. The Seine flows through Paris.",
        "japan.txt": "Japan\n\nTokyo is the capital of Japan. Mount Fuji rises west of Tokyo.",
        "kenya.txt": "Kenya\n\nNairobi is the capital of Kenya. The Rift Valley crosses Kenya.",
    }
    (folder / "documents.json").write_text(json.dumps(documents))
    questions = [
        {"id": "q1", "question": "What is the capital of Japan?", "gold": "japan.txt"},
        {"id": "q2", "question": "Which river flows through Paris?", "gold": "france.txt"},
        # A wrong gold on purpose: BM25 finds Kenya, so this one is a miss.
        {"id": "q3", "question": "What crosses the Rift Valley?", "gold": "japan.txt"},
    ]
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    out = tmp_path / "out"
    args = ["--data", str(tmp_path / "data"), "--out", str(out), "--configs", "bm25"]
    benchmark = _Capitals()
    assert runner.main(benchmark, args, embedder=embedder) == 0

    summary = json.loads((out / "capitals.json").read_text())
    assert list(summary)[:5] == ["benchmark", "data", "options", "questions", "gold_documents"]
    assert summary["benchmark"] == "capitals" and summary["questions"] == 3
    assert summary["gold_documents"] == 2 and summary["options"] == {"limit": None}
    assert summary["index"]["documents"] == 3 and summary["index"]["files_written"] == 3
    assert summary["index"]["sentences"] == summary["sentences_one_by_one"] >= 6
    result = summary["configs"]["bm25"]
    assert result["document_hit@1"] == pytest.approx(2 / 3)
    assert result["curves"]["document_hit"][0] == pytest.approx(2 / 3)
    assert result["retrieval"]["mode"] == "bm25"
    assert "| bm25 | 0.667 |" in capsys.readouterr().out
    rows = list(csv.reader((out / "capitals_questions.csv").open()))
    assert rows[0] == ["id", "question", "gold", "bm25_top_document", "bm25_hit"]
    assert [row[-2:] for row in rows[1:]] == [
        ["japan.txt", "1"],
        ["france.txt", "1"],
        ["kenya.txt", "0"],
    ]
    assert (out / "capitals_hits.png").stat().st_size > 1000
    # The corpus is cached: a second run embeds nothing but the questions.
    assert runner.main(benchmark, args, embedder=embedder) == 0
    again = json.loads((out / "capitals.json").read_text())
    assert again["index"]["texts_embedded"] == 0 and again["index"]["files_written"] == 0
    assert again["configs"]["bm25"]["document_hit@1"] == pytest.approx(2 / 3)
    # Missing data is exit code 2, naming the folder expected.
    missing = ["--data", str(tmp_path / "nowhere"), "--out", str(out)]
    assert runner.main(benchmark, missing, embedder=embedder) == 2
    assert str(tmp_path / "nowhere" / "capitals") in capsys.readouterr().err


# ----- end to end on the real data ----------------------------------------------------------


def _check_summary(path, names):
    summary = json.loads(path.read_text())
    assert set(summary["configs"]) == set(CONFIGS)
    for name, result in summary["configs"].items():
        for metric in names:
            value = result[metric]
            if metric.endswith("_ms"):
                assert value > 0, (name, metric)
            else:
                assert 0.0 <= value <= 1.0, (name, metric, value)
    assert [n for n, r in summary["configs"].items() if r["shipped"]] == [
        shipped_configuration()
    ] or shipped_configuration() is None
    return summary


@pytest.mark.slow  # end to end on real data; the runner itself is tested fast
def test_squad_end_to_end_on_one_article(tmp_path, embedder):
    require_data("squad/dev-v1.1.json")
    out = tmp_path / "out"
    args = ["squad", "--articles", "1", "--limit", "40", "--out", str(out)]
    assert benchmarks.main(args, embedder=embedder) == 0
    summary = _check_summary(out / "squad.json", squad.METRICS)
    assert summary["questions"] == 40
    assert summary["index"]["documents"] == 1
    configs = summary["configs"]
    # Measured on this subset (Super Bowl 50, a hard article of near-duplicate paragraphs):
    # passage hit@5 bm25 0.575, dense 0.900, hybrid-rrf 1.000, hybrid-score 0.975; hit@20 1.000
    # for all; answer hit@1 0.300-0.350. Floors sit well below (16/40 questions for hit@5).
    assert configs["bm25"]["passage_hit@5"] >= 0.4
    assert min(c["passage_hit@5"] for c in configs.values()) >= 0.4
    assert min(c["passage_hit@20"] for c in configs.values()) >= 0.8
    assert max(c["answer_hit@1"] for c in configs.values()) >= 0.15
    for name in CONFIGS:
        curve = configs[name]["curves"]["passage_hit"]
        assert len(curve) == 20 and curve == sorted(curve)
        assert curve[4] == pytest.approx(configs[name]["passage_hit@5"])
    lines = (out / "squad_questions.csv").read_text().splitlines()
    assert len(lines) == 41
    assert (out / "squad_hits.png").stat().st_size > 1000
    # A second run reuses the index: nothing is embedded but the questions.
    assert benchmarks.main(args + ["--configs", "bm25"], embedder=embedder) == 0
    again = json.loads((out / "squad.json").read_text())
    assert again["index"]["texts_embedded"] == 0 and again["index"]["files_written"] == 0
    assert again["configs"]["bm25"]["passage_hit@5"] == configs["bm25"]["passage_hit@5"]
    # The same index searched in milvus-lite: nothing embedded, its results written apart.
    store = f"milvus-lite:{out / 'squad.db'}"
    milvus_args = args + ["--configs", "hybrid-score", "--store", store]
    assert benchmarks.main(milvus_args, embedder=embedder) == 0
    milvus = json.loads((out / "squad_milvus.json").read_text())
    assert all(metric in milvus["configs"]["hybrid-score"] for metric in squad.METRICS)
    assert milvus["index"]["texts_embedded"] == 0
    assert milvus["index"]["store"]["kind"] == "milvus"
    assert milvus["index"]["store_documents_written"] == 1
    shipped = milvus["configs"]["hybrid-score"]
    assert abs(shipped["passage_hit@5"] - configs["hybrid-score"]["passage_hit@5"]) <= 0.1
    assert (out / "squad_milvus_questions.csv").exists()


@pytest.mark.slow  # end to end on real data; the runner itself is tested fast
def test_scifact_end_to_end_on_a_small_corpus(tmp_path, embedder):
    require_data("scifact/corpus.jsonl")
    out = tmp_path / "out"
    args = ["scifact", "--limit", "10", "--docs", "20", "--out", str(out)]
    assert benchmarks.main(args, embedder=embedder) == 0
    summary = _check_summary(out / "scifact.json", scifact.METRICS)
    assert summary["questions"] == 10
    configs = summary["configs"]
    # Measured on this subset (30 abstracts): nDCG@10 bm25 0.838, dense 1.000, hybrid-rrf 0.930,
    # hybrid-score 0.863; bm25 recall@100 0.900 (it ranks only abstracts sharing a term).
    assert configs["bm25"]["ndcg@10"] >= 0.6
    assert min(c["ndcg@10"] for c in configs.values()) >= 0.6
    assert configs["dense"]["recall@100"] == 1.0  # fewer than 100 documents: all are ranked
    curve = configs["dense"]["curves"]["recall"]
    assert len(curve) == 100 and curve[-1] == pytest.approx(configs["dense"]["recall@100"])
    assert len((out / "scifact_questions.csv").read_text().splitlines()) == 11
    assert (out / "scifact_hits.png").stat().st_size > 1000
