"""The one runner every public benchmark plugs into: ``run(benchmark, args)``.

A benchmark is a small module (eval/squad.py, eval/scifact.py) with a ``Benchmark`` subclass:
its data loader (``load``), what it measures on one configuration (``evaluate``) and how its
results are shown (class attributes). The runner does the rest, the same for every benchmark:

1. load the data and open its corpus: ``.txt`` files under ``<out>/cache/<key>/corpus``, qa's
   own persisted index beside them, so a second run embeds nothing (eval/corpus.py);
2. embed the questions once;
3. ask them of each retrieval configuration (eval/configs.py) over that one index, collecting
   the figures, curves and one row of CSV cells per question;
4. write ``<out>/<name><tag>.json`` (summary), ``<out>/<name><tag>_questions.csv`` (per
   question) and ``<out>/<name><tag>_hits.png`` (curves), and print the table (eval/report.py).

``<tag>`` names a store other than faiss (``_milvus``) and ``--no-reader`` (``_no_reader``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa import Assistant
from qa.models.embedder import Embedder

from .cli import DATA_HELP, DEFAULT_OUT, positive_int
from .configs import CONFIGS, configurations, shipped_configuration, with_retrieval
from .corpus import open_corpus, store_tag
from .data import DataMissingError, data_dir
from .ranking import embed_queries
from .report import plot_curves, print_report, source_state, write_csv, write_json


@dataclass
class Loaded:
    """What a benchmark's loader hands the runner."""

    documents: dict[str, str]  # the corpus: file name -> text
    queries: list[str]  # the questions, as asked, in order
    rows: list[list]  # per question: the cells of ``Benchmark.question_columns``
    key: str  # the corpus's folder under <out>/cache
    data: Path  # the data read, as the summary names it
    options: dict = field(default_factory=dict)  # the options that chose the subset
    description: str = ""  # printed once loaded


@dataclass
class Evaluation:
    """One configuration's results."""

    figures: dict[str, float]  # the summary's figures, in the order they are written
    curves: dict[str, list[float]]  # curve name -> values at k = 1..depth
    cells: list[list]  # per question: the cells of ``Benchmark.config_columns``


@dataclass(frozen=True)
class Plot:
    """The PNG: ``curve`` of each configuration, ``dashed`` beside it in the same colour."""

    curve: str
    title: str
    ylabel: str
    dashed: str | None = None
    dashed_label: str | None = None


class Benchmark:
    """A data set, its metrics and its report. Subclasses set the attributes and implement
    ``load`` and ``evaluate``; ``prepare`` and ``add_arguments`` are optional."""

    name: str = "benchmark"  # command and result file names
    help: str = ""  # one line for --help
    noun: str = "questions"  # what the printout calls the questions
    columns: Sequence[tuple[str, str, str]] = ()  # printed table: (header, figure, format)
    reference: Sequence[dict] = ()  # published figures, rows below ours in the table
    plot: Plot | None = None
    question_columns: Sequence[str] = ("id", "question")  # CSV: each question's own columns
    config_columns: Sequence[str] = ()  # CSV: each configuration's, named <config>_<column>

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Options of this benchmark beyond the common ones (``common_options``)."""

    def load(self, args: argparse.Namespace) -> Loaded:
        """Read the data set (under ``args.data``) into a corpus and questions."""
        raise NotImplementedError

    def prepare(self, assistant: Assistant) -> dict:
        """Once the index is open, before any question: facts for the summary."""
        return {}

    def evaluate(self, name: str, assistant: Assistant, vectors: np.ndarray) -> Evaluation:
        """Ask every question of ``assistant`` (configuration ``name``); ``vectors`` are the
        questions' embeddings, row for row."""
        raise NotImplementedError


def run(benchmark: Benchmark, args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    """Evaluate every configuration in ``args.configs`` on ``benchmark``; write JSON, CSV and
    plot; return the summary."""
    timings: dict[str, object] = {}
    began = time.perf_counter()
    source = source_state()  # now: qa/ may change on disk while a long run goes on
    loaded = benchmark.load(args)
    if loaded.description:
        print(loaded.description)
    embedder = embedder or Embedder()
    assistant, index_facts = open_corpus(
        args.out / "cache" / loaded.key,
        loaded.documents,
        embedder,
        args.titles,
        args.store,
        reader=not args.no_reader,
    )
    timings["index"] = index_facts["seconds"]
    tag = store_tag(assistant) + ("_no_reader" if args.no_reader else "")
    facts = benchmark.prepare(assistant)
    vectors, seconds = embed_queries(embedder, loaded.queries)
    timings["embed_questions"] = round(seconds, 2)
    print(f"embedded {len(loaded.queries)} {benchmark.noun} ({seconds:.1f} s)")

    shipped = shipped_configuration()
    results: dict[str, dict] = {}
    cells: dict[str, list[list]] = {}
    timings["evaluate"] = {}
    for name, retrieval in configurations(args.configs).items():
        mark = time.perf_counter()
        evaluation = benchmark.evaluate(name, with_retrieval(assistant, retrieval), vectors)
        results[name] = {
            "shipped": name == shipped,
            "retrieval": retrieval.to_dict(),
            **evaluation.figures,
            "curves": evaluation.curves,
        }
        cells[name] = evaluation.cells
        timings["evaluate"][name] = round(time.perf_counter() - mark, 2)
        print(f"evaluated {name} ({timings['evaluate'][name]:.1f} s)", flush=True)

    timings["total"] = round(time.perf_counter() - began, 2)
    summary = {
        "benchmark": benchmark.name,
        "data": str(loaded.data),
        "options": loaded.options,
        "questions": len(loaded.queries),
        **facts,
        "model": embedder.model_name,
        "source": source,
        "settings": assistant.settings.to_dict(),
        "index": index_facts,
        "timings_seconds": timings,
        "shipped": shipped,
        "configs": results,
        "reference": list(benchmark.reference),
    }
    stem = f"{benchmark.name}{tag}"
    write_json(args.out / f"{stem}.json", summary)
    header = list(benchmark.question_columns)
    header += [f"{name}_{column}" for name in results for column in benchmark.config_columns]
    table = [
        list(row) + [cell for name in results for cell in cells[name][i]]
        for i, row in enumerate(loaded.rows)
    ]
    write_csv(args.out / f"{stem}_questions.csv", header, table)
    plot = benchmark.plot
    if plot is not None:
        plot_curves(
            args.out / f"{stem}_hits.png",
            {name: r["curves"][plot.curve] for name, r in results.items()},
            plot.title,
            plot.ylabel,
            shipped,
            dashed={name: r["curves"][plot.dashed] for name, r in results.items()}
            if plot.dashed
            else None,
            dashed_label=plot.dashed_label,
        )
    print_report(summary, benchmark.columns)
    assistant.close()
    return summary


# ----- command line --------------------------------------------------------------------------


def common_options() -> argparse.ArgumentParser:
    """The options every benchmark takes, as a parent parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--limit", type=positive_int, help="only the first N questions")
    common.add_argument(
        "--configs",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help=f"comma-separated configurations (default: {','.join(CONFIGS)})",
    )
    common.add_argument("--data", help=DATA_HELP)
    common.add_argument(
        "--titles",
        action="store_true",
        help="search passages with their document's title (PassageSettings.titles)",
    )
    common.add_argument("--out", default=str(DEFAULT_OUT), help="results folder")
    common.add_argument(
        "--no-reader",
        action="store_true",
        help="answer without the reader (results written as squad_no_reader.json...)",
    )
    common.add_argument(
        "--store",
        help="faiss (default), milvus-lite:PATH.db or milvus://HOST:PORT; results of another "
        "store than faiss are written with its name (squad_milvus.json...)",
    )
    return common


def resolve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """``args`` with the data and results folders resolved and the configurations checked."""
    args.data = data_dir(args.data)
    args.out = Path(args.out).expanduser().resolve()
    try:
        configurations(args.configs)
    except ValueError as error:
        parser.error(str(error))
    return args


def execute(
    benchmark: Benchmark, args: argparse.Namespace, embedder: Embedder | None = None
) -> int:
    """``run``, with a missing data set as exit code 2 and the path it expected."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        run(benchmark, args, embedder)
    except DataMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def main(
    benchmark: Benchmark, argv: Sequence[str] | None = None, embedder: Embedder | None = None
) -> int:
    """A command line of one benchmark: the common options and its own."""
    parser = argparse.ArgumentParser(
        prog=f"python -m eval.{benchmark.name}",
        description=benchmark.help,
        parents=[common_options()],
    )
    benchmark.add_arguments(parser)
    return execute(benchmark, resolve(parser.parse_args(argv), parser), embedder)
