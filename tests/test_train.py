"""Training the reader: the article split, the examples, checkpoint and resume, the export.

The runs here train the real MiniLM transformer for a few steps on a small SQuAD-shaped file
(14 articles, so that the split has training, dev and test articles): they test the machinery,
not the model's quality (``python -m eval.reader`` measures that).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from qa.models.embedder import resolve_model
from qa.models.reader import MODEL_FILE
from qa.training.cli import main
from qa.training.examples import Example, TrainSettings, build_examples, extra_examples
from qa.training.export import export, quantise_weights
from qa.training.loop import train
from qa.training.model import distill_loss, reader_loss, span_loss, span_model
from qa.training.squad import DEV_ARTICLES, TEST_ARTICLES, split_of
from qa.training.teacher import (
    TeacherLogits,
    from_teacher,
    onnx_weights,
    teacher_layers,
    teacher_logits,
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


def _models_folder(tmp_path: Path, monkeypatch) -> Path:
    """An empty folder standing in for ``qa/models/`` (model, record, card), for shipping."""
    from qa.models import reader as reading

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setattr(reading, "MODEL_FOLDER", models)
    monkeypatch.setattr(reading, "MODEL_FILE", models / "reader.onnx")
    monkeypatch.setattr(reading, "CARD_FILE", models / "READER.md")
    return models


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


def _squad2_article(title: str) -> dict:
    """A SQuAD 2.0-shaped article: one answerable question and one unanswerable one whose
    writer was shown a plausible answer in the second paragraph."""
    first = "Grace Hopper was born in New York in 1906. She wrote one of the first compilers."
    second = "The navy gave her a ship's name later. Her team built a machine called Mark I."
    first, second = first + FILLER, second + FILLER
    return {
        "title": title,
        "paragraphs": [
            {
                "context": first,
                "qas": [
                    {
                        "id": f"{title}-born",
                        "question": "Where was Grace Hopper born?",
                        "answers": [{"text": "New York", "answer_start": first.index("New York")}],
                        "is_impossible": False,
                    }
                ],
            },
            {
                "context": second,
                "qas": [
                    {
                        "id": f"{title}-sister",
                        "question": "What machine did her sister build?",
                        "answers": [],
                        "plausible_answers": [
                            {"text": "Mark I", "answer_start": second.index("Mark I")}
                        ],
                        "is_impossible": True,
                    }
                ],
            },
        ],
    }


def test_extra_squad_files_add_answers_and_tempting_windows_for_unanswerable_questions(
    tmp_path, capsys
):
    squad = _fake_squad(tmp_path / "squad.json")
    evaluation = json.loads(squad.read_text())["data"]
    whole = tmp_path / "v2.json"
    whole.write_text(json.dumps({"version": "v2.0", "data": [_squad2_article("Hopper")]}))
    # A public copy cut off part-way through its third article; its first repeats "Hopper"
    # (the first file's article wins) and its second is an evaluation article (never trained).
    text = json.dumps({"data": [_squad2_article("Hopper"), evaluation[13], _squad2_article("B")]})
    cut = tmp_path / "cut.json"
    cut.write_text(text[: text.rindex("Mark I")])
    data = extra_examples([whole, cut], squad, TrainSettings(random_negative=1.0))
    printed = capsys.readouterr().out
    assert "skipped 'Article_13', an evaluation article" in printed
    assert "0 of 2 whole articles kept (the file is cut short" in printed
    assert data.questions == 2
    answers = [e for e in data.examples if e.kind == "answer"]
    assert [e.window[e.answer[0] : e.answer[1]] for e in answers] == ["New York"]
    unanswerable = [e for e in data.examples if e.qid == "Hopper-sister"]
    assert all(e.answer is None for e in unanswerable)
    (tempting,) = [e for e in unanswerable if e.kind == "plausible"]
    assert "Mark I" in tempting.window and "New York" not in tempting.window
    # The evaluation file's text never reaches the examples, even under another title.
    renamed = dict(evaluation[13], title="Renamed")
    (tmp_path / "renamed.json").write_text(json.dumps({"data": [renamed]}))
    assert extra_examples([tmp_path / "renamed.json"], squad, TrainSettings()).questions == 0


def test_a_continued_run_refuses_a_student_and_names_its_files_by_sha256(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["reader", "--out", str(tmp_path), "--init-from", "x.onnx", "--layers", "3"])
    assert "--init-from continues a whole reader" in capsys.readouterr().err
    data = tmp_path / "data"
    (data / "squad").mkdir(parents=True)
    _fake_squad(data / "squad" / "dev-v1.1.json")
    argv = ["reader", "--data", str(data), "--out", str(tmp_path / "run")]
    assert main([*argv, "--extra", str(tmp_path / "missing.json")]) == 2
    assert "no such file: " in capsys.readouterr().err and not (tmp_path / "run").exists()
    settings = TrainSettings(extra=("a.json",), extra_sha256=("00",), init_from="r.onnx")
    assert TrainSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def test_shipping_a_continued_run_keeps_the_first_runs_record_and_names_its_data(
    tmp_path, monkeypatch
):
    from qa.models import reader as reading
    from qa.training.card import SOURCES
    from qa.training.export import ship

    shipped = Path(reading.__file__).parent / "reader.json"
    models = _models_folder(tmp_path, monkeypatch)
    first = json.loads(shipped.read_text())
    first["command"] = "python -m qa.training reader --ship"
    (models / "reader.json").write_text(json.dumps(first))
    (models / "training.png").write_bytes(b"first curve")
    out = tmp_path / "run"
    out.mkdir()
    (out / "reader.onnx").write_bytes(b"the continued model")
    (out / "training.png").write_bytes(b"second curve")
    (out / "history.json").write_text(json.dumps({"seconds": 600, "train": [[25, 1.0]], "dev": []}))
    sha = next(iter(SOURCES))
    settings = TrainSettings(
        init_from="base.onnx",
        init_sha256=first["sha256"],
        extra=("x.json",),
        extra_sha256=(sha,),
        max_train_questions=1000,
        synthetic=1500,
    )
    facts = {k: first[k] for k in first if k.startswith(("dev_", "span_", "margin_", "agree"))}
    facts |= {"check_windows": 1000, "bytes": 19, "sha256": "ab" * 32}
    ship(out, facts, settings, "python -m qa.training reader --init-from base.onnx --ship")
    record = json.loads((models / "reader.json").read_text())
    assert record["continued_from"]["sha256"] == first["sha256"]
    assert (models / "training-first-run.png").read_bytes() == b"first curve"
    assert (models / "training.png").read_bytes() == b"second curve"
    card = (models / "READER.md").read_text()
    assert "--init-from base.onnx --ship" in card and first["sha256"][:12] in card
    assert "PhongNTDo/guide_train_MRC_transformers" in card and "1,000 of their questions" in card
    assert "1,500 synthetic unanswerable questions" in card
    # A run that did not start from the shipped file records no first run.
    ship(out, facts, TrainSettings(init_sha256="00"), "python -m qa.training reader")
    assert "continued_from" not in json.loads((models / "reader.json").read_text())


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
    facts = export(weights, out, squad, settings, model_dir, min_agreement=0.0, max_f1_loss=1.0)
    assert (out / "reader.onnx").stat().st_size < (out / "reader-fp32.onnx").stat().st_size / 3
    assert facts["fused"]["Attention"] == 6 and facts["fused"]["SkipLayerNormalization"] == 12
    assert 0.0 <= facts["span_agreement_int8_vs_torch"] <= 1.0
    with pytest.raises(RuntimeError, match="agrees on"):
        export(weights, out, squad, settings, model_dir, min_agreement=1.01)
    with pytest.raises(RuntimeError, match="loses"):
        export(weights, out, squad, settings, model_dir, min_agreement=0.0, max_f1_loss=-1.0)


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


def _logits(seed: int, rows: int = 3, width: int = 12):
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, width, generator=generator), torch.randn(
        rows, width, generator=generator
    )


def test_distillation_loss_is_zero_when_the_student_agrees_and_ignores_masked_positions():
    import torch

    student, teacher = _logits(0), _logits(1)
    allowed = torch.zeros(3, 12, dtype=torch.bool)
    allowed[:, 0] = True  # [CLS]
    allowed[:, 4:9] = True  # the window's tokens
    starts, ends = torch.tensor([0, 5, 6]), torch.tensor([0, 6, 8])
    same = reader_loss(*student, allowed, starts, ends, teacher=student, alpha=1.0)
    assert abs(same.item()) < 1e-6
    differ = distill_loss(*student, *teacher, allowed, temperature=2.0)
    assert differ.item() > 0.01
    # The question, [SEP]s and padding are no answer's place: what is there does not count.
    noisy = [t.clone() for t in teacher]
    for t in noisy:
        t[~allowed] = 1e4 * torch.rand(int((~allowed).sum()))
    assert torch.isclose(distill_loss(*student, *noisy, allowed, 2.0), differ)
    # alpha 0 is the hard loss alone; no teacher is the hard loss as before.
    hard = span_loss(*student, allowed, starts, ends)
    assert torch.isclose(reader_loss(*student, allowed, starts, ends, teacher, alpha=0.0), hard)
    assert torch.equal(reader_loss(*student, allowed, starts, ends), hard)
    # The loss trains: its gradient moves the student towards the teacher.
    moving = [t.clone().requires_grad_() for t in student]
    distill_loss(*moving, *teacher, allowed, 2.0).backward()
    assert all(torch.isfinite(t.grad).all() and t.grad[~allowed].abs().max() == 0 for t in moving)


def test_a_student_keeps_the_first_layers_of_the_packaged_transformer():
    import torch

    model_dir = resolve_model(None)
    student = span_model(model_dir, layers=3)
    assert len(student.encoder.encoder.layer) == 3
    assert student.encoder.config.num_hidden_layers == 3
    teacher = span_model(model_dir)
    assert len(teacher.encoder.encoder.layer) == 6
    ours, theirs = student.encoder.state_dict(), teacher.encoder.state_dict()
    name = "encoder.layer.2.output.dense.weight"
    assert torch.equal(ours[name], theirs[name])  # loaded, not freshly initialised
    assert not any(k.startswith("encoder.layer.3.") for k in ours)
    with pytest.raises(ValueError):
        span_model(model_dir, layers=7)


def test_a_student_takes_every_other_teacher_layer_ending_at_the_top(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["reader", "--out", str(tmp_path), "--layers", "3", "--init-from-teacher"])
    assert "--init-from-teacher needs --teacher" in capsys.readouterr().err
    with pytest.raises(ValueError, match="needs a teacher"):
        train(tmp_path, tmp_path / "squad.json", TrainSettings(init_from_teacher=True), "")
    assert teacher_layers(6, 3) == [1, 3, 5]
    assert teacher_layers(6, 2) == [2, 5]
    assert teacher_layers(6, 6) == [0, 1, 2, 3, 4, 5]


@pytest.mark.skipif(not MODEL_FILE.is_file(), reason="no reader model shipped")
def test_the_shipped_reader_rebuilt_from_its_onnx_weights_reads_as_the_onnx_file_does(tmp_path):
    """The shipped file's weights read back into PyTorch: exported and fused again in fp32 they
    give PyTorch's logits; the shipped file's int8 arithmetic gives nearly the same and the
    same answer span."""
    import torch

    from qa.models.reader import Reader, decode, encode
    from qa.training.export import export_onnx, fuse

    model_dir = resolve_model(None)
    weights = onnx_weights(MODEL_FILE)
    assert weights["head.weight"].shape == (2, 384)  # transposed back to PyTorch's layout
    assert weights["encoder.encoder.layer.5.intermediate.dense.weight"].shape == (1536, 384)
    assert weights["encoder.encoder.layer.2.attention.self.key.weight"].shape == (384, 384)
    rebuilt = span_model(model_dir)
    from_teacher(rebuilt, MODEL_FILE, 6)
    rebuilt.eval()
    shipped = Reader(model_dir)
    window = "Ada Lovelace was born in London in 1815." + FILLER
    batch = encode(shipped.tokenizer, ["Where was Ada Lovelace born?"] * 2, [window, FILLER[:90]])
    with torch.no_grad():
        ours = rebuilt(
            *(
                torch.tensor(a)
                for a in (batch.input_ids, batch.attention_mask, batch.token_type_ids)
            )
        )
    ours = [o.numpy() for o in ours]
    export_onnx(rebuilt, tmp_path / "full.onnx")
    assert fuse(tmp_path / "full.onnx", tmp_path / "fused.onnx", model_dir)["Attention"] == 6
    fp32 = Reader(model_dir, tmp_path / "fused.onnx")
    assert fp32.batch_size == 16 and shipped.batch_size == 1  # int8 reads a pair a call
    fused = fp32.logits(batch)
    for got, expected in zip(fused, ours):
        assert np.abs(got - expected).max() < 1e-3
    start, end = shipped.logits(batch)
    inside = batch.window_mask  # where a span may lie (padding's logits mean nothing)
    for got, expected in zip((start, end), ours):
        assert np.abs(got[inside] - expected[inside]).max() < 1.5
        assert np.corrcoef(got[inside], expected[inside])[0, 1] > 0.99
    spans = [(r.start, r.end) for r in decode(start, end, batch)]
    assert spans == [(r.start, r.end) for r in decode(*ours, batch)]
    assert window[slice(*spans[0])] == "London"
    # A 3-layer student starts from layers 1, 3 and 5, and the head.
    student = span_model(model_dir, layers=3)
    from_teacher(student, MODEL_FILE, 3)
    state = student.state_dict()
    for mine, theirs in ((0, 1), (1, 3), (2, 5)):
        name = f"encoder.encoder.layer.{theirs}.output.dense.weight"
        assert np.allclose(state[name.replace(f".{theirs}.", f".{mine}.", 1)], weights[name])
    assert np.allclose(state["head.bias"], weights["head.bias"])


@pytest.mark.slow  # about a minute: export, fusion, quantisation and the dev check
@pytest.mark.skipif(not MODEL_FILE.is_file(), reason="no reader model shipped")
def test_compiling_the_shipped_reader_keeps_its_weights_and_its_training_record(
    tmp_path, monkeypatch
):
    from qa.models import reader as reading
    from qa.training.cli import compile_main
    from qa.training.export import compile_reader, ship_compiled

    squad = _fake_squad(tmp_path / "squad.json")
    source = tmp_path / "source.onnx"
    source.write_bytes(MODEL_FILE.read_bytes())
    facts = compile_reader(
        source, tmp_path / "out", squad, resolve_model(None), min_agreement=0.0, max_f1_loss=1.0
    )
    assert facts["weights_max_difference"] == 0.0  # the same numbers, another arithmetic
    assert facts["fused"]["Attention"] == 6
    shipped = Path(reading.__file__).parent / "reader.json"
    models = _models_folder(tmp_path, monkeypatch)
    record = json.loads(shipped.read_text())
    record["sha256"] = "00" * 32  # the shipped reader is another file
    (models / "reader.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="not the shipped reader"):
        ship_compiled(tmp_path / "out", facts, source, "python -m qa.training compile")
    from qa.ingest.documents import file_sha256

    record["sha256"] = file_sha256(source)
    (models / "reader.json").write_text(json.dumps(record))
    ship_compiled(tmp_path / "out", facts, source, "python -m qa.training compile --ship")
    shipped = json.loads((models / "reader.json").read_text())
    assert shipped["command"] == record["command"]  # the training on record stays
    assert shipped["compiled"]["from_sha256"] == file_sha256(source)
    assert shipped["sha256"] == file_sha256(models / "reader.onnx") == facts["sha256"]
    card = (models / "READER.md").read_text()
    assert "Re-exported without training by `python -m qa.training compile --ship`" in card
    assert "6 Attention" in card
    # Compiled again from the same trained file: the record still names that file.
    ship_compiled(tmp_path / "out", facts, source, "python -m qa.training compile --ship")
    again = json.loads((models / "reader.json").read_text())
    assert again["compiled"]["from_sha256"] == file_sha256(source)
    assert again["compiled"]["from_dev_int8"] == record["dev_int8"]
    assert compile_main(["--source", str(tmp_path / "missing.onnx")]) == 2


def test_teacher_logits_must_match_the_students_tokens():
    logits = TeacherLogits(np.arange(5.0), -np.arange(5.0), np.array([0, 2, 5]))
    start, end = logits.batch([1, 0], [3, 2])
    assert start.tolist() == [[2.0, 3.0, 4.0], [0.0, 1.0, 0.0]]
    assert end.tolist() == [[-2.0, -3.0, -4.0], [-0.0, -1.0, 0.0]]
    with pytest.raises(RuntimeError, match="teacher read 2 tokens, student 3"):
        logits.batch([0], [3])


@pytest.mark.skipif(not MODEL_FILE.is_file(), reason="no reader model shipped")
def test_teacher_logits_are_computed_once_and_recomputed_for_other_examples(tmp_path, monkeypatch):
    from qa.models import reader as reading

    model_dir = resolve_model(None)
    tok = reading.tokenizer(model_dir)
    examples = [
        Example("a", "Where was Ada born?", "Ada was born in London in 1815.", (16, 22), "answer"),
        Example("b", "Who won?", "The weather was calm all summer on the lake.", None, "hard"),
        Example("c", "When?", "In 1912.", (3, 7), "answer"),
    ]
    cache = tmp_path / "teacher.npz"
    first = teacher_logits(examples, MODEL_FILE, tok, model_dir, cache, 256, batch_size=2)
    batch = reading.encode(tok, [e.question for e in examples], [e.window for e in examples])
    lengths = batch.attention_mask.sum(1).tolist()
    start, end = first.batch(range(3), lengths)
    reader = reading.Reader(model_dir, MODEL_FILE)
    for row, e in enumerate(examples):  # as the reader reads each pair (one a call for int8)
        alone = reading.encode(tok, [e.question], [e.window])
        direct = reader.logits(alone)
        length = lengths[row]
        assert np.allclose(start.numpy()[row, :length], direct[0][0], atol=1e-3)
        assert np.allclose(end.numpy()[row, :length], direct[1][0], atol=1e-3)

    # A resumed run reads the cache: no model is loaded.
    def no_reader(*args, **kwargs):
        raise AssertionError("the teacher was loaded again")

    monkeypatch.setattr(reading, "Reader", no_reader)
    again = teacher_logits(examples, MODEL_FILE, tok, model_dir, cache, 256)
    assert np.array_equal(again.start, first.start) and np.array_equal(again.end, first.end)
    # Other examples: the cache no longer fits, so the teacher reads again.
    monkeypatch.undo()
    changed = teacher_logits(examples[:2], MODEL_FILE, tok, model_dir, cache, 256)
    assert len(changed.offsets) == 3 and changed.offsets[-1] == sum(lengths[:2])


@pytest.mark.slow  # about a minute: two model loads, the teacher's pass, training, export
@pytest.mark.skipif(not MODEL_FILE.is_file(), reason="no reader model shipped")
def test_a_distilled_student_trains_and_exports_beside_the_run_only(tmp_path, monkeypatch):
    from qa.training import cli

    data = tmp_path / "data"
    (data / "squad").mkdir(parents=True)
    _fake_squad(data / "squad" / "dev-v1.1.json")
    out = tmp_path / "student"
    shipped = {p.name: p.read_bytes() for p in MODEL_FILE.parent.iterdir()}
    argv = ["reader", "--data", str(data), "--out", str(out), "--epochs", "1", "--layers", "2"]
    argv += ["--teacher", str(MODEL_FILE), "--export-only", "--check", "20"]
    # A few steps do not make a reader that survives int8: the check is --ship's, tested above.
    monkeypatch.setattr(cli, "export", functools.partial(export, min_agreement=0.0))
    assert main(argv) == 0
    assert (out / "model.pt").exists() and (out / "teacher.npz").exists()
    assert (out / "reader.onnx").exists()
    record = json.loads((out / "reader.json").read_text())
    assert record["command"].endswith("--export-only --check 20")
    assert (record["settings"]["layers"], record["settings"]["teacher"]) == (2, str(MODEL_FILE))
    assert record["check_windows"] <= 20 and "dev_int8" in record
    assert {p.name: p.read_bytes() for p in MODEL_FILE.parent.iterdir()} == shipped


def _fake_squad2(squad: Path, path: Path) -> Path:
    """SQuAD 2.0's labelled half in small: articles 0 (train) and 12 (test) of the fake SQuAD
    file, their paragraphs in another order (as in the real file), each with its answerable
    question and an unanswerable one whose decoy is the year in the first paragraph."""
    articles = []
    for article in (json.loads(squad.read_text())["data"][n] for n in (0, 12)):
        first, second = article["paragraphs"]
        year = next(y for _, _, y, _ in FACTS if y in first["context"])
        trap = {
            "id": f"{article['title']}-died",
            "question": "In what year did she die in the garden?",
            "answers": [],
            "plausible_answers": [{"text": year, "answer_start": first["context"].index(year)}],
            "is_impossible": True,
        }
        bare = {  # a bare follow-up: qa asks back what "it" is (an abstention)
            "id": f"{article['title']}-bare",
            "question": "Why did it close?",
            "answers": [],
            "plausible_answers": [],
            "is_impossible": True,
        }
        extra = [bare] if article["title"] == "Article_12" else []
        articles.append(
            {
                "title": article["title"],
                "paragraphs": [second, {**first, "qas": first["qas"] + [trap, *extra]}],
            }
        )
    path.write_text(json.dumps({"version": "v2.0", "data": articles}))
    return path


def test_squad2_lies_on_the_squad_corpus_and_trains_only_on_training_articles(tmp_path):
    from qa.training.examples import squad2_examples
    from qa.training.squad import article_number, load_squad, load_squad2

    squad = _fake_squad(tmp_path / "squad.json")
    squad2 = _fake_squad2(squad, tmp_path / "squad2.json")
    data = load_squad2(squad2, squad)
    assert data.documents == load_squad(squad).documents  # the same corpus, names and text
    assert {article_number(q.doc_id) for q in data.questions} == {0, 12}
    traps = [q for q in data.questions if q.plausible]
    assert len(traps) == 2 and all(not q.spans for q in traps)
    for q in traps:  # the decoy's span is where its paragraph lies in the corpus document
        ((start, end),) = q.plausible
        assert data.documents[q.doc_id][start:end] in ("1815", "1867", "1912")
    examples = squad2_examples(squad2, squad, TrainSettings(random_negative=1.0))
    assert examples.questions == 1  # article 0's trap only: article 12 is a test article
    assert {e.qid for e in examples.examples} == {"Article_0-died"}
    assert all(e.answer is None for e in examples.examples)
    assert "1815" in next(e.window for e in examples.examples if e.kind == "plausible")
    # A paragraph SQuAD v1.1 does not have is refused, not guessed at.
    broken = json.loads(squad2.read_text())
    broken["data"][0]["paragraphs"][0]["context"] += " Changed."
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="paragraphs not in SQuAD"):
        load_squad2(tmp_path / "broken.json", squad)


@pytest.mark.skipif(not MODEL_FILE.is_file(), reason="no reader model shipped")
def test_eval_squad2_scores_abstention_as_the_official_script_does(tmp_path, embedder):
    """``python -m eval.squad2`` end to end on the small files: the test articles' questions
    on their open corpus, reader on and off, the official scoring and the trade-off plot."""
    from eval import squad2 as eval_squad2

    data = tmp_path / "data"
    (data / "squad").mkdir(parents=True)
    (data / "squad2").mkdir()
    squad = _fake_squad(data / "squad" / "dev-v1.1.json")
    _fake_squad2(squad, data / "squad2" / "dev-v2.0-labelled-half.json")
    out = tmp_path / "out"
    assert eval_squad2.main(["--data", str(data), "--out", str(out)], embedder=embedder) == 0
    summary = json.loads((out / "squad2_test.json").read_text())
    assert summary["articles"] == [12] and summary["corpus_articles"] == [12]
    assert (out / "squad2_test_tradeoff.png").stat().st_size > 1000
    for side in ("reader", "no_reader"):
        figures = summary[side]
        assert figures["answerable"] == 2 and figures["unanswerable"] == 2
        assert figures["asked_back"] == 1  # "Why did it close?": abstained, read by nobody
        # overall = the mean over questions, unanswerable ones scoring 1 when abstained
        expected = (2 * figures["has_ans_f1"] + 2 * figures["no_ans_accuracy"]) / 4
        assert figures["f1"] == pytest.approx(expected)
        assert figures["no_ans_accuracy"] == figures["abstain_recall"]
    curve = summary["tradeoff"]["no_answer_below"]
    assert curve[0]["false"] <= curve[-1]["false"] and curve[0]["recall"] <= curve[-1]["recall"]


def test_a_decoy_question_changes_a_number_its_article_never_mentions():
    from qa.training.decoys import changed_number, mentions, names

    assert [("Where was Ada Lovelace born in London?")[a:b] for a, b in names(
        "Where was Ada Lovelace born in London?"
    )] == ["Ada Lovelace", "London"]  # fmt: skip
    assert names("Who wrote it?") == []  # the first word is grammar, not a name
    article = "Ada Lovelace was born in 1815. She met Babbage in 1833 and 1816 was a cold year."
    rng = __import__("random").Random(0)
    for _ in range(20):
        edited = changed_number("What happened in 1815?", article, rng)
        year = edited.removeprefix("What happened in ").removesuffix("?")
        assert year.isdigit() and 1806 <= int(year) <= 1824 and not mentions(article, year)
    assert changed_number("Who wrote the 3 letters?", article, rng) is None  # one digit
    assert mentions(article, "ada LOVELACE") and not mentions(article, "Ada Love")


def test_synthetic_unanswerables_swap_a_name_for_one_their_article_never_mentions(
    tmp_path, embedder
):
    from qa.training.decoys import decoy_questions, mentions
    from qa.training.examples import synthetic_examples
    from qa.training.squad import article_number, load_squad

    squad = _fake_squad(tmp_path / "squad.json")
    data = load_squad(squad)
    edited = decoy_questions(data, 6, 0, embedder.encode)
    assert len(edited) == 6
    originals = {q.qid: q for q in data.questions}
    for q in edited:
        original = originals[q.qid.rsplit("-", 1)[0]]
        assert split_of(article_number(q.doc_id)) == "train"
        assert (q.spans, q.answers, q.plausible) == ((), (), original.spans)
        assert q.question != original.question and q.question.startswith("Where was ")
        swapped = q.question.removeprefix("Where was ").removesuffix(" born?")
        assert swapped in {name for name, *_ in FACTS}
        assert not mentions(data.documents[q.doc_id], swapped)
    # The examples: each edited question's window is the one answering the original.
    settings = TrainSettings(random_negative=0.0, synthetic=4)
    examples = synthetic_examples(squad, settings, embedder.encode)
    decoys = [e for e in examples.examples if e.kind == "edited"]
    assert len(decoys) == 4 and all(e.answer is None for e in examples.examples)
    for e in decoys:
        assert any(place in e.window for _, place, _, _ in FACTS)
