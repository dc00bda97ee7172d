"""The reader, measured: ``python -m eval.reader [--split test|dev] [--limit N] [--calibrate]``.

SQuAD v1.1 dev is split by article once, before training (``qa.training.squad.split_of``: 12 test
articles never used for training or any choice, 6 dev articles for choices, 30 training
articles). For the questions of one split's articles, with the reader and without it:

- **open corpus**: asked against the whole 48-article corpus (the index of ``python -m
  eval.benchmarks squad``): answer EM / F1 of the answer text (the bold phrase, else the
  extract), answer hit@1 (the top extract holds a gold span), share abstained, latency;
- **on-topic abstention**: asked against the corpus with odd paragraphs held out (the index of
  ``python -m eval.abstention``): abstention precision / recall / F1 and false abstentions on
  answerable (kept paragraph) and unanswerable (held-out paragraph, answer nowhere in the
  article) questions, the ROC AUC of the reader's ``answerability`` and of the confidence.

``--calibrate`` (dev split only) sweeps the reader's weight in an extract's score and the
``no_answer_below`` threshold, and prints the choices with the figures that justify them:
the best abstention F1 over SQuAD dev (held-out paragraphs), the gold dev split and SQuAD
2.0's dev articles (people's unanswerable questions; ``--no-squad2`` leaves them out)
pooled, false abstentions <= 5% on each.
Writes ``<out>/reader_<split>.json``.
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
from qa.assistant import default_folder
from qa.models.embedder import Embedder
from qa.training.squad import SQUAD2_FILE, article_number, load_squad2

from . import metrics
from .cli import add_data_options, positive_int, run_on_data
from .configs import with_reader
from .corpus import open_corpus
from .gold import GOLD, load_gold
from .metrics import MAX_FALSE_ABSTENTIONS, roc_auc
from .report import model_suffix, write_json
from .squad import FILE as SQUAD_FILE
from .squad import (
    answer_records,
    answerability,
    ask_questions,
    held_out_of,
    holds_answer,
    load_squad,
    questions_of,
    top_extract,
)
from .squad2 import records as squad2_records
from .squad2 import split_questions

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the reader's share of an extract's score (--calibrate)
CONFIDENCE_GRID = np.round(np.arange(0.0, 0.61, 0.025), 3)  # abstain_below tried with each


def abstention_records(assistant: Assistant, answerable, unanswerable) -> list[dict]:
    """Per question: answerable or not, abstained, why, the scores a threshold would use."""
    questions = list(answerable) + list(unanswerable)
    records = []
    reader_on = assistant.reading() is not None
    for n, (q, answer) in enumerate(zip(questions, ask_questions(assistant, questions, 500))):
        extract = top_extract(assistant, answer)[0]
        records.append(
            {
                "qid": q.qid,
                "unanswerable": n >= len(answerable),
                "abstained": answer.abstained,
                "reason": answer.abstain_reason,
                "confidence": answer.confidence,
                "answerability": answerability(answer, reader_on),
                "doubt": answer.doubt,
                "hit": n < len(answerable) and holds_answer(extract, q),
            }
        )
    return records


def summarize_open(records: list[dict]) -> dict:
    latency = [r["latency"] for r in records]
    return {
        "questions": len(records),
        "exact_match": float(np.mean([r["em"] for r in records])),
        "f1": float(np.mean([r["f1"] for r in records])),
        "answer_hit@1": float(np.mean([r["hit"] for r in records])),
        "abstained": float(np.mean([r["abstained"] for r in records])),
        "latency_p50_ms": metrics.percentile_ms(latency, 50),
    }


def summarize_abstention(records: list[dict]) -> dict:
    unanswerable = np.array([r["unanswerable"] for r in records])
    abstained = np.array([r["abstained"] for r in records])
    confidence = np.array([r["confidence"] for r in records])
    scores = metrics.abstention_scores(abstained, unanswerable)
    summary = {
        "answerable": int((~unanswerable).sum()),
        "unanswerable": int(unanswerable.sum()),
        **scores,
        "answerable_hit@1": float(np.mean([r["hit"] for r in records if not r["unanswerable"]])),
        "confidence_auc": roc_auc(confidence[~unanswerable], confidence[unanswerable]),
        **metrics.abstention_details(records),
    }
    return summary


def gold_records(assistant: Assistant, items) -> list[dict]:
    """Gold items (with their history), in the shape of ``abstention_records``."""
    records = []
    reader_on = assistant.reading() is not None
    for item in items:
        answer = assistant.ask(item.question, history=item.history)
        records.append(
            {
                "unanswerable": not item.answerable,
                "abstained": answer.abstained,
                "confidence": answer.confidence,
                "answerability": answerability(answer, reader_on),
                "doubt": answer.doubt,
            }
        )
    return records


def choose_thresholds(sets: list[list[dict]]) -> tuple[float, float, dict]:
    """``abstain_below`` and ``no_answer_below`` with the best abstention F1 over all ``sets``
    pooled, keeping false abstentions <= 5% in each set on its own. Each record was answered
    with both thresholds at 0, so its ``abstained`` is an abstention no threshold decides."""
    columns = {
        key: [np.array([r[key] for r in records]) for records in sets]
        for key in ("confidence", "answerability", "abstained", "unanswerable")
    }
    every = np.unique(np.concatenate(columns["answerability"]))
    candidates = np.concatenate([[0.0], (every[1:] + every[:-1]) / 2])
    best = (0.0, 0.0, None)
    for below in CONFIDENCE_GRID:
        for threshold in candidates:
            decided = [
                forced | (confidence < below) | (reader < threshold)
                for forced, confidence, reader in zip(
                    columns["abstained"], columns["confidence"], columns["answerability"]
                )
            ]
            parts = [
                metrics.abstention_scores(d, u) for d, u in zip(decided, columns["unanswerable"])
            ]
            if any(part["false_abstentions"] > MAX_FALSE_ABSTENTIONS for part in parts):
                break  # false abstentions only grow with the threshold
            pooled = metrics.abstention_scores(
                np.concatenate(decided), np.concatenate(columns["unanswerable"])
            )
            if best[2] is None or pooled["abstain_f1"] > best[2]["pooled"]["abstain_f1"]:
                scores = {"pooled": pooled, "sets": parts}
                best = (float(below), round(float(threshold), 4), scores)
    return best


def calibrate(
    assistant_open: Assistant,
    assistant_held: Assistant,
    assistant_gold: Assistant,
    questions,
    answerable,
    unanswerable,
    gold_items,
    squad2: tuple[Assistant, list] | None = None,
    weights: Sequence[float] = WEIGHTS,
) -> dict:
    """Dev only: for each reader weight, answer hit@1 / EM / F1 on the open corpus, and the
    pair of thresholds (``abstain_below`` on the confidence, ``no_answer_below`` on the
    reader's answerability) with the best abstention F1 on SQuAD dev and the gold dev split
    together, at false abstentions <= 5% on each.

    Both thresholds are chosen together because the confidence now mixes in the reader's
    score. The gold dev split is in because the seeds are news text with PDF artefacts and
    bylines, where the reader is less sure than on Wikipedia: a threshold chosen on SQuAD dev
    alone (0.0141) abstained on 4 of the 35 answerable gold dev items. ``squad2``: SQuAD
    2.0's dev articles (their corpus, their questions), a third set pooled with the two, with
    the same 5% limit: people's unanswerable questions, not only held-out paragraphs.
    """
    table = {}
    # The reader's output does not depend on the weight: read each (question, window) once.
    model = assistant_open.reading().reader
    model.memo_size = max(
        model.memo_size, 20 * (len(questions) + len(answerable) + len(unanswerable))
    )
    for weight in weights:
        open_records = answer_records(
            with_reader(assistant_open, weight=weight, no_answer_below=0.0), questions, 500
        )
        records = []
        sets = [
            (assistant_held, lambda a: abstention_records(a, answerable, unanswerable)),
            (assistant_gold, lambda a: gold_records(a, gold_items)),
        ]
        if squad2 is not None:
            sets.append((squad2[0], lambda a: squad2_records(a, squad2[1])))
        for base, ask in sets:
            changed = with_reader(base, weight=weight, no_answer_below=0.0)
            records.append(
                ask(Assistant(changed.index, replace(changed.settings, abstain_below=0.0)))
            )
        below, threshold, scores = choose_thresholds(records)
        held = records[0]
        reader = np.array([r["answerability"] for r in held])
        confidence = np.array([r["confidence"] for r in held])
        unanswered = np.array([r["unanswerable"] for r in held])
        table[weight] = {
            "open": summarize_open(open_records),
            "abstain_below": below,
            "no_answer_below": threshold,
            "abstention_at_best": scores,
            "answerability_auc": roc_auc(reader[~unanswered], reader[unanswered]),
            "confidence_auc": roc_auc(confidence[~unanswered], confidence[unanswered]),
        }
        o = table[weight]["open"]
        names = ["SQuAD", "gold", "SQuAD2"][: len(scores["sets"])]
        parts = "; ".join(
            f"{name} R {part['abstain_recall']:.3f} P {part['abstain_precision']:.3f} "
            f"false {part['false_abstentions']:.3f}"
            for name, part in zip(names, scores["sets"])
        )
        print(
            f"weight {weight:.2f}: hit@1 {o['answer_hit@1']:.3f} EM {o['exact_match']:.3f} "
            f"F1 {o['f1']:.3f}; abstain_below {below:.3f} no_answer_below {threshold:.4f}: "
            f"{parts}; pooled F1 {scores['pooled']['abstain_f1']:.3f}",
            flush=True,
        )
    return table


def run(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    began = time.perf_counter()
    data = load_squad(args.data / SQUAD_FILE)
    questions = questions_of(data, args.split, args.limit)
    articles = {q.doc_id for q in questions}
    documents, answerable, unanswerable = held_out_of(data, articles, args.limit)
    print(
        f"SQuAD {args.split} articles ({len(articles)}): {len(questions)} questions on the open "
        f"corpus; {len(answerable)} answerable and {len(unanswerable)} unanswerable with odd "
        "paragraphs held out"
    )
    embedder = embedder or Embedder()
    whole, _ = open_corpus(args.out / "cache" / "squad", data.documents, embedder)
    held, _ = open_corpus(args.out / "cache" / "squad-heldout", documents, embedder)
    changes: dict = {"enabled": True}  # the reader is off by default until calibrated
    if getattr(args, "passages", None):
        changes["passages"] = args.passages
    if getattr(args, "weight", None) is not None:
        changes["weight"] = args.weight
    if getattr(args, "stop_above", None) is not None:
        changes["stop_above"] = args.stop_above
    if getattr(args, "model", None):
        changes["model"] = str(Path(args.model).resolve())
    # A variant to compare (dev) is named in the result file's name.
    whole, held = with_reader(whole, **changes), with_reader(held, **changes)
    if whole.reading() is None:
        model = changes.get("model", "qa/models/reader.onnx")
        raise SystemExit(f"error: no reader model ({model}): nothing to compare")
    summary: dict = {
        "benchmark": "reader",
        "split": args.split,
        "articles": sorted(article_number(a) for a in articles),
        "settings": whole.settings.to_dict(),
    }
    if args.calibrate:
        if args.split != "dev":
            raise SystemExit("error: --calibrate chooses settings, so only on --split dev")
        gold = Assistant.from_folder(default_folder(), embedder=embedder)
        gold = with_reader(gold, **changes)
        items = [item for item in load_gold(GOLD) if item.split == "dev"]
        squad2 = None
        if not getattr(args, "no_squad2", False):
            data2 = load_squad2(args.data / SQUAD2_FILE, args.data / SQUAD_FILE)
            questions2, documents2 = split_questions(data2, "dev", args.limit)
            corpus2, _ = open_corpus(args.out / "cache" / "squad2-dev", documents2, embedder)
            squad2 = (with_reader(corpus2, **changes), questions2)
        summary["calibration"] = calibrate(
            whole,
            held,
            gold,
            questions,
            answerable,
            unanswerable,
            items,
            squad2,
            weights=getattr(args, "weights", None) or WEIGHTS,
        )
    else:
        for label, enabled in (("reader", True), ("no_reader", False)):
            summary[label] = {
                "open_corpus": summarize_open(
                    answer_records(with_reader(whole, enabled=enabled), questions, 500)
                ),
                "abstention": summarize_abstention(
                    abstention_records(with_reader(held, enabled=enabled), answerable, unanswerable)
                ),
            }
        report(summary)
    summary["seconds"] = round(time.perf_counter() - began, 1)
    name = f"reader_{args.split}" + ("_calibration" if args.calibrate else "")
    name += "".join(
        f"_{key}{value}" for key, value in changes.items() if key not in ("enabled", "model")
    )
    name += model_suffix(changes.get("model"))
    write_json(args.out / f"{name}.json", summary)
    whole.close()
    held.close()
    return summary


def report(summary: dict) -> None:
    print(f"\nSQuAD {summary['split']} articles {summary['articles']}")
    print(f"{'':28}{'reader':>10}{'no reader':>12}")
    rows = [
        ("open corpus: EM", "open_corpus", "exact_match"),
        ("open corpus: F1", "open_corpus", "f1"),
        ("open corpus: answer hit@1", "open_corpus", "answer_hit@1"),
        ("open corpus: abstained", "open_corpus", "abstained"),
        ("open corpus: p50 ms", "open_corpus", "latency_p50_ms"),
        ("abstention: precision", "abstention", "abstain_precision"),
        ("abstention: recall", "abstention", "abstain_recall"),
        ("abstention: F1", "abstention", "abstain_f1"),
        ("abstention: false", "abstention", "false_abstentions"),
        ("abstention: answerable hit@1", "abstention", "answerable_hit@1"),
        ("abstention: confidence AUC", "abstention", "confidence_auc"),
    ]
    for label, part, key in rows:
        a, b = summary["reader"][part][key], summary["no_reader"][part][key]
        print(f"{label:28}{a:>10.3f}{b:>12.3f}")
    print(
        "reader answerability AUC: "
        f"{summary['reader']['abstention'].get('answerability_auc', float('nan')):.3f}"
    )
    for label in ("reader", "no_reader"):
        reasons = summary[label]["abstention"]["reasons"]
        print(f"{label} abstentions: " + ", ".join(f"{k} {v}" for k, v in reasons.items()))


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.reader", description=__doc__)
    parser.add_argument("--split", choices=["test", "dev"], default="test")
    parser.add_argument("--limit", type=positive_int, help="N questions of each kind")
    parser.add_argument("--calibrate", action="store_true", help="sweep the reader settings")
    parser.add_argument(
        "--passages", type=positive_int, help="passages read (default: the shipped)"
    )
    parser.add_argument("--weight", type=float, help="the reader's weight (default: shipped)")
    parser.add_argument(
        "--stop-above",
        type=float,
        help="read the best passage first, the others only below this (default: shipped)",
    )
    parser.add_argument(
        "--weights",
        type=float,
        nargs="+",
        help=f"reader weights swept by --calibrate (default: {' '.join(map(str, WEIGHTS))})",
    )
    parser.add_argument(
        "--no-squad2",
        action="store_true",
        help="calibrate on SQuAD dev and gold dev only, as before SQuAD 2.0 was added",
    )
    parser.add_argument(
        "--model", help="another reader ONNX file to measure (default: qa/models/reader.onnx)"
    )
    add_data_options(parser)
    return run_on_data(run, parser.parse_args(argv), embedder)


if __name__ == "__main__":
    sys.exit(main())
