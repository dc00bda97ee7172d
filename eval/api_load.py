"""Load on a served qa: ``python -m eval.api_load [--clients N] [--seconds S]``.

N loopback clients ask for S seconds through the REST API (``POST /api/ask``), then N clients
for S seconds through the chat's Gradio route (``/ask``, by ``gradio_client``), each as fast
as answers come; prints requests, answers per second, p50/p99 latency and errors by kind.
The questions are the gold set's (eval/gold.jsonl), each made unique by a number at its end:
the reader keeps the readings of recent (question, passage) pairs, so a repeated question is
read for free (``--repeat`` asks them as they are, and measures that).

Without ``--url`` it starts ``qa serve`` in a child process (so clients and server do not share
an interpreter) over a copy of ``seeds/`` with its index, with one read key per client (each its
own rate bucket, as a team's members would) and the question rate limit lifted, so that what is
measured is serving; ``--default-limits`` keeps ``qa serve``'s limits (60 questions a minute
per client after 10), whose 429s then show. ``--url URL --key KEY`` measures a running server
instead (its Gradio route must not need a sign-in).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "eval" / "gold.jsonl"


def questions(repeat: bool):
    """The gold set's first-turn questions, endlessly; unique unless ``repeat``."""
    lines = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line]
    asked = [item["question"] for item in lines if not item.get("history")]
    counter = itertools.count()
    lock = threading.Lock()

    def following() -> str:
        with lock:
            n = next(counter)
        question = asked[n % len(asked)]
        return question if repeat else f"{question} {n}"

    return following


def run_clients(ask, clients: int, seconds: float, question) -> dict:
    """``ask(client, question) -> None or an error kind`` from ``clients`` threads for
    ``seconds``; latencies of every request, and the errors by kind."""
    latencies: list[float] = []
    errors: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(n: int) -> None:
        start.wait()
        while time.monotonic() < deadline[0]:
            asked = question()
            began = time.perf_counter()
            try:
                error = ask(n, asked)
            except Exception as failure:  # a dropped connection, a time-out: counted
                error = type(failure).__name__
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
                if error:
                    errors[error] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    start.wait()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "errors": dict(errors), "seconds": seconds}


def summary(name: str, result: dict) -> str:
    times = sorted(result["latencies"])
    if not times:
        return f"{name:<14} no request finished"
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    errors = ", ".join(f"{k} {v}" for k, v in sorted(result["errors"].items())) or "none"
    return (
        f"{name:<14} {len(times):>5} requests  {len(times) / result['seconds']:5.2f}/s  "
        f"p50 {statistics.median(times) * 1000:7.0f} ms  p99 {p99 * 1000:7.0f} ms  "
        f"errors: {errors}"
    )


def rest_asker(url: str, keys: list[str]):
    sessions = [
        httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"})
        for key in keys
    ]

    def ask(client: int, question: str) -> str | None:
        response = sessions[client].post("/api/ask", json={"question": question})
        return None if response.status_code == 200 else f"HTTP {response.status_code}"

    return ask


def gradio_asker(url: str, clients: int):
    from gradio_client import Client

    sessions = [Client(url, verbose=False) for _ in range(clients)]

    def ask(client: int, question: str) -> str | None:
        answer = sessions[client].predict(question, api_name="/ask")
        return None if isinstance(answer, dict) and "extracts" in answer else "bad answer"

    return ask


def start_server(
    folder: Path, clients: int, work: Path, limits: str
) -> tuple[subprocess.Popen, str, list]:
    """``qa serve`` over a copy of ``folder`` (index included) with a read key per client."""
    from qa.web.access import ApiKeys
    from qa.web.server import free_port

    corpus = work / "corpus"
    shutil.copytree(folder, corpus, ignore=shutil.ignore_patterns(".qa-trash"))
    keys_file = ApiKeys(work / "keys", must_exist=False)
    keys = [keys_file.add(f"client{n}", "read") for n in range(clients)]
    port = free_port()
    command = [sys.executable, "-m", "qa", "serve", "--folder", str(corpus), "--port", str(port),
               "--api-keys", str(keys_file.path), "--limits", limits]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"qa serve ended with status {server.returncode}")
        try:
            if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                return server, url, keys
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit("qa serve did not answer within 5 minutes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.api_load", description=__doc__)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--folder", type=Path, default=ROOT / "seeds")
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--key", help="the running server's API key (with --url)")
    parser.add_argument("--default-limits", action="store_true", help="keep qa serve's limits")
    parser.add_argument("--repeat", action="store_true", help="ask the gold questions as they are")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qa-load-") as work:
        server = None
        if args.url:
            url, keys = args.url.rstrip("/"), [args.key or ""] * args.clients
        else:
            limits = "" if args.default_limits else "asks_per_minute=1e9,ask_burst=1000000"
            server, url, keys = start_server(args.folder, args.clients, Path(work), limits)
        try:
            rest = rest_asker(url, keys)
            question = questions(args.repeat)
            rest(0, question())  # warm: the first question waits for the encoder and reader
            print(f"{args.clients} clients x {args.seconds:g} s on {url} ({os.cpu_count()} CPUs)")
            result = run_clients(rest, args.clients, args.seconds, question)
            print(summary("REST /api/ask", result))
            gradio = gradio_asker(url, args.clients)
            result = run_clients(gradio, args.clients, args.seconds, question)
            print(summary("Gradio /ask", result))
        finally:
            if server is not None:
                server.terminate()
                server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
