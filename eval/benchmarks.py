"""Public benchmarks for qa: SQuAD v1.1 dev (open corpus) and BEIR SciFact, side by side for
several retrieval configurations sharing one index.

    python -m eval.benchmarks squad   [--articles M] [--limit N] [--configs bm25,dense,...]
    python -m eval.benchmarks scifact [--docs M] [--limit N] [--configs ...]
    common options: --data DIR (else $QA_DATA_DIR, else <repo>/../shared/data), --out DIR

This module is the command line only: each benchmark is a small module (eval/squad.py,
eval/scifact.py) plugged into one runner (eval/runner.py), which writes the corpus as ``.txt``
files under ``<out>/cache/<corpus key>/corpus``, opens it with qa's own persisted index (a
second run embeds nothing), and writes ``<out>/<benchmark>.json`` (summary),
``<out>/<benchmark>_questions.csv`` (per question) and ``<out>/<benchmark>_hits.png``
(curves). See eval/BENCHMARKS.md for the measured figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from qa.models.embedder import Embedder

from . import runner
from .configs import CONFIGS, configurations, shipped_configuration
from .data import DataMissingError, data_dir
from .scifact import FOLDER as SCIFACT_DIR
from .scifact import METRICS as SCIFACT_METRICS
from .scifact import SciFact, load_scifact
from .scifact import run as run_scifact
from .squad import FILE as SQUAD_FILE
from .squad import METRICS as SQUAD_METRICS
from .squad import Squad, load_squad
from .squad import run as run_squad

# Besides the command line, the names this module held before the benchmarks moved out, for
# code that imports them from here (tests/test_distributed.py); new code imports them from
# their own modules.
__all__ = [
    "BENCHMARKS",
    "CONFIGS",
    "SCIFACT_DIR",
    "SCIFACT_METRICS",
    "SQUAD_FILE",
    "SQUAD_METRICS",
    "DataMissingError",
    "configurations",
    "data_dir",
    "load_scifact",
    "load_squad",
    "main",
    "parse_args",
    "run_scifact",
    "run_squad",
    "shipped_configuration",
]

BENCHMARKS: dict[str, type[runner.Benchmark]] = {"squad": Squad, "scifact": SciFact}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line: a benchmark name and its options."""
    parser = argparse.ArgumentParser(
        prog="python -m eval.benchmarks", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="benchmark", required=True)
    common = runner.common_options()
    for name, benchmark in BENCHMARKS.items():
        benchmark.add_arguments(commands.add_parser(name, parents=[common], help=benchmark.help))
    return runner.resolve(parser.parse_args(argv), parser)


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> int:
    """Run one benchmark from the command line; ``embedder`` lets tests share a loaded model."""
    args = parse_args(argv)
    return runner.execute(BENCHMARKS[args.benchmark](), args, embedder)


if __name__ == "__main__":
    sys.exit(main())
