"""SQuAD 2.0, measured: ``python -m eval.squad2 [--split dev|test] [--limit N] [--model PATH]``.

The labelled half of SQuAD 2.0's development set (``../shared/data/squad2/``) holds questions
people wrote to look answerable from a paragraph but not be (negation, antonyms, swapped
entities, changed numbers, impossible conditions), beside answerable ones. Its 16 articles are
SQuAD v1.1 dev articles, split as the reader's split (``qa.training.squad.split_of``): 4 are
dev articles (choices), 4 test articles (reporting only). A split's questions are asked against
the open corpus of all its SQuAD v1.1 articles (12 test, 6 dev), reader on and off.

Scored officially: per question, an unanswerable one scores EM = F1 = 1 when qa abstains, else
0; an answerable one scores 0 when qa abstains, else the EM / F1 of its answer text (the bold
phrase, else the extract) against the gold answers. Reported whole, for answerable questions
only (HasAns) and unanswerable only (NoAns: the abstention recall), with false abstentions,
answer hit@1, the ROC AUC of the reader's answerability and of the confidence, and why qa
abstained. The trade-off between catching unanswerable questions and refusing answerable ones
is swept over the reader's threshold (``no_answer_below``) and the confidence threshold and
drawn as ``<out>/squad2_<split>_tradeoff.png``. Writes ``<out>/squad2_<split>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa import Assistant
from qa.models.embedder import Embedder
from qa.training.squad import SQUAD2_FILE, article_number, load_squad2, split_of

from . import metrics
from .cli import add_data_options, positive_int, run_on_data
from .configs import with_reader
from .corpus import open_corpus
from .metrics import roc_auc
from .report import model_suffix, write_json
from .squad import FILE as SQUAD_FILE
from .squad import answerability, ask_questions, holds_answer, top_extract

SPLITS = ("dev", "test")


def split_questions(data, split: str, limit: int | None):
    """The split's SQuAD 2.0 questions (a seeded sample of ``limit`` answerable and ``limit``
    unanswerable ones when there are more) and the documents of its open corpus."""
    documents = {d: t for d, t in data.documents.items() if split_of(article_number(d)) == split}
    chosen = [q for q in data.questions if q.doc_id in documents]
    if limit is not None:
        rng = np.random.default_rng(0)
        kept = []
        for answerable in (True, False):
            group = [q for q in chosen if bool(q.spans) == answerable]
            if limit < len(group):
                group = [group[i] for i in sorted(rng.permutation(len(group))[:limit])]
            kept += group
        chosen = sorted(kept, key=lambda q: (q.doc_id, q.qid))
    return chosen, documents


def records(assistant: Assistant, questions) -> list[dict]:
    """Per question, as qa answered it: the official EM / F1, whether it was unanswerable,
    abstained and why, the answer text, the scores a threshold would use, answer hit."""
    out = []
    reader_on = assistant.reading() is not None
    for q, answer in zip(questions, ask_questions(assistant, questions, 500)):
        extract, text = top_extract(assistant, answer)
        unanswerable = not q.spans
        if unanswerable:
            em = f1 = float(answer.abstained)
        elif answer.abstained:
            em = f1 = 0.0
        else:
            em, f1 = metrics.exact_match(text, q.answers), metrics.f1(text, q.answers)
        out.append(
            {
                "qid": q.qid,
                "unanswerable": unanswerable,
                "abstained": answer.abstained,
                "reason": answer.abstain_reason,
                "confidence": answer.confidence,
                "answerability": answerability(answer, reader_on),
                "doubt": answer.doubt,
                "clarify": answer.clarify,
                "answer": "" if answer.abstained else text,
                "em": em,
                "f1": f1,
                "hit": not unanswerable and holds_answer(extract, q),
                "decoy": unanswerable and holds_answer(extract, replace(q, spans=q.plausible)),
            }
        )
    return out


def summarize(rows: list[dict]) -> dict:
    """The official figures (all, HasAns, NoAns), abstention and why."""
    has = [r for r in rows if not r["unanswerable"]]
    no = [r for r in rows if r["unanswerable"]]
    unanswerable = np.array([r["unanswerable"] for r in rows])
    abstained = np.array([r["abstained"] for r in rows])
    confidence = np.array([r["confidence"] for r in rows])
    summary = {
        "questions": len(rows),
        "answerable": len(has),
        "unanswerable": len(no),
        "exact_match": _mean(r["em"] for r in rows),
        "f1": _mean(r["f1"] for r in rows),
        "has_ans_exact_match": _mean(r["em"] for r in has),
        "has_ans_f1": _mean(r["f1"] for r in has),
        "has_ans_hit@1": _mean(r["hit"] for r in has),
        "no_ans_accuracy": _mean(r["abstained"] for r in no),
        "always_abstain_f1": len(no) / max(1, len(rows)),
        **metrics.abstention_scores(abstained, unanswerable),
        "answered_from_decoy": _mean(r["decoy"] for r in no if not r["abstained"]),
        "asked_back": sum(bool(r["clarify"]) for r in rows),
        "confidence_auc": roc_auc(confidence[~unanswerable], confidence[unanswerable]),
        **metrics.abstention_details(rows),
    }
    return summary


def _mean(values) -> float:
    values = [float(v) for v in values]
    return float(np.mean(values)) if values else float("nan")


def tradeoff(rows: list[dict], settings) -> dict:
    """Abstention recall against false abstentions as one threshold moves, from records
    answered with both thresholds at 0 (their ``abstained`` is what no threshold decides):
    the reader's ``no_answer_below`` with ``abstain_below`` as shipped, and ``abstain_below``
    alone (the reader's threshold at 0)."""
    forced = np.array([r["abstained"] for r in rows])
    unanswerable = np.array([r["unanswerable"] for r in rows])
    confidence = np.array([r["confidence"] for r in rows])
    curves = {}
    reader = [r["answerability"] for r in rows]
    if reader and reader[0] is not None:
        reader = np.array(reader)
        grid = np.unique(np.quantile(reader, np.linspace(0, 1, 101)))
        curves["no_answer_below"] = _curve(
            grid, lambda t: forced | (confidence < settings.abstain_below) | (reader < t),
            unanswerable,
        )  # fmt: skip
    grid = np.round(np.arange(0.0, 1.0001, 0.01), 3)
    curves["abstain_below"] = _curve(grid, lambda t: forced | (confidence < t), unanswerable)
    return curves


def _curve(grid, decide, unanswerable) -> list[dict]:
    points = []
    for threshold in grid:
        scores = metrics.abstention_scores(decide(threshold), unanswerable)
        points.append(
            {
                "threshold": float(threshold),
                "recall": scores["abstain_recall"],
                "false": scores["false_abstentions"],
            }
        )
    return points


def plot(curves: dict, marks: dict, path: Path, title: str) -> None:
    """The trade-off curves, with the shipped settings marked, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for label, points in curves.items():
        ax.plot([p["false"] for p in points], [p["recall"] for p in points], label=label)
    for label, (false, recall) in marks.items():
        ax.scatter([false], [recall], zorder=3, label=label)
    ax.axvline(metrics.MAX_FALSE_ABSTENTIONS, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false abstentions (share of answerable questions)")
    ax.set_ylabel("abstention recall (share of unanswerable questions)")
    ax.set_xlim(0, 0.5)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    began = time.perf_counter()
    data = load_squad2(args.data / SQUAD2_FILE, args.data / SQUAD_FILE)
    questions, documents = split_questions(data, args.split, args.limit)
    answerable = sum(bool(q.spans) for q in questions)
    print(
        f"SQuAD 2.0 {args.split}: {answerable} answerable and {len(questions) - answerable} "
        f"unanswerable questions; open corpus of {len(documents)} articles"
    )
    embedder = embedder or Embedder()
    corpus, facts = open_corpus(args.out / "cache" / f"squad2-{args.split}", documents, embedder)
    changes: dict = {"enabled": True}
    if getattr(args, "model", None):
        changes["model"] = str(Path(args.model).resolve())
    corpus = with_reader(corpus, **changes)
    summary: dict = {
        "benchmark": "squad2",
        "split": args.split,
        "articles": sorted({article_number(q.doc_id) for q in questions}),
        "corpus_articles": sorted(article_number(d) for d in documents),
        "index": facts,
        "settings": corpus.settings.to_dict(),
    }
    marks = {}
    for label, enabled in (("reader", True), ("no_reader", False)):
        assistant = with_reader(corpus, enabled=enabled)
        rows = records(assistant, questions)
        summary[label] = summarize(rows)
        marks[f"shipped, {label.replace('_', ' ')}"] = (
            summary[label]["false_abstentions"],
            summary[label]["abstain_recall"],
        )
        print(f"  {label}: answered {len(rows)}", flush=True)
    # The same questions with both thresholds at 0: the curves over every threshold.
    zero = with_reader(corpus, no_answer_below=0.0)
    zero = Assistant(zero.index, replace(zero.settings, abstain_below=0.0))
    summary["tradeoff"] = tradeoff(records(zero, questions), corpus.settings)
    off = with_reader(corpus, enabled=False)
    off = Assistant(off.index, replace(off.settings, abstain_below_without_reader=0.0))
    rows_off = records(off, questions)
    summary["tradeoff"]["abstain_below_without_reader"] = _curve(
        np.round(np.arange(0.0, 1.0001, 0.01), 3),
        lambda t: (
            np.array([r["abstained"] for r in rows_off])
            | (np.array([r["confidence"] for r in rows_off]) < t)
        ),
        np.array([r["unanswerable"] for r in rows_off]),
    )
    picture = args.out / f"squad2_{args.split}_tradeoff.png"
    plot(summary["tradeoff"], marks, picture, f"SQuAD 2.0 {args.split} articles")
    summary["plot"] = str(picture)
    summary["seconds"] = round(time.perf_counter() - began, 1)
    report(summary)
    name = f"squad2_{args.split}"
    name += model_suffix(changes.get("model"))
    write_json(args.out / f"{name}.json", summary)
    corpus.close()
    return summary


def report(summary: dict) -> None:
    print(f"\nSQuAD 2.0 {summary['split']} articles {summary['articles']}")
    print(f"{'':34}{'reader':>10}{'no reader':>12}")
    rows = [
        ("overall EM", "exact_match"),
        ("overall F1", "f1"),
        ("HasAns EM", "has_ans_exact_match"),
        ("HasAns F1", "has_ans_f1"),
        ("HasAns answer hit@1", "has_ans_hit@1"),
        ("NoAns (abstention recall)", "no_ans_accuracy"),
        ("false abstentions", "false_abstentions"),
        ("answered from the decoy", "answered_from_decoy"),
        ("confidence AUC", "confidence_auc"),
    ]
    for label, key in rows:
        a, b = summary["reader"].get(key), summary["no_reader"].get(key)
        print(f"{label:34}{a:>10.3f}{b:>12.3f}")
    auc = summary["reader"].get("answerability_auc")
    if auc is not None:
        print(f"{'answerability AUC':34}{auc:>10.3f}")
    doubt = summary["reader"].get("doubt_auc")
    if doubt is not None:
        print(f"{'verifier doubt AUC':34}{doubt:>10.3f}")
    print(f"always abstaining scores F1 {summary['reader']['always_abstain_f1']:.3f}")
    print(f"trade-off curve: {summary['plot']}")


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.squad2", description=__doc__)
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument(
        "--limit", type=positive_int, help="at most N answerable and N unanswerable"
    )
    parser.add_argument("--model", help="another reader file to measure (default: shipped)")
    add_data_options(parser)
    args = parser.parse_args(argv)
    return run_on_data(run, args, embedder)


if __name__ == "__main__":
    sys.exit(main())
