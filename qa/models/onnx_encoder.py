"""ONNX Runtime encoder: the model's vectors without importing torch, and faster.

A fresh ``qa ask`` spent most of its time importing torch and sentence-transformers (6 to 10 s
here) to embed one question. qa therefore keeps an ONNX export of the model's transformer in
its cache folder (``$QA_CACHE_DIR``, else ``~/.cache/qa``), one per model, made once before the
first embedding and checked against sentence-transformers (cosine >= 0.999) before it is kept.
Questions and passages are embedded with it when it is there (batches run 2.3x faster than
sentence-transformers on 2 cores); mean pooling and L2 normalisation are done here, as the
model's own modules do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np

from qa.config import cache_dir
from qa.errors import ModelError
from qa.models.cache import read_json, record, record_path, verified, write_json

log = logging.getLogger(__name__)

AGREEMENT = 0.999  # least cosine between the export's and sentence-transformers' vectors
_CHECK_TEXTS = [
    "Where was the road transport agreement signed?",
    "Ch ina and Kyrgyzstan held joint anti-terrorism exercises in October 2002.",
    "Wer hat das Abkommen unterzeichnet? 谁签署了协议？ " * 20,  # long: truncated like the model
]


def encoder_file(model_dir: str) -> Path:
    """Where the export of the model in ``model_dir`` lives: keyed by the model's content, so
    a changed model never meets an old export and every install of one model shares one
    export (keyed by path and file times, each new install left its own 90 MB file)."""
    return cache_dir() / f"question-encoder-{model_digest(model_dir)[:16]}.onnx"


DIGESTS_FILE = "model-digests.json"  # in the cache: a model folder's stamp -> its digest
_DIGESTS: dict[str, str] = {}  # this process's: stamp -> digest
_DIGESTS_MOST = 64  # stamps remembered (installs, models); the file stays a few kB


def model_digest(model_dir: str) -> str:
    """SHA-256 of the model's files (names and bytes): what its vectors depend on. Hashing
    90 MB takes about 0.1 s, so it is remembered in the cache under the folder's stamp (path,
    names, sizes, times) and computed once per install; a damaged memo is recomputed."""
    folder = Path(model_dir)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    stamp = [str(folder.resolve())] + [
        f"{p.relative_to(folder)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files
    ]
    key = hashlib.sha256("\n".join(stamp).encode("utf-8", "surrogateescape")).hexdigest()
    if key in _DIGESTS:  # asked twice a process (the encoder's file, the index fingerprint)
        return _DIGESTS[key]
    memo = _read_digests()
    if _is_digest(memo.get(key)):
        _DIGESTS[key] = memo[key]
        return memo[key]
    whole = hashlib.sha256()
    for path in files:
        whole.update(str(path.relative_to(folder)).encode("utf-8", "surrogateescape") + b"\0")
        with open(path, "rb") as handle:
            whole.update(hashlib.file_digest(handle, "sha256").digest())
    digest = whole.hexdigest()
    memo.pop(key, None)
    memo[key] = _DIGESTS[key] = digest
    write_json(cache_dir() / DIGESTS_FILE, dict(list(memo.items())[-_DIGESTS_MOST:]))
    return digest


def _is_digest(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def _read_digests() -> dict:
    try:
        memo = read_json(cache_dir() / DIGESTS_FILE)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in memo.items() if isinstance(k, str) and _is_digest(v)}


def export(model, model_dir: str, path: Path) -> bool:
    """Export a loaded SentenceTransformer's transformer to ``path`` when its vectors agree.

    Only a plain Transformer -> mean Pooling -> Normalize model is exported. Returns whether
    the file was written; anything missing (the ``onnx`` package, an unusual model) only
    means questions keep being embedded with sentence-transformers.
    """
    try:
        import torch

        modules = [type(module).__name__ for module in model]
        pooling = model[1].get_config_dict() if len(model) > 1 else {}
        mean = pooling.get("pooling_mode") == "mean" or pooling.get("pooling_mode_mean_tokens")
        if modules != ["Transformer", "Pooling", "Normalize"] or not mean:
            log.info("No ONNX encoder for a %s model", "/".join(modules))
            return False
        transformer = model[0].auto_model.eval()

        class Hidden(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.inner(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state

        model_dir_digest = model_digest(model_dir)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        sample = torch.ones(2, 8, dtype=torch.long)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
        os.close(handle)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about Python values in the graph
            torch.onnx.export(
                Hidden(transformer),
                (sample, sample, torch.zeros_like(sample)),
                temporary,
                input_names=names,
                output_names=["hidden"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "hidden"]},
                opset_version=17,
                dynamo=False,
            )
        ours = OnnxEncoder(Path(temporary), model_dir, trusted=True).encode(_CHECK_TEXTS)
        theirs = model.encode(
            _CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        agreement = float(np.min(np.sum(ours * theirs, axis=1)))
        if agreement < AGREEMENT:
            log.warning("ONNX export disagrees with the model (cosine %.5f); not used", agreement)
            os.unlink(temporary)
            return False
        record(Path(temporary), model=model_dir_digest)  # the record of the kept file:
        os.replace(record_path(Path(temporary)), record_path(path))  # before the file itself
        os.replace(temporary, path)
        for old in path.parent.glob("question-encoder-*.onnx"):
            if not record_path(old).exists():  # an export of qa before records: never used
                old.unlink(missing_ok=True)
        return True
    except Exception as error:  # an optional speed-up: never a reason to fail indexing
        log.info("No ONNX encoder: %s", error)
        for leftover in [*path.parent.glob("tmp*.onnx"), *path.parent.glob("tmp*.onnx.json")]:
            leftover.unlink(missing_ok=True)
        return False


def session_options(threads: int | None = None):
    """ONNX Runtime options for qa's sessions (this encoder's and the reader's): ``threads``
    threads (None: up to 2), quiet, and idle threads that sleep instead of spinning.

    qa runs a question through this session, then the reader's, then this one again for the
    next: spinning, each session's threads held the 2 cores while the other worked. 85 gold
    questions in turn (2026-12-01), p50 question embedding / 5-window reading: both spinning
    11.6-19.5 / 155-177 ms; neither spinning 7.4 / 120-124 ms. Sessions sharing ORT's global
    thread pool did as well (6.0-6.6 / 111-121 ms) but every session in the process would have
    to opt in before the first is made.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxEncoder:
    """Embeds texts with an exported transformer, the model's tokenizer and mean pooling."""

    def __init__(
        self, path: Path, model_dir: str, threads: int | None = None, trusted: bool = False
    ):
        """``trusted``: the file was just exported by this process (``export`` checks it),
        else it must be ``verified`` (ModelError)."""
        import onnxruntime
        from tokenizers import Tokenizer

        if not trusted and not verified(Path(path)):
            raise ModelError(
                f"The cached question encoder {Path(path).name} is not the file qa exported "
                "(changed, or its record is missing); it is not used."
            )
        model_dir = Path(model_dir)
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(config.get("max_seq_length", 256)))
        self.tokenizer.enable_padding()
        # ``threads``: a Ray actor runs as many threads as the CPUs it reserved; more would
        # oversubscribe the machine's cores with the other actors' threads.
        options = session_options(threads)
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors of ``texts``."""
        encodings = self.tokenizer.encode_batch(list(texts))
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self.session.run(
            None,
            {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": mask,
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            },
        )[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32)
