"""BEIR SciFact: ``python -m eval.benchmarks scifact [--docs M]``.

Each abstract is a document (title, a line break, text); each test claim is asked of the
corpus, and documents are ranked by their best passage. Per configuration: nDCG@10, recall@100,
hit@1/@10, MRR@10 with ranx, and nDCG@10 of the documents in what ``ask`` retrieves (10
passages), with the retrieval latency.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa import Assistant
from qa.assistant import clean_question
from qa.models.embedder import Embedder
from qa.values import Query

from . import metrics
from .cli import positive_int
from .data import require
from .ranking import rank_passages
from .runner import Benchmark, Evaluation, Loaded, Plot
from .runner import run as run_benchmark

FOLDER = Path("scifact")
DEPTH = 100  # documents ranked per claim (Recall@100)
PASSAGES = 400  # passages first asked for to fill 100 documents (doubled when short)

METRICS = (
    "ndcg@10",
    "recall@100",
    "hit@1",
    "hit@10",
    "mrr@10",
    "ndcg@10_k10",
    "retrieval_p50_ms",
    "retrieval_p95_ms",
)
# (header, key, format) of the printed table.
COLUMNS = [
    ("nDCG@10", "ndcg@10", ".3f"),
    ("R@100", "recall@100", ".3f"),
    ("hit@1", "hit@1", ".3f"),
    ("hit@10", "hit@10", ".3f"),
    ("MRR@10", "mrr@10", ".3f"),
    ("nDCG@10 k=10", "ndcg@10_k10", ".3f"),
    ("retr. p50 ms", "retrieval_p50_ms", ".1f"),
    ("retr. p95 ms", "retrieval_p95_ms", ".1f"),
]
# Figures from shared/data/README.md, for the reference rows of the table.
REFERENCE = [
    {"name": "ref. BM25 (BEIR)", "ndcg@10": 0.665},
    {"name": "ref. all-MiniLM-L6-v2 (MTEB)", "ndcg@10": 0.645},
    {"name": "ref. hybrid (txtai)", "ndcg@10": 0.713},
    {"name": "ref. BM25+BGE min-max (pyserini)", "ndcg@10": 0.747},
]


@dataclass
class SciFactData:
    """The SciFact corpus (file name -> text), the test claims and their relevant documents."""

    documents: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> {corpus _id: grade}


def load_scifact(folder: Path, docs: int | None = None, limit: int | None = None) -> SciFactData:
    """Read BEIR SciFact: the test claims (first ``limit``, in qrels order) and a corpus.

    The corpus is every abstract (file ``<_id>.txt``: title, a line break, text), or with
    ``docs`` the abstracts relevant to the chosen claims plus the first ``docs`` others.
    """
    require(folder)
    qrels: dict[str, dict[str, int]] = {}
    lines = require(folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        if line.strip():
            query, doc, grade = line.split("\t")
            qrels.setdefault(query, {})[doc] = int(grade)
    if limit is not None:
        qrels = dict(list(qrels.items())[:limit])
    queries = {}
    with open(require(folder / "queries.jsonl"), encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["_id"] in qrels:
                queries[record["_id"]] = record["text"]
    missing = set(qrels) - set(queries)
    if missing:
        raise ValueError(f"SciFact test queries missing from queries.jsonl: {sorted(missing)}")
    queries = {qid: queries[qid] for qid in qrels}
    wanted = {doc for relevant in qrels.values() for doc in relevant}
    documents = {}
    others = 0
    with open(require(folder / "corpus.jsonl"), encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["_id"] not in wanted:
                if docs is not None and others >= docs:
                    continue
                others += 1
            documents[f"{record['_id']}.txt"] = record["title"] + "\n" + record["text"]
    absent = wanted - {name.removesuffix(".txt") for name in documents}
    if absent:
        raise ValueError(f"SciFact relevant documents missing from corpus.jsonl: {absent}")
    return SciFactData(documents, queries, qrels)


def document_ranking(
    assistant: Assistant, query: str, vector: np.ndarray, depth: int, passages: int
) -> list[str]:
    """The ``depth`` best documents (corpus ids) for a query, each ranked by its best passage.

    Asks for ``passages`` passages and doubles that until ``depth`` documents are found or
    the index has no more to give.
    """
    index = assistant.index
    asked = Query.of(query, vector)
    while True:
        found = assistant.retrieve(asked, k=passages)
        ranking = metrics.first_occurrences(c.doc_id.removesuffix(".txt") for c in found)
        if len(ranking) >= depth or len(found) < passages or passages >= len(index):
            return ranking[:depth]
        passages *= 2


class SciFact(Benchmark):
    """BEIR SciFact test claims, documents ranked by their best passage."""

    name = "scifact"
    help = "BEIR SciFact test claims"
    noun = "claims"
    columns = COLUMNS
    reference = REFERENCE
    plot = Plot(
        curve="recall",
        title="SciFact test claims: recall of the relevant abstracts in the top k documents",
        ylabel="recall@k",
    )
    question_columns = ("id", "claim", "relevant")
    config_columns = ("first_relevant_rank", "ndcg@10", "top3")

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--docs", type=positive_int, help="the relevant abstracts plus the first M others"
        )

    def load(self, args: argparse.Namespace) -> Loaded:
        docs = getattr(args, "docs", None)
        self.data = data = load_scifact(args.data / FOLDER, docs, args.limit)
        self.qids = list(data.queries)
        key = "scifact" if docs is None else f"scifact-q{args.limit or 'all'}-d{docs}"
        return Loaded(
            documents=data.documents,
            queries=[clean_question(data.queries[qid]) for qid in self.qids],
            rows=[[qid, data.queries[qid], " ".join(data.qrels[qid])] for qid in self.qids],
            key=key + ("-titles" if args.titles else ""),
            data=args.data / FOLDER,
            options={"docs": docs, "limit": args.limit},
            description=(
                f"SciFact: {len(data.documents)} abstracts, {len(data.queries)} test claims"
            ),
        )

    def evaluate(self, name: str, assistant: Assistant, vectors: np.ndarray) -> Evaluation:
        qids, qrels = self.qids, self.data.qrels
        queries = [clean_question(self.data.queries[qid]) for qid in qids]
        rankings = {
            qid: document_ranking(assistant, query, vector, DEPTH, PASSAGES)
            for qid, query, vector in zip(qids, queries, vectors)
        }
        # What ask() retrieves: 10 passages (fusion pool max(k, candidates) = 50, not 400), whose
        # documents are fewer than 10 when a document has several of them ("nDCG@10 k=10").
        short, latency = rank_passages(assistant, queries, vectors, 10)
        index = assistant.index
        short_rankings = {
            qid: metrics.first_occurrences(
                index.passage(p).doc_id.removesuffix(".txt") for p in ranking
            )
            for qid, ranking in zip(qids, short)
        }
        scores = metrics.ranx_evaluate(
            qrels, rankings, ["ndcg@10", "recall@100", "hit_rate@1", "hit_rate@10", "mrr@10"]
        )
        per_query = metrics.ranx_evaluate(qrels, rankings, ["ndcg@10"], per_query=True)
        scores["ndcg@10_k10"] = metrics.ranx_evaluate(qrels, short_rankings, ["ndcg@10"])["ndcg@10"]
        scores = {metric.replace("hit_rate", "hit"): value for metric, value in scores.items()}
        scores["retrieval_p50_ms"] = metrics.percentile_ms(latency, 50)
        scores["retrieval_p95_ms"] = metrics.percentile_ms(latency, 95)
        ranks = [metrics.first_relevant_rank(rankings[qid], qrels[qid]) for qid in qids]
        ndcg = per_query["ndcg@10"].tolist()
        return Evaluation(
            figures={metric: scores[metric] for metric in METRICS}
            | {"documents_ranked_min": min((len(r) for r in rankings.values()), default=0)},
            curves={
                "recall": metrics.recall_curve(qrels, rankings, DEPTH),
                "hit": metrics.hit_curve(ranks, DEPTH),
            },
            cells=[
                [rank or "", round(value, 4), " ".join(rankings[qid][:3])]
                for qid, rank, value in zip(qids, ranks, ndcg)
            ],
        )


def run(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    """Evaluate every configuration on the SciFact test claims; write JSON, CSV and plot."""
    return run_benchmark(SciFact(), args, embedder)
