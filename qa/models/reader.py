"""Reader: an extractive reading model that points at the answer span inside a window of text.

The model is qa's own (its training package: see docs/reader.md): the all-MiniLM-L6-v2
transformer that qa already ships, with a span head (start and end logits per token)
fine-tuned on SQuAD articles (see ``qa/models/READER.md``). It reads ``[CLS] question [SEP]
window [SEP]``. "No answer in this window" is pointing at ``[CLS]`` (the SQuAD 2.0
convention), so one head gives both:

- the best span: the start/end pair with the highest ``start + end`` logit, inside the window,
  at most ``MAX_ANSWER_TOKENS`` long;
- ``margin``: that span's logit sum minus the ``[CLS]`` pair's; above 0 the model prefers
  an answer to none. ``has_answer`` = sigmoid(margin) is what the pipeline combines.

The shipped file is an int8 ONNX export (``qa/models/reader.onnx``: fused layers, int8 matrix
products); reading needs only onnxruntime and the tokenizer of the packaged embedding model,
no torch.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.errors import ReaderModelError, UsageError
from qa.models.cache import verified
from qa.models.onnx_encoder import session_options

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

MAX_TOKENS = 256  # question + window; qa's passages (<= 600 characters) fit in ~170
MAX_ANSWER_TOKENS = 30
# What one more session run costs, in tokens of reading: on 2 cores one window of 96 tokens
# alone took 22.7 ms, five in one batch 94 ms, so about 4 ms a run, 20 tokens at ~0.2 ms a
# token (2026-12-01). Padding a batch beyond that costs more than a run of its own.
CALL_COST_TOKENS = 20
# What the export writes in a model's metadata when its activations are quantised per call.
ACTIVATIONS_KEY, PER_CALL = "qa.activations", "int8, quantised per call"
MODEL_FOLDER = Path(__file__).resolve().parent
MODEL_FILE = MODEL_FOLDER / "reader.onnx"
CARD_FILE = MODEL_FOLDER / "READER.md"


@dataclass(frozen=True)
class Reading:
    """What the reader found in one window: the answer's characters inside the window
    (``start``/``end``, relative to the window's text) and how sure it is that there is one."""

    start: int
    end: int
    margin: float  # best span's logit sum minus the no-answer logit sum
    span_logit: float

    @property
    def has_answer(self) -> float:
        """sigmoid(margin): the model's preference for this span over "no answer", in (0, 1)."""
        return float(1.0 / (1.0 + np.exp(-np.clip(self.margin, -30, 30))))

    def to_dict(self) -> dict:
        return asdict(self)


def tokenizer(model_dir: str | os.PathLike, max_tokens: int = MAX_TOKENS):
    """The embedding model's WordPiece tokenizer, set up for (question, window) pairs."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    # Longest first: a normal question is never cut (the window is, as "only_second" would),
    # and a question too long to leave room for a window is cut too rather than raising
    # "Truncation error" (a 1,786-character question did, in the chat and /ask).
    tok.enable_truncation(max_tokens, strategy="longest_first")
    tok.no_padding()
    return tok


@dataclass
class Batch:
    """Token arrays for a batch of (question, window) pairs, padded to the longest."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    window_mask: np.ndarray  # True on the window's own tokens (where an answer may start/end)
    offsets: list[list[tuple[int, int]]]  # per pair, each token's characters in the window


def encode(tok, questions: Sequence[str], windows: Sequence[str]) -> Batch:
    """Tokenise pairs; ``offsets`` map window tokens back to characters of the window."""
    return pad(tok.encode_batch(list(zip(questions, windows))))


def pad(encodings: Sequence) -> Batch:
    """The ``Batch`` of tokenised pairs, padded to the longest."""
    width = max(len(e.ids) for e in encodings)
    n = len(encodings)
    ids = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    types = np.zeros((n, width), dtype=np.int64)
    window = np.zeros((n, width), dtype=bool)
    offsets = []
    for row, e in enumerate(encodings):
        length = len(e.ids)
        ids[row, :length] = e.ids
        mask[row, :length] = 1
        types[row, :length] = e.type_ids
        sequence = e.sequence_ids
        window[row, :length] = [s == 1 for s in sequence]
        offsets.append([o if s == 1 else (0, 0) for o, s in zip(e.offsets, sequence)])
    return Batch(ids, mask, types, window, offsets)


def groups(lengths: Sequence[int], most: int, call_cost: int = CALL_COST_TOKENS) -> list[list[int]]:
    """Positions of ``lengths`` in batches to run, shortest first: a longer pair joins the
    batch when padding the batch up to it costs no more than running it apart (``call_cost``
    tokens), so a batch is neither mostly padding nor split into many small runs."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        batch = batches[-1] if batches else None
        if (
            batch is not None
            and len(batch) < most
            and len(batch) * (lengths[i] - lengths[batch[-1]]) <= call_cost
        ):
            batch.append(i)
        else:
            batches.append([i])
    return batches


def decode(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    batch: Batch,
    max_answer_tokens: int = MAX_ANSWER_TOKENS,
) -> list[Reading]:
    """The best span of each pair (characters of its window) and its margin over no answer."""
    readings = []
    for row in range(len(start_logits)):
        allowed = batch.window_mask[row]
        starts = np.where(allowed, start_logits[row], -np.inf)
        ends = np.where(allowed, end_logits[row], -np.inf)
        # pair[i, j] = start i + end j, for i <= j < i + max_answer_tokens
        pair = starts[:, None] + ends[None, :]
        width = pair.shape[0]
        i, j = np.indices((width, width))
        pair[(j < i) | (j - i >= max_answer_tokens)] = -np.inf
        best = int(np.argmax(pair))
        first, last = divmod(best, width)
        span = float(pair[first, last])
        null = float(start_logits[row, 0] + end_logits[row, 0])
        if not np.isfinite(span):  # an empty window: nothing to point at
            readings.append(Reading(0, 0, -30.0, span))
            continue
        offsets = batch.offsets[row]
        readings.append(Reading(offsets[first][0], offsets[last][1], span - null, span))
    return readings


class Reader:
    """Reads (question, window) pairs with the ONNX model: ``run`` returns a ``Reading`` each."""

    def __init__(
        self,
        model_dir: str | os.PathLike,
        path: str | os.PathLike = MODEL_FILE,
        batch_size: int = 16,
        memo_size: int = 4096,
    ):
        import onnxruntime

        self.path = Path(path)
        if not self.path.is_file():
            raise ReaderModelError(f"No reader model at {self.path}")
        expected = card().get("sha256") if self.path.resolve() == MODEL_FILE else None
        if expected and not verified(self.path, expected):  # the shipped file, changed
            raise ReaderModelError(
                f"The reader model {self.path.name} is damaged: it is not the file its card "
                "(reader.json) describes. Reinstall qa, or retrain it (docs/reader.md)."
            )
        self.tokenizer = tokenizer(model_dir)
        # Reading is most of a question's time (a 600-character window is ~150 tokens through
        # six layers), so a question asked again, or re-scored in a settings sweep, reuses it.
        self.memo: OrderedDict[tuple[str, str], Reading] = OrderedDict()
        self.memo_size = memo_size
        self._memo_lock = threading.Lock()  # one reader serves every index of the process
        options = session_options()  # 2 threads that sleep when idle, as the embedder's
        # Weights stored int8 behind DequantizeLinear nodes (the embedding tables; every matrix
        # of a reader exported before 2026-12-07) are folded into float32 constants once, at
        # load. The shipped reader's matrix products are int8 arithmetic on purpose (fused and
        # quantised at export: ``quantise`` in the training's export module).
        options.add_session_config_entry("session.disable_quant_qdq", "1")
        try:
            self.session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ONNX Runtime's own words name the server's paths
            log.warning("Cannot load the reader model %s: %s", self.path, error)
            raise ReaderModelError(
                f"The reader model {self.path.name} cannot be loaded (it is damaged or not a "
                "model of this ONNX Runtime)."
            ) from error
        # int8 arithmetic quantises each call's activations with one scale for the whole batch,
        # so a pair's reading would depend on the pairs read beside it (a margin of 7.03 alone
        # read 6.42 beside three others): such a model reads one pair a call. An fp32 model
        # reads pairs of like length together (``groups``).
        per_call = self.session.get_modelmeta().custom_metadata_map.get(ACTIVATIONS_KEY)
        self.batch_size = 1 if per_call == PER_CALL else batch_size

    def logits(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.session.run(
            None,
            {
                "input_ids": batch.input_ids,
                "attention_mask": batch.attention_mask,
                "token_type_ids": batch.token_type_ids,
            },
        )
        return start, end

    def run(self, question: str | Sequence[str], windows: Sequence[str]) -> list[Reading]:
        """One ``Reading`` per window, read with ``question`` (or one question per window)."""
        questions = [question] * len(windows) if isinstance(question, str) else list(question)
        if len(questions) != len(windows):
            raise UsageError("give one question per window")
        by_position: dict[int, Reading] = {}
        with self._memo_lock:
            for i, pair in enumerate(zip(questions, windows)):
                if pair in self.memo:
                    self.memo.move_to_end(pair)
                    by_position[i] = self.memo[pair]
        todo = [i for i in range(len(windows)) if i not in by_position]
        encodings = self.tokenizer.encode_batch([(questions[i], windows[i]) for i in todo])
        # Padding is paid for in full (a window of 130 tokens beside ones of 80 made a third
        # of a question's reading padding), so pairs of like length are read together.
        for rows in groups([len(e.ids) for e in encodings], self.batch_size):
            batch = pad([encodings[row] for row in rows])
            start, end = self.logits(batch)
            for row, reading in zip(rows, decode(start, end, batch)):
                by_position[todo[row]] = reading
        with self._memo_lock:
            for i in todo:
                self.memo[(questions[i], windows[i])] = by_position[i]
            while len(self.memo) > self.memo_size:
                self.memo.popitem(last=False)
        return [by_position[i] for i in range(len(windows))]


def card() -> dict:
    """The facts recorded with the shipped model (``reader.json`` beside it), or {}."""
    facts = MODEL_FOLDER / "reader.json"
    try:
        return json.loads(facts.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# ----- the pipeline stage -----------------------------------------------------------------------


# The process's readers by file, each loaded once, in a thread of its own (``load_in_background``).
_shared: dict[str, Future] = {}
_shared_lock = threading.Lock()


def load_in_background(path: str | os.PathLike = MODEL_FILE) -> None:
    """Start loading the process's ``Reader`` for ``path`` in a thread, when the file is there.

    Creating its ONNX Runtime session takes about 0.3 s here, and ONNX Runtime lets go of
    Python's lock while it does: begun when an ``Assistant`` opens its index, it overlaps with
    that (0.5 s for the two sessions one after the other, 0.33 s side by side;
    ``shared_reader`` waits for it)."""
    _loading(path)


def shared_reader(path: str | os.PathLike = MODEL_FILE) -> Reader | None:
    """The process's one ``Reader`` for ``path`` (loaded once), or None when no model file
    is there (then qa answers without it and says so in the log). A load that failed is
    tried again by the next call."""
    future = _loading(path)
    if future is None:
        log.warning("No reader model at %s: answering without the reader", path)
        return None
    try:
        return future.result()
    except Exception:
        with _shared_lock:
            if _shared.get(str(path)) is future:  # a failed load is tried again next time
                del _shared[str(path)]
        raise


def _loading(path: str | os.PathLike) -> Future | None:
    key = str(path)
    with _shared_lock:
        if key not in _shared:
            if not Path(path).is_file():
                return None
            future: Future = Future()
            _shared[key] = future
            # Not a daemon: a process that ends while ONNX Runtime builds the session (an
            # unusable question, say) must wait for it, or the runtime aborts the process.
            threading.Thread(target=_load, args=(path, future), name="qa-reader-load").start()
        return _shared[key]


# The readers qa can load, by model file suffix: a class taking (tokenizer folder, model file)
# whose ``run(question, windows)`` returns one ``Reading`` per window. To add a reader: one
# module with such a class, and one line here.
READERS: dict[str, type] = {".onnx": Reader}


def reader_class(path: str | os.PathLike) -> type:
    """The class that reads the model file ``path``, by its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in READERS:
        known = ", ".join(sorted(READERS))
        raise ReaderModelError(f"{Path(path).name} is not a reader model qa loads ({known})")
    return READERS[suffix]


def _load(path: str | os.PathLike, future: Future) -> None:
    try:
        from qa.models.embedder import resolve_model

        future.set_result(reader_class(path)(resolve_model(None), path))
    except BaseException as error:  # handed to whoever waits for the reader
        future.set_exception(error)
