"""Train qa's reader: ``python -m qa.training reader [--out DIR] [--epochs N] [--ship]``;
export a trained one again: ``python -m qa.training compile --source FILE [--ship]``.
The command line of the training (see the package's docstring): it checks the options, trains
or resumes into ``--out`` (``loop.train``), and with ``--ship`` or ``--export-only`` exports
the model with the settings it was trained with (``export.export``), recording the command.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from qa.ingest.documents import file_sha256

from .examples import TrainSettings
from .export import EXPORT_CHECK, compile_reader, export, record_of, ship, ship_compiled
from .loop import train
from .squad import FILE as SQUAD_FILE
from .squad import SQUAD2_FILE, DataMissingError, data_dir, require


def main(argv: Sequence[str] | None = None) -> int:
    from qa.models.embedder import resolve_model

    parser = argparse.ArgumentParser(
        prog="python -m qa.training", description=__doc__.split("\n")[0]
    )
    parser.add_argument("what", choices=["reader"])
    parser.add_argument("--out", type=Path, default=Path("build/reader"))
    parser.add_argument("--data", type=Path, default=None, help="folder holding squad/")
    parser.add_argument("--epochs", type=float, default=TrainSettings.epochs)
    parser.add_argument("--questions", type=int, default=None, help="sample N training questions")
    parser.add_argument("--ship", action="store_true", help="export int8 ONNX into qa/models/")
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="export and check int8 ONNX as --ship does, but write it and reader.json into --out "
        "only (qa/models/ untouched): to compare a variant before shipping it",
    )
    parser.add_argument(
        "--layers", type=int, default=TrainSettings.layers, help="keep the first N layers"
    )
    parser.add_argument(
        "--teacher", default=None, help="distil from this ONNX reader (e.g. qa/models/reader.onnx)"
    )
    parser.add_argument(
        "--init-from-teacher",
        action="store_true",
        help="start a --layers student from the --teacher's own layers and head",
    )
    parser.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        help="more training data: a SQuAD-format file of other articles (repeatable)",
    )
    parser.add_argument(
        "--init-from", default=None, help="go on training this ONNX reader (all its layers)"
    )
    parser.add_argument(
        "--squad2",
        action="store_true",
        help="add SQuAD 2.0's unanswerable questions of the training articles (DATA/squad2/)",
    )
    parser.add_argument(
        "--synthetic",
        type=int,
        default=0,
        help="add N synthetic unanswerable questions (a number changed or a name swapped)",
    )
    parser.add_argument("--learning-rate", type=float, default=TrainSettings.learning_rate)
    parser.add_argument(
        "--check", type=int, default=EXPORT_CHECK, help="dev windows checked at export"
    )
    parser.add_argument(
        "--stop-after", type=int, default=None, help="stop (checkpointed) after N steps"
    )
    args = parser.parse_args(argv)
    if args.init_from_teacher and not args.teacher:
        parser.error("--init-from-teacher needs --teacher")
    if args.ship and args.export_only:
        parser.error("--ship and --export-only: choose one")
    if args.init_from and (args.init_from_teacher or args.layers != TrainSettings.layers):
        parser.error("--init-from continues a whole reader: not with --init-from-teacher/--layers")
    try:
        squad_path = require(data_dir(args.data) / SQUAD_FILE)
        squad2_path = require(data_dir(args.data) / SQUAD2_FILE) if args.squad2 else None
    except DataMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in [*args.extra, *([Path(args.init_from)] if args.init_from else [])]:
        if not Path(path).is_file():
            print(f"error: no such file: {path}", file=sys.stderr)
            return 2

    settings = TrainSettings(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        max_train_questions=args.questions,
        layers=args.layers,
        teacher=args.teacher,
        init_from_teacher=args.init_from_teacher,
        extra=tuple(str(path) for path in args.extra),
        extra_sha256=tuple(file_sha256(Path(path)) for path in args.extra),
        init_from=args.init_from,
        init_sha256=file_sha256(Path(args.init_from)) if args.init_from else None,
        squad2=str(squad2_path) if squad2_path else None,
        squad2_sha256=file_sha256(squad2_path) if squad2_path else None,
        synthetic=args.synthetic,
    )
    model_dir = resolve_model(None)
    weights = train(args.out, squad_path, settings, model_dir, args.stop_after)
    if (args.ship or args.export_only) and weights is not None:
        # Export with the settings the model was trained with, not this command line's.
        saved = args.out / "settings.json"
        if saved.exists():
            settings = TrainSettings.from_dict(json.loads(saved.read_text()))
        facts = export(weights, args.out, squad_path, settings, model_dir, check=args.check)
        command = " ".join(["python -m qa.training", *(sys.argv[1:] if argv is None else argv)])
        if args.ship:
            ship(args.out, facts, settings, command)
        else:  # the model and its facts stay in --out, beside the run
            record = record_of(args.out, facts, settings, command)
            (args.out / "reader.json").write_text(json.dumps(record, indent=2) + "\n")
        print(json.dumps(facts, indent=2))
    return 0


def compile_main(argv: Sequence[str] | None = None) -> int:
    """``python -m qa.training compile --source FILE [--out DIR] [--ship]``: export a trained
    reader again (``export.compile_reader``), checked as a training's export is; ``--ship``
    puts it in place of the shipped reader it was made from, keeping its training record."""
    from qa.models.embedder import resolve_model

    parser = argparse.ArgumentParser(
        prog="python -m qa.training compile",
        description="Export a trained reader ONNX file again in the current form.",
    )
    parser.add_argument("--source", type=Path, required=True, help="the reader ONNX file")
    parser.add_argument("--out", type=Path, default=Path("build/reader-compiled"))
    parser.add_argument("--data", type=Path, default=None, help="folder holding squad/")
    parser.add_argument(
        "--check", type=int, default=EXPORT_CHECK, help="dev windows checked at export"
    )
    parser.add_argument("--ship", action="store_true", help="replace the shipped reader")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"error: no such file: {args.source}", file=sys.stderr)
        return 2
    try:
        squad_path = require(data_dir(args.data) / SQUAD_FILE)
    except DataMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    source = args.out / "source.onnx"  # a copy: --ship overwrites the file it may name
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.source, source)
    facts = compile_reader(source, args.out, squad_path, resolve_model(None), args.check)
    command = " ".join(["python -m qa.training compile", *(sys.argv[2:] if argv is None else argv)])
    if args.ship:
        ship_compiled(args.out, facts, source, command)
    print(json.dumps(facts, indent=2))
    return 0
