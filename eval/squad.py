"""SQuAD v1.1 dev as an open corpus: ``python -m eval.benchmarks squad [--articles M]``.

The loader makes one document per article (title, blank line, paragraphs joined by blank
lines) and places every gold answer in it. Per configuration: passage and paragraph hit@k and
MRR@20 (a passage is relevant when it holds a gold span whole; a paragraph when the question
was written on it), and of the answer: hit@1 (the top extract holds a gold span), EM, F1,
abstentions, latency. Also the SQuAD helpers of the other eval commands: the corpus with odd
paragraphs held out (eval/abstention.py), the questions of one split of the articles
(``qa.training.squad.split_of``), and the answer records scored the same way. The loader and
the split are the reader's training's (``qa.training.squad``), imported here.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from qa import Answer, Assistant, Extract
from qa.models.embedder import Embedder
from qa.pipeline.query import clean_question
from qa.training.squad import FILE as FILE
from qa.training.squad import SquadData as SquadData
from qa.training.squad import SquadQuestion as SquadQuestion
from qa.training.squad import article_number, split_of
from qa.training.squad import load_squad as load_squad
from qa.training.squad import read_articles as read_articles
from qa.training.squad import slug as slug
from qa.training.squad import squad_data as squad_data

from . import metrics
from .cli import positive_int
from .gold import normalize
from .ranking import batches, rank_passages
from .runner import Benchmark, Evaluation, Loaded, Plot
from .runner import run as run_benchmark

DEPTH = 20  # passage hit@k and MRR are cut here
POOL = 50  # passages ranked per question: enough to fill 20 paragraphs, = the fusion pool

METRICS = (
    "passage_hit@1",
    "passage_hit@5",
    "passage_hit@20",
    "passage_mrr@20",
    "paragraph_hit@1",
    "paragraph_hit@5",
    "paragraph_hit@20",
    "paragraph_mrr@20",
    "answer_hit@1",
    "exact_match",
    "f1",
    "abstention_rate",
    "latency_p50_ms",
    "latency_p95_ms",
)
# (header, key, format) of the printed table.
COLUMNS = [
    ("psg@1", "passage_hit@1", ".3f"),
    ("psg@5", "passage_hit@5", ".3f"),
    ("psg@20", "passage_hit@20", ".3f"),
    ("psg MRR", "passage_mrr@20", ".3f"),
    ("para@1", "paragraph_hit@1", ".3f"),
    ("para@5", "paragraph_hit@5", ".3f"),
    ("para@20", "paragraph_hit@20", ".3f"),
    ("para MRR", "paragraph_mrr@20", ".3f"),
    ("ans@1", "answer_hit@1", ".3f"),
    ("EM", "exact_match", ".3f"),
    ("F1", "f1", ".3f"),
    ("abstain", "abstention_rate", ".3f"),
    ("p50 ms", "latency_p50_ms", ".1f"),
    ("p95 ms", "latency_p95_ms", ".1f"),
]
# Figures from shared/data/README.md, for the reference rows of the table.
REFERENCE = [
    {
        "name": "ref. BM25 (paragraphs)",
        "paragraph_hit@1": 0.768,
        "paragraph_hit@5": 0.920,
        "paragraph_hit@20": 0.970,
        "paragraph_mrr@20": 0.837,
    },
    {
        "name": "ref. MiniLM dense (paragraphs)",
        "paragraph_hit@1": 0.625,
        "paragraph_hit@5": 0.864,
        "paragraph_hit@20": 0.952,
        "paragraph_mrr@20": 0.731,
    },
]


# ----- data ----------------------------------------------------------------------------------


def held_out(data: SquadData) -> tuple[dict[str, str], list[SquadQuestion], list[SquadQuestion]]:
    """The corpus with odd-numbered paragraphs held out, and its (answerable, unanswerable)
    questions; answerable questions' spans are moved to where their paragraph now lies.

    Unanswerable: written on a held-out paragraph, none of its answers occurring anywhere in
    the kept text of its article (after normalisation)."""
    documents: dict[str, str] = {}
    moved: dict[str, int] = {}  # "<doc_id>#<n>" of a kept paragraph -> its offset's shift
    for doc_id, text in data.documents.items():
        spans = data.paragraphs[doc_id]
        parts, offset = [text[: spans[0][0] - 2]], spans[0][0]
        for n, (start, end) in enumerate(spans):
            if n % 2 == 0:
                moved[f"{doc_id}#{n}"] = offset - start
                parts.append(text[start:end])
                offset += end - start + 2
        documents[doc_id] = "\n\n".join(parts)
    kept_text = {doc_id: f" {normalize(text)} " for doc_id, text in documents.items()}
    answerable, unanswerable = [], []
    for q in data.questions:
        if q.paragraph in moved:
            shift = moved[q.paragraph]
            answerable.append(replace(q, spans=tuple((a + shift, b + shift) for a, b in q.spans)))
        elif not any(f" {normalize(a)} " in kept_text[q.doc_id] for a in q.answers):
            unanswerable.append(q)
    for q in answerable:
        text = documents[q.doc_id]
        if not any(text[a:b] in q.answers for a, b in q.spans):
            raise RuntimeError(f"SQuAD {q.qid}: answer spans lost in the held-out corpus")
    return documents, answerable, unanswerable


def held_out_of(
    data: SquadData, articles: set[str], limit: int | None
) -> tuple[dict[str, str], list[SquadQuestion], list[SquadQuestion]]:
    """``held_out``, its answerable and unanswerable questions kept to ``articles`` and to the
    first ``limit`` of each: the on-topic abstention set of a split, as eval.reader and
    eval.verifier both ask it."""
    documents, answerable, unanswerable = held_out(data)
    answerable = [q for q in answerable if q.doc_id in articles][:limit]
    unanswerable = [q for q in unanswerable if q.doc_id in articles][:limit]
    return documents, answerable, unanswerable


def questions_of(data: SquadData, split: str, limit: int | None) -> list[SquadQuestion]:
    """The questions of the articles of one split (``qa.training.squad.split_of``), a seeded
    sample of ``limit`` of them in file order when there are more."""
    chosen = [q for q in data.questions if split_of(article_number(q.doc_id)) == split]
    if limit is not None and limit < len(chosen):
        rng = np.random.default_rng(0)
        chosen = [chosen[i] for i in sorted(rng.permutation(len(chosen))[:limit])]
    return chosen


# ----- relevance -----------------------------------------------------------------------------


class PassageMap:
    """Where the passages of an index are: per document, and which SQuAD paragraphs they hit."""

    def __init__(self, assistant: Assistant, paragraphs: dict[str, list[tuple[int, int]]]):
        index = assistant.index
        passages = [index.passage(i) for i in range(len(index))]
        self.doc_of = [p.doc_id for p in passages]
        self.spans = np.array([(p.start, p.end) for p in passages], dtype=np.int64).reshape(-1, 2)
        by_doc: dict[str, list[int]] = {}
        for i, doc_id in enumerate(self.doc_of):
            by_doc.setdefault(doc_id, []).append(i)
        self.by_doc = {doc_id: np.array(ids, dtype=np.int64) for doc_id, ids in by_doc.items()}
        self.paragraphs_of: list[list[str]] = []
        for p in passages:
            # The title line belongs to no paragraph; a passage may run over a short paragraph.
            hit = [
                f"{p.doc_id}#{n}"
                for n, (p_start, p_end) in enumerate(paragraphs.get(p.doc_id, []))
                if p.start < p_end and p_start < p.end
            ]
            self.paragraphs_of.append(hit)

    def relevant(self, doc_id: str, spans: Sequence[tuple[int, int]]) -> list[int]:
        """Passages of ``doc_id`` holding at least one of the gold ``spans`` whole."""
        ids = self.by_doc.get(doc_id, np.zeros(0, dtype=np.int64))
        starts, ends = self.spans[ids, 0], self.spans[ids, 1]
        mask = np.zeros(len(ids), dtype=bool)
        for start, end in spans:
            mask |= (starts <= start) & (end <= ends)
        return [int(i) for i in ids[mask]]

    def paragraph_ranking(self, passages: Sequence[int], depth: int) -> list[str]:
        """Paragraphs in the order their first passage appears, cut at ``depth``."""
        keys = (key for passage in passages for key in self.paragraphs_of[passage])
        return metrics.first_occurrences(keys)[:depth]


def answerability(answer: Answer, reader_on: bool) -> float | None:
    """The reader's answerability of ``answer``, as a threshold would read it: a question asked
    back (``Answer.clarify``) was read by nobody, so 0 when the reader is on (None when off)."""
    if answer.answerability is None and reader_on:
        return 0.0
    return answer.answerability


def top_extract(assistant: Assistant, answer: Answer) -> tuple[Extract | None, str]:
    """The answer's best extract (an abstention's best candidate) and the text to score.

    The text is the extract's focus phrase when qa marks one, else the whole extract.
    """
    extracts = answer.extracts or answer.related
    if not extracts:
        return None, ""
    extract = extracts[0]
    if extract.focus_start is not None and extract.focus_end is not None:
        text = assistant.document(extract.doc_id).text[extract.focus_start : extract.focus_end]
        return extract, text
    return extract, extract.text


def holds_answer(extract: Extract | None, question: SquadQuestion) -> bool:
    """Whether ``extract`` lies in the question's document and spans a gold answer."""
    return extract is not None and any(
        extract.doc_id == question.doc_id and metrics.contains((extract.start, extract.end), span)
        for span in question.spans
    )


# ----- answers -------------------------------------------------------------------------------


def ask_questions(
    assistant: Assistant, questions: Sequence[SquadQuestion], batch: int = 1000, label: str = ""
) -> list[Answer]:
    """``assistant.ask_many`` on the questions (cleaned), ``batch`` at a time; with ``label``,
    prints the progress of long runs."""
    answers: list[Answer] = []
    texts = [clean_question(q.question) for q in questions]
    for number, chunk in enumerate(batches(texts, batch)):
        answers.extend(assistant.ask_many(list(chunk), k=3))
        if label and len(texts) > 2000 and number % 2 == 1:
            print(f"  {label}: answered {len(answers)}/{len(texts)}", flush=True)
    return answers


def answer_records(
    assistant: Assistant, questions: Sequence[SquadQuestion], batch: int = 1000, label: str = ""
) -> list[dict]:
    """Per question: the top extract's text, the answer text scored (``top_extract``), EM, F1,
    hit (the extract holds a gold span), abstained, latency in seconds."""
    records = []
    for q, answer in zip(questions, ask_questions(assistant, questions, batch, label)):
        extract, text = top_extract(assistant, answer)
        records.append(
            {
                "qid": q.qid,
                "extract": extract.text if extract is not None else "",
                "answer": text,
                "em": metrics.exact_match(text, q.answers),
                "f1": metrics.f1(text, q.answers),
                "hit": holds_answer(extract, q),
                "abstained": answer.abstained,
                "doubt": answer.doubt,
                "latency": answer.timings.get("total", 0.0),
            }
        )
    return records


# ----- the benchmark -------------------------------------------------------------------------


class Squad(Benchmark):
    """SQuAD v1.1 dev, every question asked of the whole corpus."""

    name = "squad"
    help = "SQuAD v1.1 dev, open corpus"
    columns = COLUMNS
    reference = REFERENCE
    plot = Plot(
        curve="passage_hit",
        title="SQuAD v1.1 dev: share of questions with an answer-holding passage in the top k",
        ylabel="passage hit@k",
        dashed="paragraph_hit",
        dashed_label="dashed: paragraph hit@k (comparable to the data README's figures)",
    )
    question_columns = ("id", "question", "gold", "doc_id")
    config_columns = (
        "passage_rank",
        "paragraph_rank",
        "top_extract",
        "scored_text",
        "answer_hit",
        "em",
        "f1",
        "abstained",
    )

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--articles", type=positive_int, help="only the first M articles")

    def load(self, args: argparse.Namespace) -> Loaded:
        articles = getattr(args, "articles", None)
        self.data = data = load_squad(args.data / FILE, articles, args.limit)
        key = "squad" if articles is None else f"squad-articles{articles}"
        return Loaded(
            documents=data.documents,
            queries=[clean_question(q.question) for q in data.questions],
            rows=[
                [q.qid, q.question, " | ".join(dict.fromkeys(q.answers)), q.doc_id]
                for q in data.questions
            ],
            key=key + ("-titles" if args.titles else ""),
            data=args.data / FILE,
            options={"articles": articles, "limit": args.limit},
            description=(
                f"SQuAD v1.1 dev: {len(data.documents)} articles, "
                f"{sum(map(len, data.paragraphs.values()))} paragraphs, "
                f"{len(data.questions)} questions"
            ),
        )

    def prepare(self, assistant: Assistant) -> dict:
        questions = self.data.questions
        self.passage_map = PassageMap(assistant, self.data.paragraphs)
        self.passage_qrels = {
            q.qid: [str(p) for p in self.passage_map.relevant(q.doc_id, q.spans)] for q in questions
        }
        self.paragraph_qrels = {q.qid: [q.paragraph] for q in questions}
        unreachable = sum(not relevant for relevant in self.passage_qrels.values())
        return {"questions_without_a_passage_holding_the_answer": unreachable}

    def evaluate(self, name: str, assistant: Assistant, vectors: np.ndarray) -> Evaluation:
        questions = self.data.questions
        qids = [q.qid for q in questions]
        queries = [clean_question(q.question) for q in questions]
        rankings, _ = rank_passages(assistant, queries, vectors, POOL)
        passage_rankings = {
            qid: [str(p) for p in ranking[:DEPTH]] for qid, ranking in zip(qids, rankings)
        }
        paragraph_rankings = {
            qid: self.passage_map.paragraph_ranking(ranking, DEPTH)
            for qid, ranking in zip(qids, rankings)
        }
        cut = [f"hit_rate@{k}" for k in (1, 5, DEPTH)] + [f"mrr@{DEPTH}"]
        scores = {}
        for level, qrels, ranked in (
            ("passage", self.passage_qrels, passage_rankings),
            ("paragraph", self.paragraph_qrels, paragraph_rankings),
        ):
            for metric, value in metrics.ranx_evaluate(qrels, ranked, cut).items():
                scores[f"{level}_{metric.replace('hit_rate', 'hit')}"] = value
        passage_ranks = [
            metrics.first_relevant_rank(passage_rankings[qid], self.passage_qrels[qid])
            for qid in qids
        ]
        paragraph_ranks = [
            metrics.first_relevant_rank(paragraph_rankings[qid], self.paragraph_qrels[qid])
            for qid in qids
        ]
        records = answer_records(assistant, questions, 1000, label=name)
        latency = [r["latency"] for r in records]
        scores |= {
            "answer_hit@1": float(np.mean([float(r["hit"]) for r in records])),
            "exact_match": float(np.mean([r["em"] for r in records])),
            "f1": float(np.mean([r["f1"] for r in records])),
            "abstention_rate": float(np.mean([float(r["abstained"]) for r in records])),
            "latency_p50_ms": metrics.percentile_ms(latency, 50),
            "latency_p95_ms": metrics.percentile_ms(latency, 95),
        }
        return Evaluation(
            figures={metric: scores[metric] for metric in METRICS},
            curves={
                "passage_hit": metrics.hit_curve(passage_ranks, DEPTH),
                "paragraph_hit": metrics.hit_curve(paragraph_ranks, DEPTH),
            },
            cells=[
                [
                    passage_rank or "",
                    paragraph_rank or "",
                    r["extract"],
                    r["answer"],
                    int(r["hit"]),
                    int(r["em"]),
                    round(r["f1"], 4),
                    int(r["abstained"]),
                ]
                for passage_rank, paragraph_rank, r in zip(passage_ranks, paragraph_ranks, records)
            ],
        )


def run(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    """Evaluate every configuration on SQuAD v1.1 dev; write the JSON, CSV and plot."""
    return run_benchmark(Squad(), args, embedder)
