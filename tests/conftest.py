"""Shared fixtures: one real embedding model and one seeds index for the whole test run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from qa import Assistant
from qa.models.embedder import Embedder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


def require_data(relative: str) -> Path:
    """The shared evaluation file at ``relative`` (e.g. "squad/dev-v1.1.json"), or skip."""
    from eval import data

    path = data.data_dir() / relative
    if not path.exists():
        pytest.skip(f"benchmark data not found at {path} (set QA_DATA_DIR or pass --data)")
    return path


@pytest.fixture(scope="session", autouse=True)
def qa_cache(tmp_path_factory):
    """A cache folder of the test session's own (the ONNX question encoder is made once)."""
    folder = tmp_path_factory.mktemp("qa-cache")
    previous = os.environ.get("QA_CACHE_DIR")
    os.environ["QA_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("QA_CACHE_DIR", None)
    else:
        os.environ["QA_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real packaged all-MiniLM-L6-v2, loaded once per test session."""
    return Embedder()


@pytest.fixture(scope="session")
def seeds_assistant(embedder, tmp_path_factory) -> Assistant:
    """An Assistant over a copy of seeds/, indexed into a temporary folder."""
    folder = tmp_path_factory.mktemp("seeds")
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, folder / path.name)
    return Assistant.from_folder(folder, embedder=embedder)


@pytest.fixture
def corpus(tmp_path) -> Path:
    """An empty corpus folder for a test to fill."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    return folder


STORES = ("faiss", "milvus-lite")
# The Milvus store tests run on milvus-lite, and on a real server in the slow run.
MILVUS_KINDS = ("milvus-lite", pytest.param("milvus-server", marks=pytest.mark.slow))


@pytest.fixture(scope="session")
def milvus_server():
    """A real Milvus server (tests/milvus_server.py), started once for the slow tests that
    need it, then stopped and its data deleted."""
    pytest.importorskip("milvus", reason="the server needs the milvus extra: .[milvus-server]")
    from .milvus_server import MilvusServer

    server = MilvusServer().start()
    yield server
    server.cleanup()


@pytest.fixture(params=MILVUS_KINDS)
def milvus_spec(request, tmp_path) -> str:
    """A Milvus store description for a test's own data: a milvus-lite file under its
    tmp_path, or the session's server (its collection named after the test's index folder,
    so each test has its own)."""
    if request.param == "milvus-lite":
        return store_spec("milvus-lite", tmp_path)
    return request.getfixturevalue("milvus_server").uri


def store_spec(kind: str, folder: Path) -> str:
    """The store description of ``kind`` for a test's own files under ``folder``."""
    return "faiss" if kind == "faiss" else f"milvus-lite:{folder / 'milvus.db'}"


@pytest.fixture(scope="session")
def milvus_seeds_assistant(embedder, tmp_path_factory) -> Assistant:
    """An Assistant over a copy of seeds/ whose passages are searched in milvus-lite."""
    folder = tmp_path_factory.mktemp("seeds-milvus")
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, folder / path.name)
    assistant = Assistant.from_folder(
        folder, embedder=embedder, store=store_spec("milvus-lite", folder.parent / "seeds-db")
    )
    yield assistant
    assistant.close()


@pytest.fixture(scope="session", params=STORES)
def store_assistant(request) -> Assistant:
    """The seeds Assistant on each store in turn: the core question tests run on both."""
    if request.param == "faiss":
        return request.getfixturevalue("seeds_assistant")
    return request.getfixturevalue("milvus_seeds_assistant")
