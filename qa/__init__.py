"""qa: answers questions from a folder of documents with verbatim, cited extracts."""

import os

# torch, faiss and numba each bring an OpenMP runtime; by default their idle threads spin and
# fight over 2 cores: one question embedding took ~490 ms instead of ~26 ms, and batch encoding
# was 45% slower (measured; see README, Performance). Must be set before any of them loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from qa.assistant import Assistant
from qa.errors import (
    DocumentError,
    DocumentNotFound,
    FolderError,
    ModelError,
    QAError,
    QuestionError,
    SettingsError,
    StoreError,
    UsageError,
)
from qa.ingest.documents import Document
from qa.settings import Settings
from qa.values import Answer, Extract, Query

__all__ = [
    "Answer",
    "Assistant",
    "Document",
    "DocumentError",
    "DocumentNotFound",
    "Extract",
    "FolderError",
    "ModelError",
    "QAError",
    "Query",
    "QuestionError",
    "Settings",
    "SettingsError",
    "StoreError",
    "UsageError",
]
__version__ = "0.1.0"
