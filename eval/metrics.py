"""Metric glue for the eval commands (eval/squad.py, eval/scifact.py and the others).

- SQuAD v1.1 answer scores: the official normalisation, exact match and token F1, max over the
  gold answers (the same arithmetic as the official ``evaluate-v1.1.py``), and ROC AUC; defined
  in ``qa.training.squad`` (shared with the reader's training) and imported here.
- Rankings as ranx runs: every ranking is a list of ids, best first; ranx sees the score
  ``len(ranking) - position`` so its order is exactly ours (ties cannot reorder anything).
- Span relevance by character offsets, first-occurrence grouping (passages to documents or
  paragraphs), hit@k and recall@k curves, latency percentiles.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np

# The SQuAD answer scores and ROC AUC live with the SQuAD loaders, which the reader's training
# shares (qa/training/squad.py); eval imports them from there, never the other way round.
from qa.training.squad import exact_match as exact_match
from qa.training.squad import f1 as f1
from qa.training.squad import normalize_answer as normalize_answer
from qa.training.squad import roc_auc as roc_auc
from qa.training.squad import token_f1 as token_f1

# A relevant id that no run contains: a question none of whose gold spans fits in any passage
# still counts (as a miss) instead of silently leaving the average.
UNREACHABLE = "<unreachable>"

# The most false abstentions (answerable questions abstained on) a chosen threshold may cost.
MAX_FALSE_ABSTENTIONS = 0.05

# ----- spans and rankings -------------------------------------------------------------------


def contains(outer: tuple[int, int], inner: tuple[int, int]) -> bool:
    """True when the character span ``outer`` holds all of ``inner`` (end offsets exclusive)."""
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def first_occurrences(keys: Iterable[Hashable]) -> list:
    """``keys`` without repeats, in order of first appearance.

    A document (or paragraph) ranked by its best passage is where its first passage is, so
    this turns a passage ranking (mapped to document ids) into a document ranking.
    """
    return list(dict.fromkeys(keys))


def ranx_evaluate(
    qrels: Mapping[str, Mapping[str, int] | Iterable[str]],
    rankings: Mapping[str, Sequence[str]],
    metrics: Sequence[str],
    per_query: bool = False,
) -> dict[str, float] | dict[str, np.ndarray]:
    """Evaluate ``rankings`` (query id -> ids, best first) against ``qrels`` with ranx.

    ``qrels`` maps a query id to its relevant ids, as a set or as ``{id: grade}``. A query with
    no relevant id scores 0 (it is kept, relevant to ``UNREACHABLE``); a query missing from
    ``rankings`` is an empty ranking. Returns the mean of each metric, or with ``per_query``
    an array of per-query values in the order of ``qrels``.
    """
    from ranx import Qrels, Run, evaluate

    qrels_dict = {}
    for query, relevant in qrels.items():
        grades = (
            {str(doc): int(grade) for doc, grade in relevant.items() if grade > 0}
            if isinstance(relevant, Mapping)
            else {str(doc): 1 for doc in relevant}
        )
        qrels_dict[str(query)] = grades or {UNREACHABLE: 1}
    run_dict = {}
    for query in qrels:
        ranked = list(rankings.get(query, ()))
        run_dict[str(query)] = {
            str(doc): float(len(ranked) - position) for position, doc in enumerate(ranked)
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ranx/numba type-safety chatter about int casts
        scores = evaluate(
            Qrels(qrels_dict), Run(run_dict), list(metrics), return_mean=not per_query
        )
    if len(metrics) == 1:
        scores = {metrics[0]: scores}
    if per_query:
        return {name: np.asarray(values, dtype=float) for name, values in scores.items()}
    return {name: float(value) for name, value in scores.items()}


def first_relevant_rank(ranking: Sequence[Hashable], relevant: Iterable[Hashable]) -> int:
    """1-based position of the first relevant id in ``ranking``, or 0 when there is none."""
    relevant = set(relevant)
    return next((position + 1 for position, doc in enumerate(ranking) if doc in relevant), 0)


def hit_curve(ranks: Sequence[int], max_k: int) -> list[float]:
    """Share of queries whose first relevant rank is in 1..k, for k = 1..max_k.

    ``ranks`` holds one 1-based rank per query, 0 for "not found".
    """
    ranks = np.asarray(ranks, dtype=int)
    if not len(ranks):
        return [0.0] * max_k
    found = ranks[ranks > 0]
    counts = np.bincount(np.minimum(found, max_k + 1), minlength=max_k + 2)[1 : max_k + 1]
    return (np.cumsum(counts) / len(ranks)).tolist()


def recall_curve(
    qrels: Mapping[str, Iterable[str]], rankings: Mapping[str, Sequence[str]], max_k: int
) -> list[float]:
    """Mean recall@k (share of each query's relevant ids in its top k), for k = 1..max_k."""
    if not qrels:
        return [0.0] * max_k
    total = np.zeros(max_k)
    for query, relevant in qrels.items():
        relevant = (
            {doc for doc, grade in relevant.items() if grade > 0}
            if isinstance(relevant, Mapping)
            else set(relevant)
        )
        if not relevant:
            continue
        found = np.zeros(max_k)
        for position, doc in enumerate(rankings.get(query, ())[:max_k]):
            if doc in relevant:
                found[position] += 1
        total += np.cumsum(found) / len(relevant)
    return (total / len(qrels)).tolist()


def percentile(values: Sequence[float], percent: float) -> float:
    """The ``percent``-th percentile of ``values`` (linear interpolation), NaN when empty."""
    if not len(values):
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=float), percent))


def percentile_ms(seconds: Sequence[float], percent: float) -> float:
    """The ``percent``-th percentile of durations given in seconds, in milliseconds."""
    return percentile(seconds, percent) * 1000.0


def abstention_scores(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> dict:
    """Precision, recall and F1 of abstaining on the unanswerable questions, and the share of
    answerable ones abstained on (false abstentions); NaN where a share has no denominator."""
    abstained = np.asarray(abstained, dtype=bool)
    unanswerable = np.asarray(unanswerable, dtype=bool)
    right = int((abstained & unanswerable).sum())
    precision = right / abstained.sum() if abstained.sum() else float("nan")
    recall = right / unanswerable.sum() if unanswerable.sum() else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if right else 0.0
    answerable = ~unanswerable
    false = (abstained & answerable).sum() / answerable.sum() if answerable.sum() else float("nan")
    return {
        "abstain_precision": float(precision),
        "abstain_recall": float(recall),
        "abstain_f1": float(f1),
        "false_abstentions": float(false),
    }


def best_threshold(
    confidence: Sequence[float],
    forced: Sequence[bool],
    unanswerable: Sequence[bool],
    max_false_abstentions: float = MAX_FALSE_ABSTENTIONS,
) -> tuple[float, dict]:
    """The abstention threshold with the best abstention F1, and the scores it gets.

    Abstaining means ``confidence < threshold`` or ``forced`` (abstentions no threshold
    changes). Only thresholds whose false abstentions stay within ``max_false_abstentions``
    count; the best F1 is usually reached on a range of them, and the middle of that range is
    chosen, as far as it can be from the confidences on either side (the widest margin).
    """
    confidence = np.asarray(confidence, dtype=float)
    forced = np.asarray(forced, dtype=bool)
    values = np.unique(confidence)
    candidates = np.concatenate([[0.0], (values[1:] + values[:-1]) / 2])
    best, best_f1 = [0.0], None
    for threshold in candidates:
        scores = abstention_scores(forced | (confidence < threshold), unanswerable)
        if scores["false_abstentions"] > max_false_abstentions:
            break  # false abstentions only grow with the threshold
        if best_f1 is None or scores["abstain_f1"] > best_f1:
            best, best_f1 = [float(threshold)], scores["abstain_f1"]
        elif scores["abstain_f1"] == best_f1:
            best.append(float(threshold))
    # Of the confidences the best range separates, the nearest on each side.
    below = max((c for c in values if c < min(best)), default=min(best))
    above = min((c for c in values if c > max(best)), default=max(best))
    chosen = (below + above) / 2
    return round(float(chosen), 4), abstention_scores(forced | (confidence < chosen), unanswerable)


def abstention_details(records: Sequence[dict]) -> dict:
    """What the abstention records (``unanswerable``, ``abstained``, ``reason``,
    ``answerability``) say beyond the counts: why qa abstained, by reason and kind of
    question, and the ROC AUC of the reader's answerability when the reader read (and of the
    verifier's ``doubt`` where it judged)."""
    details: dict = {"reasons": {}}
    if records and records[0]["answerability"] is not None:
        unanswerable = np.array([r["unanswerable"] for r in records])
        reader = np.array([r["answerability"] for r in records])
        details["answerability_auc"] = roc_auc(reader[~unanswerable], reader[unanswerable])
    judged = [r for r in records if r.get("doubt") is not None]
    if judged:  # the verifier's doubt, higher for the unanswerable ones (qa.pipeline.verify)
        unanswerable = np.array([r["unanswerable"] for r in judged])
        doubt = np.array([r["doubt"] for r in judged])
        details["doubt_auc"] = roc_auc(doubt[unanswerable], doubt[~unanswerable])
    for r in records:
        if r["abstained"]:
            label = f"{r['reason']} ({'unanswerable' if r['unanswerable'] else 'answerable'})"
            details["reasons"][label] = details["reasons"].get(label, 0) + 1
    return details
