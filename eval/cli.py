"""What every eval command line shares: the results folder, ``--data`` / ``--out``, counts
that must be positive, and a missing data set reported as exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .data import ROOT, DataMissingError, data_dir

DEFAULT_OUT = ROOT / "eval" / "results"
DATA_HELP = "data folder (default: $QA_DATA_DIR or ../shared/data)"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_data_options(parser: argparse.ArgumentParser, out_help: str = "results folder") -> None:
    """``--data DIR`` and ``--out DIR`` (default eval/results)."""
    parser.add_argument("--data", help=DATA_HELP)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=out_help)


def run_on_data(run: Callable, args: argparse.Namespace, embedder=None) -> int:
    """Resolve ``args.out`` and ``args.data``, then ``run(args, embedder)``; a missing data set
    is exit code 2 with the path it expected, as every eval command reports it."""
    args.out = Path(args.out).expanduser().resolve()
    try:
        args.data = data_dir(args.data)
        run(args, embedder)
    except DataMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
