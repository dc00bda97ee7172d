"""Embedding: the ONNX question encoder agrees with sentence-transformers and spares torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np

from eval.gold import load_gold
from qa import Assistant
from qa.ingest.text import repair_splits
from qa.models.embedder import Embedder, resolve_model
from qa.models.onnx_encoder import AGREEMENT, OnnxEncoder, encoder_file

from .conftest import ROOT, SEEDS


def _model_vectors(embedder, texts):
    """sentence-transformers' own vectors, bypassing the export."""
    return embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)


def test_building_an_index_exports_a_question_encoder_that_agrees(seeds_assistant, embedder):
    path = encoder_file(resolve_model(embedder.model_name))
    assert path.exists()  # made while the session's first index was built
    questions = [item.question for item in load_gold()]
    ours = OnnxEncoder(path, resolve_model(embedder.model_name)).encode(questions)
    theirs = _model_vectors(embedder, questions)
    assert ours.shape == theirs.shape
    assert np.min(np.sum(ours * theirs, axis=1)) >= AGREEMENT
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_an_encoder_runs_the_threads_it_is_given(seeds_assistant, embedder):
    # A Ray actor's encoder runs one thread per CPU it reserved (qa.index.on_ray), and the
    # vectors do not depend on the thread count.
    path = encoder_file(resolve_model(embedder.model_name))
    location = resolve_model(embedder.model_name)
    one = OnnxEncoder(path, location, threads=1)
    default = OnnxEncoder(path, location)
    assert one.session.get_session_options().intra_op_num_threads == 1
    assert default.session.get_session_options().intra_op_num_threads == 2
    texts = ["Where was the road transport agreement signed?", "Dushanbe"]
    assert np.allclose(one.encode(texts), default.encode(texts), atol=1e-5)
    fresh = Embedder(embedder.model_name)
    fresh.use_onnx(path, threads=1)
    assert fresh.onnx_encoder().session.get_session_options().intra_op_num_threads == 1


def test_questions_use_the_export_and_answer_as_the_model_does(seeds_assistant, embedder):
    assert embedder.onnx_encoder() is not None
    question = "Where was the road transport agreement signed?"
    vector = embedder.encode_questions([question])[0]
    assert float(vector @ _model_vectors(embedder, [question])[0]) >= AGREEMENT
    onnx_answer = seeds_assistant.ask(question)
    torch_only = Embedder()  # no export known: sentence-transformers embeds the question
    torch_only._model = embedder.model
    plain = Assistant(seeds_assistant.index, seeds_assistant.settings)
    plain.index.embedder, saved = torch_only, plain.index.embedder
    try:
        torch_answer = plain.ask(question)
    finally:
        plain.index.embedder = saved
    spans = [(e.doc_id, e.start, e.end) for e in onnx_answer.extracts]
    assert spans == [(e.doc_id, e.start, e.end) for e in torch_answer.extracts]


COLD_ASK = """
import json, sys
from qa import Assistant
assistant = Assistant.from_folder(sys.argv[1])
answer = assistant.ask("Where was the road transport agreement signed?")
heavy = [name for name in ("torch", "bm25s", "numba", "scipy") if name in sys.modules]
print(json.dumps({"imported": heavy, "text": answer.extracts[0].text}))
"""


def test_a_cold_process_on_a_built_index_answers_without_importing_torch(tmp_path, embedder):
    # Nor bm25s (which brings numba and scipy): a question is scored from its saved arrays.
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder, ignore=shutil.ignore_patterns(".qa-index"))
    Assistant.from_folder(folder, embedder=embedder)
    child = subprocess.run(
        [sys.executable, "-c", COLD_ASK, str(folder)], cwd=ROOT, capture_output=True, text=True
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["imported"] == []
    assert "Dushanbe" in result["text"]


def test_a_damaged_export_falls_back_to_the_model(tmp_path, monkeypatch, embedder, caplog):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    path = encoder_file(resolve_model(embedder.model_name))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an onnx file")
    fresh = Embedder()
    fresh._model = embedder.model
    fresh.use_onnx(path)
    vector = fresh.encode_questions(["Who wrote the article?"])[0]
    assert float(vector @ _model_vectors(embedder, ["Who wrote the article?"])[0]) > 0.9999
    assert "Not using" in caplog.text


def test_prepare_questions_makes_the_export_for_an_index_built_before_it(
    seeds_assistant, tmp_path, monkeypatch
):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "empty-cache"))
    path = encoder_file(resolve_model(seeds_assistant.embedder.model_name))
    assert not path.exists()
    seeds_assistant.index.prepare_questions()  # what `qa index` and the chat's start do
    assert path.exists()
    assert seeds_assistant.embedder._onnx_path == path


def test_indexing_embeds_with_the_export_as_the_model_would(seeds_assistant, embedder):
    index = seeds_assistant.index
    assert embedder.onnx_encoder() is not None
    texts = [index.corpus.sentence_text(j) for j in range(len(index.corpus.sentence_span))]
    theirs = _model_vectors(embedder, [repair_splits(text) for text in texts])
    agreement = np.sum(index.corpus.sentence_vectors * theirs, axis=1)
    assert agreement.min() >= AGREEMENT


def test_without_an_export_indexing_uses_the_model(corpus, tmp_path, monkeypatch, embedder):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "no-cache"))
    monkeypatch.setattr("qa.models.embedder.onnx_available", lambda: False)
    (corpus / "zoo.txt").write_text("The zoo keeps three snow leopards. They came from Nepal.")
    fresh = Embedder()
    fresh._model = embedder.model
    assistant = Assistant.from_folder(corpus, embedder=fresh)
    assert fresh.onnx_encoder() is None
    assert not encoder_file(resolve_model(fresh.model_name)).exists()
    assert "Nepal" in assistant.ask("Where did the snow leopards come from?").extracts[0].text
