"""Dense index: exact or IVF by size, recall against exact search, persistence in the index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa import Assistant, Settings
from qa.index.dense import DenseIndex
from qa.settings import DenseSettings

from .conftest import SEEDS


def _noisy_copies(base: np.ndarray, n: int, noise: float, seed: int = 0) -> np.ndarray:
    """``n`` normalised vectors: rows of ``base`` (real embeddings) plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    vectors = base[np.arange(n) % len(base)] + rng.normal(0, noise, (n, base.shape[1]))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def real_vectors(seeds_assistant) -> np.ndarray:
    index = seeds_assistant.index
    return np.concatenate([index.corpus.passage_vectors, index.corpus.sentence_vectors])


def test_the_kind_follows_the_size():
    settings = DenseSettings(exact_limit=100)
    assert settings.kind_for(100) == "flat" and settings.kind_for(101) == "ivf"
    assert DenseSettings(kind="ivf").kind_for(5) == "ivf"
    with pytest.raises(ValueError, match="kind"):
        DenseSettings(kind="hnsw")


def test_ivf_finds_what_exact_search_finds(real_vectors, embedder):
    vectors = _noisy_copies(real_vectors, 8000, noise=0.03)
    queries = embedder.encode(
        ["Where was the agreement signed?", "Who is the prime minister?", "What about tariffs?"]
    )
    exact = DenseIndex(DenseSettings(kind="flat")).build(vectors)
    ivf = DenseIndex(DenseSettings(exact_limit=1000, nprobe=16)).build(vectors)
    assert exact.kind == "flat" and ivf.kind == "ivf" and ivf.nlist == 205
    assert ivf.memory_bytes() < exact.memory_bytes() * 0.6  # float16 codes
    _, truth = exact.search(queries, 10)
    scores, found = ivf.search(queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found)])
    assert recall >= 0.9
    # the scores are the exact inner products, up to float16 rounding
    np.testing.assert_allclose(scores[:, 0], (vectors[found[:, 0]] * queries).sum(1), atol=2e-3)


def test_save_and_load_keep_the_index(tmp_path, real_vectors):
    vectors = _noisy_copies(real_vectors, 3000, noise=0.03)
    built = DenseIndex(DenseSettings(exact_limit=10)).build(vectors)
    built.save(tmp_path / "dense.faiss")
    loaded = DenseIndex.load(tmp_path / "dense.faiss", built.to_dict())
    assert loaded.to_dict() == built.to_dict() and loaded.kind == "ivf"
    # Its codes are searched through a map of the file, which outlives the file's name (an
    # update deletes the generation it replaces while questions may still use it).
    assert loaded.mapped and not built.mapped
    assert str(tmp_path / "dense.faiss") in Path("/proc/self/maps").read_text()
    copy = tmp_path / "copy.faiss"
    shutil.copy(tmp_path / "dense.faiss", copy)
    (tmp_path / "dense.faiss").unlink()
    for got, expected in zip(loaded.search(vectors[:5], 7), built.search(vectors[:5], 7)):
        np.testing.assert_array_equal(got, expected)
    copy.rename(tmp_path / "dense.faiss")
    # Saved again (an update that keeps it), it is the same index, not a reference to the map
    # (faiss writes a mapped index's lists as a file name: loading that crashed).
    loaded.save(tmp_path / "again.faiss")
    assert (tmp_path / "again.faiss").read_bytes() == (tmp_path / "dense.faiss").read_bytes()
    again = DenseIndex.load(tmp_path / "again.faiss", built.to_dict())
    for got, expected in zip(again.search(vectors[:5], 7), built.search(vectors[:5], 7)):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="holds 3000 vectors"):
        DenseIndex.load(tmp_path / "dense.faiss", built.to_dict() | {"vectors": 10})


def test_an_empty_index_returns_nothing():
    index = DenseIndex().build(np.zeros((0, 4), np.float32))
    scores, ids = index.search(np.ones(4, np.float32), 5)
    assert len(index) == 0 and scores.shape == (1, 0) and ids.shape == (1, 0)


def test_corpus_index_records_the_kind_and_reuses_the_stored_index(corpus, embedder, monkeypatch):
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    settings = Settings(dense=DenseSettings(kind="ivf"))
    first = Assistant.from_folder(corpus, embedder=embedder, settings=settings)
    manifest_path = next((corpus / ".qa-index").glob("gen-*/manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    assert manifest["dense"]["kind"] == "ivf"
    assert manifest["dense"]["vectors"] == len(first.index)

    def no_build(self, vectors):
        raise AssertionError("an unchanged index must not rebuild its dense index")

    monkeypatch.setattr(DenseIndex, "build", no_build)
    second = Assistant.from_folder(corpus, embedder=embedder, settings=settings)
    assert second.index.corpus.dense.kind == "ivf"
    question = "Where was the road transport agreement signed?"
    assert second.ask(question).extracts[0].text == first.ask(question).extracts[0].text
    monkeypatch.undo()

    # other settings than the stored index's: rebuilt as the settings say, nothing re-embedded,
    # and saved, so the next open reuses it
    before = embedder.texts_encoded
    third = Assistant.from_folder(corpus, embedder=embedder)
    assert third.index.corpus.dense.kind == "flat" and embedder.texts_encoded == before
    monkeypatch.setattr(DenseIndex, "build", no_build)
    fourth = Assistant.from_folder(corpus, embedder=embedder)
    assert fourth.index.corpus.dense.kind == "flat"


def test_ivf_and_exact_give_the_same_answers_on_the_seeds(seeds_assistant, embedder, corpus):
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    ivf = Assistant.from_folder(
        corpus, embedder=embedder, settings=Settings(dense=DenseSettings(kind="ivf"))
    )
    for question in ["Who signed the agreement?", "What did the minister say about trade?"]:
        got = [(e.doc_id, e.start, e.end) for e in ivf.ask(question).extracts]
        expected = [(e.doc_id, e.start, e.end) for e in seeds_assistant.ask(question).extracts]
        assert got == expected
