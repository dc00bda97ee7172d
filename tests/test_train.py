"""Training the reader: the article split, the examples, checkpoint and resume, the export.

The runs here train the real MiniLM transformer for a few steps on a small SQuAD-shaped file
(14 articles, so that the split has training, dev and test articles): they test the machinery,
not the model's quality (``python -m eval.reader`` measures that).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.embedding import resolve_model
from qa.reader import MODEL_FILE
from qa.train import (
    DEV_ARTICLES,
    TEST_ARTICLES,
    TrainSettings,
    build_examples,
    export,
    main,
    quantise_weights,
    split_of,
    train,
)

FILLER = (
    " The family kept a small garden with apple trees, and the neighbours often came by in the"
    " evenings to talk about books, music and the news of the day from the city."
)
FACTS = [
    ("Ada Lovelace", "London", "1815", "mathematics"),
    ("Alan Turing", "Maida Vale", "1912", "computing"),
    ("Marie Curie", "Warsaw", "1867", "physics"),
]


def _fake_squad(path: Path, articles: int = 14) -> Path:
    data = []
    for n in range(articles):
        name, place, year, field = FACTS[n % len(FACTS)]
        paragraphs = [
            {
                "context": f"{name} was born in {place} in {year}. {name} worked on {field}."
                + FILLER,
                "qas": [
                    {
                        "id": f"{n}-born",
                        "question": f"Where was {name} born?",
                        "answers": [{"text": place, "answer_start": len(name) + 13}],
                    }
                ],
            },
            {
                "context": f"The archive of article {n} keeps letters about {field} and travel. "
                "Visitors read them in a quiet hall on weekdays." + FILLER,
                "qas": [
                    {
                        "id": f"{n}-read",
                        "question": "When do visitors read the letters?",
                        "answers": [{"text": "on weekdays", "answer_start": 0}],
                    }
                ],
            },
        ]
        # answer_start of the second paragraph's answer, computed rather than counted
        text = paragraphs[1]["context"]
        paragraphs[1]["qas"][0]["answers"][0]["answer_start"] = text.index("on weekdays")
        data.append({"title": f"Article_{n}", "paragraphs": paragraphs})
    path.write_text(json.dumps({"data": data, "version": "1.1"}))
    return path


def test_the_split_holds_out_twelve_articles_never_trained_on():
    assert len(TEST_ARTICLES) == 12 and len(DEV_ARTICLES) == 6
    assert not set(TEST_ARTICLES) & set(DEV_ARTICLES)
    assert all(article >= 12 for article in TEST_ARTICLES + DEV_ARTICLES)  # BM25 tuned on 0-11
    splits = [split_of(n) for n in range(48)]
    assert splits.count("train") == 30 and splits.count("test") == 12


def test_the_command_line_reports_missing_data(tmp_path, capsys):
    # Runs main()'s imports: they broke unnoticed once, when eval/benchmarks.py was split.
    assert main(["reader", "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert "squad" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_examples_pair_each_question_with_its_answer_and_a_window_without_it(tmp_path):
    squad = _fake_squad(tmp_path / "squad.json")
    data = build_examples(squad, "train", TrainSettings(random_negative=1.0))
    assert data.questions == 2 * sum(split_of(n) == "train" for n in range(14))
    for example in data.examples:
        if example.kind == "answer":
            answer = example.window[example.answer[0] : example.answer[1]]
            assert answer in ("London", "Maida Vale", "Warsaw", "on weekdays")
        else:
            assert example.answer is None
    # The test articles' text never reaches the training examples.
    held = [f"article {n} " for n in TEST_ARTICLES if n < 14]
    assert held and not any(h in e.window for e in data.examples for h in held)
    kinds = {e.kind for e in data.examples}
    assert kinds == {"answer", "hard", "random"}


@pytest.mark.slow  # about a minute on an idle machine: three model loads, training, export
def test_training_checkpoints_resumes_and_exports(tmp_path):
    squad = _fake_squad(tmp_path / "squad.json")
    out = tmp_path / "run"
    settings = TrainSettings(epochs=1, batch_size=4, checkpoint_every=1, dev_sample=4)
    model_dir = resolve_model(None)
    assert train(out, squad, settings, model_dir, stop_after=2) is None
    assert (out / "checkpoint.pt").exists() and not (out / "model.pt").exists()
    stopped = json.loads((out / "history.json").read_text())
    weights = train(out, squad, settings, model_dir)  # resumes at step 2
    assert weights == out / "model.pt" and weights.exists()
    history = json.loads((out / "history.json").read_text())
    assert history["seconds"] >= stopped["seconds"]
    assert history["dev"] and (out / "training.png").stat().st_size > 1000
    assert json.loads((out / "settings.json").read_text())["seed"] == settings.seed
    # An untrained head agrees poorly with itself after int8: the check is what is tested.
    facts = export(weights, out, squad, settings, model_dir, min_agreement=0.0)
    assert (out / "reader.onnx").stat().st_size < (out / "reader-fp32.onnx").stat().st_size / 3
    assert 0.0 <= facts["span_agreement_int8_vs_torch"] <= 1.0
    with pytest.raises(RuntimeError, match="agrees on"):
        export(weights, out, squad, settings, model_dir, min_agreement=1.01)


@pytest.mark.skipif(not MODEL_FILE.is_file(), reason="no reader model shipped")
def test_eval_reader_compares_with_and_without_the_reader(tmp_path, embedder):
    """``python -m eval.reader`` end to end on the small SQuAD-shaped file: the test
    articles' questions, on the open corpus and with odd paragraphs held out."""
    from eval import reader as eval_reader

    data = tmp_path / "data"
    (data / "squad").mkdir(parents=True)
    _fake_squad(data / "squad" / "dev-v1.1.json")
    out = tmp_path / "out"
    assert eval_reader.main(["--data", str(data), "--out", str(out)], embedder=embedder) == 0
    summary = json.loads((out / "reader_test.json").read_text())
    assert summary["articles"] == [12]
    for side in ("reader", "no_reader"):
        open_corpus = summary[side]["open_corpus"]
        assert open_corpus["questions"] == 2
        assert 0.0 <= open_corpus["f1"] <= 1.0 and 0.0 <= open_corpus["answer_hit@1"] <= 1.0
        assert summary[side]["abstention"]["answerable"] >= 1
    assert "answerability_auc" in summary["reader"]["abstention"]
    assert "answerability_auc" not in summary["no_reader"]["abstention"]


def test_quantise_weights_stores_int8_and_loads_back_to_nearly_the_same_floats(tmp_path):
    """A small embedding + matmul graph: the weights become int8 with a scale per output
    channel (per row for the table), the file shrinks, and the outputs stay within the
    rounding error once the reader's session folds them back to float32."""
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    table = rng.normal(size=(500, 64)).astype(np.float32)
    table[7] *= 50  # one loud row must not coarsen the others' scale
    weight = rng.normal(size=(64, 96)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["embedded"]),
            helper.make_node("MatMul", ["embedded", "weight"], ["out"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 96])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(weight, "weight")],
    )
    source, target = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), source)
    quantise_weights(source, target)
    stored = {i.name: numpy_helper.to_array(i) for i in onnx.load(target).graph.initializer}
    assert stored["table.int8"].dtype == np.int8 and stored["weight.int8"].dtype == np.int8
    assert "table" not in stored and "weight" not in stored
    assert target.stat().st_size < source.stat().st_size / 3
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.disable_quant_qdq", "1")  # as reader.Reader
    ids = np.array([1, 7, 42, 499])
    exact = table[ids] @ weight
    (got,) = onnxruntime.InferenceSession(str(target), options).run(None, {"ids": ids})
    error = np.abs(got - exact) / np.abs(exact).max(axis=1, keepdims=True)
    assert error.max() < 0.02


def test_thresholds_are_chosen_on_both_dev_sets_within_their_false_abstention_limits():
    from eval.reader import choose_thresholds

    def record(unanswerable, answerability, confidence=0.9, abstained=False):
        return {
            "unanswerable": unanswerable,
            "answerability": answerability,
            "confidence": confidence,
            "abstained": abstained,
        }

    # SQuAD-like: unanswerable ones score below 0.1, answerable ones above 0.2.
    squad = [record(False, 0.2 + i / 100) for i in range(40)]
    squad += [record(True, i / 200) for i in range(20)]
    # Gold-like: one answerable item at 0.05, below the unanswerable ones of SQuAD.
    gold = [record(False, 0.05)] + [record(False, 0.9) for _ in range(30)]
    gold += [record(True, 0.01)]
    below, threshold, scores = choose_thresholds([squad, gold])
    squad_scores, gold_scores = scores["sets"]
    assert gold_scores["false_abstentions"] <= 0.05 and squad_scores["false_abstentions"] <= 0.05
    # 0.05 is where SQuAD alone would want more: the gold limit lets one false abstention
    # (1/31 = 3.2%) through, so the threshold may pass it but not the SQuAD answerable ones.
    assert 0.01 < threshold <= 0.2
    assert squad_scores["abstain_recall"] == 1.0 and gold_scores["abstain_recall"] == 1.0
