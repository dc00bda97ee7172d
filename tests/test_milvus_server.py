"""The Milvus store against a real Milvus server (tests/milvus_server.py: the PyPI package
milvus, Milvus 2.3 standalone): what it lacks, a server that goes away and comes back, and
two writers on one collection. All slow: each starts or uses a server process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from qa import Assistant
from qa.errors import StoreError
from qa.search.lease import Lease, lease_alias

from .conftest import ROOT, SEEDS
from .test_assistant import SEED_QUESTIONS, _plain

pytestmark = pytest.mark.slow


def _spans(answer) -> list[tuple]:
    return [(e.doc_id, e.start, e.end, e.text) for e in answer.extracts]


@pytest.fixture(scope="module")
def server_seeds_assistant(embedder, milvus_server, tmp_path_factory):
    """The seeds, searched in the Milvus server."""
    folder = tmp_path_factory.mktemp("seeds-server")
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, folder / path.name)
    assistant = Assistant.from_folder(folder, embedder=embedder, store=milvus_server.uri)
    yield assistant
    assistant.close()


def test_a_server_without_bm25_answers_as_the_embedded_store(
    seeds_assistant, server_seeds_assistant
):
    """Milvus 2.3 has no BM25 function: the collection holds no terms, BM25 runs in qa over
    the same passages, and every seed question gets the same extracts at the same spans."""
    store = server_seeds_assistant.index.store
    assert store.server_version().startswith("v2.3")
    assert store.lexical_embedded and store.describe()["bm25"] == "qa"
    fields = {f["name"] for f in store.client.describe_collection(store.collection)["fields"]}
    assert "vector" in fields and not fields & {"terms", "sparse"}
    for question, _, _ in map(_plain, SEED_QUESTIONS):
        expected = seeds_assistant.ask(question, history=[])
        got = server_seeds_assistant.ask(question, history=[])
        assert _spans(got) == _spans(expected), question
        assert got.abstained == expected.abstained


def test_the_server_going_away_mid_question_and_coming_back(embedder, milvus_server, tmp_path):
    """The server is killed while qa is open: a question gets a StoreError naming the server;
    once it is back, the same Assistant answers again. (The session's server, restarted:
    Milvus 2.3 runs one standalone server per machine.)"""
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    question = "Where was the road transport agreement signed?"
    server = milvus_server
    with Assistant.from_folder(folder, embedder=embedder, store=server.uri) as assistant:
        before = _spans(assistant.ask(question))
        server.kill()
        with pytest.raises(StoreError, match=rf"Milvus at http://127\.0\.0\.1:{server.port}"):
            assistant.ask(question)
        server.start()  # same port and data; the collection comes back unloaded
        assert _spans(assistant.ask(question)) == before
        assert assistant.index.sync().store_written == []  # nothing was lost


# ----- two writers on one collection --------------------------------------------------------

HOLD = """
import sys, time
from qa.search.milvus import MilvusStore
store = MilvusStore(sys.argv[1], sys.argv[2])
with store.lease():
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
print("released", flush=True)
"""


def _holder(uri: str, collection: str, seconds: float) -> subprocess.Popen:
    """Another process that takes the collection's lease and holds it for ``seconds``."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, uri, collection, str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


def _store(milvus_server, collection: str, wait: float):
    from qa.search.milvus import MilvusStore

    store = MilvusStore(milvus_server.uri.replace("milvus://", "http://"), collection)
    store.lease_wait = wait
    return store


def test_a_second_writer_waits_for_the_first(milvus_server):
    uri = milvus_server.uri.replace("milvus://", "http://")
    holder = _holder(uri, "leased_a", 6)
    try:
        store = _store(milvus_server, "leased_a", wait=1)
        busy = r"Another writer \(.* pid \d+\) has been updating"
        with pytest.raises(StoreError, match=busy), store.lease():
            pass
        store.lease_wait = 60
        began = time.monotonic()
        with store.lease() as lease:  # waits for the holder to finish
            assert holder.stdout.readline().strip() == "released"
            assert time.monotonic() - began > 1
            lease.check()
    finally:
        holder.kill()
        holder.wait()
    # Nothing is left behind: no alias, no holder collection.
    assert not [c for c in store.client.list_collections() if c.startswith(lease_alias("leased_a"))]


def test_a_dead_writers_lease_expires_and_a_lost_lease_stops_writing(milvus_server):
    store = _store(milvus_server, "leased_b", wait=30)
    dead = Lease(store, seconds=2)
    dead.__enter__()  # a writer that dies holding the lease: never released
    store.held = None
    other = _store(milvus_server, "leased_b", wait=30)
    with other.lease():  # taken over once the 2 s lease has expired
        facts = other.client.describe_collection(other.held.holder)["properties"]["qa_lease"]
        assert json.loads(facts)["expires"] > time.time()
        with pytest.raises(StoreError, match="Lost the write lease"):
            dead.check()  # the dead writer, had it come back, would stop here


def test_two_writers_syncing_at_once_leave_each_document_once(
    milvus_server, seeds_assistant, tmp_path
):
    """Two processes (two index folders of the same files) write one collection at the same
    moment. Without the lease both deleted and inserted each document, leaving duplicates."""
    collection = "shared_seeds"
    folders = []
    for name in ("one", "two"):
        index_dir = tmp_path / name
        shutil.copytree(seeds_assistant.index.index_dir, index_dir)  # no embedding needed
        folders.append(index_dir)
    spec = f"{milvus_server.uri}?collection={collection}"
    command = [sys.executable, "-m", "qa", "index", str(seeds_assistant.index.folder)]
    # A third process holds the lease while both start, so that both want it at once.
    uri = milvus_server.uri.replace("milvus://", "http://")
    holder = _holder(uri, collection, 20)
    writers = [
        subprocess.Popen(
            [*command, "--index-dir", str(d), "--store", spec, "--no-reader"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for d in folders
    ]
    outputs = [w.communicate(timeout=300)[0] for w in writers]
    assert holder.wait(timeout=60) == 0
    assert [w.returncode for w in writers] == [0, 0], outputs
    written = sorted(int(out.split(" documents written")[0].rsplit("(", 1)[1]) for out in outputs)
    assert written == [0, len(seeds_assistant.documents)], outputs  # one wrote, one found it
    store = _store(milvus_server, collection, wait=1)
    rows = store.client.query(collection, filter="number >= 0", output_fields=["pk"], limit=16384)
    assert len(rows) == len({r["pk"] for r in rows}) == len(seeds_assistant.index)
