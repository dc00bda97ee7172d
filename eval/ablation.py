"""What each extraction weight is worth, on dev data: ``python -m eval.ablation [--limit N]``.

``ExtractionSettings`` sums six signals of a candidate sentence with hand-set weights. This
asks dev questions with each weight as shipped, at half, at one and a half times, and at 0
(the signal switched off), the other weights as shipped, and reports per setting:

- gold dev split (the seeds, 43 items): answer hit@1 (the top extract holds a gold answer);
- SQuAD dev articles (``qa.training.squad.split_of``), open corpus of all 48 articles: answer hit@1,
  EM and F1 of the answer text (the bold phrase, else the extract).

The reader is on, as shipped; it reads the same passages whatever the weights (retrieval does
not use them), so each (question, passage) is read once and the settings differ only in
extraction. Test and held-out data are never asked. Writes ``<out>/extraction_ablation.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from qa import Assistant
from qa.assistant import default_folder
from qa.models.embedder import Embedder

from .cli import add_data_options, positive_int, run_on_data
from .corpus import open_corpus
from .gold import GOLD, evaluate, load_gold, summarize
from .report import write_json
from .squad import FILE as SQUAD_FILE
from .squad import answer_records, load_squad, questions_of

WEIGHTS = ("w_dense", "w_lexical", "w_passage", "w_untyped", "w_echo", "w_byline")
FACTORS = (0.0, 0.5, 1.5)


def with_extraction(assistant: Assistant, **changes) -> Assistant:
    settings = assistant.settings
    return Assistant(
        assistant.index, replace(settings, extraction=replace(settings.extraction, **changes))
    )


def measure(gold: Assistant, squad: Assistant, items, questions) -> dict:
    gold_summary = summarize(evaluate(gold, items))
    records = answer_records(squad, questions, batch=500)
    return {
        "gold_dev_hit@1": round(gold_summary["hit@1"], 3),
        "squad_dev_hit@1": round(float(np.mean([r["hit"] for r in records])), 3),
        "squad_dev_em": round(float(np.mean([r["em"] for r in records])), 3),
        "squad_dev_f1": round(float(np.mean([r["f1"] for r in records])), 3),
    }


def run(args: argparse.Namespace, embedder: Embedder | None = None) -> dict:
    data = load_squad(args.data / SQUAD_FILE)
    questions = questions_of(data, "dev", args.limit)
    embedder = embedder or Embedder()
    squad, _ = open_corpus(args.out / "cache" / "squad", data.documents, embedder)
    gold = Assistant.from_folder(default_folder(), embedder=embedder)
    items = [item for item in load_gold(GOLD) if item.split == "dev"]
    reader = squad.reading()
    if reader is not None:  # every setting reads the same windows: keep them all
        reader.reader.memo_size = max(reader.reader.memo_size, 10 * (len(questions) + 100))
    shipped = squad.settings.extraction
    table = {"shipped": measure(gold, squad, items, questions)}
    print(f"{'setting':26}{'gold hit@1':>11}{'SQuAD hit@1':>12}{'EM':>7}{'F1':>7}")

    def show(label: str, row: dict) -> None:
        print(
            f"{label:26}{row['gold_dev_hit@1']:>11.3f}{row['squad_dev_hit@1']:>12.3f}"
            f"{row['squad_dev_em']:>7.3f}{row['squad_dev_f1']:>7.3f}",
            flush=True,
        )

    show("shipped", table["shipped"])
    for name in WEIGHTS:
        for factor in FACTORS:
            value = round(getattr(shipped, name) * factor, 4)
            label = f"{name} = {value:g}"
            table[label] = measure(
                with_extraction(gold, **{name: value}),
                with_extraction(squad, **{name: value}),
                items,
                questions,
            )
            show(label, table[label])
    summary = {
        "benchmark": "extraction_ablation",
        "split": "dev",
        "squad_questions": len(questions),
        "gold_items": len(items),
        "shipped": shipped.to_dict(),
        "table": table,
    }
    write_json(args.out / "extraction_ablation.json", summary)
    gold.close()
    squad.close()
    return summary


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.ablation", description=__doc__)
    parser.add_argument("--limit", type=positive_int, default=300, help="SQuAD dev questions")
    add_data_options(parser)
    return run_on_data(run, parser.parse_args(argv), embedder)


if __name__ == "__main__":
    sys.exit(main())
