"""Verify: how likely it is that the best extract answers a question *near* the one asked,
not the one asked: SQuAD 2.0's decoys, where people swapped a word, changed a name or a number,
or added a negation, and left the sentence that answered the original as the closest match.

The reader's answerability alone tells such questions from answerable ones poorly (ROC AUC
0.671 on the SQuAD 2.0 dev articles): its median on them is 0.99. What the writer changed
leaves traces a few numbers can see: the question's rare words missing from the extract, its
names and numbers missing from the passage, a negation. ``Verifier`` is a logistic regression
over those and the pipeline's own scores (``FEATURES``), fitted on the SQuAD 2.0 questions of
the reader's training articles only (``python -m qa.training verifier``, which writes
``qa/models/verifier.json``); its ``doubt`` is the probability that the question is one the
sources do not answer. ``ReaderSettings.doubt_above`` says when qa refuses for it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from qa.ingest.text import terms
from qa.pipeline.query import negates
from qa.values import Extract, Query

VERIFIER_FILE = Path(__file__).resolve().parents[1] / "models" / "verifier.json"

SIGNALS = ("dense", "lexical", "passage", "sentence", "reader")  # of qa.pipeline.extract
FEATURES = (
    "reader_logit",  # log-odds of the reader's answerability over the passages it read
    "confidence",  # the best extract's score
    *SIGNALS,  # the best extract's signals
    "unmatched_extract",  # idf share of the question's terms that the extract lacks
    "unmatched_context",  # ... that its passage lacks
    "rarest_unmatched",  # the highest idf among the terms the passage lacks
    "unmatched_count",  # how many terms the passage lacks
    "names_missing",  # capitalised words of the question (not its first) the passage lacks
    "numbers_missing",  # numbers of the question the passage lacks
    "negation_unmatched",  # the question is negated (Query.negated), the extract is not
    "negation_matched",  # both are: a "Why shouldn't I ...?" answered by "... is not ..."
    "negates",  # the extract negates something
    "question_terms",  # how many terms the question has
)
_NAME = re.compile(r"(?<=\s)[A-Z][\w-]+")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")


def features(
    query: Query, best: Extract, answerability: float, idf: Callable[[str], float]
) -> dict[str, float]:
    """The ``FEATURES`` of the best extract for ``query``: ``answerability`` is the reader's
    (``qa.pipeline.read.answerability``, as ``Answer.answerability`` has it), ``idf`` the
    corpus's, per term. An answer holds all of them, so the verifier is fitted on answers."""
    answerability = min(max(answerability, 1e-6), 1 - 1e-6)
    asked = list(dict.fromkeys(terms(query.question)))
    weights = {t: idf(t) for t in asked}
    total = sum(weights.values()) or 1.0
    in_extract, in_context = set(terms(best.text)), set(terms(best.context))
    lacking = [t for t in asked if t not in in_context]
    signals = best.signals
    denies = negates(best.text)
    return {
        "reader_logit": math.log(answerability / (1 - answerability)),
        "confidence": best.score,
        **{name: float(signals.get(name, 0.0)) for name in SIGNALS},
        "unmatched_extract": sum(weights[t] for t in asked if t not in in_extract) / total,
        "unmatched_context": sum(weights[t] for t in lacking) / total,
        "rarest_unmatched": max((weights[t] for t in lacking), default=0.0),
        "unmatched_count": float(len(lacking)),
        "names_missing": float(sum(w not in best.context for w in _NAME.findall(query.question))),
        "numbers_missing": float(
            sum(n not in best.context for n in _NUMBER.findall(query.question))
        ),
        "negation_unmatched": float(query.negated and not denies),
        "negation_matched": float(query.negated and denies),
        "negates": float(denies),
        "question_terms": float(len(asked)),
    }


@dataclass(frozen=True)
class Verifier:
    """A logistic regression over standardised ``FEATURES``: ``doubt`` is its probability that
    the question is not answered by the best extract. ``card`` says how it was fitted."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    names: list[str] = field(default_factory=lambda: list(FEATURES))
    card: dict = field(default_factory=dict)

    def doubt(self, values: dict[str, float]) -> float:
        z = self.intercept + sum(
            c * (values[n] - m) / s
            for n, m, s, c in zip(self.names, self.mean, self.scale, self.coef)
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Verifier:
        """The verifier ``to_dict`` wrote; ValueError for another qa's features or weights
        that are not finite numbers."""
        verifier = cls(**data)
        if list(verifier.names) != list(FEATURES) or not (
            len(verifier.mean) == len(verifier.scale) == len(verifier.coef) == len(FEATURES)
        ):
            raise ValueError("the verifier's features are not this qa's")
        numbers = [*verifier.mean, *verifier.scale, *verifier.coef, verifier.intercept]
        if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers):
            raise ValueError("the verifier's weights are not all finite numbers")
        if not all(x > 0 for x in verifier.scale):
            raise ValueError("the verifier's scales are not all positive")
        return verifier


@lru_cache(maxsize=4)
def load(path: Path = VERIFIER_FILE) -> Verifier | None:
    """The verifier in ``path``, or None when there is none or it cannot be read (qa then
    answers without it, as before it was fitted)."""
    try:
        return Verifier.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def doubt(
    query: Query,
    extracts: Sequence[Extract],
    answerability: float | None,
    idf: Callable[[str], float],
    verifier: Verifier | None,
) -> float | None:
    """The verifier's doubt about the best extract (rounded), None without a verifier, an
    extract or the reader's ``answerability`` (``qa.pipeline.read.answerability``), and for
    the author or source line a "Who wrote...?" question asks for: the verifier weighs the
    reader, whose silence on such lines is no reason (``qa.pipeline.policy.attributed``)."""
    if verifier is None or not extracts or answerability is None:
        return None
    if query.attribution is not None and extracts[0].signals.get("byline", 0.0) == 1.0:
        return None
    return round(verifier.doubt(features(query, extracts[0], answerability, idf)), 4)


__all__ = ["FEATURES", "VERIFIER_FILE", "Verifier", "doubt", "features", "load"]
