"""BM25 k1 / b sweep: ``python -m eval.bm25 [K1:B ...]``.

Rebuilds only the BM25 index of the SQuAD open corpus (and of SciFact, when its index is
cached) for each k1 / b, and prints the shipped configuration's paragraph hit@1 on the first 12
articles (where the values were chosen), on the other 36 (held out) and on all; and SciFact
nDCG@10. Embeddings come from the benchmarks' caches (``python -m eval.benchmarks squad`` and
``scifact`` build them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from qa import Assistant
from qa.index.lexical import LexicalIndex
from qa.pipeline.query import clean_question
from qa.settings import LexicalSettings

from . import metrics
from .cli import DEFAULT_OUT
from .data import data_dir as find_data
from .ranking import embed_queries, rank_passages
from .scifact import DEPTH as SCIFACT_DEPTH
from .scifact import FOLDER as SCIFACT_FOLDER
from .scifact import PASSAGES as SCIFACT_PASSAGES
from .scifact import SciFactData, document_ranking, load_scifact
from .squad import DEPTH as SQUAD_DEPTH
from .squad import FILE as SQUAD_FILE
from .squad import PassageMap, SquadData, load_squad

TUNING_ARTICLES = 12
DEFAULT_GRID = "1.2:0.75,0.9:0.4,0.7:0.4,0.5:0.4,0.3:0.5,0.2:0.3"


def use_bm25(assistant: Assistant, settings: LexicalSettings) -> None:
    """Give ``assistant``'s index a BM25 built with ``settings`` (vectors untouched)."""
    index = assistant.index
    texts = [index.corpus.searchable_text(i) for i in range(len(index))]
    index.corpus.lexical = LexicalIndex(settings.k1, settings.b).index(texts)


def squad_hits(assistant: Assistant, data: SquadData, tuning: int) -> dict:
    """Paragraph hit@1 of ``assistant`` on the first ``tuning`` articles, the rest, and all."""
    passage_map = PassageMap(assistant, data.paragraphs)
    queries = [clean_question(q.question) for q in data.questions]
    vectors, _ = embed_queries(assistant.embedder, queries)
    rankings, _ = rank_passages(assistant, queries, vectors, SQUAD_DEPTH)
    chosen = set(list(data.documents)[:tuning])
    hits: dict[str, list[bool]] = {"tuning": [], "held_out": []}
    for q, ranking in zip(data.questions, rankings):
        paragraphs = passage_map.paragraph_ranking(ranking, 1)
        hit = bool(paragraphs) and paragraphs[0] == q.paragraph
        hits["tuning" if q.doc_id in chosen else "held_out"].append(hit)
    every = hits["tuning"] + hits["held_out"]
    return {name: float(np.mean(v)) if v else None for name, v in hits.items()} | {
        "all": float(np.mean(every))
    }


def scifact_ndcg(assistant: Assistant, data: SciFactData) -> float:
    """nDCG@10 of ``assistant`` on the SciFact claims."""
    qids = list(data.queries)
    queries = [clean_question(data.queries[qid]) for qid in qids]
    vectors, _ = embed_queries(assistant.embedder, queries)
    rankings = {
        qid: document_ranking(assistant, query, vector, SCIFACT_DEPTH, SCIFACT_PASSAGES)
        for qid, query, vector in zip(qids, queries, vectors)
    }
    return metrics.ranx_evaluate(data.qrels, rankings, ["ndcg@10"])["ndcg@10"]


def _cached(cache: Path) -> Assistant | None:
    if not (cache / "index").is_dir():
        return None
    return Assistant.from_folder(cache / "corpus", index_dir=cache / "index")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m eval.bm25", description=__doc__)
    parser.add_argument("grid", nargs="?", default=DEFAULT_GRID, help="K1:B,K1:B,...")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="the benchmarks' out")
    parser.add_argument("--data", default=None)
    parser.add_argument("--articles", type=int, default=None, help="SQuAD: the first M only")
    args = parser.parse_args(argv)
    grid = [LexicalSettings(*map(float, part.split(":"))) for part in args.grid.split(",") if part]
    data_dir = find_data(args.data)
    cache = Path(args.out) / "cache"
    key = "squad" if args.articles is None else f"squad-articles{args.articles}"
    squad = _cached(cache / key)
    if squad is None:
        parser.error(f"no SQuAD index in {cache / key}: run python -m eval.benchmarks squad")
    squad_data = load_squad(data_dir / SQUAD_FILE, args.articles)
    scifact = _cached(cache / "scifact")
    scifact_data = load_scifact(data_dir / SCIFACT_FOLDER) if scifact else None
    tuning = min(TUNING_ARTICLES, max(1, len(squad_data.documents) // 4))
    rows = {}
    print("k1 / b       SQuAD para@1: tuning  held out     all   SciFact nDCG@10")
    for settings in grid:
        use_bm25(squad, settings)
        row = squad_hits(squad, squad_data, tuning)
        if scifact is not None:
            use_bm25(scifact, settings)
            row["scifact_ndcg@10"] = scifact_ndcg(scifact, scifact_data)
        rows[f"{settings.k1}:{settings.b}"] = row
        held = "—" if row["held_out"] is None else f"{row['held_out']:.3f}"
        ndcg = f"{row['scifact_ndcg@10']:.3f}" if "scifact_ndcg@10" in row else "—"
        print(f"{settings.k1:4} / {settings.b:<4}  {row['tuning']:20.3f} {held:>9}"
              f" {row['all']:7.3f} {ndcg:>17}", flush=True)  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
