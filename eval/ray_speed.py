"""Indexing throughput on Ray: ``python -m eval.perf --ray``.

The same SQuAD articles are indexed from scratch three ways, each into a fresh index folder:
in one process (``CorpusIndex.sync``), and on a local Ray (started once, ``--ray-cpus``
CPUs) with 1 and with 2 embedding actors of one CPU (one encoder thread) each
(``qa.index.on_ray``), and once more with 1 actor of 2 CPUs. Printed: characters per second of
each (medians of ``--runs``), the scaling ratio from 1 to 2 one-CPU workers, and the overhead
of Ray against one process on the same 2 threads (1 actor of 2 CPUs). Each build's time
includes starting its actors (each loads the ONNX encoder) but not starting Ray. Writes
``eval/results/perf_ray.json``.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from qa.index.on_ray import RaySettings, build_on_ray
from qa.index.sync import CorpusIndex
from qa.models.embedder import Embedder

from .corpus import write_corpus


def ray_throughput(
    documents: dict[str, str],
    work: Path,
    runs: int = 1,
    workers: tuple[int, ...] = (1, 2),
    cpus: int = 2,
    batch_size: int = 1,
    store: str | None = None,
) -> dict:
    """Seconds and chars/s of one process and of Ray with each count of ``workers``."""
    import ray

    folder = work / "corpus"
    write_corpus(folder, documents)
    chars = sum(len(text) for text in documents.values())
    embedder = Embedder()
    warm = CorpusIndex(folder, work / "warm", embedder)  # the ONNX export, made before timing
    warm.prepare_questions()
    runs_done = 0

    def build(ray_settings: RaySettings | None) -> float:
        nonlocal runs_done
        runs_done += 1
        index_dir = work / f"index-{runs_done}"
        spec = None
        if store:  # a collection of each build's own
            spec = f"{store}{'&' if '?' in store else '?'}collection=qa_speed_{runs_done}"
        began = time.perf_counter()
        index = CorpusIndex(folder, index_dir, embedder, store=spec)
        report = build_on_ray(index, ray_settings) if ray_settings else index.sync()
        seconds = time.perf_counter() - began
        assert len(report.added) == len(documents), report
        index.close()
        return seconds

    single = [build(None) for _ in range(runs)]
    began = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - began
    try:
        on_ray = {
            f"ray_{n}": [build(RaySettings(workers=n, batch_size=batch_size)) for _ in range(runs)]
            for n in workers
        }
        # One process runs the encoder on 2 threads: Ray's overhead is measured on as many.
        on_ray["ray_1_2cpus"] = [
            build(RaySettings(workers=1, batch_size=batch_size, cpus_per_worker=2))
            for _ in range(runs)
        ]
    finally:
        ray.shutdown()
    seconds = {"single": statistics.median(single)} | {
        name: statistics.median(times) for name, times in on_ray.items()
    }
    result = {
        "documents": len(documents),
        "characters": chars,
        "runs": runs,
        "ray_cpus": cpus,
        "batch_size": batch_size,
        "store": store or "faiss",
        "load_average_1m": os.getloadavg()[0],  # other work on the machine skews every figure
        "ray_start_s": ray_start,
        "seconds": seconds,
        "chars_per_s": {name: chars / s for name, s in seconds.items()},
    }
    if "ray_1" in seconds and "ray_2" in seconds:
        result["scaling_2_over_1"] = seconds["ray_1"] / seconds["ray_2"]
    result["overhead_ray_1_over_single"] = seconds["ray_1_2cpus"] / seconds["single"]
    return result


def print_ray(result: dict) -> None:
    print(
        f"\nindexing on Ray: {result['documents']} SQuAD articles, {result['characters']:,} "
        f"chars, {result['runs']} run(s) each, Ray of {result['ray_cpus']} CPUs "
        f"(started in {result['ray_start_s']:.1f} s), store {result['store']}, "
        f"load average {result['load_average_1m']:.1f}"
    )
    names = {"single": "one process (2 threads)", "ray_1_2cpus": "Ray, 1 worker x 2 CPUs"}
    for name, seconds in result["seconds"].items():
        label = names[name] if name in names else f"Ray, {name[4:]} worker(s) x 1 CPU"
        print(f"  {label:26s} {seconds:7.1f} s  {result['chars_per_s'][name]:9,.0f} chars/s")
    if "scaling_2_over_1" in result:
        print(f"  scaling, 2 workers over 1                {result['scaling_2_over_1']:.2f}x")
    print(
        f"  Ray, 1 worker x 2 CPUs / one process time {result['overhead_ray_1_over_single']:.2f}x"
    )
