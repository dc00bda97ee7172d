"""Milvus store against a real milvus-lite: incremental updates, repairs, errors, parity."""

from __future__ import annotations

import shutil
import socket

import numpy as np
import pytest

from qa import Assistant
from qa.errors import StoreError
from qa.search.local import EmbeddedStore
from qa.search.milvus import MilvusStore
from qa.search.milvus_rows import default_collection, document_key
from qa.search.store import open_store
from qa.settings import PassageSettings

from .conftest import SEEDS, store_spec
from .test_assistant import SEED_QUESTIONS, _plain

PENGUINS = (
    "Emperor penguins breed on the sea ice of Antarctica during the winter. "
    "The males keep the eggs warm on their feet for about sixty-five days."
)
PENGUINS_CHANGED = (
    "Adelie penguins nest on rocky Antarctic coasts in the summer. "
    "They build their nests from small pebbles collected by both parents."
)


@pytest.fixture
def milvus_corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, folder / path.name)
    (folder / "penguins.txt").write_text(PENGUINS, encoding="utf-8")
    return folder


def _rows(assistant) -> dict[str, int]:
    """Rows per document in the assistant's Milvus collection, read from Milvus itself."""
    store = assistant.index.store
    found: dict[str, int] = {}
    for row in store.client.query(
        store.collection, filter="number >= 0", output_fields=["doc_id"], limit=16384
    ):
        found[row["doc_id"]] = found.get(row["doc_id"], 0) + 1
    return found


def _passage_counts(assistant) -> dict[str, int]:
    return {doc_id: len(e.passages) for doc_id, e in assistant.index.corpus.entries.items()}


def test_incremental_update_rewrites_only_the_changed_file(milvus_corpus, milvus_spec, embedder):
    spec = milvus_spec
    with Assistant.from_folder(milvus_corpus, embedder=embedder, store=spec) as assistant:
        first = assistant.index.last_sync
        assert sorted(first.store_written) == sorted(p.name for p in milvus_corpus.glob("*.txt"))
        assert _rows(assistant) == _passage_counts(assistant)
        answer = assistant.ask("How long do the males keep the eggs warm?")
        assert "sixty-five days" in answer.extracts[0].text

    # Reopened unchanged: nothing is written.
    with Assistant.from_folder(milvus_corpus, embedder=embedder, store=spec) as assistant:
        assert assistant.index.last_sync.store_written == []

    (milvus_corpus / "penguins.txt").write_text(PENGUINS_CHANGED, encoding="utf-8")
    with Assistant.from_folder(milvus_corpus, embedder=embedder, store=spec) as assistant:
        report = assistant.index.last_sync
        assert report.changed == ["penguins.txt"]
        assert report.store_written == ["penguins.txt"]
        assert report.store_removed == []
        assert _rows(assistant) == _passage_counts(assistant)
        answer = assistant.ask("What do Adelie penguins build their nests from?")
        assert "pebbles" in answer.extracts[0].text
        assert assistant.index.search_lexical(["emperor"], 10)[0].size == 0

    (milvus_corpus / "penguins.txt").unlink()
    with Assistant.from_folder(milvus_corpus, embedder=embedder, store=spec) as assistant:
        report = assistant.index.last_sync
        assert report.store_removed == ["penguins.txt"]
        assert "penguins.txt" not in _rows(assistant)
        assert _rows(assistant) == _passage_counts(assistant)


def test_an_interrupted_insert_is_finished_by_the_next_update(milvus_corpus, milvus_spec, embedder):
    spec = milvus_spec
    with Assistant.from_folder(milvus_corpus, embedder=embedder, store=spec) as assistant:
        store = assistant.index.store
        # What a crash mid-insert leaves: some rows, but not the document's passage 0.
        store.client.delete(
            store.collection, filter=f"doc_key == {document_key('penguins.txt')} and number == 0"
        )
        assert assistant.index.sync().store_written == ["penguins.txt"]
        assert _rows(assistant) == _passage_counts(assistant)


def test_an_upload_is_written_to_the_store(milvus_corpus, milvus_spec, embedder):
    spec = milvus_spec
    (milvus_corpus / "penguins.txt").unlink()
    with Assistant.from_folder(milvus_corpus, embedder=embedder, store=spec) as assistant:
        # Inside the corpus, as the app writes uploads: a file read outside it is refused.
        upload = milvus_corpus / ".upload.txt"
        upload.write_text(PENGUINS, encoding="utf-8")
        assistant.index.add_file(upload, "penguins.txt", final_path=milvus_corpus / "penguins.txt")
        assert _rows(assistant)["penguins.txt"] == len(
            assistant.index.corpus.entries["penguins.txt"].passages
        )
        answer = assistant.ask("How long are the eggs kept warm?")
        assert "sixty-five days" in answer.extracts[0].text


def test_switching_store_reuses_the_vectors(milvus_corpus, tmp_path, milvus_spec, embedder):
    index_dir = tmp_path / "index"
    with Assistant.from_folder(milvus_corpus, embedder=embedder, index_dir=index_dir) as faiss:
        expected = faiss.ask("How long do the males keep the eggs warm?").extracts[0]
    spec = milvus_spec
    with Assistant.from_folder(
        milvus_corpus, embedder=embedder, index_dir=index_dir, store=spec
    ) as milvus:
        report = milvus.index.last_sync
        assert report.added == report.changed == []  # nothing embedded again
        assert len(report.store_written) == 3
        got = milvus.ask("How long do the males keep the eggs warm?").extracts[0]
        assert (got.doc_id, got.start, got.end) == (expected.doc_id, expected.start, expected.end)
        assert (
            milvus.index.corpus.dense.kind == "flat" and len(milvus.index.corpus.dense) == 0
        )  # no FAISS
    with Assistant.from_folder(milvus_corpus, embedder=embedder, index_dir=index_dir) as back:
        assert len(back.index.corpus.dense) == len(back.index)  # FAISS and BM25 built again
        assert back.index.corpus.lexical.scores(["penguin"]).max() > 0


def test_other_passage_settings_rebuild_the_collection(milvus_corpus, milvus_spec, embedder):
    from qa import Settings

    spec = milvus_spec
    with Assistant.from_folder(milvus_corpus, embedder=embedder, store=spec) as assistant:
        before = sum(_rows(assistant).values())
    narrow = Settings(passages=PassageSettings(max_chars=300))
    with Assistant.from_folder(
        milvus_corpus, embedder=embedder, store=spec, settings=narrow
    ) as assistant:
        assert len(assistant.index.last_sync.store_written) == 3
        assert sum(_rows(assistant).values()) == len(assistant.index) > before


def test_a_collection_not_made_by_qa_is_left_alone(milvus_corpus, tmp_path, embedder):
    from pymilvus import MilvusClient

    path = tmp_path / "milvus.db"
    client = MilvusClient(str(path))
    client.create_collection("theirs", dimension=4)
    client.insert("theirs", [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}])
    client.close()
    with pytest.raises(StoreError, match="not made by qa"):
        Assistant.from_folder(
            milvus_corpus, embedder=embedder, store=f"milvus-lite:{path}?collection=theirs"
        )
    client = MilvusClient(str(path))
    assert client.query("theirs", filter="id >= 0", output_fields=["count(*)"])[0]["count(*)"] == 1
    client.close()


def test_an_unreachable_server_is_a_clear_error(milvus_corpus, embedder):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError, match=rf"Cannot reach Milvus at http://127\.0\.0\.1:{port}"):
        Assistant.from_folder(milvus_corpus, embedder=embedder, store=f"milvus://127.0.0.1:{port}")


def test_answers_match_the_embedded_store(seeds_assistant, milvus_seeds_assistant):
    same = 0
    for question, _, _ in map(_plain, SEED_QUESTIONS):
        a = seeds_assistant.ask(question).extracts
        b = milvus_seeds_assistant.ask(question).extracts
        same += bool(a and b) and (a[0].doc_id, a[0].start) == (b[0].doc_id, b[0].start)
    assert same / len(SEED_QUESTIONS) >= 0.9


def test_lexical_search_agrees_with_bm25s(seeds_assistant, milvus_seeds_assistant):
    """Milvus's BM25 over qa's terms is bm25s's, times k1 + 1 (bm25s drops that constant)."""
    from qa.ingest.text import terms

    factor = 1 + seeds_assistant.index.lexical_settings.k1

    for question, _, _ in map(_plain, SEED_QUESTIONS):
        query = terms(question)
        ids_a, scores_a = seeds_assistant.index.search_lexical(query, 8)
        ids_b, scores_b = milvus_seeds_assistant.index.search_lexical(query, 8)
        assert ids_a.tolist() == ids_b.tolist(), question
        np.testing.assert_allclose(scores_b, factor * scores_a, rtol=1e-4)
        others = np.arange(0, len(seeds_assistant.index), 3)  # mostly outside the top 8
        np.testing.assert_allclose(
            milvus_seeds_assistant.index.score_lexical(query, others),
            factor * seeds_assistant.index.score_lexical(query, others),
            rtol=1e-4,
            atol=1e-6,
        )


def test_store_descriptions_are_parsed(tmp_path):
    assert isinstance(open_store(None), EmbeddedStore)
    assert isinstance(open_store("faiss"), EmbeddedStore)
    local = open_store(f"milvus-lite:{tmp_path / 'a' / 'qa.db'}?collection=team_docs")
    assert isinstance(local, MilvusStore)
    assert local.uri == str(tmp_path / "a" / "qa.db") and local.collection == "team_docs"
    remote = open_store("milvus://db.example.org")
    assert remote.uri == "http://db.example.org:19530" and remote.collection is None
    assert open_store("https://db.example.org:443").uri == "https://db.example.org:443"
    exact = open_store(f"milvus-lite:{tmp_path / 'qa.db'}?collection=docs&index=flat")
    assert exact.index_type == "FLAT" and exact.collection == "docs"
    assert open_store("milvus://db").index_type == "AUTOINDEX"
    for bad, message in [
        ("milvus://db?index=DISKANN", "Milvus index must be one of"),
        ("elastic://x", "Unknown store"),
        (f"milvus-lite:{tmp_path / 'qa.sqlite'}", "ending in .db"),
        ("milvus://db?collection=1bad-name", "Bad Milvus collection name"),
        ("milvus://db?colection=x", "Unknown store option"),
        ("milvus://", "No host"),
    ]:
        with pytest.raises(ValueError, match=message):
            open_store(bad)


def test_default_collection_names_are_valid_and_distinct(tmp_path):
    a = default_collection(tmp_path / "My Docs (2024)", tmp_path / "one")
    b = default_collection(tmp_path / "My Docs (2024)", tmp_path / "two")
    assert a.startswith("qa_My_Docs_2024_") and a != b
    assert default_collection(tmp_path / "日本", tmp_path / "x").startswith("qa_")


def test_the_token_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("QA_MILVUS_TOKEN", "user:secret")
    store = open_store("milvus://db.example.org:19530")
    assert store.token == "user:secret"
    assert "secret" not in str(store.describe())


def test_an_exact_collection_finds_what_faiss_finds(seeds_assistant, tmp_path, embedder):
    """With ``index=FLAT`` Milvus's dense search is exact: the same passages as FAISS's
    exact index, in the same order; changing the index type rebuilds the collection."""
    folder = seeds_assistant.index.folder
    index_dir = seeds_assistant.index.index_dir
    spec = f"milvus-lite:{tmp_path / 'qa.db'}?index=FLAT"
    with Assistant.from_folder(folder, embedder=embedder, index_dir=index_dir, store=spec) as a:
        assert a.index.last_sync.added == []  # the seeds index, reused
        for question in ["Where was the road transport agreement signed?", "Who is Xi Jinping?"]:
            vector = embedder.encode_questions([question])[0]
            expected, _ = seeds_assistant.index.search_dense(vector, 10)
            found, scores = a.index.search_dense(vector, 10)
            assert found.tolist() == expected.tolist()
            assert np.all(np.diff(scores) <= 1e-6)
    spec = f"milvus-lite:{tmp_path / 'qa.db'}?index=HNSW"
    with Assistant.from_folder(folder, embedder=embedder, index_dir=index_dir, store=spec) as a:
        assert len(a.index.last_sync.store_written) == len(a.documents)


def test_a_lost_server_loses_nothing(milvus_corpus, tmp_path, embedder):
    """The server goes away: the chat keeps the conversation and says why; an upload is kept
    in the corpus and the local index, and the next update writes it to the store."""
    from qa.web.callbacks import ChatApp

    spec = store_spec("milvus-lite", tmp_path)
    with Assistant.from_folder(milvus_corpus, embedder=embedder, store=spec) as assistant:
        store, app = assistant.index.store, ChatApp(assistant)
        store.close()
        store.uri = "http://127.0.0.1:9"  # nothing listens there
        messages = [{"role": "user", "content": "earlier"}]
        with pytest.warns(UserWarning, match="Cannot reach Milvus"):  # gr.Warning, off a server
            state = app.respond("Where do emperor penguins breed?", messages, ["earlier"], [{}])
        assert state[:4] == ("Where do emperor penguins breed?", messages, ["earlier"], [{}])
        upload = tmp_path / "seals.txt"
        upload.write_text("Leopard seals hunt penguins near the ice edge.", encoding="utf-8")
        status = app._add_one(upload)
        assert status.startswith("⚠ seals.txt: added, but Cannot reach Milvus")
        assert (milvus_corpus / "seals.txt").exists() and "seals.txt" in assistant.documents
        store.close()
        store.uri = str(tmp_path / "milvus.db")  # back
        assert assistant.index.sync().store_written == ["seals.txt"]
        assert "Leopard" in assistant.ask("What do leopard seals hunt?").extracts[0].text
