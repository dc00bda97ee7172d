"""On-topic abstention at scale, from SQuAD: ``python -m eval.abstention [--articles M]``.

The gold set has 8 unanswerable items a split: one item moves abstention F1 by ~0.07, too
coarse to tell one confidence score from another. This benchmark makes thousands of the hard
kind, questions on the corpus's own topic whose answer is not in it. Every SQuAD article is
indexed with its odd-numbered paragraphs held out (paragraph 0 is kept):

- answerable: the questions written on a kept paragraph;
- unanswerable: the questions written on a held-out paragraph none of whose answers occurs
  anywhere in the kept text of its article (after normalisation). Same article, same names and
  vocabulary: only the fact asked for is missing. A few may still be answerable in other words;
  the figures are a floor on precision.

Reports, at the shipped threshold: abstention precision, recall, F1, false abstentions, and
answer hit@1 of the answerable questions qa answers (top extract holds a gold span). Then
threshold-free measures of the confidence score: ROC AUC (answerable vs unanswerable), the
best-F1 threshold for this corpus with false abstentions <= 5%, and the risk-coverage curve
(share answered correctly among those answered, at each share answered). Writes
``<out>/squad_abstention.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from qa.models.embedder import Embedder

from . import metrics
from .cli import add_data_options, positive_int, run_on_data
from .corpus import open_corpus, store_tag
from .gold import forced_abstention
from .metrics import MAX_FALSE_ABSTENTIONS, roc_auc
from .report import write_json
from .squad import FILE as SQUAD_FILE
from .squad import ask_questions, held_out, holds_answer, load_squad, top_extract

COVERAGES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def risk_coverage(confidence: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    """Share answered right among the most confident ``c`` share of all questions, for each
    coverage c (an unanswerable question answered is wrong)."""
    order = np.argsort(-confidence, kind="stable")
    curve = {}
    for coverage in COVERAGES:
        answered = order[: max(1, round(coverage * len(order)))]
        curve[f"{coverage:.1f}"] = float(correct[answered].mean())
    return curve


def run(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    """Index the held-out SQuAD corpus, ask every question, score abstention; write the JSON."""
    began = time.perf_counter()
    data = load_squad(args.data / SQUAD_FILE, args.articles)
    documents, answerable, unanswerable = held_out(data)
    if args.limit:  # an even sample of both kinds, the same on every run
        rng = np.random.default_rng(0)
        answerable = [answerable[i] for i in sorted(rng.permutation(len(answerable))[: args.limit])]
        unanswerable = [
            unanswerable[i] for i in sorted(rng.permutation(len(unanswerable))[: args.limit])
        ]
    questions = answerable + unanswerable
    print(
        f"SQuAD v1.1 dev, odd paragraphs held out: {len(documents)} articles, "
        f"{len(answerable)} answerable and {len(unanswerable)} unanswerable questions"
    )
    embedder = embedder or Embedder()
    key = "squad-heldout" if args.articles is None else f"squad-heldout-articles{args.articles}"
    assistant, index_facts = open_corpus(
        args.out / "cache" / key, documents, embedder, store=args.store
    )
    answers = ask_questions(assistant, questions, 1000)
    threshold = assistant.abstain_threshold()

    is_unanswerable = np.array([i >= len(answerable) for i in range(len(questions))])
    confidence = np.array([a.confidence for a in answers])
    abstained = np.array([a.abstained for a in answers])
    forced = np.array([forced_abstention(a) for a in answers])
    # Answerable questions whose top extract (an abstention's best candidate too) holds it.
    hit = np.zeros(len(questions), dtype=bool)
    for n, (q, answer) in enumerate(zip(questions[: len(answerable)], answers)):
        hit[n] = holds_answer(top_extract(assistant, answer)[0], q)
    reasons = {}
    for answer, unanswered in zip(answers, is_unanswerable):
        if answer.abstained:
            label = f"{answer.abstain_reason} ({'unanswerable' if unanswered else 'answerable'})"
            reasons[label] = reasons.get(label, 0) + 1
    chosen, chosen_scores = metrics.best_threshold(
        confidence, forced, is_unanswerable, MAX_FALSE_ABSTENTIONS
    )
    answered_answerable = ~abstained & ~is_unanswerable
    summary = {
        "benchmark": "squad_abstention",
        "data": str(args.data / SQUAD_FILE),
        "options": {"articles": args.articles, "limit": args.limit},
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "index": index_facts,
        "shipped_threshold": threshold,
        "at_shipped_threshold": metrics.abstention_scores(abstained, is_unanswerable)
        | {
            "answered_hit@1": float(hit[answered_answerable].mean())
            if answered_answerable.any()
            else float("nan"),
            "answerable_hit@1": float(hit[: len(answerable)].mean()) if answerable else 0.0,
            "reasons": reasons,
        },
        "confidence_auc": roc_auc(confidence[~is_unanswerable], confidence[is_unanswerable]),
        "best_threshold": chosen,
        "at_best_threshold": chosen_scores,
        "risk_coverage": risk_coverage(confidence, hit),
        "seconds": round(time.perf_counter() - began, 1),
    }
    tag = store_tag(assistant)
    write_json(args.out / f"squad_abstention{tag}.json", summary)
    report(summary)
    assistant.close()
    return summary


def report(summary: dict) -> None:
    """Print the summary as a few readable lines."""
    at, best = summary["at_shipped_threshold"], summary["at_best_threshold"]
    print(
        f"\nshipped threshold {summary['shipped_threshold']}: abstention "
        f"P {at['abstain_precision']:.3f} R {at['abstain_recall']:.3f} "
        f"F1 {at['abstain_f1']:.3f}, false abstentions "
        f"{at['false_abstentions']:.3f}; answerable hit@1 {at['answerable_hit@1']:.3f}, "
        f"hit@1 of those answered {at['answered_hit@1']:.3f}"
    )
    print("abstentions by reason: " + ", ".join(f"{k} {v}" for k, v in at["reasons"].items()))
    print(f"confidence ROC AUC (answerable vs unanswerable): {summary['confidence_auc']:.3f}")
    print(
        f"best threshold for this corpus (false abstentions <= {MAX_FALSE_ABSTENTIONS:.0%}): "
        f"{summary['best_threshold']}: P {best['abstain_precision']:.3f} "
        f"R {best['abstain_recall']:.3f} F1 {best['abstain_f1']:.3f}, "
        f"false abstentions {best['false_abstentions']:.3f}"
    )
    print(
        "risk-coverage (share correct among the most confident): "
        + ", ".join(f"{c}: {v:.3f}" for c, v in summary["risk_coverage"].items())
    )
    print(f"({summary['seconds']:.0f} s)")


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.abstention", description=__doc__)
    parser.add_argument("--articles", type=positive_int, help="only the first M")
    parser.add_argument("--limit", type=positive_int, help="N questions of each kind")
    add_data_options(parser)
    parser.add_argument("--store", help="where vectors and BM25 live (see qa.search.store)")
    return run_on_data(run, parser.parse_args(argv), embedder)


if __name__ == "__main__":
    sys.exit(main())
