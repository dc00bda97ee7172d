"""SQuAD for the reader's training and for eval: where the data is, the article split, the
loaders and the answer scores. SQuAD v1.1 dev is split by article once, before any training
(``split_of``); a file is read into one document per article with every gold answer placed in
it (``load_squad``, ``read_articles``, ``squad_data``); answers are scored as the official
``evaluate-v1.1.py`` does (``exact_match``, ``f1``) and no-answer scores by ROC AUC
(``roc_auc``). eval imports all of this from here (eval/squad.py, eval/metrics.py,
eval/data.py), never the other way round.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qa import config

# ----- the split: chosen before training, never changed ---------------------------------------
# Articles are numbered 0-47 in the file's order. BM25's k1/b were tuned on 0-11, so the held-out
# articles come from 12-47 only: every third one from 12 (12 articles; test only, never used for
# training or any choice). Six more from 13-47 are dev (checkpoint choice and calibration).
TEST_ARTICLES = tuple(range(12, 48, 3))
DEV_ARTICLES = tuple(range(13, 48, 6))


def split_of(article: int) -> str:
    """ "train", "dev" or "test" for the SQuAD dev article numbered ``article`` (0-47)."""
    if article in TEST_ARTICLES:
        return "test"
    if article in DEV_ARTICLES:
        return "dev"
    return "train"


def article_number(doc_id: str) -> int:
    """The article number of a SQuAD corpus document (``load_squad`` names them
    ``NN_title.txt``)."""
    return int(doc_id.split("_", 1)[0])


# ----- where the data is ---------------------------------------------------------------------
# ``--data``, else ``$QA_DATA_DIR``, else ``../shared/data`` beside the checkout.
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FILE = Path("squad") / "dev-v1.1.json"


class DataMissingError(FileNotFoundError):
    """The public data set is not where it was looked for."""


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


# ----- the loaders ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SquadQuestion:
    """A SQuAD question with its gold answers as texts and as spans of one corpus document."""

    qid: str
    question: str
    answers: tuple[str, ...]
    doc_id: str
    spans: tuple[tuple[int, int], ...]
    paragraph: str  # "<doc_id>#<n>", the paragraph the question was written on
    # SQuAD 2.0 unanswerable questions: where a reader would be tempted to answer (the
    # "plausible answers" their writers were shown), for training the no-answer score.
    plausible: tuple[tuple[int, int], ...] = ()


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
    squad = squad_data(data[:articles] if articles is not None else data)
    if limit is not None:
        squad.questions = squad.questions[:limit]
    return squad


SQUAD2_FILE = Path("squad2") / "dev-v2.0-labelled-half.json"


def load_squad2(path: Path, squad_path: Path) -> SquadData:
    """SQuAD 2.0's labelled half (``path``) on SQuAD v1.1 dev's corpus (``squad_path``): the
    same 48 documents, with the same names and text, and the SQuAD 2.0 questions of its 16
    articles, unanswerable ones with no spans and their writers' ``plausible`` decoys.

    Its paragraphs are byte-identical to v1.1's, but some articles hold fewer of them or in
    another order: each v1.1 paragraph takes the questions of the SQuAD 2.0 paragraph with its
    text (none when it has no counterpart). So ``split_of(article_number(doc_id))`` splits the
    questions as the reader's split does, and a corpus built for SQuAD v1.1 serves them.
    A paragraph of the file that is not in v1.1 dev is refused."""
    base = json.loads(require(squad_path).read_text(encoding="utf-8"))["data"]
    found, cut = read_articles(path)
    if cut:
        raise ValueError(f"{path} is cut short")
    by_title = {article["title"]: article for article in found}
    unknown = sorted(set(by_title) - {article["title"] for article in base})
    if unknown:
        raise ValueError(f"{path}: articles not in SQuAD v1.1 dev: {unknown}")
    articles = []
    for article in base:
        other = by_title.get(article["title"])
        if other is None:
            articles.append({**article, "paragraphs": [
                {**p, "qas": []} for p in article["paragraphs"]
            ]})  # fmt: skip
            continue
        questions: dict[str, list] = {}
        for paragraph in other["paragraphs"]:
            questions.setdefault(paragraph["context"], []).extend(paragraph["qas"])
        contexts = {p["context"] for p in article["paragraphs"]}
        stray = [c[:40] for c in questions if c not in contexts]
        if stray:
            raise ValueError(f"{path}: {article['title']} has paragraphs not in SQuAD: {stray}")
        paragraphs = [
            {"context": p["context"], "qas": questions.pop(p["context"], [])}
            for p in article["paragraphs"]
        ]
        articles.append({**article, "paragraphs": paragraphs})
    return squad_data(articles)


def read_articles(path: Path) -> tuple[list[dict], bool]:
    """The whole articles of a SQuAD-format file (v1.1 or v2.0), and whether the file was cut
    short: some public copies end part-way through an article, whose whole predecessors are
    still good data (the cut one is dropped)."""
    text = require(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)["data"], False
    except json.JSONDecodeError:
        pass
    decoder, articles = json.JSONDecoder(), []
    at = text.index("[", text.index('"data"')) + 1
    while True:
        while at < len(text) and text[at] in " \t\r\n,":
            at += 1
        try:
            article, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            return articles, True
        articles.append(article)


def squad_data(articles: Sequence[dict]) -> SquadData:
    """``load_squad``'s documents and questions, from a list of SQuAD article dicts. A SQuAD
    2.0 question marked ``is_impossible`` has no answers and no spans."""
    documents: dict[str, str] = {}
    questions: list[SquadQuestion] = []
    paragraphs: dict[str, list[tuple[int, int]]] = {}
    for number, article in enumerate(articles):
        doc_id = f"{number:02d}_{slug(article['title'])}.txt"
        parts = [article["title"].replace("_", " ")]
        offset = len(parts[0]) + 2
        spans: list[tuple[int, int]] = []
        first_question = len(questions)
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            spans.append((offset, offset + len(context)))
            for qa in paragraph["qas"]:
                gold, plausible = [], []
                for answer in qa["answers"]:
                    start = offset + answer["answer_start"]
                    gold.append((start, start + len(answer["text"])))
                for answer in qa.get("plausible_answers", []):
                    start = offset + answer["answer_start"]
                    plausible.append((start, start + len(answer["text"])))
                questions.append(
                    SquadQuestion(
                        qid=qa["id"],
                        question=qa["question"],
                        answers=tuple(answer["text"] for answer in qa["answers"]),
                        doc_id=doc_id,
                        spans=tuple(gold),
                        paragraph=f"{doc_id}#{len(spans) - 1}",
                        plausible=tuple(plausible),
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
    return SquadData(documents, questions, paragraphs)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


# ----- SQuAD answer scores -------------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower-case, drop punctuation and a/an/the, collapse spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of one prediction against one gold answer, after normalisation."""
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(gold).split()
    common = Counter(predicted) & Counter(expected)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted)
    recall = overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, golds: Iterable[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer, else 0.0."""
    normalized = normalize_answer(prediction)
    return float(any(normalized == normalize_answer(gold) for gold in golds))


def f1(prediction: str, golds: Iterable[str]) -> float:
    """The best token F1 of ``prediction`` over the gold answers (0.0 when there are none)."""
    return max((token_f1(prediction, gold) for gold in golds), default=0.0)


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(a random positive scores above a random negative), ties counting half."""
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    if not len(positive) or not len(negative):
        return float("nan")
    ordered = np.sort(negative)
    below = np.searchsorted(ordered, positive, side="left")
    ties = np.searchsorted(ordered, positive, side="right") - below
    return float((below + ties / 2).sum() / (len(positive) * len(negative)))
