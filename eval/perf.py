"""Speed benchmark: ``python -m eval.perf``.

Everything is measured in one process on this machine, and each figure sits beside the bare
model cost it is compared with, so the ratios hold on a noisy machine:

- query latency: warm ``Assistant.ask`` p50/p95 over the gold questions on the seeds, a
  breakdown by stage (question embedding, dense search, BM25, fusion, extraction), and the
  bare ``model.encode([question])`` p50 of sentence-transformers and of the ONNX question
  encoder qa uses; ratios of ask to each;
- indexing throughput: characters per second of SQuAD articles through the whole indexing
  path (read, split, embed, FAISS, BM25, save) beside bare ``model.encode`` of the same texts
  the index embeds and of its passages alone (qa embeds with the model's ONNX export, so also
  beside that export's bare encode of the same texts);
- cold start: wall time of ``qa ask`` in a fresh process on a built index, and of
  ``python app.py`` until its first HTTP answer;
- scale (eval/scale.py): the dense index at 10k, 100k and 1M passages (build time, memory,
  query p50, recall@10 against exact search) and warm ``ask`` at 100k passages beside the bare
  question embedding.

Prints a table and writes ``eval/results/perf.json``. ``--ray`` measures only indexing on Ray
(eval/ray_speed.py: one process against 1 and 2 workers) and writes ``perf_ray.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from qa import Assistant
from qa.index.sync import CorpusIndex
from qa.models.embedder import Embedder
from qa.values import Query

from . import metrics, scale
from .corpus import write_corpus
from .data import data_dir
from .gold import load_gold
from .squad import FILE as SQUAD_FILE
from .squad import load_squad

ROOT = Path(__file__).resolve().parents[1]


def query_latency(assistant: Assistant, questions: list[str], rounds: int) -> dict:
    """Warm ask p50/p95 with a stage breakdown, beside the bare question embedding."""
    model = assistant.embedder.model
    index = assistant.index
    retriever, extractor = assistant.retriever, assistant.extractor
    for question in questions[:3]:  # warm up every path once
        assistant.ask(question)
    onnx = assistant.embedder.onnx_encoder()  # what qa embeds questions with, if any
    stage = assistant.reading()
    # Rounds repeat questions: measure reading, not the reader's memo (the process's one
    # reader: its memo size is put back afterwards).
    memo_size = stage.reader.memo_size if stage is not None else 0
    if stage is not None:
        stage.reader.memo_size = 0
        stage.reader.memo.clear()
    without = Assistant(
        index, replace(assistant.settings, reader=replace(assistant.settings.reader, enabled=False))
    )
    stages: dict[str, list[float]] = {
        "ask": [],
        "ask_no_reader": [],
        "read": [],
        "bare_encode": [],
        "bare_onnx": [],
        "embed": [],
        "dense": [],
        "bm25": [],
        "retrieve": [],
        "extract": [],
    }

    def timed(name, call):
        began = time.perf_counter()
        result = call()
        stages[name].append(time.perf_counter() - began)
        return result

    for _ in range(rounds):
        for question in questions:
            timed("ask", lambda q=question: assistant.ask(q))
            timed("ask_no_reader", lambda q=question: without.ask(q))
            timed("bare_encode", lambda q=question: model.encode([q]))
            if onnx is not None:
                timed("bare_onnx", lambda q=question: onnx.encode([q]))
            vector = timed("embed", lambda q=question: assistant.embedder.encode_questions([q]))[0]
            query = Query.of(question, vector)
            timed("dense", lambda v=vector: index.corpus.dense_search(v, 50))
            timed("bm25", lambda t=query.terms: index.corpus.lexical.scores(t))
            candidates = timed(
                "retrieve", lambda q=query: retriever.run(q, index.corpus, index.store, 10)
            )
            readings = None
            if stage is not None:
                readings = timed(
                    "read", lambda q=query, c=candidates: stage.run(q, c, index.corpus)
                )
            timed(
                "extract",
                lambda q=query, c=candidates, r=readings: extractor.run(
                    q, index.corpus, c, readings=r, reader_weight=assistant.settings.reader.weight
                ),
            )
    if stage is not None:
        stage.reader.memo_size = memo_size
    p50 = {name: metrics.percentile_ms(values, 50) for name, values in stages.items() if values}
    bare = p50.get("bare_onnx", p50["bare_encode"])
    return {
        "questions": len(questions),
        "rounds": rounds,
        "ask_p50_ms": p50["ask"],
        "ask_p95_ms": metrics.percentile_ms(stages["ask"], 95),
        "ask_no_reader_p50_ms": p50["ask_no_reader"],
        "reader": stage is not None,
        "bare_encode_p50_ms": p50["bare_encode"],
        "bare_onnx_encode_p50_ms": p50.get("bare_onnx"),
        "ratio_ask_to_bare_encode": p50["ask"] / p50["bare_encode"],
        "ratio_ask_to_bare_question_encoder": p50["ask"] / bare,
        "breakdown_p50_ms": {
            "question embedding": p50["embed"],
            "dense search": p50["dense"],
            "bm25": p50["bm25"],
            "fusion (retrieve - dense - bm25)": max(
                0.0, p50["retrieve"] - p50["dense"] - p50["bm25"]
            ),
            "reader": p50.get("read", 0.0),
            "extraction": p50["extract"],
        },
    }


def indexing_throughput(embedder: Embedder, documents: dict[str, str], work: Path) -> dict:
    """Chars/s of the whole indexing path beside bare encoding of the same texts."""
    folder = work / "corpus"
    write_corpus(folder, documents)
    chars = sum(len(text) for text in documents.values())
    began = time.perf_counter()
    index = CorpusIndex(folder, work / "index", embedder)
    index.sync()
    seconds = time.perf_counter() - began
    texts = [index.corpus.sentence_text(j) for j in range(len(index.corpus.sentence_span))]
    passages = [index.corpus.passage_text(i) for i in range(len(index))]
    began = time.perf_counter()
    embedder.model.encode(texts + passages, batch_size=embedder.batch_size)
    bare_all = time.perf_counter() - began
    began = time.perf_counter()
    embedder.model.encode(passages, batch_size=embedder.batch_size)
    bare_passages = time.perf_counter() - began
    onnx = embedder.onnx_encoder()  # what qa indexes with, when the export exists
    bare_onnx = None
    if onnx is not None:
        began = time.perf_counter()
        embedder.encode(texts + passages, progress=False)
        bare_onnx = time.perf_counter() - began
    return {
        "embedded_with": "onnx" if onnx is not None else "sentence-transformers",
        "documents": len(documents),
        "characters": chars,
        "texts_embedded": len(texts) + len(passages),
        "passages": len(passages),
        "index_seconds": seconds,
        "index_chars_per_s": chars / seconds,
        "bare_encode_same_texts_chars_per_s": chars / bare_all,
        "bare_encode_passages_chars_per_s": chars / bare_passages,
        "ratio_to_bare_same_texts": bare_all / seconds,
        "ratio_to_bare_passages": bare_passages / seconds,
        "ratio_to_bare_onnx_same_texts": bare_onnx / seconds if bare_onnx else None,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_start(folder: Path, runs: int) -> dict:
    """Wall times of a fresh ``qa ask`` and of ``python app.py`` until it answers HTTP."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ask = [sys.executable, "-m", "qa", "ask", "Where was the road transport agreement signed?"]
    ask += ["--folder", str(folder)]
    subprocess.run(ask, check=True, capture_output=True, env=env)  # the index is built
    ask_seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(ask, check=True, capture_output=True, env=env)
        ask_seconds.append(time.perf_counter() - began)
    app_seconds = []
    for _ in range(runs):
        port = _free_port()
        began = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--folder", str(folder), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            while time.perf_counter() - began < 120:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.05)
            app_seconds.append(time.perf_counter() - began)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "runs": runs,
        "qa_ask_median_s": statistics.median(ask_seconds),
        "qa_ask_s": ask_seconds,
        "app_ready_median_s": statistics.median(app_seconds),
        "app_ready_s": app_seconds,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m eval.perf", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="passes over the gold questions")
    parser.add_argument("--articles", type=int, default=4, help="SQuAD articles to index")
    parser.add_argument("--runs", type=int, default=3, help="cold starts of each kind")
    parser.add_argument("--data", default=None, help="data folder (default ../shared/data)")
    parser.add_argument("--out", default=str(ROOT / "eval" / "results"))
    parser.add_argument(
        "--scale-sizes",
        default="10000,100000,1000000",
        help="passage counts for the dense index figures, comma-separated ('' to skip)",
    )
    parser.add_argument(
        "--ask-passages", type=int, default=100_000, help="passages for ask at scale (0 to skip)"
    )
    parser.add_argument(
        "--ask-stores",
        default="milvus-lite",
        help="other stores the copied corpus is also opened with, comma-separated ('' for none)",
    )
    parser.add_argument(
        "--keep-scale",
        default=None,
        metavar="DIR",
        help="keep the copied corpus and its index of ask at scale in DIR (replaced), for "
        "python -m eval.scale reopen DIR",
    )
    parser.add_argument(
        "--ray", action="store_true", help="only indexing on Ray: 1 and 2 workers (perf_ray.json)"
    )
    parser.add_argument(
        "--ray-store", default=None, help="with --ray: the store the builds write (milvus://...)"
    )
    args = parser.parse_args(argv)
    if args.ray:
        return _ray_only(args)
    report: dict = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="qa-perf-") as work:
        work = Path(work)
        seeds = work / "seeds"
        shutil.copytree(ROOT / "seeds", seeds, ignore=shutil.ignore_patterns(".qa-index"))
        embedder = Embedder()
        assistant = Assistant.from_folder(seeds, embedder=embedder)
        questions = [item.question for item in load_gold() if not item.history]
        report["query"] = query_latency(assistant, questions, args.rounds)
        squad = load_squad(data_dir(args.data) / SQUAD_FILE, args.articles)
        report["indexing"] = indexing_throughput(embedder, squad.documents, work / "squad")
        report["cold_start"] = cold_start(seeds, args.runs)
        squad_questions = [q.question for q in squad.questions]
        if args.ask_passages:
            built = CorpusIndex.open(work / "squad" / "corpus", work / "squad" / "index", embedder)
            stores = tuple(name.strip() for name in args.ask_stores.split(",") if name.strip())
            keep = Path(args.keep_scale).resolve() if args.keep_scale else None
            report["ask_at_scale"] = scale.ask_at_scale(
                built, squad_questions[:100], args.ask_passages, stores, keep
            )
        sizes = [int(size) for size in args.scale_sizes.split(",") if size.strip()]
        if sizes:
            full = load_squad(data_dir(args.data) / SQUAD_FILE)
            paragraphs = [
                full.documents[doc_id][start:end]
                for doc_id, spans in full.paragraphs.items()
                for start, end in spans
            ]
            questions = [q.question for q in full.questions[:: max(1, len(full.questions) // 200)]]
            report["dense_scale"] = scale.dense_at_sizes(
                embedder, paragraphs, questions, sizes, work
            )
    print_report(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "perf.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out / 'perf.json'}")
    return report


def _ray_only(args) -> dict:
    from .ray_speed import print_ray, ray_throughput

    squad = load_squad(data_dir(args.data) / SQUAD_FILE, args.articles)
    with tempfile.TemporaryDirectory(prefix="qa-perf-ray-") as work:
        report = {"cpu_count": os.cpu_count()}
        report["ray"] = ray_throughput(
            squad.documents, Path(work), runs=args.runs, store=args.ray_store
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "perf_ray.json").write_text(json.dumps(report, indent=1))  # first: minutes of work
    print_ray(report["ray"])
    print(f"wrote {out / 'perf_ray.json'}")
    return report


def print_report(report: dict) -> None:
    """The figures as a small table."""
    q, i, c = report["query"], report["indexing"], report["cold_start"]
    print(f"\nquery latency, seeds ({q['questions']} questions x {q['rounds']} rounds)")
    print(f"  warm ask            p50 {q['ask_p50_ms']:7.1f} ms   p95 {q['ask_p95_ms']:7.1f} ms")
    print(f"  warm ask, no reader p50 {q['ask_no_reader_p50_ms']:7.1f} ms")
    print(f"  bare model.encode   p50 {q['bare_encode_p50_ms']:7.1f} ms (sentence-transformers)")
    if q["bare_onnx_encode_p50_ms"] is not None:
        print(f"  bare ONNX encode    p50 {q['bare_onnx_encode_p50_ms']:7.1f} ms (qa's encoder)")
    print(f"  ratio ask / bare sentence-transformers encode  {q['ratio_ask_to_bare_encode']:.2f}")
    print(f"  ratio ask / bare encode of qa's encoder       "
          f"{q['ratio_ask_to_bare_question_encoder']:.2f}")  # fmt: skip
    for stage, value in q["breakdown_p50_ms"].items():
        print(f"    {stage:34s} p50 {value:7.2f} ms")
    print(f"\nindexing, {i['documents']} SQuAD articles ({i['characters']:,} chars, "
          f"{i['texts_embedded']:,} texts, {i['passages']:,} passages)")  # fmt: skip
    print(f"  whole path              {i['index_chars_per_s']:9,.0f} chars/s"
          f"   ({i['index_seconds']:.1f} s)")  # fmt: skip
    print(f"  bare encode, same texts {i['bare_encode_same_texts_chars_per_s']:9,.0f} chars/s"
          f"   ratio {i['ratio_to_bare_same_texts']:.2f}")  # fmt: skip
    print(f"  bare encode, passages   {i['bare_encode_passages_chars_per_s']:9,.0f} chars/s"
          f"   ratio {i['ratio_to_bare_passages']:.2f}")  # fmt: skip
    print(f"  (bare: sentence-transformers model.encode; qa embedded with {i['embedded_with']})")
    if i["ratio_to_bare_onnx_same_texts"]:
        print(f"  bare ONNX encode, same texts           ratio "
              f"{i['ratio_to_bare_onnx_same_texts']:.2f}")  # fmt: skip
    print(f"\ncold start (median of {c['runs']})")
    print(f"  qa ask on a built index      {c['qa_ask_median_s']:.2f} s")
    print(f"  python app.py until HTTP 200 {c['app_ready_median_s']:.2f} s")
    if "ask_at_scale" in report:
        print_ask_at_scale(report["ask_at_scale"])
    if "dense_scale" in report:
        d = report["dense_scale"]
        print(f"\ndense index at scale ({d['base_vectors']:,} real SQuAD paragraph vectors "
              f"+ noise; {d['queries']} real questions)")  # fmt: skip
        print("  passages   kind  build s  query p50 ms  p95 ms  recall@10  index MB  peak RSS MB")
        for r in d["sizes"]:
            print(f"  {r['passages']:>9,} {r['kind']:>5} {r['build_s']:8.1f}"
                  f" {r['query_p50_ms']:13.2f} {r['query_p95_ms']:7.2f}"
                  f" {r['recall@10_vs_exact']:10.3f}"
                  f" {r['index_rss_mb']:9.0f} {r['peak_rss_mb']:12.0f}")  # fmt: skip


def print_ask_at_scale(a: dict) -> None:
    """The ask-at-scale figures (``scale.ask_at_scale``)."""
    print(f"\nask at scale: {a['passages']:,} passages, {a['sentences']:,} sentences "
          f"({a['dense_kind']} index; copied SQuAD articles, noisy vectors)")  # fmt: skip
    print(f"  warm ask p50 {a['ask_p50_ms']:.1f} ms  p95 {a['ask_p95_ms']:.1f} ms;"
          f"  bare model.encode p50 {a['bare_encode_p50_ms']:.1f} ms;"
          f"  ratio {a['ratio_ask_to_bare_encode']:.2f}")  # fmt: skip
    f = a["fresh_process"]
    fresh, warm = f["passes"]["fresh"], f["passes"]["warm"]
    print(f"  a fresh process opening it: {f['open_s']:.1f} s,"
          f" embedded {f['embedded_on_open']}, first ask {f['first_ask_ms']:.0f} ms,"
          f" then p50 {f['ask_p50_ms']:.1f} ms; the same questions again p50"
          f" {f['warm_ask_p50_ms']:.1f} ms (reader off)")  # fmt: skip
    for name, one in (("fresh", fresh), ("again", warm)):
        stages = ", ".join(f"{k} {v:.1f}" for k, v in one["stage_p50_ms"].items())
        print(f"    {name}: stage p50 {stages} ms; page faults per question"
              f" {one['minor_faults_per_question']:,.0f} minor,"
              f" {one['major_faults_per_question']:,.1f} major")  # fmt: skip
    print(f"    memory after {a['questions']} questions: resident {f['process_rss_mb']:,.0f} MB"
          f" = own (anonymous) {f['process_anonymous_rss_mb']:,.0f} MB"
          f" + mapped vector pages {f['vectors_resident_mb']:,.0f} MB"
          f" ({a['vectors_on_disk_mb']:,.0f} MB on disk, {a['vector_dtypes']})"
          f" + the rest (libraries, mapped index files)")  # fmt: skip
    mapped = "mapped, not own memory" if f["memory_parts_mb"].get("dense_index_mapped") else "own"
    parts = ", ".join(
        f"{k} {v:,.0f}"
        for k, v in f["memory_parts_mb"].items()
        if k.endswith(("index", "arrays", "text"))
    )
    print(f"    memory parts (MB, object sizes; the dense index {mapped}): {parts}")
    if "dense_resident_mb" in f:
        print(f"    mapped pages of the dense index resident: {f['dense_resident_mb']:,.0f} MB")
    if "ratio_ask_to_bare_question_encode" in fresh:
        print(f"    ratio ask / bare question embedding (qa's encoder) in the same process:"
              f" fresh {fresh['ratio_ask_to_bare_question_encode']:.2f},"
              f" again {warm['ratio_ask_to_bare_question_encode']:.2f}")  # fmt: skip
    for name, f in a.get("stores", {}).items():
        print(f"  the same opened on {name}: {f['open_s']:.1f} s (writing "
              f"{f['store_documents_written']:,} documents to it), first ask "
              f"{f['first_ask_ms']:.0f} ms, then p50 {f['ask_p50_ms']:.1f} ms")  # fmt: skip
        print(f"    memory: own (anonymous, with the milvus-lite engine) "
              f"{f['process_anonymous_rss_mb']:,.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
