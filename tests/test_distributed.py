"""Indexing on Ray (qa/index/on_ray.py): a real local Ray with 2 CPUs, the real model, FAISS and
a real Milvus server. A Ray build must answer exactly as a build in one process does."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from qa import Assistant
from qa.index.on_ray import PARTS, RaySettings

from .conftest import SEEDS

ray = pytest.importorskip("ray", reason="indexing on Ray needs the ray extra: .[ray]")


def test_ray_settings_are_checked():
    assert RaySettings().address is None
    with pytest.raises(ValueError, match="at least one worker"):
        RaySettings(workers=0)
    with pytest.raises(ValueError, match="at least one worker"):
        RaySettings(batch_size=0)
    with pytest.raises(ValueError, match="one CPU per worker"):
        RaySettings(cpus_per_worker=0)


def test_the_ray_options_of_qa_index():
    from argparse import Namespace

    from qa.cli import _ray_settings

    assert _ray_settings(Namespace(ray=None)) is None
    here = _ray_settings(
        Namespace(ray="local", ray_workers=None, ray_batch=3, ray_cpus_per_worker=None)
    )
    assert here == RaySettings(address=None, workers=RaySettings().workers, batch_size=3)
    cluster = _ray_settings(
        Namespace(ray="ray://head:10001", ray_workers=16, ray_batch=None, ray_cpus_per_worker=4)
    )
    assert (cluster.address, cluster.workers, cluster.cpus_per_worker) == (
        "ray://head:10001",
        16,
        4,
    )


def test_a_saved_part_is_resumed_only_while_its_file_is_unchanged(embedder, tmp_path):
    from qa.index.entries import embed_entries, read_entry
    from qa.index.on_ray import _resume, _save_part
    from qa.ingest.splitter import PassageSplitter

    folder = _copy(SEEDS, tmp_path / "corpus")
    todo = [(path.name, path) for path in sorted(folder.glob("*.txt"))]
    splitter = PassageSplitter()
    read = [read_entry(path, doc_id, folder, splitter) for doc_id, path in todo]
    parts = tmp_path / PARTS
    parts.mkdir()
    _save_part(parts, embed_entries(embedder, read))
    resumed = _resume(parts, todo)
    assert sorted(resumed) == [doc_id for doc_id, _ in todo]
    for (entry, _), doc_id in zip(read, sorted(resumed)):
        again = resumed[doc_id]
        assert again.document == entry.document
        assert np.array_equal(again.passage_vectors, entry.passage_vectors)
        assert np.array_equal(again.sentences, entry.sentences)
        assert again.indexed == entry.indexed > 0
    changed = todo[0][1]
    changed.write_text(changed.read_text(encoding="utf-8") + " More.", encoding="utf-8")
    assert sorted(_resume(parts, todo)) == [doc_id for doc_id, _ in todo[1:]]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs for this module's builds (they use it, not a Ray of their
    own), shut down afterwards."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    assert not ray.is_initialized()


def _copy(source, folder):
    folder.mkdir()
    for path in source.glob("*.txt"):
        shutil.copy(path, folder / path.name)
    return folder


def _same_index(a, b) -> None:
    """The same documents, spans and vectors, bit for bit."""
    a, b = a.corpus, b.corpus
    assert list(a.entries) == list(b.entries)
    for doc_id in a.entries:
        x, y = a.entries[doc_id], b.entries[doc_id]
        assert x.document.text == y.document.text and x.document.sha256 == y.document.sha256
        for name in ("sentences", "passages", "sentence_vectors", "passage_vectors"):
            assert np.array_equal(getattr(x, name), getattr(y, name)), (doc_id, name)


def _answers(assistant, items) -> list:
    found = []
    for question, history in items:
        answer = assistant.ask(question, history=history)
        found.append(
            (answer.abstained, [(e.doc_id, e.start, e.end, e.text) for e in answer.extracts])
        )
    return found


def _gold():
    from eval.gold import load_gold

    return [(item.question, item.history) for item in load_gold()]


@pytest.mark.slow
def test_a_ray_build_answers_every_gold_question_as_one_process(
    local_ray, seeds_assistant, embedder, tmp_path
):
    folder = _copy(SEEDS, tmp_path / "corpus")
    with Assistant.from_folder(folder, embedder=embedder, ray=RaySettings(workers=2)) as built:
        assert sorted(built.index.last_sync.added) == sorted(seeds_assistant.documents)
        assert not (built.index.index_dir / PARTS).exists()
        _same_index(built.index, seeds_assistant.index)
        items = _gold()
        assert len(items) == 85
        assert _answers(built, items) == _answers(seeds_assistant, items)


@pytest.mark.slow
def test_a_ray_build_writes_the_milvus_server_from_the_workers(
    local_ray, milvus_server, seeds_assistant, embedder, tmp_path
):
    """The workers write the rows; the store's own sync then finds nothing to write, and the
    collection answers the gold questions as the single-process build does."""
    folder = _copy(SEEDS, tmp_path / "corpus")
    spec = milvus_server.uri
    with Assistant.from_folder(
        folder, embedder=embedder, store=spec, ray=RaySettings(workers=2, batch_size=1)
    ) as built:
        report = built.index.last_sync
        assert report.store_written == sorted(seeds_assistant.documents)
        store = built.index.store
        rows = store.client.query(
            store.collection, filter="number >= 0", output_fields=["pk"], limit=16384
        )
        assert len(rows) == len({r["pk"] for r in rows}) == len(seeds_assistant.index)
        items = _gold()
        assert _answers(built, items) == _answers(seeds_assistant, items)
    with Assistant.from_folder(folder, embedder=embedder, store=spec) as reopened:
        assert reopened.index.last_sync.store_written == []  # nothing was missing


@pytest.fixture(scope="module")
def squad_articles(tmp_path_factory):
    """The first 4 SQuAD dev articles as files, and the first 60 of their questions."""
    from eval.benchmarks import SQUAD_FILE, data_dir, load_squad

    path = data_dir() / SQUAD_FILE
    if not path.exists():
        pytest.skip(f"no SQuAD data at {path}")
    data = load_squad(path, articles=4, limit=60)
    folder = tmp_path_factory.mktemp("squad") / "corpus"
    folder.mkdir()
    for doc_id, text in data.documents.items():
        (folder / doc_id).write_text(text, encoding="utf-8")
    return folder, [(q.question, []) for q in data.questions]


@pytest.mark.slow
def test_a_ray_build_answers_squad_questions_as_one_process(
    local_ray, squad_articles, embedder, tmp_path
):
    source, questions = squad_articles
    alone = _copy(source, tmp_path / "alone")
    on_ray = _copy(source, tmp_path / "ray")
    with (
        Assistant.from_folder(alone, embedder=embedder) as one,
        Assistant.from_folder(
            on_ray, embedder=embedder, ray=RaySettings(workers=2, batch_size=1)
        ) as built,
    ):
        assert len(built.documents) == 4
        _same_index(built.index, one.index)
        assert _answers(built, questions) == _answers(one, questions)


@pytest.mark.slow
def test_an_interrupted_ray_build_resumes_from_what_reached_the_store(
    local_ray, milvus_server, squad_articles, embedder, tmp_path
):
    """The build stops after its first batch reached the store and was saved (an exception
    from the progress callback; a killed process leaves the same on disk: parts, no index).
    The next build embeds only the other files and still matches a build in one process."""
    source, questions = squad_articles
    folder = _copy(source, tmp_path / "corpus")
    spec = milvus_server.uri
    settings = RaySettings(workers=1, batch_size=1)

    class Crash(Exception):
        pass

    def crash(fraction, message):
        raise Crash(message)

    with pytest.raises(Crash):
        Assistant.from_folder(folder, embedder=embedder, store=spec, ray=settings, progress=crash)
    index_dir = folder / ".qa-index"
    assert not (index_dir / "CURRENT").exists()
    assert len(list((index_dir / PARTS).glob("part-*"))) == 1
    with Assistant.from_folder(folder, embedder=embedder, store=spec, ray=settings) as built:
        report = built.index.last_sync
        assert len(report.resumed) == 1 and len(report.added) == 4
        assert not (index_dir / PARTS).exists()
        store = built.index.store
        rows = store.client.query(
            store.collection, filter="number >= 0", output_fields=["pk"], limit=16384
        )
        assert len(rows) == len({r["pk"] for r in rows}) == len(built.index)
        alone = _copy(source, tmp_path / "alone")
        with Assistant.from_folder(alone, embedder=embedder) as one:
            _same_index(built.index, one.index)
            assert _answers(built, questions[:20]) == _answers(one, questions[:20])
