"""Passage size and extraction sweep: ``python -m eval.sweep``.

For each passage setting (window length in characters, sentences of overlap) the seeds and a
SQuAD subset are indexed with the real pipeline, then asked their questions. Printed per
setting: gold dev and test answer hit@1 and abstention F1 (shipped threshold), and on SQuAD
passage hit@1/@5 (a passage holds a gold answer span), answer hit@1 (the top extract holds
one), the top extract's mean length, and EM/F1. The join ablation (``--joins``) asks the same
index again with two-sentence extracts switched off.

Indexes are cached under ``eval/results/cache/sweep-*`` so a re-run only asks questions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa import Assistant
from qa.models.embedder import Embedder
from qa.pipeline.query import clean_question
from qa.settings import PassageSettings, Settings

from . import metrics
from .cli import DEFAULT_OUT
from .corpus import write_corpus
from .data import ROOT
from .data import data_dir as find_data
from .gold import evaluate, load_gold, summarize
from .ranking import embed_queries, rank_passages
from .squad import FILE as SQUAD_FILE
from .squad import PassageMap, SquadData, holds_answer, load_squad, top_extract

DEFAULT_SIZES = "300:1,450:1,600:0,600:1,600:2,900:1,1200:1"


def parse_sizes(text: str) -> list[PassageSettings]:
    """``"600:1,900:1:t"`` -> passage settings of 600 and 900 characters, 1 sentence overlap;
    a third field ``t`` searches passages with their document's title."""
    sizes = []
    for part in text.split(","):
        fields = part.strip().split(":")
        overlap = int(fields[1]) if len(fields) > 1 else 1
        titles = fields[2:] == ["t"]
        sizes.append(PassageSettings(max_chars=int(fields[0]), overlap=overlap, titles=titles))
    return sizes


def squad_scores(assistant: Assistant, data: SquadData) -> dict:
    """Passage hit@1/@5, answer hit@1, mean top-extract length, EM and F1 on ``data``."""
    passage_map = PassageMap(assistant, data.paragraphs)
    queries = [clean_question(q.question) for q in data.questions]
    vectors, _ = embed_queries(assistant.embedder, queries)
    rankings, _ = rank_passages(assistant, queries, vectors, 5)
    hit1, hit5 = [], []
    for q, ranking in zip(data.questions, rankings):
        relevant = set(passage_map.relevant(q.doc_id, q.spans))
        hit1.append(bool(ranking[:1]) and ranking[0] in relevant)
        hit5.append(bool(relevant.intersection(ranking[:5])))
    answer_hit, length, em, f1 = [], [], [], []
    for q, answer in zip(data.questions, assistant.ask_many(queries, k=3)):
        extract, text = top_extract(assistant, answer)
        answer_hit.append(holds_answer(extract, q))
        length.append(len(extract.text) if extract is not None else 0)
        em.append(metrics.exact_match(text, q.answers))
        f1.append(metrics.f1(text, q.answers))
    return {
        "squad_psg@1": float(np.mean(hit1)),
        "squad_psg@5": float(np.mean(hit5)),
        "squad_ans@1": float(np.mean(answer_hit)),
        "squad_extract_chars": float(np.mean(length)),
        "squad_em": float(np.mean(em)),
        "squad_f1": float(np.mean(f1)),
    }


def gold_scores(assistant: Assistant, items) -> dict:
    """Gold dev/test answer hit@1 and abstention F1 at the shipped threshold."""
    records = evaluate(assistant, items)
    scores = {}
    for split in ("dev", "test"):
        summary = summarize([r for r in records if r["split"] == split])
        scores[f"{split}_hit@1"] = summary["hit@1"]
        scores[f"{split}_absF1"] = summary["abstain_f1"]
    return scores


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m eval.sweep", description=__doc__)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="chars:overlap,... to try")
    parser.add_argument("--articles", type=int, default=12, help="SQuAD articles indexed")
    parser.add_argument("--limit", type=int, default=None, help="SQuAD questions asked")
    parser.add_argument("--joins", action="store_true", help="also ask without sentence joins")
    parser.add_argument("--data", default=None, help="data folder (default ../shared/data)")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)

    out = Path(args.out)
    data_dir = find_data(args.data)
    squad = load_squad(data_dir / SQUAD_FILE, args.articles, args.limit)
    items = load_gold()
    embedder = Embedder()
    rows: dict[str, dict] = {}
    for passages in parse_sizes(args.sizes):
        began = time.perf_counter()
        settings = Settings(passages=passages)
        name = f"{passages.max_chars}:{passages.overlap}" + (":t" if passages.titles else "")
        cache = out / "cache" / f"sweep-{name.replace(':', '-')}"
        write_corpus(cache / "squad", squad.documents)
        seeds = cache / "seeds"
        seeds.mkdir(parents=True, exist_ok=True)
        for path in (ROOT / "seeds").glob("*.txt"):
            if not (seeds / path.name).exists():
                shutil.copy2(path, seeds / path.name)
        squad_assistant = Assistant.from_folder(
            cache / "squad", index_dir=cache / "squad-index", settings=settings, embedder=embedder
        )
        seeds_assistant = Assistant.from_folder(
            seeds, index_dir=cache / "seeds-index", settings=settings, embedder=embedder
        )
        variants = {name: settings}
        if args.joins:
            no_joins = replace(settings.extraction, join_neighbours=False)
            variants[f"{name} no joins"] = replace(settings, extraction=no_joins)
        for label, variant in variants.items():
            rows[label] = {
                "passages": len(squad_assistant.index),
                **gold_scores(Assistant(seeds_assistant.index, variant), items),
                **squad_scores(Assistant(squad_assistant.index, variant), squad),
            }
        print(f"{name}: done in {time.perf_counter() - began:.0f} s", flush=True)
        print_table(rows)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "squad_articles": args.articles,
        "squad_questions": len(squad.questions),
        "gold_items": len(items),
        "shipped": f"{PassageSettings().max_chars}:{PassageSettings().overlap}",
        "rows": rows,
    }
    (out / "sweep.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {out / 'sweep.json'}")
    return summary


def print_table(rows: dict[str, dict]) -> None:
    """The sweep so far, one line per setting."""
    columns = list(next(iter(rows.values())))
    print("setting".ljust(16) + "".join(c.rjust(max(10, len(c) + 2)) for c in columns))
    for name, row in rows.items():
        cells = []
        for c in columns:
            value = row[c]
            text = f"{value:.3f}" if isinstance(value, float) and value <= 1 else f"{value:.0f}"
            cells.append(text.rjust(max(10, len(c) + 2)))
        print(name.ljust(16) + "".join(cells))


if __name__ == "__main__":
    main()
