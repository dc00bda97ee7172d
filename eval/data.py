"""Where the public data sets are: ``--data``, else ``$QA_DATA_DIR``, else ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

from qa import config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


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
