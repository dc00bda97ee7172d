"""Behaviour snapshots for refactors: ``python -m eval.snapshot dump FILE [--squad N]`` writes
every ``Answer`` (timings left out) to a fixed set of questions, ``python -m eval.snapshot
compare OLD NEW`` says which differ. Run ``dump`` at the old and the new commit, then
``compare``.

The questions: the whole gold set on the seeds (with its histories), with and without the
reader, and ``--squad`` seeded SQuAD dev questions (default 300) on the 48-article corpus, with
and without the reader. Floats are compared to 9 decimals: sums over a set of strings change
their last bits with each process's string hashing. A field that only one snapshot has is no
difference while its value is None (a field added to ``Answer`` since, unset).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa import Assistant
from qa.assistant import clean_question, default_folder
from qa.models.embedder import Embedder

from .cli import add_data_options, run_on_data
from .configs import with_reader
from .corpus import open_corpus
from .gold import GOLD, load_gold
from .squad import FILE as SQUAD_FILE
from .squad import load_squad

DECIMALS = 9


def answers(assistant: Assistant, questions, histories=None) -> list[dict]:
    out = []
    for answer in assistant.ask_many(questions, histories, k=3):
        record = answer.to_dict()
        record.pop("timings", None)
        out.append(record)
    return out


def dump(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    embedder = embedder or Embedder()
    snapshot = {}
    items = load_gold(GOLD)
    with Assistant.from_folder(default_folder(), embedder=embedder) as seeds:
        for enabled in (True, False):
            snapshot[f"gold_reader_{enabled}"] = answers(
                with_reader(seeds, enabled=enabled),
                [item.question for item in items],
                [item.history for item in items],
            )
    if args.squad:
        data = load_squad(args.data / SQUAD_FILE)
        rng = np.random.default_rng(1)
        chosen = sorted(rng.permutation(len(data.questions))[: args.squad])
        questions = [clean_question(data.questions[i].question) for i in chosen]
        corpus, _ = open_corpus(args.out / "cache" / "squad", data.documents, embedder)
        for enabled in (True, False):
            snapshot[f"squad_reader_{enabled}"] = answers(
                with_reader(corpus, enabled=enabled), questions
            )
        corpus.close()
    Path(args.file).write_text(json.dumps(snapshot, default=str), encoding="utf-8")
    print(f"wrote {args.file}: " + ", ".join(f"{k} {len(v)}" for k, v in snapshot.items()))
    return snapshot


def rounded(value):
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, dict):
        return {key: rounded(v) for key, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def differences(old: dict, new: dict) -> list[str]:
    """One line per answer (or answer set) that differs between two snapshots."""
    found = []
    for key in sorted(set(old) | set(new)):
        if key not in old or key not in new or len(old[key]) != len(new[key]):
            found.append(f"{key}: not in both snapshots, or of different lengths")
            continue
        for n, (a, b) in enumerate(zip(old[key], new[key])):
            a, b = rounded(a), rounded(b)
            a = {f: v for f, v in a.items() if f in b or v is not None}
            b = {f: v for f, v in b.items() if f in a or v is not None}
            if a != b:
                fields = sorted(f for f in set(a) | set(b) if a.get(f) != b.get(f))
                found.append(f"{key}[{n}] {a.get('question')!r}: {', '.join(fields)}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.snapshot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("dump", help="write the answers to FILE")
    write.add_argument("file")
    write.add_argument("--squad", type=int, default=300, help="SQuAD questions (0: none)")
    add_data_options(write)
    check = commands.add_parser("compare", help="list the answers that differ")
    check.add_argument("old")
    check.add_argument("new")
    args = parser.parse_args(argv)
    if args.command == "dump":
        return run_on_data(dump, args)
    old, new = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (args.old, args.new))
    found = differences(old, new)
    total = sum(len(v) for v in old.values())
    print("\n".join(found) or f"identical: {total} answers")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
