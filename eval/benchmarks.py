"""Public benchmarks for qa: SQuAD v1.1 dev (open corpus) and BEIR SciFact, side by side for
several retrieval configurations sharing one index.

    python -m eval.benchmarks squad   [--articles M] [--limit N] [--configs bm25,dense,...]
    python -m eval.benchmarks scifact [--docs M] [--limit N] [--configs ...]
    common options: --data DIR (else $QA_DATA_DIR, else <repo>/../shared/data), --out DIR

Each benchmark writes its corpus as ``.txt`` files under ``<out>/cache/<corpus key>/corpus`` and
opens it with ``Assistant.from_folder`` (index in ``<out>/cache/<corpus key>/index``). The index
is qa's own persisted index, whose manifest is keyed by the model and each file's SHA-256, so a
second run embeds nothing. Results go to ``<out>/<benchmark>.json`` (summary),
``<out>/<benchmark>_questions.csv`` (per question) and ``<out>/<benchmark>_hits.png`` (curves).
See eval/BENCHMARKS.md for the measured figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qa import Answer, Assistant, Extract, Settings, config
from qa.assistant import clean_question
from qa.embedding import Embedder
from qa.passages import PassageSettings
from qa.query import Query
from qa.reader import ReaderSettings
from qa.retrieval import RetrievalSettings

from . import metrics

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "eval" / "results"

CONFIGS: dict[str, RetrievalSettings] = {
    "bm25": RetrievalSettings(mode="bm25"),
    "dense": RetrievalSettings(mode="dense"),
    "hybrid-rrf": RetrievalSettings(mode="hybrid", fusion="rrf"),
    "hybrid-score": RetrievalSettings(mode="hybrid", fusion="score"),
}

SQUAD_FILE = Path("squad") / "dev-v1.1.json"
SCIFACT_DIR = Path("scifact")
SQUAD_DEPTH = 20  # passage hit@k and MRR are cut here
SQUAD_POOL = 50  # passages ranked per question: enough to fill 20 paragraphs, = the fusion pool
SCIFACT_DEPTH = 100  # documents ranked per claim (Recall@100)
SCIFACT_PASSAGES = 400  # passages first asked for to fill 100 documents (doubled when short)

SQUAD_METRICS = (
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
SCIFACT_METRICS = (
    "ndcg@10",
    "recall@100",
    "hit@1",
    "hit@10",
    "mrr@10",
    "ndcg@10_k10",
    "retrieval_p50_ms",
    "retrieval_p95_ms",
)

# Figures from shared/data/README.md, for the reference rows of the tables.
REFERENCES = {
    "squad": [
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
    ],
    "scifact": [
        {"name": "ref. BM25 (BEIR)", "ndcg@10": 0.665},
        {"name": "ref. all-MiniLM-L6-v2 (MTEB)", "ndcg@10": 0.645},
        {"name": "ref. hybrid (txtai)", "ndcg@10": 0.713},
        {"name": "ref. BM25+BGE min-max (pyserini)", "ndcg@10": 0.747},
    ],
}

# (header, key, format) of the printed tables; "ms" values are printed as whole milliseconds.
SQUAD_COLUMNS = [
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
SCIFACT_COLUMNS = [
    ("nDCG@10", "ndcg@10", ".3f"),
    ("R@100", "recall@100", ".3f"),
    ("hit@1", "hit@1", ".3f"),
    ("hit@10", "hit@10", ".3f"),
    ("MRR@10", "mrr@10", ".3f"),
    ("nDCG@10 k=10", "ndcg@10_k10", ".3f"),
    ("retr. p50 ms", "retrieval_p50_ms", ".1f"),
    ("retr. p95 ms", "retrieval_p95_ms", ".1f"),
]


class DataMissingError(FileNotFoundError):
    """The public data set is not where it was looked for."""


# ----- data location and corpus files -------------------------------------------------------


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data folder: ``explicit`` (``--data``), else ``$QA_DATA_DIR``, else the default."""
    chosen = config.setting(explicit, config.DATA_VARIABLE, DEFAULT_DATA)
    return Path(chosen).expanduser().resolve()


def require(path: Path) -> Path:
    """``path`` itself, or DataMissingError naming it and how to point elsewhere."""
    if not path.exists():
        raise DataMissingError(
            f"benchmark data not found: expected {path} (see shared/data/README.md); "
            "pass --data DIR or set QA_DATA_DIR to the folder holding squad/ and scifact/"
        )
    return path


def write_corpus(folder: Path, documents: dict[str, str], prune: bool = True) -> int:
    """Write ``documents`` (file name -> text) into ``folder``; returns how many were written.

    A file is rewritten only when its bytes differ, so unchanged files keep their mtime and the
    index reuses them without even hashing. With ``prune``, files not in ``documents`` go.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, text in documents.items():
        path = folder / name
        data = text.encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
            written += 1
    if prune:
        for path in folder.iterdir():
            if path.is_file() and path.name not in documents:
                path.unlink()
    return written


def open_corpus(
    cache: Path,
    documents: dict[str, str],
    embedder: Embedder,
    titles: bool = False,
    store: str | None = None,
    reader: bool = True,
) -> tuple[Assistant, dict]:
    """Write ``documents`` under ``cache/corpus`` and open (build or load) their index.

    Returns the Assistant (shipped settings) and facts about the index for the summary. Every
    indexed text is checked against what was written, since the gold offsets refer to it.
    ``store`` (see ``qa.store.open_store``) shares the index folder, so switching stores
    embeds nothing again. Without ``reader``, answers are the sentence scores' alone.
    """
    began = time.perf_counter()
    written = write_corpus(cache / "corpus", documents)
    encoded = embedder.texts_encoded
    assistant = Assistant.from_folder(
        cache / "corpus",
        index_dir=cache / "index",
        embedder=embedder,
        settings=Settings(
            model=embedder.model_name,
            passages=PassageSettings(titles=titles),
            reader=ReaderSettings(enabled=reader),
        ),
        progress=_progress_printer("indexing"),
        store=store,
    )
    report = assistant.index.last_sync
    if report.skipped:
        raise RuntimeError(f"qa skipped corpus files: {report.skipped}")
    for name, text in documents.items():
        if assistant.document(name).text != text:
            raise RuntimeError(f"indexed text of {name} differs from the file written")
    index = assistant.index
    facts = {
        "cache": str(cache),
        "documents": len(index.documents),
        "passages": len(index),
        "sentences": index.corpus.sentence_count,
        "files_written": written,
        "documents_embedded": len(report.added) + len(report.changed),
        "texts_embedded": embedder.texts_encoded - encoded,
        "store": index.store.describe(),
        "store_documents_written": len(report.store_written),
        "seconds": round(time.perf_counter() - began, 2),
    }
    print(
        f"index: {facts['documents']} documents, {facts['passages']} passages, "
        f"{facts['sentences']} sentences; embedded {facts['texts_embedded']} texts "
        f"({facts['seconds']:.1f} s)"
    )
    return assistant, facts


def store_tag(assistant: Assistant) -> str:
    """What result files of this store are named with: nothing for the default."""
    store = assistant.index.store.describe()
    if store["kind"] == "faiss":
        return ""
    server = store["kind"] == "milvus" and store["uri"].startswith(("http://", "https://"))
    return f"_{store['kind']}_server" if server else f"_{store['kind']}"


def source_state() -> dict:
    """Which qa code the figures describe: git commit, local changes to qa/, a hash of qa/*.py."""
    import hashlib
    import subprocess

    digest = hashlib.sha256()
    for path in sorted((ROOT / "qa").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    state = {"qa_sources_sha256": digest.hexdigest()[:16], "commit": None, "qa_modified": None}
    try:
        run = {"cwd": ROOT, "capture_output": True, "text": True, "timeout": 10, "check": True}
        state["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        changes = subprocess.run(["git", "status", "--porcelain", "--", "qa"], **run).stdout
        state["qa_modified"] = bool(changes.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return state


def _progress_printer(what: str) -> Callable[[float, str], None]:
    """A ``progress(fraction, message)`` callback printing every 5% with the elapsed time."""
    began = time.perf_counter()
    shown = [-1]

    def progress(fraction: float, message: str) -> None:
        step = int(fraction * 20)
        if step > shown[0]:
            shown[0] = step
            print(f"  {what} {fraction:6.1%} ({time.perf_counter() - began:.0f} s)", flush=True)

    return progress


def configurations(names: Sequence[str] | None = None) -> dict[str, RetrievalSettings]:
    """The retrieval configurations to compare, by name (all of ``CONFIGS`` by default)."""
    names = list(names or CONFIGS)
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown configuration(s) {unknown}; choose from {list(CONFIGS)}")
    return {name: CONFIGS[name] for name in names}


def shipped_configuration() -> str | None:
    """The name of the configuration qa ships with (``Settings().retrieval``), if listed."""
    default = Settings().retrieval
    return next((name for name, value in CONFIGS.items() if value == default), None)


def with_retrieval(assistant: Assistant, retrieval: RetrievalSettings) -> Assistant:
    """An Assistant over the same index (nothing re-embedded) with other retrieval settings."""
    return Assistant(assistant.index, replace(assistant.settings, retrieval=retrieval))


def rank_passages(
    assistant: Assistant, queries: Sequence[str], vectors: np.ndarray, k: int
) -> tuple[list[list[int]], list[float]]:
    """Each query's ``k`` best passage ids, best first, and the seconds each ranking took."""
    rankings, seconds = [], []
    for query, vector in zip(queries, vectors):
        began = time.perf_counter()
        found = assistant.retriever.run(Query.of(query, vector), k=k)
        seconds.append(time.perf_counter() - began)
        rankings.append([c.passage.id for c in found])
    return rankings, seconds


def batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def embed_queries(embedder: Embedder, queries: Sequence[str]) -> tuple[np.ndarray, float]:
    """Vectors for ``queries`` (embedded once, reused by every configuration) and seconds."""
    _ = embedder.model  # load first, so the time is the embedding alone
    began = time.perf_counter()
    vectors = embedder.encode(list(queries), progress=False)
    return vectors, time.perf_counter() - began


# ----- SQuAD ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SquadQuestion:
    """A SQuAD question with its gold answers as texts and as spans of one corpus document."""

    qid: str
    question: str
    answers: tuple[str, ...]
    doc_id: str
    spans: tuple[tuple[int, int], ...]
    paragraph: str  # "<doc_id>#<n>", the paragraph the question was written on


@dataclass
class SquadData:
    """The SQuAD corpus (file name -> text), its questions and each document's paragraphs."""

    documents: dict[str, str]
    questions: list[SquadQuestion]
    paragraphs: dict[str, list[tuple[int, int]]]  # doc_id -> (start, end) of each paragraph


def slug(title: str) -> str:
    """A file-name-safe lower-case form of a title: ``Super_Bowl_50`` -> ``super-bowl-50``."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "article"


def load_squad(path: Path, articles: int | None = None, limit: int | None = None) -> SquadData:
    """Read SQuAD v1.1 into one document per article and questions with absolute gold spans.

    A document is the title (underscores as spaces), a blank line, then the paragraphs joined
    by blank lines; an answer's span is its paragraph's offset plus ``answer_start``. Keeps the
    first ``articles`` articles and then the first ``limit`` of their questions, in file order.
    """
    data = json.loads(require(path).read_text(encoding="utf-8"))["data"]
    documents: dict[str, str] = {}
    questions: list[SquadQuestion] = []
    paragraphs: dict[str, list[tuple[int, int]]] = {}
    for number, article in enumerate(data[:articles] if articles is not None else data):
        doc_id = f"{number:02d}_{slug(article['title'])}.txt"
        parts = [article["title"].replace("_", " ")]
        offset = len(parts[0]) + 2
        spans: list[tuple[int, int]] = []
        first_question = len(questions)
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            spans.append((offset, offset + len(context)))
            for qa in paragraph["qas"]:
                gold = []
                for answer in qa["answers"]:
                    start = offset + answer["answer_start"]
                    gold.append((start, start + len(answer["text"])))
                questions.append(
                    SquadQuestion(
                        qid=qa["id"],
                        question=qa["question"],
                        answers=tuple(answer["text"] for answer in qa["answers"]),
                        doc_id=doc_id,
                        spans=tuple(gold),
                        paragraph=f"{doc_id}#{len(spans) - 1}",
                    )
                )
            parts.append(context)
            offset += len(context) + 2
        text = documents[doc_id] = "\n\n".join(parts)
        paragraphs[doc_id] = spans
        for q in questions[first_question:]:
            for (start, end), answer in zip(q.spans, q.answers):
                if text[start:end] != answer:
                    raise ValueError(f"SQuAD {q.qid}: {text[start:end]!r} is not {answer!r}")
    questions = [replace(q, spans=tuple(dict.fromkeys(q.spans))) for q in questions]
    if limit is not None:
        questions = questions[:limit]
    return SquadData(documents, questions, paragraphs)


class PassageMap:
    """Where the passages of an index are: per document, and which SQuAD paragraphs they hit."""

    def __init__(self, assistant: Assistant, paragraphs: dict[str, list[tuple[int, int]]]):
        corpus = assistant.index.corpus
        self.doc_of = [corpus.doc_ids[d] for d in corpus.passage_doc]
        self.spans = corpus.passage_span
        self.by_doc = {
            doc_id: np.flatnonzero(corpus.passage_doc == number)
            for number, doc_id in enumerate(corpus.doc_ids)
        }
        self.paragraphs_of: list[list[str]] = []
        for i, doc_id in enumerate(self.doc_of):
            start, end = (int(x) for x in self.spans[i])
            # The title line belongs to no paragraph; a passage may run over a short paragraph.
            hit = [
                f"{doc_id}#{n}"
                for n, (p_start, p_end) in enumerate(paragraphs.get(doc_id, []))
                if start < p_end and p_start < end
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


def run_squad(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    """Evaluate every configuration on SQuAD v1.1 dev; write the JSON, CSV and plot."""
    timings: dict[str, object] = {}
    began = time.perf_counter()
    source = source_state()  # now: qa/ may change on disk while a long run goes on
    data = load_squad(args.data / SQUAD_FILE, args.articles, args.limit)
    key = "squad" if args.articles is None else f"squad-articles{args.articles}"
    key += "-titles" if args.titles else ""
    print(
        f"SQuAD v1.1 dev: {len(data.documents)} articles, "
        f"{sum(map(len, data.paragraphs.values()))} paragraphs, {len(data.questions)} questions"
    )
    embedder = embedder or Embedder()
    assistant, index_facts = open_corpus(
        args.out / "cache" / key,
        data.documents,
        embedder,
        args.titles,
        args.store,
        reader=not args.no_reader,
    )
    timings["index"] = index_facts["seconds"]
    tag = store_tag(assistant) + ("_no_reader" if args.no_reader else "")
    passage_map = PassageMap(assistant, data.paragraphs)
    queries = [clean_question(q.question) for q in data.questions]
    vectors, seconds = embed_queries(embedder, queries)
    timings["embed_questions"] = round(seconds, 2)
    print(f"embedded {len(queries)} questions ({seconds:.1f} s)")

    qids = [q.qid for q in data.questions]
    passage_qrels = {
        q.qid: [str(p) for p in passage_map.relevant(q.doc_id, q.spans)] for q in data.questions
    }
    paragraph_qrels = {q.qid: [q.paragraph] for q in data.questions}
    shipped = shipped_configuration()
    results: dict[str, dict] = {}
    rows: dict[str, dict[str, list]] = {}
    timings["evaluate"] = {}
    for name, retrieval in configurations(args.configs).items():
        mark = time.perf_counter()
        config = with_retrieval(assistant, retrieval)
        rankings, _ = rank_passages(config, queries, vectors, SQUAD_POOL)
        passage_rankings = {
            qid: [str(p) for p in ranking[:SQUAD_DEPTH]] for qid, ranking in zip(qids, rankings)
        }
        paragraph_rankings = {
            qid: passage_map.paragraph_ranking(ranking, SQUAD_DEPTH)
            for qid, ranking in zip(qids, rankings)
        }
        cut = [f"hit_rate@{k}" for k in (1, 5, SQUAD_DEPTH)] + [f"mrr@{SQUAD_DEPTH}"]
        scores = {}
        for level, qrels, ranked in (
            ("passage", passage_qrels, passage_rankings),
            ("paragraph", paragraph_qrels, paragraph_rankings),
        ):
            for metric, value in metrics.ranx_evaluate(qrels, ranked, cut).items():
                scores[f"{level}_{metric.replace('hit_rate', 'hit')}"] = value
        passage_ranks = [
            metrics.first_relevant_rank(passage_rankings[qid], passage_qrels[qid]) for qid in qids
        ]
        paragraph_ranks = [
            metrics.first_relevant_rank(paragraph_rankings[qid], paragraph_qrels[qid])
            for qid in qids
        ]
        answers = []
        for number, batch in enumerate(batches(queries, 1000)):
            answers.extend(config.ask_many(list(batch), k=3))
            if len(queries) > 2000 and number % 2 == 1:
                print(f"  {name}: answered {len(answers)}/{len(queries)}", flush=True)
        per_question = {
            "extract": [],
            "answer": [],
            "answer_hit": [],
            "em": [],
            "f1": [],
            "abstained": [],
        }
        for q, answer in zip(data.questions, answers):
            extract, text = top_extract(config, answer)
            hit = holds_answer(extract, q)
            per_question["extract"].append(extract.text if extract is not None else "")
            per_question["answer"].append(text)
            per_question["answer_hit"].append(float(hit))
            per_question["em"].append(metrics.exact_match(text, q.answers))
            per_question["f1"].append(metrics.f1(text, q.answers))
            per_question["abstained"].append(float(answer.abstained))
        latency = [answer.timings.get("total", 0.0) for answer in answers]
        scores |= {
            "answer_hit@1": float(np.mean(per_question["answer_hit"])),
            "exact_match": float(np.mean(per_question["em"])),
            "f1": float(np.mean(per_question["f1"])),
            "abstention_rate": float(np.mean(per_question["abstained"])),
            "latency_p50_ms": metrics.percentile_ms(latency, 50),
            "latency_p95_ms": metrics.percentile_ms(latency, 95),
        }
        results[name] = {
            "shipped": name == shipped,
            "retrieval": retrieval.to_dict(),
            **{metric: scores[metric] for metric in SQUAD_METRICS},
            "curves": {
                "passage_hit": metrics.hit_curve(passage_ranks, SQUAD_DEPTH),
                "paragraph_hit": metrics.hit_curve(paragraph_ranks, SQUAD_DEPTH),
            },
        }
        rows[name] = per_question | {"passage_rank": passage_ranks, "para_rank": paragraph_ranks}
        timings["evaluate"][name] = round(time.perf_counter() - mark, 2)
        print(f"evaluated {name} ({timings['evaluate'][name]:.1f} s)", flush=True)

    unreachable = sum(not relevant for relevant in passage_qrels.values())
    timings["total"] = round(time.perf_counter() - began, 2)
    summary = {
        "benchmark": "squad",
        "data": str(args.data / SQUAD_FILE),
        "options": {"articles": args.articles, "limit": args.limit},
        "questions": len(data.questions),
        "questions_without_a_passage_holding_the_answer": unreachable,
        "model": embedder.model_name,
        "source": source,
        "settings": assistant.settings.to_dict(),
        "index": index_facts,
        "timings_seconds": timings,
        "shipped": shipped,
        "configs": results,
        "reference": REFERENCES["squad"],
    }
    write_json(args.out / f"squad{tag}.json", summary)
    header = ["id", "question", "gold", "doc_id"]
    for name in results:
        header += [
            f"{name}_passage_rank",
            f"{name}_paragraph_rank",
            f"{name}_top_extract",
            f"{name}_scored_text",
            f"{name}_answer_hit",
            f"{name}_em",
            f"{name}_f1",
            f"{name}_abstained",
        ]
    table = []
    for i, q in enumerate(data.questions):
        line = [q.qid, q.question, " | ".join(dict.fromkeys(q.answers)), q.doc_id]
        for name in results:
            r = rows[name]
            line += [
                r["passage_rank"][i] or "",
                r["para_rank"][i] or "",
                r["extract"][i],
                r["answer"][i],
                int(r["answer_hit"][i]),
                int(r["em"][i]),
                round(r["f1"][i], 4),
                int(r["abstained"][i]),
            ]
        table.append(line)
    write_csv(args.out / f"squad{tag}_questions.csv", header, table)
    plot_curves(
        args.out / f"squad{tag}_hits.png",
        {name: r["curves"]["passage_hit"] for name, r in results.items()},
        "SQuAD v1.1 dev: share of questions with an answer-holding passage in the top k",
        "passage hit@k",
        shipped,
        dashed={name: r["curves"]["paragraph_hit"] for name, r in results.items()},
        dashed_label="dashed: paragraph hit@k (comparable to the data README's figures)",
    )
    print_report(summary, SQUAD_COLUMNS)
    assistant.close()
    return summary


# ----- SciFact -------------------------------------------------------------------------------


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
        found = assistant.retriever.run(asked, k=passages)
        ranking = metrics.first_occurrences(c.doc_id.removesuffix(".txt") for c in found)
        if len(ranking) >= depth or len(found) < passages or passages >= len(index):
            return ranking[:depth]
        passages *= 2


def run_scifact(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    """Evaluate every configuration on the SciFact test claims; write JSON, CSV and plot."""
    timings: dict[str, object] = {}
    began = time.perf_counter()
    source = source_state()  # now: qa/ may change on disk while a long run goes on
    data = load_scifact(args.data / SCIFACT_DIR, args.docs, args.limit)
    key = "scifact" if args.docs is None else f"scifact-q{args.limit or 'all'}-d{args.docs}"
    key += "-titles" if args.titles else ""
    print(f"SciFact: {len(data.documents)} abstracts, {len(data.queries)} test claims")
    embedder = embedder or Embedder()
    assistant, index_facts = open_corpus(
        args.out / "cache" / key,
        data.documents,
        embedder,
        args.titles,
        args.store,
        reader=not args.no_reader,
    )
    timings["index"] = index_facts["seconds"]
    tag = store_tag(assistant) + ("_no_reader" if args.no_reader else "")
    qids = list(data.queries)
    queries = [clean_question(data.queries[qid]) for qid in qids]
    vectors, seconds = embed_queries(embedder, queries)
    timings["embed_questions"] = round(seconds, 2)
    print(f"embedded {len(queries)} claims ({seconds:.1f} s)")

    shipped = shipped_configuration()
    results: dict[str, dict] = {}
    rows: dict[str, dict[str, list]] = {}
    timings["evaluate"] = {}
    for name, retrieval in configurations(args.configs).items():
        mark = time.perf_counter()
        config = with_retrieval(assistant, retrieval)
        rankings = {
            qid: document_ranking(config, query, vector, SCIFACT_DEPTH, SCIFACT_PASSAGES)
            for qid, query, vector in zip(qids, queries, vectors)
        }
        # What ask() retrieves: 10 passages (fusion pool max(k, candidates) = 50, not 400), whose
        # documents are fewer than 10 when a document has several of them ("nDCG@10 k=10").
        short, latency = rank_passages(config, queries, vectors, 10)
        index = config.index
        short_rankings = {
            qid: metrics.first_occurrences(
                index.passage(p).doc_id.removesuffix(".txt") for p in ranking
            )
            for qid, ranking in zip(qids, short)
        }
        scores = metrics.ranx_evaluate(
            data.qrels, rankings, ["ndcg@10", "recall@100", "hit_rate@1", "hit_rate@10", "mrr@10"]
        )
        per_query = metrics.ranx_evaluate(data.qrels, rankings, ["ndcg@10"], per_query=True)
        scores["ndcg@10_k10"] = metrics.ranx_evaluate(data.qrels, short_rankings, ["ndcg@10"])[
            "ndcg@10"
        ]
        scores = {metric.replace("hit_rate", "hit"): value for metric, value in scores.items()}
        scores["retrieval_p50_ms"] = metrics.percentile_ms(latency, 50)
        scores["retrieval_p95_ms"] = metrics.percentile_ms(latency, 95)
        ranks = [metrics.first_relevant_rank(rankings[qid], data.qrels[qid]) for qid in qids]
        results[name] = {
            "shipped": name == shipped,
            "retrieval": retrieval.to_dict(),
            **{metric: scores[metric] for metric in SCIFACT_METRICS},
            "documents_ranked_min": min((len(r) for r in rankings.values()), default=0),
            "curves": {
                "recall": metrics.recall_curve(data.qrels, rankings, SCIFACT_DEPTH),
                "hit": metrics.hit_curve(ranks, SCIFACT_DEPTH),
            },
        }
        rows[name] = {
            "rank": ranks,
            "ndcg": per_query["ndcg@10"].tolist(),
            "top": [rankings[qid][:3] for qid in qids],
        }
        timings["evaluate"][name] = round(time.perf_counter() - mark, 2)
        print(f"evaluated {name} ({timings['evaluate'][name]:.1f} s)", flush=True)

    timings["total"] = round(time.perf_counter() - began, 2)
    summary = {
        "benchmark": "scifact",
        "data": str(args.data / SCIFACT_DIR),
        "options": {"docs": args.docs, "limit": args.limit},
        "questions": len(qids),
        "model": embedder.model_name,
        "source": source,
        "settings": assistant.settings.to_dict(),
        "index": index_facts,
        "timings_seconds": timings,
        "shipped": shipped,
        "configs": results,
        "reference": REFERENCES["scifact"],
    }
    write_json(args.out / f"scifact{tag}.json", summary)
    header = ["id", "claim", "relevant"]
    for name in results:
        header += [f"{name}_first_relevant_rank", f"{name}_ndcg@10", f"{name}_top3"]
    table = []
    for i, qid in enumerate(qids):
        line = [qid, data.queries[qid], " ".join(data.qrels[qid])]
        for name in results:
            r = rows[name]
            line += [r["rank"][i] or "", round(r["ndcg"][i], 4), " ".join(r["top"][i])]
        table.append(line)
    write_csv(args.out / f"scifact{tag}_questions.csv", header, table)
    plot_curves(
        args.out / f"scifact{tag}_hits.png",
        {name: r["curves"]["recall"] for name, r in results.items()},
        "SciFact test claims: recall of the relevant abstracts in the top k documents",
        "recall@k",
        shipped,
    )
    print_report(summary, SCIFACT_COLUMNS)
    assistant.close()
    return summary


# ----- output --------------------------------------------------------------------------------


def markdown_table(summary: dict, columns: Sequence[tuple[str, str, str]]) -> str:
    """The summary's configurations (shipped one marked) and reference rows as Markdown."""
    lines = [
        "| configuration | " + " | ".join(header for header, _, _ in columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    rows = [
        (f"{name} (shipped)" if result["shipped"] else name, result)
        for name, result in summary["configs"].items()
    ] + [(reference["name"], reference) for reference in summary["reference"]]
    for label, values in rows:
        cells = [
            format(values[key], fmt) if values.get(key) is not None else "—"
            for _, key, fmt in columns
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_report(summary: dict, columns: Sequence[tuple[str, str, str]]) -> None:
    """Print the results table and the wall time of each phase."""
    timings = summary["timings_seconds"]
    evaluate = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings["evaluate"].items())
    print()
    print(markdown_table(summary, columns))
    print()
    print(
        f"wall time: index {timings['index']:.1f} s, "
        f"embedding questions {timings['embed_questions']:.1f} s, "
        f"evaluation ({evaluate}), total {timings['total']:.1f} s"
    )


def plot_curves(
    path: Path,
    curves: dict[str, list[float]],
    title: str,
    ylabel: str,
    shipped: str | None,
    dashed: dict[str, list[float]] | None = None,
    dashed_label: str | None = None,
) -> None:
    """A PNG of one curve per configuration over k = 1..len(curve) (optional dashed twins)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for n, (name, curve) in enumerate(curves.items()):
        colour = f"C{n}"
        k = np.arange(1, len(curve) + 1)
        label = f"{name} (shipped)" if name == shipped else name
        axes.plot(k, curve, color=colour, label=label, linewidth=2.2 if name == shipped else 1.4)
        if dashed and name in dashed:
            axes.plot(k, dashed[name], color=colour, linestyle="--", linewidth=1)
    axes.set_xlabel("k")
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend(title=dashed_label, title_fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


# ----- command line --------------------------------------------------------------------------


def run_on_data(run: Callable, args: argparse.Namespace, embedder=None) -> int:
    """Resolve ``args.out`` and ``args.data``, then ``run(args, embedder)``; a missing data set
    is exit code 2 with the path it expected, as every eval command reports it."""
    args.out = Path(args.out).expanduser().resolve()
    try:
        args.data = data_dir(args.data)
        run(args, embedder)
    except DataMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line: a benchmark name and its options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--limit", type=positive_int, help="only the first N questions")
    common.add_argument(
        "--configs",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help=f"comma-separated configurations (default: {','.join(CONFIGS)})",
    )
    common.add_argument("--data", help="data folder (default: $QA_DATA_DIR or ../shared/data)")
    common.add_argument(
        "--titles",
        action="store_true",
        help="search passages with their document's title (PassageSettings.titles)",
    )
    common.add_argument("--out", default=str(DEFAULT_OUT), help="results folder")
    common.add_argument(
        "--no-reader",
        action="store_true",
        help="answer without the reader (results written as squad_no_reader.json...)",
    )
    common.add_argument(
        "--store",
        help="faiss (default), milvus-lite:PATH.db or milvus://HOST:PORT; results of another "
        "store than faiss are written with its name (squad_milvus.json...)",
    )
    parser = argparse.ArgumentParser(
        prog="python -m eval.benchmarks", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="benchmark", required=True)
    squad = commands.add_parser("squad", parents=[common], help="SQuAD v1.1 dev, open corpus")
    squad.add_argument("--articles", type=positive_int, help="only the first M articles")
    scifact = commands.add_parser("scifact", parents=[common], help="BEIR SciFact test claims")
    scifact.add_argument(
        "--docs", type=positive_int, help="the relevant abstracts plus the first M others"
    )
    args = parser.parse_args(argv)
    args.data = data_dir(args.data)
    args.out = Path(args.out).expanduser().resolve()
    args.articles = getattr(args, "articles", None)
    args.docs = getattr(args, "docs", None)
    try:
        configurations(args.configs)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> int:
    """Run one benchmark from the command line; ``embedder`` lets tests share a loaded model."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    run = run_squad if args.benchmark == "squad" else run_scifact
    try:
        run(args, embedder)
    except DataMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
