"""The verifier's threshold, chosen on dev data: ``python -m eval.verifier [--out DIR]``.

qa answers every dev set with the verifier judging but refusing nothing (``doubt_above`` 1.0):
SQuAD 2.0's dev articles, SQuAD v1.1's dev articles (open corpus, and with odd paragraphs held
out), the gold dev split and the real-file dev split. Each answer keeps its ``doubt``; a
threshold ``t`` refuses what qa refused anyway plus every answer with ``doubt > t``. For each
``t`` it reports the share of unanswerable questions refused (recall) and of answerable ones
refused (false) per set, and SQuAD 2.0 dev's overall F1 (official scoring: a refused
unanswerable question scores 1, a refused answerable one 0). The choice: the ``t`` with the
best SQuAD 2.0 dev F1 among those that refuse at most ``FALSE_LIMIT`` of the answerable
questions of every set; ``ReaderSettings.doubt_above`` is set from it by hand, with the
figures. Dev splits only: test articles and the gold and real-file test splits are not read.
Writes ``<out>/verifier_dev.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa import Assistant
from qa.config import default_folder
from qa.models.embedder import Embedder
from qa.training.squad import SQUAD2_FILE, load_squad2

from . import realdocs, squad2
from .cli import add_data_options, run_on_data
from .configs import with_reader
from .corpus import open_corpus
from .gold import GOLD, load_gold
from .reader import abstention_records, gold_records
from .report import write_json
from .squad import FILE as SQUAD_FILE
from .squad import answer_records, held_out_of, load_squad, questions_of

FALSE_LIMIT = 0.05  # at most this share of any dev set's answerable questions refused
THRESHOLDS = [round(t, 2) for t in np.arange(0.50, 1.0, 0.01)] + [1.0]
LIMIT = 400  # SQuAD v1.1 questions per set, as eval.reader --limit 400


def refused(record: dict, t: float) -> bool:
    """Whether qa refuses ``record``'s question at threshold ``t``."""
    doubt = record.get("doubt")
    return bool(record["abstained"]) or (doubt is not None and doubt > t)


def rates(records: Sequence[dict], t: float) -> dict:
    """Recall (unanswerable refused) and false (answerable refused) at ``t``."""
    no = [r for r in records if r["unanswerable"]]
    has = [r for r in records if not r["unanswerable"]]
    return {
        "recall": float(np.mean([refused(r, t) for r in no])) if no else None,
        "false": float(np.mean([refused(r, t) for r in has])) if has else None,
    }


def squad2_f1(records: Sequence[dict], t: float) -> float:
    """SQuAD 2.0's overall F1 at ``t`` (a refusal scores 1 on an unanswerable question)."""
    scores = [
        float(refused(r, t)) if r["unanswerable"] else (0.0 if refused(r, t) else r["f1"])
        for r in records
    ]
    return float(np.mean(scores))


def choose(sets: dict[str, list[dict]]) -> tuple[float, list[dict]]:
    """The chosen threshold and the table of every threshold tried."""
    table = []
    for t in THRESHOLDS:
        row = {"t": t, "squad2_f1": squad2_f1(sets["squad2"], t)}
        for name, records in sets.items():
            row[name] = rates(records, t)
        row["allowed"] = all(
            row[name]["false"] is None or row[name]["false"] <= FALSE_LIMIT for name in sets
        )
        table.append(row)
    allowed = [row for row in table if row["allowed"]] or [table[-1]]
    best = max(allowed, key=lambda row: (row["squad2_f1"], row["t"]))
    return best["t"], table


def dev_sets(data: Path, out: Path, embedder: Embedder) -> dict[str, list[dict]]:
    """Every dev set's records, answered with the verifier judging (``doubt_above`` 1.0)."""

    def judged(assistant: Assistant) -> Assistant:
        return with_reader(assistant, enabled=True, doubt_above=1.0)

    sets: dict[str, list[dict]] = {}
    data2 = load_squad2(data / SQUAD2_FILE, data / SQUAD_FILE)
    questions2, documents2 = squad2.split_questions(data2, "dev", None)
    corpus2, _ = open_corpus(out / "cache" / "squad2-dev", documents2, embedder)
    sets["squad2"] = squad2.records(judged(corpus2), questions2)
    squad = load_squad(data / SQUAD_FILE)
    questions = questions_of(squad, "dev", LIMIT)
    articles = {q.doc_id for q in questions}
    whole, _ = open_corpus(out / "cache" / "squad", squad.documents, embedder)
    sets["squad_open"] = [
        {**r, "unanswerable": False} for r in answer_records(judged(whole), questions, 500)
    ]
    documents, answerable, unanswerable = held_out_of(squad, articles, LIMIT)
    held, _ = open_corpus(out / "cache" / "squad-heldout", documents, embedder)
    sets["squad_heldout"] = abstention_records(judged(held), answerable, unanswerable)
    gold = Assistant.from_folder(default_folder(), embedder=embedder)
    items = [item for item in load_gold(GOLD) if item.split == "dev"]
    sets["gold"] = gold_records(judged(gold), items)
    manifest = realdocs.load_manifest()
    build = realdocs.build_corpus(out / "cache" / "realdocs", manifest)
    asked = realdocs.select_questions(realdocs.load_questions(), build, "dev").asked
    if asked:
        documents_ = realdocs.open_realdocs(out / "cache" / "realdocs", build, embedder)
        kinds = {doc.id: doc.kind for doc in manifest}
        sets["realdocs"] = [
            {**r, "unanswerable": r["kind"] != "answerable"}
            for r in realdocs.evaluate(judged(documents_), asked, kinds)
        ]
    return sets


def report(chosen: float, table: list[dict]) -> None:
    names = [n for n in table[0] if n not in ("t", "squad2_f1", "allowed")]
    print("   t  SQuAD2 F1  " + "  ".join(f"{n:>20}" for n in names) + "   (recall / false)")
    for row in table:
        if row["t"] not in (chosen, 1.0) and round(row["t"] * 100) % 5:
            continue
        cells = "  ".join(
            f"{_cell(row[n]['recall'])} / {_cell(row[n]['false'])}".rjust(20) for n in names
        )
        mark = (
            " <- chosen" if row["t"] == chosen else ("" if row["allowed"] else "  (too many false)")
        )
        print(f"{row['t']:4.2f}  {row['squad2_f1']:9.3f}  {cells}{mark}")


def _cell(value: float | None) -> str:
    return "    -" if value is None else f"{value:.3f}"


def run(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    embedder = embedder or Embedder()
    sets = dev_sets(args.data, args.out, embedder)
    chosen, table = choose(sets)
    report(chosen, table)
    summary = {
        "benchmark": "verifier",
        "split": "dev",
        "false_limit": FALSE_LIMIT,
        "chosen_doubt_above": chosen,
        "sizes": {n: len(r) for n, r in sets.items()},
        "table": table,
        # the small sets' answers, to read which answerable ones a threshold refuses
        "records": {n: sets[n] for n in ("gold", "realdocs") if n in sets},
    }
    write_json(args.out / "verifier_dev.json", summary)
    print(f"chosen doubt_above {chosen}; wrote {args.out / 'verifier_dev.json'}")
    return summary


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.verifier", description=__doc__)
    add_data_options(parser)
    args = parser.parse_args(argv)
    return run_on_data(run, args, embedder)


if __name__ == "__main__":
    sys.exit(main())
