"""Scale figures for ``python -m eval.perf``: the dense index at 10k to 1M passages, and the
whole ``ask`` at 100k passages.

Embedding a million real passages would take about a day on 2 cores, so the vectors are made:
real all-MiniLM-L6-v2 embeddings of the 2,067 SQuAD dev paragraphs, each repeated with Gaussian
noise (``NOISE`` per dimension: cos 0.71 to its original on average) and normalised. Queries
are real SQuAD question embeddings. Each size runs in a fresh process (``python -m eval.scale``)
so its peak memory is its own. For the whole ``ask``, an index of real SQuAD articles (real
text, real vectors) is copied with noisy vectors until it holds the wanted number of passages;
BM25 indexes every copy's text.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qa import Assistant, Settings
from qa.index.dense import DenseIndex
from qa.index.sync import STORAGE_VERSION, VECTOR_FILES, CorpusIndex, StoredArrays
from qa.models.embedder import Embedder
from qa.settings import DenseSettings, ReaderSettings

from . import metrics

NOISE = 0.05
QUERIES = 200


def noisy_copies(base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` normalised float32 vectors: the rows of ``base`` in turn, plus noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):  # in blocks: float64 noise for 1M rows would be 3 GB
        rows = np.arange(start, min(n, start + 100_000))
        block = base[rows % len(base)] + rng.normal(0, NOISE, (len(rows), base.shape[1]))
        out[rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 1e6


def mapped_rss_mb(suffix: str = "_vectors.npy") -> float:
    """Resident MB of this process's memory maps of files ending in ``suffix`` (Linux)."""
    total_kb, counting = 0, False
    with open("/proc/self/smaps") as handle:
        for line in handle:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
                counting = len(fields) >= 6 and fields[-1].endswith(suffix)
            elif counting and fields[0] == "Rss:":
                total_kb += int(fields[1])
    return total_kb * 1024 / 1e6


def anonymous_rss_mb() -> float:
    """Resident memory of this process that is its own (not file-backed), in MB (Linux)."""
    return _status_mb("RssAnon")


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB (Linux). Not ``ru_maxrss``: that keeps the
    parent's peak across fork and exec, so a child would report the benchmark's own model."""
    return _status_mb("VmHWM")


def _status_mb(field: str) -> float:
    """A ``kB`` field of /proc/self/status, in MB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise OSError(f"no {field} in /proc/self/status")


def measure(size: int, base: np.ndarray, queries: np.ndarray, k: int = 10, settings=None) -> dict:
    """Build the dense index (shipped ``settings`` by default) over ``size`` made vectors; time,
    memory and recall@k against exact search."""
    vectors = noisy_copies(base, size)
    before = rss_mb()
    began = time.perf_counter()
    index = DenseIndex(settings or DenseSettings()).build(vectors)
    build_s = time.perf_counter() - began
    index_rss = rss_mb() - before
    for query in queries[:10]:  # warm
        index.search(query, 50)
    timings = []
    for query in queries:
        began = time.perf_counter()
        index.search(query, 50)  # the retriever's candidate pool
        timings.append(time.perf_counter() - began)
    _, found = index.search(queries, k)
    kind, index_bytes = index.kind, index.memory_bytes()
    del index
    exact = DenseIndex(DenseSettings(kind="flat")).build(vectors)
    _, truth = exact.search(queries, k)
    recall = float(np.mean([len(set(t) & set(f)) / k for t, f in zip(truth, found)]))
    return {
        "passages": size,
        "kind": kind,
        "build_s": build_s,
        "query_p50_ms": metrics.percentile_ms(timings, 50),
        "query_p95_ms": metrics.percentile_ms(timings, 95),
        f"recall@{k}_vs_exact": recall,
        "index_mb": index_bytes / 1e6,
        "index_rss_mb": index_rss,
        "peak_rss_mb": peak_rss_mb(),
    }


def dense_at_sizes(embedder: Embedder, paragraphs: list[str], questions: list[str], sizes, work):
    """``measure`` each size in its own process; the base and query vectors are embedded once."""
    base = embedder.encode(paragraphs, progress=False)
    queries = embedder.encode_questions(questions[:QUERIES])
    np.save(work / "base.npy", base)
    np.save(work / "queries.npy", queries)
    results = []
    for size in sizes:
        command = [sys.executable, "-m", "eval.scale", str(size), str(work)]
        done = subprocess.run(
            command, check=True, capture_output=True, text=True, cwd=Path(__file__).parents[1]
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        "base_vectors": len(base),
        "noise_per_dimension": NOISE,
        "queries": len(queries),
        "sizes": results,
    }


def replicated(index: CorpusIndex, passages: int, work: Path, seed: int = 1) -> CorpusIndex:
    """A copy of ``index`` repeated (new doc ids, noisy vectors) to at least ``passages``: its
    files are hard links under ``work/corpus``, its index is saved to ``work/index`` (so its
    vectors are memory-mapped, as in use, and a fresh process can open it unchanged).

    The copies' vectors are written straight into the index's global arrays, which the
    entries then view: concatenating per-entry arrays held every vector twice (11 GB at 1M).
    """
    rng = np.random.default_rng(seed)
    copies = -(-passages // max(1, len(index)))
    big = CorpusIndex(work / "corpus", work / "index", index.embedder, index.settings)
    dim = index.corpus.passage_vectors.shape[1]
    vectors = [
        np.empty((copies * len(index.corpus.sentence_span), dim), np.float32),
        np.empty((copies * len(index), dim), np.float32),
    ]
    rows = [0, 0]
    entries = {}
    for copy in range(copies):
        for doc_id, entry in index.corpus.entries.items():
            new_id = f"copy{copy:04d}/{doc_id}"
            link = work / "corpus" / new_id
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(index.folder / doc_id, link)  # same inode: same size and mtime
            for kind, own in enumerate((entry.sentence_vectors, entry.passage_vectors)):
                own = np.asarray(own, dtype=np.float32)
                target = vectors[kind][rows[kind] : rows[kind] + len(own)]
                rows[kind] += len(own)
                if copy == 0:  # the original itself
                    target[:] = own
                    continue
                moved = own + rng.normal(0, NOISE, own.shape)
                target[:] = moved / np.linalg.norm(moved, axis=1, keepdims=True)
            entries[new_id] = dataclasses.replace(
                entry, document=dataclasses.replace(entry.document, doc_id=new_id)
            )
    # The entries are in id order already (copy0000/..., copy0001/...), as _publish keeps them.
    big._publish(entries, StoredArrays(list(entries), *vectors, None, None, STORAGE_VERSION))
    big._save(big.corpus)
    return big


# The reader's cost (~150-200 ms a question here) does not depend on the corpus size: ask at
# scale measures the rest of ``ask`` without it, as the figures before the reader were.
NO_READER = Settings(reader=ReaderSettings(enabled=False))


def ask_at_scale(
    index: CorpusIndex,
    questions: list[str],
    passages: int,
    stores: tuple[str, ...] = (),
    keep: Path | None = None,
) -> dict:
    """Warm ``ask`` p50 (reader off) on ``index`` copied to ``passages``, beside bare
    ``model.encode``.

    The copy is also opened by a fresh process, with the default store and then with each of
    ``stores`` (e.g. ``milvus-lite``: its passages are written to a local Milvus first; the
    milvus-lite engine runs inside the process, so its memory counts as the process's own).
    With ``keep``, the copy is moved there (``python -m eval.scale reopen KEEP`` opens it
    again) instead of deleted.
    """
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="qa-scale-", dir=Path(index.index_dir).parent))
    big = replicated(index, passages, work)
    build_s = time.perf_counter() - began
    vector_mb = sum(_file_mb(work / "index", f"{name}.npy") for name in VECTOR_FILES)
    assistant = Assistant(big, NO_READER)
    model = assistant.embedder.model
    for question in questions[:3]:
        assistant.ask(question)
    ask, bare = [], []
    for question in questions:
        began = time.perf_counter()
        assistant.ask(question)
        ask.append(time.perf_counter() - began)
        began = time.perf_counter()
        model.encode([question])
        bare.append(time.perf_counter() - began)
    figures = {
        "passages": len(big),
        "sentences": len(big.corpus.sentence_span),
        "reader": False,
        "vectors_resident_mb": mapped_rss_mb(),
        "dense_index_mb": big.corpus.dense.memory_bytes() / 1e6,
        "process_rss_mb": rss_mb(),
        "process_anonymous_rss_mb": anonymous_rss_mb(),
        "documents": len(big.corpus.entries),
        "dense_kind": big.corpus.dense.kind,
        "assemble_and_save_s": build_s,
        "vectors_on_disk_mb": vector_mb,
        "vector_dtypes": {
            "sentence": str(big.corpus.sentence_vectors.dtype),
            "passage": str(big.corpus.passage_vectors.dtype),
        },
        "vectors_memory_mapped": isinstance(big.corpus.sentence_vectors, np.memmap),
        "questions": len(questions),
        "ask_p50_ms": metrics.percentile_ms(ask, 50),
        "ask_p95_ms": metrics.percentile_ms(ask, 95),
        "bare_encode_p50_ms": metrics.percentile_ms(bare, 50),
        "ratio_ask_to_bare_encode": statistics.median(ask) / statistics.median(bare),
    }
    # The same index opened by a fresh process, as a user would: what stays resident.
    del assistant, big
    (work / "questions.json").write_text(json.dumps(questions))
    figures["fresh_process"] = _reopen_in_child(work, "faiss")
    figures["stores"] = {}
    for store in stores:
        spec = f"milvus-lite:{work / 'milvus.db'}" if store == "milvus-lite" else store
        figures["stores"][store] = _reopen_in_child(work, spec)
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
        shutil.move(work, keep)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def _file_mb(folder: Path, name: str) -> float:
    """Size in MB of ``name`` in the generation ``folder``'s CURRENT names."""
    generation = folder / (folder / "CURRENT").read_text().strip()
    return (generation / name).stat().st_size / 1e6


def _reopen_in_child(work: Path, store: str) -> dict:
    command = [sys.executable, "-m", "eval.scale", "reopen", str(work), "--store", store]
    done = subprocess.run(
        command, check=True, capture_output=True, text=True, cwd=Path(__file__).parents[1]
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _faults() -> tuple[int, int]:
    """Minor and major page faults of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt, usage.ru_majflt


def _ask_pass(assistant: Assistant, questions: list[str]) -> dict:
    """Ask every question once: time, stages and page faults, beside the bare question
    embedding (qa's encoder, timed after each ask) for a ratio that holds on a busy machine."""
    minor, major = _faults()
    timings, cpu, bare, stages = [], [], [], {"embed": [], "retrieve": [], "extract": []}
    for question in questions:
        began, began_cpu = time.perf_counter(), time.process_time()
        answer = assistant.ask(question)
        timings.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
        for stage, values in stages.items():
            values.append(answer.timings.get(stage, 0.0))
        began = time.perf_counter()
        assistant.embedder.encode_questions([question])
        bare.append(time.perf_counter() - began)
    after = _faults()
    n = len(questions)
    ask_p50 = statistics.median(timings[1:] or timings)
    return {
        "first_ask_ms": timings[0] * 1000,
        "ask_p50_ms": ask_p50 * 1000,
        "ask_p95_ms": metrics.percentile_ms(timings, 95),
        # CPU seconds of the process (every thread, page faults included): on a machine
        # shared with other work, wall time also counts waiting for a core.
        "ask_cpu_p50_ms": statistics.median(cpu[1:] or cpu) * 1000,
        "bare_question_encode_p50_ms": metrics.percentile_ms(bare, 50),
        "ratio_ask_to_bare_question_encode": ask_p50 / statistics.median(bare),
        "stage_p50_ms": {k: metrics.percentile_ms(v, 50) for k, v in stages.items()},
        "minor_faults_per_question": (after[0] - minor) / n,
        "major_faults_per_question": (after[1] - major) / n,
    }


def memory_parts_mb(index: CorpusIndex) -> dict:
    """What the process's own memory holds, by part (MB, from the objects' sizes)."""
    postings = index.corpus.lexical.postings
    bm25 = 0.0
    if postings is not None:  # memory-mapped when loaded, the process's own when built
        arrays = (postings.data, postings.indices, postings.indptr)
        bm25 = sum(a.nbytes for a in arrays) / 1e6
    text = sum(sys.getsizeof(e.document.text) for e in index.corpus.entries.values()) / 1e6
    spans = sum(
        a.nbytes
        for a in (
            index.corpus.sentence_span,
            index.corpus.sentence_doc,
            index.corpus.passage_doc,
            index.corpus.passage_span,
            index.corpus.passage_sentences,
        )
    )
    return {
        "dense_index": index.corpus.dense.memory_bytes() / 1e6,
        "dense_index_mapped": getattr(index.corpus.dense, "mapped", False),  # then not own memory
        "bm25_arrays": bm25,
        "bm25_document_frequency_terms": len(index.corpus.lexical.document_frequency),
        "document_text": text,
        "span_arrays": spans / 1e6,
    }


def reopen(work: Path, store: str | None = None) -> dict:
    """Open the index ``replicated`` saved in ``work`` (searching in ``store``), ask its
    questions (reader off) a first time, then again in the same process; time and memory.

    The first pass is the fresh process's; the second is that process warm, so the two
    p50s differ only by what the first pass left behind (mapped pages, caches).
    """
    questions = json.loads((work / "questions.json").read_text())
    began = time.perf_counter()
    assistant = Assistant.from_folder(
        work / "corpus", index_dir=work / "index", store=store, settings=NO_READER
    )
    open_s = time.perf_counter() - began
    report = assistant.index.last_sync
    opened = {
        "rss_mb": rss_mb(),
        "anonymous_rss_mb": anonymous_rss_mb(),
        "vectors_resident_mb": mapped_rss_mb(),
    }
    first = _ask_pass(assistant, questions)
    after_first = {
        "rss_mb": rss_mb(),
        "anonymous_rss_mb": anonymous_rss_mb(),
        "vectors_resident_mb": mapped_rss_mb(),
        "dense_resident_mb": mapped_rss_mb("dense.faiss"),
    }
    second = _ask_pass(assistant, questions)
    return {
        "open_s": open_s,
        "embedded_on_open": len(report.added) + len(report.changed),
        "first_ask_ms": first["first_ask_ms"],
        "ask_p50_ms": first["ask_p50_ms"],
        "warm_ask_p50_ms": second["ask_p50_ms"],
        "passes": {"fresh": first, "warm": second},
        "memory_after_open_mb": opened,
        "memory_parts_mb": memory_parts_mb(assistant.index),
        # After the first pass: "resident after 100 questions".
        "vectors_resident_mb": after_first["vectors_resident_mb"],
        "dense_resident_mb": after_first["dense_resident_mb"],
        "process_rss_mb": after_first["rss_mb"],
        "process_anonymous_rss_mb": after_first["anonymous_rss_mb"],
        "process_rss_after_second_pass_mb": rss_mb(),
        "dense_index_mb": assistant.index.corpus.dense.memory_bytes() / 1e6,
        "peak_rss_mb": peak_rss_mb(),
        "torch_imported": "torch" in sys.modules,
        "store": assistant.index.store.describe()["kind"],
        "store_documents_written": len(report.store_written),
    }


def ask_only(passages: int, work: Path, articles: int = 4, data: str | None = None) -> dict:
    """``ask_at_scale`` alone, as ``python -m eval.perf`` runs it (the first ``articles``
    SQuAD articles indexed in ``work/squad``, copied to ``passages``), keeping the copy in
    ``work/copy`` for ``reopen``."""
    from .corpus import write_corpus
    from .data import data_dir
    from .squad import FILE, load_squad

    squad = load_squad(data_dir(data) / FILE, articles)
    write_corpus(work / "squad" / "corpus", squad.documents)
    index = CorpusIndex.open(work / "squad" / "corpus", work / "squad" / "index", Embedder())
    questions = [q.question for q in squad.questions][:100]
    return ask_at_scale(index, questions, passages, keep=work / "copy")


def main(argv: list[str] | None = None) -> None:
    """``SIZE WORK`` measures the dense index at one size (``WORK`` holds base.npy and
    queries.npy; a child of ``eval.perf``); ``reopen WORK`` opens a replicated index kept by
    ``--keep-scale`` or ``ask``; ``ask WORK --passages N`` runs ``eval.perf``'s ask at scale
    alone and keeps the copy in WORK/copy. Prints one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m eval.scale", description=main.__doc__)
    parser.add_argument("size", help="a passage count, 'reopen' or 'ask'")
    parser.add_argument("work")
    parser.add_argument("--store", default=None, help="with reopen: the store to search in")
    parser.add_argument("--passages", type=int, default=1_000_000, help="with ask")
    parser.add_argument("--data", default=None, help="with ask: the data folder")
    args = parser.parse_args(argv)
    work = Path(args.work)
    if args.size == "reopen":
        print(json.dumps(reopen(work, args.store)))
        return
    if args.size == "ask":
        work.mkdir(parents=True, exist_ok=True)
        figures = ask_only(args.passages, work.resolve(), data=args.data)
        (work / "ask.json").write_text(json.dumps(figures, indent=1))
        print(json.dumps(figures))
        return
    base, queries = np.load(work / "base.npy"), np.load(work / "queries.npy")
    print(json.dumps(measure(int(args.size), base, queries)))


if __name__ == "__main__":
    main()
