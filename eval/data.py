"""Where the public data sets are: ``--data``, else ``$QA_DATA_DIR``, else ``../shared/data``.

The lookup and its error are defined with the SQuAD loaders that the reader's training shares
(``qa.training.squad``), so that both raise and catch the one ``DataMissingError``.
"""

from __future__ import annotations

from pathlib import Path

from qa.training.squad import DEFAULT_DATA as DEFAULT_DATA
from qa.training.squad import DataMissingError as DataMissingError
from qa.training.squad import data_dir as data_dir
from qa.training.squad import require as require

ROOT = Path(__file__).resolve().parents[1]
