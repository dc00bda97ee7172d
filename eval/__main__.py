"""``python -m eval``: score configurations of qa on the gold Q&A set for the seeds.

Prints a table per split, writes ``eval/results/gold.json`` (summaries, settings) and one
``eval/results/gold_<config>.csv`` per configuration (question, expected, top extract, hit,
score). ``--calibrate`` chooses the abstention threshold on the dev split and reports test.
``--feedback FILE`` turns the chat's marked answers into gold candidates instead (see
``eval/feedback.py``). After the gold set, the test split of the real-file set is reported
(``eval/realdocs.py``; skipped with ``--no-realdocs``, with another ``--store``, and when a
caller passes its own Assistant).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

from qa import Assistant
from qa.assistant import default_folder

from .cli import DEFAULT_OUT
from .configs import CONFIGS, shipped_configuration
from .corpus import store_tag
from .gold import GOLD, abstain_below, calibrate, evaluate, load_gold, safe_name, summarize

SHIPPED = shipped_configuration()

COLUMNS = [
    ("hit@1", "hit@1"),
    ("hit@3", "hit@3"),
    ("ranked_hit@1", "rank@1"),
    ("doc_recall@1", "docR@1"),
    ("doc_mrr", "docMRR"),
    ("follow_up_hit@1", "follow@1"),
    ("phrase_em", "phraseEM"),
    ("abstain_precision", "absP"),
    ("abstain_recall", "absR"),
    ("abstain_f1", "absF1"),
    ("false_abstentions", "falseAbs"),
    ("latency_p50_ms", "p50ms"),
    ("latency_p95_ms", "p95ms"),
]


def format_table(rows: dict[str, dict]) -> str:
    """A fixed-width table: one row per configuration, the COLUMNS as columns."""
    width = max(len(name) for name in rows) + 2
    lines = ["config".ljust(width) + "".join(f"{label:>9}" for _, label in COLUMNS)]
    for name, summary in rows.items():
        cells = []
        for key, _ in COLUMNS:
            value = summary[key]
            if isinstance(value, float) and math.isnan(value):
                cells.append(f"{'-':>9}")
            elif key.startswith("latency"):
                cells.append(f"{value:9.1f}")
            else:
                cells.append(f"{value:9.3f}")
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None, assistant: Assistant | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    parser.add_argument("--folder", default=str(default_folder()), help="corpus (default seeds/)")
    parser.add_argument("--gold", default=str(GOLD), help="gold JSONL file")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated retriever configurations from {sorted(CONFIGS)} "
        f"(shipped: {SHIPPED})",
    )
    parser.add_argument("--no-history", action="store_true", help="ignore follow-up history")
    parser.add_argument(
        "--no-reader", action="store_true", help="answer without the reader (the baseline)"
    )
    parser.add_argument(
        "--calibrate", action="store_true", help="choose the abstention threshold on dev"
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--index-dir", default=None)
    parser.add_argument(
        "--store",
        default=None,
        help="faiss (default), milvus-lite:PATH.db or milvus://HOST:PORT; another store's "
        "results are written as gold_<store>.json",
    )
    parser.add_argument(
        "--feedback",
        default=None,
        metavar="FILE",
        help="write the answers marked in the chat (FILE: feedback.jsonl in the index folder) "
        "as gold candidates to OUT/feedback_candidates.jsonl, and stop",
    )
    parser.add_argument(
        "--no-realdocs",
        action="store_true",
        help="leave out the real-file set's test split (eval/realdocs/README.md)",
    )
    args = parser.parse_args(argv)
    if args.feedback:
        from .feedback import main as feedback_main

        return {"candidates": str(feedback_main(args.feedback, Path(args.out)))}

    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; choose from {sorted(CONFIGS)}")
    items = load_gold(args.gold)
    began = time.perf_counter()
    base = assistant or Assistant.from_folder(
        args.folder, index_dir=args.index_dir, store=args.store
    )
    store = base.index.store.describe()
    tag = store_tag(base) + ("_no_reader" if args.no_reader else "")
    print(f"index ready in {time.perf_counter() - began:.1f} s: "
          f"{len(base.documents)} documents, {len(base.index)} passages, "
          f"store {store['kind']}")  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"gold": str(args.gold), "items": len(items), "store": store, "configs": {}}
    for name in names:
        settings = replace(base.settings, retrieval=CONFIGS[name])
        if args.no_reader:
            settings = replace(settings, reader=replace(settings.reader, enabled=False))
        candidate = Assistant(base.index, settings)
        records = evaluate(candidate, items, use_history=not args.no_history)
        threshold = candidate.abstain_threshold()
        if args.calibrate:
            threshold = calibrate([r for r in records if r["split"] == "dev"])
            records = [abstain_below(r, threshold) for r in records]
        splits = {
            split: summarize([r for r in records if r["split"] == split])
            for split in ("dev", "test")
        }
        splits["all"] = summarize(records)
        report["configs"][name] = {
            "settings": settings.to_dict(),
            "abstain_below": threshold,
            "splits": splits,
        }
        write_csv(out / f"gold{tag}_{safe_name(name)}.csv", records)
    for split in ("dev", "test", "all"):
        print(f"\n[{split}] gold set, {report['configs'][names[0]]['splits'][split]['items']} items"
              + (" (no history)" if args.no_history else ""))  # fmt: skip
        rows = {
            (f"{name} *" if name == SHIPPED else name): report["configs"][name]["splits"][split]
            for name in names
        }
        print(format_table(rows))
    print("\n* shipped configuration. Thresholds: "
          + ", ".join(f"{n}={report['configs'][n]['abstain_below']}" for n in names))  # fmt: skip
    (out / f"gold{tag}.json").write_text(json.dumps(report, indent=1, default=float))
    print(f"wrote {out / f'gold{tag}.json'} and {len(names)} CSV file(s) in {out}")
    if assistant is None and args.store is None and not args.no_realdocs:
        from .realdocs import section

        section(out, base.embedder, reader=not args.no_reader)
    if assistant is None:
        base.close()
    return report


def write_csv(path: Path, records: list[dict]) -> None:
    fields = ["id", "split", "question", "history", "expected", "doc", "abstained", "confidence",
              "hit_rank", "doc_rank", "top_doc", "top_extract", "latency_ms"]  # fmt: skip
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow(record)


if __name__ == "__main__":
    main()
    sys.exit(0)
