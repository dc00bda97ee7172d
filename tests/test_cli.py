"""CLI: ``qa index``, ``qa ask`` readable and ``--json``, ``python -m qa``, and errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from qa.cli import main

from .conftest import ROOT, SEEDS


@pytest.fixture(scope="module")
def cli_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, folder / path.name)
    return folder


def _run(*args, cwd=ROOT):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], capture_output=True, text=True, cwd=cwd, env=env,
        timeout=300,
    )  # fmt: skip


def test_index_then_ask_json_round_trip_in_a_fresh_process(cli_corpus):
    indexed = _run("index", str(cli_corpus))
    assert indexed.returncode == 0, indexed.stderr
    assert "Indexed 2 documents" in indexed.stdout

    asked = _run(
        "ask", "Where was the road transport agreement signed?",
        "--folder", str(cli_corpus), "--json", "-k", "2",
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    data = json.loads(asked.stdout)
    assert data["abstained"] is False
    assert len(data["extracts"]) == 2
    top = data["extracts"][0]
    text = (cli_corpus / top["doc_id"]).read_text(encoding="utf-8")
    assert text[top["start"] : top["end"]] == top["text"]
    assert "Dushanbe" in top["text"]


def test_readable_output_names_title_file_and_span(cli_corpus, capsys):
    code = main(
        ["ask", "Who announced that China would set up CNISCO?", "--folder", str(cli_corpus)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Xi Jinping" in out
    assert "002_d10c4a8f0ba2b87c.txt, characters 906–1361" in out


def test_history_option_resolves_a_follow_up(cli_corpus, capsys):
    code = main(
        ["ask", "And when was it signed?", "--folder", str(cli_corpus), "--json",
         "--history", "Where was the road transport agreement signed?"]
    )  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert "September 2014" in data["extracts"][0]["text"]


def test_a_bare_follow_up_is_asked_back_not_answered(cli_corpus, capsys):
    """The ask-back is the pipeline's policy (qa.pipeline.policy), so the CLI gives it too:
    before, only the web chat did, and this question was answered "2002" at high confidence."""
    code = main(["ask", "And when was it signed?", "--folder", str(cli_corpus)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("What does “it” refer to?")
    assert "characters" not in out  # nothing cited
    code = main(["ask", "And when was it signed?", "--folder", str(cli_corpus), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["clarify"] == "it" and data["extracts"] == [] and data["related"] == []


def test_abstention_is_said_plainly(cli_corpus, capsys):
    code = main(["ask", "Who won the 2018 football World Cup?", "--folder", str(cli_corpus)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("The sources do not answer this.")
    assert "not an answer" in out


def test_blank_question_is_an_error_with_a_message(cli_corpus, capsys):
    code = main(["ask", "  \t ", "--folder", str(cli_corpus)])
    assert code == 2
    assert "question is empty" in capsys.readouterr().err


def test_a_fresh_process_refusing_a_blank_question_exits_cleanly(cli_corpus):
    # The reader is still being loaded (in a thread) when the question is refused: the process
    # must wait for it rather than end under ONNX Runtime (which aborted it, exit 134).
    indexed = _run("index", str(cli_corpus))
    assert indexed.returncode == 0, indexed.stderr
    for _ in range(2):
        refused = _run("ask", " ", "--folder", str(cli_corpus))
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.strip() == "qa: error: The question is empty: please type a question."


def test_indexing_does_not_load_the_reader(cli_corpus, monkeypatch, capsys):
    from qa.models import reader

    loads = []
    monkeypatch.setattr(reader, "load_in_background", lambda *a, **k: loads.append(a))
    monkeypatch.setattr("qa.assistant.load_in_background", reader.load_in_background)
    assert (
        main(["index", str(cli_corpus)]) == 0 and "Indexed 2 documents" in capsys.readouterr().out
    )
    assert loads == []
    assert (
        main(["ask", "Where was the road transport agreement signed?", "--folder", str(cli_corpus)])
        == 0
    )
    assert len(loads) == 1  # asking does


def test_missing_folder_is_an_error_with_a_message(tmp_path, capsys):
    code = main(["ask", "Anything?", "--folder", str(tmp_path / "absent")])
    assert code == 2
    assert "Not a folder" in capsys.readouterr().err


def test_index_and_ask_on_a_milvus_lite_store(cli_corpus, tmp_path):
    store = f"milvus-lite:{tmp_path / 'qa.db'}"
    index_dir = str(tmp_path / "index")
    indexed = _run("index", str(cli_corpus), "--store", store, "--index-dir", index_dir)
    assert indexed.returncode == 0, indexed.stderr
    assert "Store: milvus" in indexed.stdout
    assert "(2 documents written, 0 removed)" in indexed.stdout
    asked = _run(
        "ask", "Where was the road transport agreement signed?", "--folder", str(cli_corpus),
        "--store", store, "--index-dir", index_dir, "--json",
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    top = json.loads(asked.stdout)["extracts"][0]
    text = (cli_corpus / top["doc_id"]).read_text(encoding="utf-8")
    assert text[top["start"] : top["end"]] == top["text"] and "Dushanbe" in top["text"]


def test_an_unreachable_store_is_an_error_with_a_message(cli_corpus, tmp_path, capsys):
    code = main(
        ["ask", "Anything?", "--folder", str(cli_corpus), "--index-dir", str(tmp_path / "i"),
         "--store", "milvus://127.0.0.1:9"]
    )  # fmt: skip
    assert code == 2
    assert "Cannot reach Milvus at http://127.0.0.1:9" in capsys.readouterr().err
