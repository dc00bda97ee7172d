"""Would a learned abstention rule beat the two thresholds? ``python -m eval.combine``.

qa abstains when the confidence is under ``Settings.abstain_below`` or no passage read gets a
reader ``has_answer`` of ``ReaderSettings.no_answer_below`` (besides the rules that need no
threshold). This experiment asks whether a logistic regression over more of the signals an
answer carries separates on-topic unanswerable questions better, on **dev data only** (the
SQuAD dev articles of ``qa.training.squad.split_of`` with odd paragraphs held out, and the gold dev
split), each question answered once with both thresholds at 0:

- signals: the confidence, the reader's best margin (logit of ``answerability``), the top
  extract's own reader score and sentence score, and whether a "how many / what year" question's
  bold phrase lacks a number;
- each rule's threshold is the one abstaining most while false abstentions stay <= 5% in each
  set; the regression is scored leave-one-article-out over the SQuAD dev articles (fit and
  threshold on the others, applied to the article left out), the thresholds on the same folds.

Prints SQuAD dev recall and false abstentions per rule, with the gold dev split in the
constraint and without it. Writes ``<out>/abstention_combine.json``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from qa import Assistant
from qa.assistant import clean_question, default_folder
from qa.models.embedder import Embedder
from qa.pipeline.focus import demands_type

from . import metrics
from .cli import add_data_options, positive_int, run_on_data
from .configs import with_reader
from .corpus import open_corpus
from .gold import GOLD, load_gold
from .metrics import MAX_FALSE_ABSTENTIONS
from .report import write_json
from .squad import FILE as SQUAD_FILE
from .squad import held_out, load_squad, questions_of

FEATURES = ("confidence", "margin", "top_reader", "sentence", "phrase_untyped")
RULES = {
    "two thresholds": None,
    "regression: confidence + margin": ("confidence", "margin"),
    "regression: + top extract's reader and sentence scores": FEATURES[:4],
    "regression: all five": FEATURES,
}
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|hundred|thousand|million|billion|dozen)\b",
    re.I,
)


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def signals(question: str, answer) -> dict:
    """The numbers a rule may use, from the answer alone."""
    top = (answer.related or [None])[0] if answer.abstained else answer.extracts[0]
    phrase = None
    if top is not None and top.focus_start is not None:
        phrase = top.text[top.focus_start - top.start : top.focus_end - top.start]
    own = top.signals if top is not None else {}
    return {
        "confidence": answer.confidence,
        "margin": logit(answer.answerability or 0.0),
        "top_reader": logit(own.get("reader", 0.0)),
        "sentence": float(own.get("sentence", 0.0)),
        "phrase_untyped": float(demands_type(question) and not _NUMBER.search(phrase or "")),
        # abstentions no threshold decides (not in the sources, no phrase of the type asked)
        "forced": answer.abstained,
    }


def records(assistant: Assistant, items, group: str) -> list[dict]:
    """``items`` are (question, history, unanswerable, article) tuples."""
    open_ = with_reader(assistant, no_answer_below=0.0)
    open_ = Assistant(open_.index, replace(open_.settings, abstain_below=0.0))
    out = []
    for question, history, unanswerable, article in items:
        answer = open_.ask(question, history=history)
        out.append(
            {**signals(question, answer), "set": group, "article": article, "y": unanswerable}
        )
    return out


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0):
    """L2-regularised logistic regression by Newton's method; returns the scoring function."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.c_[np.ones(len(x)), (x - mu) / sd]
    beta = np.zeros(z.shape[1])
    # The intercept gets a tiny ridge too: when a small run's labels are all one class its
    # Hessian entry goes to 0 and Newton's step was a singular solve (`--limit 15`).
    ridge = l2 * np.diag(np.r_[1e-6, np.ones(z.shape[1] - 1)])
    for _ in range(50):
        p = 1 / (1 + np.exp(-z @ beta))
        gradient = z.T @ (p - y) + ridge @ beta
        hessian = z.T @ (z * (p * (1 - p))[:, None]) + ridge
        beta -= np.linalg.solve(hessian, gradient)
    return lambda new: 1 / (1 + np.exp(-np.c_[np.ones(len(new)), (new - mu) / sd] @ beta))


def allowed(decided: np.ndarray, y: np.ndarray, groups: np.ndarray) -> bool:
    return all(
        metrics.abstention_scores(decided[groups == g], y[groups == g])["false_abstentions"]
        <= MAX_FALSE_ABSTENTIONS
        for g in np.unique(groups)
    )


def choose(rows: list[dict], rule):
    """The rule's decision function, its threshold(s) chosen on ``rows``."""
    y = np.array([r["y"] for r in rows])
    groups = np.array([r["set"] for r in rows])
    forced = np.array([r["forced"] for r in rows])
    if rule is None:
        confidence = np.array([r["confidence"] for r in rows])
        margin = np.array([r["margin"] for r in rows])
        best, chosen = -1.0, (0.0, -np.inf)
        for below in np.arange(0.0, 0.61, 0.025):
            for threshold in np.unique(margin):
                decided = forced | (confidence < below) | (margin < threshold)
                if not allowed(decided, y, groups):
                    continue
                recall = metrics.abstention_scores(decided, y)["abstain_recall"]
                if recall > best:
                    best, chosen = recall, (below, threshold)
        below, threshold = chosen
        return lambda rs: np.array(
            [r["forced"] or r["confidence"] < below or r["margin"] < threshold for r in rs]
        )
    x = np.array([[r[name] for name in rule] for r in rows])
    score = fit(x, y.astype(float))
    s = score(x)
    threshold = np.inf
    for t in np.sort(np.unique(s))[::-1]:
        if not allowed(forced | (s >= t), y, groups):
            break
        threshold = t
    return lambda rs: (
        np.array([r["forced"] for r in rs])
        | (score(np.array([[r[name] for name in rule] for r in rs])) >= threshold)
    )


def compare(rows: list[dict], with_gold: bool) -> dict:
    """Per rule: SQuAD dev recall / false abstentions, leave-one-article-out."""
    pool = rows if with_gold else [r for r in rows if r["set"] == "squad"]
    squad = [r for r in rows if r["set"] == "squad"]
    y = np.array([r["y"] for r in squad])
    table = {}
    for name, rule in RULES.items():
        decided = np.zeros(len(squad), dtype=bool)
        for article in sorted({r["article"] for r in squad}):
            decide = choose([r for r in pool if r["article"] != article], rule)
            held = [n for n, r in enumerate(squad) if r["article"] == article]
            decided[held] = decide([squad[n] for n in held])
        scores = metrics.abstention_scores(decided, y)
        table[name] = {k: round(float(v), 3) for k, v in scores.items()}
    return table


def run(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    data = load_squad(args.data / SQUAD_FILE)
    articles = {q.doc_id for q in questions_of(data, "dev", None)}
    documents, answerable, unanswerable = held_out(data)
    answerable = [q for q in answerable if q.doc_id in articles][: args.limit]
    unanswerable = [q for q in unanswerable if q.doc_id in articles][: args.limit]
    embedder = embedder or Embedder()
    held, _ = open_corpus(args.out / "cache" / "squad-heldout", documents, embedder)
    rows = records(
        held,
        [
            (clean_question(q.question), [], n >= len(answerable), q.doc_id)
            for n, q in enumerate(answerable + unanswerable)
        ],
        "squad",
    )
    held.close()
    with Assistant.from_folder(default_folder(), embedder=embedder) as gold:
        items = [i for i in load_gold(GOLD) if i.split == "dev"]
        rows += records(
            gold, [(i.question, i.history, not i.answerable, "gold") for i in items], "gold"
        )
    summary = {"benchmark": "abstention_combine", "split": "dev", "questions": len(rows)}
    for label, with_gold in (("gold dev in the constraint", True), ("SQuAD dev alone", False)):
        summary[label] = compare(rows, with_gold)
        print(f"\n{label}: SQuAD dev, leave-one-article-out")
        for name, s in summary[label].items():
            print(
                f"  {name:58} recall {s['abstain_recall']:.3f} precision "
                f"{s['abstain_precision']:.3f} false {s['false_abstentions']:.3f}"
            )
    write_json(args.out / "abstention_combine.json", summary)
    return summary


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.combine", description=__doc__)
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=400,
        help="N SQuAD dev questions of each kind (default 400)",
    )
    add_data_options(parser)
    return run_on_data(run, parser.parse_args(argv), embedder)


if __name__ == "__main__":
    sys.exit(main())
