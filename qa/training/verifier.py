"""Fit qa's verifier: ``python -m qa.training verifier [--out FILE] [--data DIR]``.

The verifier (``qa.pipeline.verify``) judges whether the best extract answers the question
asked or one near it. It is fitted on answers: qa answers the SQuAD 2.0 questions of the
reader's *training* articles (1,528 answerable, 1,595 written by people to look answerable
but not be) from the open corpus of all training articles, with the shipped settings and
the verifier off; each answer's ``FEATURES`` and whether its question was unanswerable are
one row of a logistic regression (L2, standardised features). Dev and test articles are not
read. Its threshold (``ReaderSettings.doubt_above``) is chosen on dev data
(``python -m eval.verifier``). The fitted weights and how they were made are written to
``qa/models/verifier.json`` (a few kilobytes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

from qa.models.reader import card as reader_card
from qa.pipeline.verify import FEATURES, VERIFIER_FILE, Verifier, features
from qa.values import Query

from .squad import FILE as SQUAD_FILE
from .squad import (
    SQUAD2_FILE,
    DataMissingError,
    article_number,
    data_dir,
    load_squad2,
    roc_auc,
    split_of,
)

L2 = 1.0  # the penalty on standardised weights (sklearn's C = 1); the usual default, untuned


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = 50) -> np.ndarray:
    """Weights (intercept last) of an L2-penalised logistic regression by Newton's method;
    the intercept is not penalised."""
    design = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -30, 30)))
        gradient = design.T @ (p - y) + penalty * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def fit(rows: np.ndarray, labels: np.ndarray, l2: float = L2, card: dict | None = None) -> Verifier:
    """The ``Verifier`` of ``rows`` (one per answer, in ``FEATURES`` order) and ``labels``
    (1: the question was unanswerable)."""
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale < 1e-9] = 1.0
    w = fit_logistic((rows - mean) / scale, labels.astype(float), l2)
    return Verifier(
        mean.tolist(), scale.tolist(), w[:-1].tolist(), float(w[-1]), list(FEATURES), card or {}
    )


def grouped_auc(rows: np.ndarray, labels: np.ndarray, groups: Sequence[str]) -> float:
    """ROC AUC of the verifier fitted without each article in turn, scored on it."""
    groups = np.asarray(groups)
    scores = np.zeros(len(labels))
    for group in np.unique(groups):
        held = groups == group
        verifier = fit(rows[~held], labels[~held])
        scores[held] = [verifier.doubt(dict(zip(FEATURES, row))) for row in rows[held]]
    return roc_auc(scores[labels == 1], scores[labels == 0])


def collect(data: Path, cache: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Feature rows, labels and article of every SQuAD 2.0 training-article question that qa
    answered or refused with a closest extract (the verifier off)."""
    from qa import Assistant, Settings
    from qa.pipeline.query import clean_question
    from qa.settings import ReaderSettings

    squad = load_squad2(data / SQUAD2_FILE, data / SQUAD_FILE)
    documents = {d: t for d, t in squad.documents.items() if split_of(article_number(d)) == "train"}
    questions = [q for q in squad.questions if q.doc_id in documents]
    folder = cache / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in documents.items():
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    settings = Settings(reader=replace(ReaderSettings(), doubt_above=1.0))
    assistant = Assistant.from_folder(folder, index_dir=cache / "index", settings=settings)
    if assistant.reading() is None:
        raise SystemExit("error: the verifier is fitted on the reader's answers: no reader")
    idf = assistant.index.corpus.idf
    rows, labels, groups = [], [], []
    texts = [clean_question(q.question) for q in questions]
    for start in range(0, len(texts), 500):
        answers = assistant.ask_many(texts[start : start + 500], k=3)
        for q, answer in zip(questions[start : start + 500], answers):
            best = (answer.extracts or answer.related or [None])[0]
            if best is None or answer.answerability is None:
                continue
            query = Query.of(answer.question, np.zeros(1, np.float32))
            values = features(query, best, answer.answerability, idf)
            rows.append([values[name] for name in FEATURES])
            labels.append(0 if q.spans else 1)
            groups.append(q.doc_id)
        print(f"  answered {min(start + 500, len(texts))}/{len(texts)}", flush=True)
    assistant.close()
    return np.array(rows, dtype=float), np.array(labels), groups


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qa.training verifier", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=VERIFIER_FILE)
    parser.add_argument("--data", type=Path, default=None, help="folder holding squad/, squad2/")
    parser.add_argument("--cache", type=Path, default=Path("build/verifier"))
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        rows, labels, groups = collect(data_dir(args.data), args.cache)
    except DataMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    auc = grouped_auc(rows, labels, groups)
    card = {
        "command": "python -m qa.training verifier",
        "date": date.today().isoformat(),
        "data": "SQuAD 2.0 labelled dev half, the reader's training articles only",
        "answers": len(labels),
        "unanswerable": int(labels.sum()),
        "articles": len(set(groups)),
        "l2": L2,
        "leave_one_article_out_auc": round(auc, 4),
        "reader_sha256": reader_card().get("sha256"),
        "note": "fitted on the shipped reader's answers; refit when the reader changes",
    }
    verifier = fit(rows, labels, card=card)
    args.out.write_text(json.dumps(verifier.to_dict(), indent=1) + "\n", encoding="utf-8")
    print(
        f"verifier: {len(labels)} answers ({int(labels.sum())} unanswerable), leave-one-"
        f"article-out AUC {auc:.3f}; wrote {args.out} ({time.perf_counter() - began:.0f} s)"
    )
    return 0


__all__ = ["collect", "fit", "fit_logistic", "grouped_auc", "main"]
