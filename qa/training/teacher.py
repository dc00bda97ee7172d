"""Distillation: a smaller student learns from a reader already trained (the teacher, an
ONNX file). ``onnx_weights`` reads an exported reader's weights back under PyTorch's names,
``from_teacher`` starts a student from the teacher's own layers (``teacher_layers``: evenly
spaced, ending at the top) and head, and ``teacher_logits`` computes the teacher's start and
end logits of every training example once, cached beside the run (``TeacherLogits``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.models import reader as reading

from .examples import Example


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """The weights of a reader ONNX file under their PyTorch names (``span_model``'s
    ``state_dict``), int8 matrices multiplied back out. It reads both forms qa has shipped:
    the plain export with int8 weights behind ``DequantizeLinear`` (``quantise_weights``), and
    the fused one with int8 arithmetic (``MatMulInteger``, ``QAttention``: ``quantise``).

    The exporter keeps the names of biases, norms and embeddings but calls each linear
    layer's matrix ``onnx::MatMul_N`` and stores it transposed; such a matrix is named after
    the bias the node after its product adds (an ``Add``, or a fused ``SkipLayerNormalization``
    or ``BiasGelu``). A fused attention holds its layer's query, key and value matrices side
    by side, and its outputs name the layer."""
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
        if node.op_type in ("MatMul", "MatMulInteger") and node.input[1] in values:
            matrix = _matrix(values, node.input[1], *node.input[3:4])
            weights[_bias_after(node, consumers)[: -len("bias")] + "weight"] = matrix.T
        elif node.op_type in ("Attention", "QAttention") and node.input[1] in values:
            zero = node.input[7:8] if node.op_type == "QAttention" else []
            matrix = _matrix(values, node.input[1], *zero)
            layer = re.search(r"layer\.(\d+)\b", node.output[0])
            if layer is None:
                raise ValueError(f"{path}: cannot tell the layer of attention {node.name}")
            prefix = f"encoder.encoder.layer.{layer.group(1)}.attention.self."
            for part, (m, b) in zip(
                ("query", "key", "value"),
                zip(np.split(matrix, 3, axis=1), np.split(values[node.input[2]], 3)),
            ):
                weights[prefix + part + ".weight"], weights[prefix + part + ".bias"] = m.T, b
    for name, value in values.items():
        if name.startswith(("encoder.", "head.")) and name.endswith((".weight", ".bias")):
            weights.setdefault(name, value)
    return weights


def _matrix(values: dict, name: str, zero: str | None = None) -> np.ndarray:
    """An initializer as float32: an int8 one (``quantise``: its scale is ``name`` with
    ``_quantized`` replaced by ``_scale``, a scale per output column) multiplied back out."""
    matrix = values[name]
    if matrix.dtype == np.float32:
        return matrix
    base = name[: -len("_quantized")] if name.endswith("_quantized") else name
    offset = values[zero].astype(np.float32) if zero else 0.0
    return (matrix.astype(np.float32) - offset) * values[base + "_scale"]


def _bias_after(node, consumers: dict) -> str:
    """The name of the bias added right after ``node``'s product, past the casts and scalings
    of int8 arithmetic: the first ``.bias`` input downstream that is not a layer norm's."""
    frontier = list(node.output)
    for _ in range(4):
        following = [n for name in frontier for n in consumers.get(name, [])]
        for n in following:
            biases = [i for i in n.input if i.endswith(".bias") and "LayerNorm" not in i]
            if biases:
                return biases[0]
        frontier = [o for n in following if n.op_type in ("Cast", "Mul") for o in n.output]
    raise ValueError(f"no bias follows {node.name}")


def teacher_layers(teacher: int, student: int) -> list[int]:
    """Which of the teacher's layers a student of ``student`` layers starts from: evenly
    spaced, ending at the top one (next to the head), e.g. 6 -> 3: [1, 3, 5]."""
    return [round((i + 1) * teacher / student) - 1 for i in range(student)]


def layer_count(weights: dict[str, np.ndarray]) -> int:
    """How many transformer layers ``onnx_weights`` found."""
    return 1 + max(
        int(name.split(".")[3]) for name in weights if name.startswith("encoder.encoder.layer.")
    )


def from_teacher(
    model, teacher: Path, layers: int, weights: dict[str, np.ndarray] | None = None
) -> None:
    """Load the teacher's embeddings, head and ``teacher_layers`` into the student ``model``;
    ``weights``: the teacher's ``onnx_weights``, when the caller has read them already."""
    import torch

    weights = onnx_weights(teacher) if weights is None else weights
    source = teacher_layers(layer_count(weights), layers)
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
    if model.batch_size == 1:  # an int8 teacher reads one pair a call (``reading.Reader``)
        batch_size = 1
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
