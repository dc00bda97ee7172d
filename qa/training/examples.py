"""The reader's training examples. Every question of a training article gives a positive
(the question with one of qa's own passages, ``PassageSplitter``, <= 600 characters, holding a
gold answer whole, the answer as target), a hard negative (the passage of the training
articles that BM25 ranks highest for the question among those holding none of its answers,
after normalisation; target [CLS]) and, with probability ``random_negative``, a random such
passage of the same article: so the no-answer score learns the on-topic kind (same article,
same names, fact missing). ``extra_examples`` adds the articles of other SQuAD-format files;
``TrainSettings`` is everything that shapes a run.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from qa.ingest.documents import Document
from qa.ingest.splitter import PassageSplitter
from qa.models import reader as reading

from .squad import (
    article_number,
    load_squad,
    load_squad2,
    normalize_answer,
    read_articles,
    slug,
    split_of,
    squad_data,
)


@dataclass(frozen=True)
class Example:
    """One (question, window) pair; ``answer`` is the answer's characters in the window, or
    None when the window does not hold it."""

    qid: str
    question: str
    window: str
    answer: tuple[int, int] | None
    kind: str  # "answer", "hard", "random", "plausible" (SQuAD 2.0) or "edited" (synthetic)


@dataclass(frozen=True)
class TrainSettings:
    """Everything that shapes the trained model; saved as ``settings.json`` beside it."""

    seed: int = 13
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 8e-5
    warmup: float = 0.06
    weight_decay: float = 0.01
    random_negative: float = 0.5
    checkpoint_every: int = 200
    max_train_questions: int | None = None  # sample the training questions (None: all)
    max_tokens: int = reading.MAX_TOKENS
    dev_sample: int = 600  # dev windows scored at each of the 8 checks during training
    layers: int = 6  # transformer layers kept (the packaged model's first N): a smaller student
    teacher: str | None = None  # an ONNX reader whose logits are soft targets (distillation)
    distill_alpha: float = 0.5  # the soft targets' share of the loss
    distill_temperature: float = 2.0
    # A student starts from the teacher's own fine-tuned layers (``teacher_layers``: every
    # other one of 6, ending at the top) and head, instead of the packaged model's first N.
    init_from_teacher: bool = False
    # More training data: SQuAD-format files (v1.1 or v2.0) of other articles, and their
    # sha256, read by ``extra_examples``; see docs/reader.md for where they come from.
    extra: tuple[str, ...] = ()
    extra_sha256: tuple[str, ...] = ()
    # Go on training an ONNX reader (its weights, all layers and head) instead of starting
    # from the packaged sentence encoder; its sha256 names the file it was.
    init_from: str | None = None
    init_sha256: str | None = None
    # SQuAD 2.0's labelled half: the human-written unanswerable questions of the reader's
    # *training* articles (``squad2_examples``), and the file's sha256.
    squad2: str | None = None
    squad2_sha256: str | None = None
    # Synthetic unanswerable questions (``qa.training.decoys``): this many answerable training
    # questions with a number changed or a name swapped, paired with the original's window.
    synthetic: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["extra"], data["extra_sha256"] = list(self.extra), list(self.extra_sha256)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainSettings:
        data = dict(data)
        for name in ("extra", "extra_sha256"):
            data[name] = tuple(data.get(name, ()))
        return cls(**data)


# ----- data -----------------------------------------------------------------------------------


def _normalize(text: str) -> str:
    return f" {normalize_answer(text)} "


@dataclass
class SplitData:
    """The examples of one split, fixed per seed (negatives are drawn once)."""

    questions: int
    examples: list[Example] = field(default_factory=list)


def _inside_word(text: str, offset: int) -> bool:
    return 0 < offset < len(text) and text[offset - 1].isalnum() and text[offset].isalnum()


def build_examples(
    squad_path: Path, split: str, settings: TrainSettings, limit: int | None = None
) -> SplitData:
    """The (question, window) examples of ``split``'s articles (see the module docstring)."""
    data = load_squad(squad_path)
    chosen = [d for d in data.documents if split_of(article_number(d)) == split]
    return _examples(data, chosen, settings, random.Random(settings.seed), limit)


def extra_examples(paths: Sequence[Path], squad_path: Path, settings: TrainSettings) -> SplitData:
    """Training examples from other SQuAD-format files: every whole article whose title and
    paragraphs are none of the evaluation file's (SQuAD v1.1 dev, ``squad_path``), each title
    once (the first file naming it wins). SQuAD 2.0's unanswerable questions give negatives
    only: the window holding their "plausible answer" (kind "plausible": the answer a reader
    is tempted by, which is not one), the BM25 top window, and perhaps a random one."""
    evaluation, _ = read_articles(squad_path)
    titles = {slug(a["title"]) for a in evaluation}
    contexts = {p["context"] for a in evaluation for p in a["paragraphs"]}
    articles, seen = [], set()
    for path in paths:
        found, cut = read_articles(path)
        kept = 0
        for article in found:
            name = slug(article["title"])
            if name in seen:
                continue
            if name in titles or any(p["context"] in contexts for p in article["paragraphs"]):
                print(f"{path}: skipped {article['title']!r}, an evaluation article")
                continue
            seen.add(name)
            articles.append(article)
            kept += 1
        note = " (the file is cut short: its last article dropped)" if cut else ""
        print(f"{path}: {kept} of {len(found)} whole articles kept{note}")
    data = squad_data(articles)
    rng = random.Random(settings.seed + 1)  # not the base data's draws
    return _examples(data, list(data.documents), settings, rng, None)


def squad2_examples(path: Path, squad_path: Path, settings: TrainSettings) -> SplitData:
    """Negatives from SQuAD 2.0's human-written unanswerable questions (``load_squad2``) on the
    reader's training articles only (``split_of``: never a dev or test article). Each gives the
    window holding its writer's decoy (kind "plausible": "no answer" must win even with the
    tempting phrase in view), the BM25 top window, and perhaps a random one. Its answerable
    questions are SQuAD v1.1's, already in the base data."""
    data = load_squad2(path, squad_path)
    chosen = sorted(
        {q.doc_id for q in data.questions if split_of(article_number(q.doc_id)) == "train"}
    )
    rng = random.Random(settings.seed + 2)  # neither the base data's draws nor the extras'
    return _examples(data, chosen, settings, rng, None, unanswerable_only=True)


def synthetic_examples(squad_path: Path, settings: TrainSettings, embed=None) -> SplitData:
    """Negatives from ``settings.synthetic`` edited training questions (``decoy_questions``):
    the window answering the original (kind "edited"), the BM25 top window, perhaps a random
    one. ``embed`` (texts -> unit vectors) finds names of a kind; default: the packaged
    sentence encoder."""
    from .decoys import decoy_questions

    if embed is None:
        from qa.models.embedder import Embedder

        embed = Embedder().encode
    data = load_squad(squad_path)
    edited = decoy_questions(data, settings.synthetic, settings.seed + 3, embed)
    kinds = [q.qid.rsplit("-", 1)[1] for q in edited]
    print(
        f"synthetic: {kinds.count('number')} numbers changed, {kinds.count('name')} names swapped"
    )
    data = replace(data, questions=edited)
    rng = random.Random(settings.seed + 4)
    chosen = sorted({q.doc_id for q in edited})
    return _examples(data, chosen, settings, rng, None, unanswerable_only=True, decoy="edited")


def _examples(
    data,
    doc_ids: Sequence[str],
    settings: TrainSettings,
    rng: random.Random,
    limit: int | None,
    unanswerable_only: bool = False,
    decoy: str = "plausible",
) -> SplitData:
    from qa.index.lexical import LexicalIndex

    splitter = PassageSplitter()
    windows: list[tuple[str, int, int]] = []  # (doc_id, start, end)
    by_doc: dict[str, list[int]] = {}
    for doc_id in doc_ids:
        text = data.documents[doc_id]
        document = Document(doc_id, text.split("\n", 1)[0], text, "")
        for passage in splitter.run(document)[1]:
            by_doc.setdefault(doc_id, []).append(len(windows))
            windows.append((doc_id, passage.start, passage.end))
    texts = [data.documents[d][a:b] for d, a, b in windows]
    folded = [_normalize(t) for t in texts]

    def holds(w: int, spans) -> bool:  # window w holds one of the (document) spans whole
        return any(windows[w][1] <= s and e <= windows[w][2] for s, e in spans)

    lexical = LexicalIndex().index(texts)
    questions = [
        q for q in data.questions if q.doc_id in by_doc and not (unanswerable_only and q.spans)
    ]
    if limit is not None and limit < len(questions):
        questions = rng.sample(questions, limit)
    out = SplitData(len(questions))
    for q in questions:
        answers = [_normalize(a) for a in q.answers]
        holding, free = [], []
        for w in by_doc[q.doc_id]:
            if holds(w, q.spans):
                holding.append(w)
            elif not any(answer in folded[w] for answer in answers):
                free.append(w)
        text = data.documents[q.doc_id]
        # SQuAD dev's answer_start sometimes points inside a word ("5" in "50"): such a span
        # cannot be a token span, so the whole-word spans are the targets.
        whole = [(s, e) for s, e in q.spans if not (_inside_word(text, s) or _inside_word(text, e))]
        holding = [w for w in holding if holds(w, whole)]
        if holding:
            w = rng.choice(holding)
            doc_id, a, b = windows[w]
            s, e = next((s, e) for s, e in whole if a <= s and e <= b)
            out.examples.append(Example(q.qid, q.question, texts[w], (s - a, e - a), "answer"))
        tempting = None
        if not q.spans and q.plausible:  # unanswerable (SQuAD 2.0)
            tempting = next((w for w in by_doc[q.doc_id] if holds(w, q.plausible)), None)
            if tempting is not None:
                out.examples.append(Example(q.qid, q.question, texts[tempting], None, decoy))
        scores = lexical.scores(q.question)
        ranked = [int(w) for w in np.argsort(-scores, kind="stable")[:50]]
        hard = next(
            (
                w
                for w in ranked
                if w != tempting and not any(answer in folded[w] for answer in answers)
            ),
            None,
        )
        if hard is not None:
            out.examples.append(Example(q.qid, q.question, texts[hard], None, "hard"))
        pool = [w for w in free if w not in (hard, tempting)]
        if pool and rng.random() < settings.random_negative:
            out.examples.append(Example(q.qid, q.question, texts[rng.choice(pool)], None, "random"))
    return out
