"""What the Assistant says about its sources, and adding and removing them (what the web UI
uses instead of reaching into the index): real values on the seeds corpus, no browser."""

from __future__ import annotations

import json
import os
import shutil
import time

import gradio as gr
import pytest

from qa import Assistant
from qa.assistant import TRASH_DIRNAME, CorpusSummary, SourceInfo
from qa.errors import DocumentError, DocumentNotFound, UsageError
from qa.pipeline.policy import NO_REFERENT
from qa.values import Answer
from qa.web.callbacks import PANEL_EMPTY, ChatApp

from .conftest import SEEDS

A = "000_0b88324673b57412.txt"  # Qatar News Agency piece: 15 passages
B = "002_d10c4a8f0ba2b87c.txt"  # Kazakh student's opinion piece: 14 passages
TITLE_A = (
    "Shanghai Cooperation Organization: Prominent Role in Confronting Threats to Peace and "
    "Security -1-"
)
OTTERS = "Sea otters hold hands while they sleep so they do not drift apart."


@pytest.fixture
def own_assistant(seeds_assistant, tmp_path) -> Assistant:
    """An Assistant of a test's own over a copy of the seeds folder and its index (the
    session's model; nothing is embedded again), free to add and remove documents."""
    folder = tmp_path / "seeds"
    shutil.copytree(seeds_assistant.folder, folder)
    before = seeds_assistant.embedder.texts_encoded
    assistant = Assistant.from_folder(folder, embedder=seeds_assistant.embedder)
    assert assistant.embedder.texts_encoded == before
    return assistant


def test_folder_and_index_dir(seeds_assistant):
    folder = seeds_assistant.folder
    assert sorted(p.name for p in folder.glob("*.txt")) == [A, B]
    assert seeds_assistant.index_dir == folder / ".qa-index"
    assert (seeds_assistant.index_dir / "CURRENT").is_file()


def test_summary_counts_documents_and_passages_and_says_when(seeds_assistant):
    summary = seeds_assistant.summary()
    saved = (seeds_assistant.index_dir / "CURRENT").stat().st_mtime
    assert summary == CorpusSummary(documents=2, passages=29, indexed_at=saved)
    assert summary.indexed_at <= time.time()


def test_sources_have_titles_file_sizes_and_passages(seeds_assistant):
    sources = sorted(seeds_assistant.sources(), key=lambda s: s.doc_id)
    assert [(s.doc_id, s.size, s.passages) for s in sources] == [(A, 4447, 15), (B, 5789, 14)]
    assert sources[0].title == TITLE_A
    assert sources[1].title.startswith("Shanghai Cooperation Organization - Reliable defenders")
    assert [s.size for s in sources] == [(SEEDS / s.doc_id).stat().st_size for s in sources]
    assert sum(s.passages for s in sources) == seeds_assistant.summary().passages
    assert seeds_assistant.source(A) == sources[0]
    with pytest.raises(DocumentNotFound, match="No document 'gone.txt'"):
        seeds_assistant.source("gone.txt")


def test_document_text_is_what_extracts_point_into(seeds_assistant):
    document = seeds_assistant.document(A)
    assert (document.doc_id, document.title) == (A, TITLE_A)
    top = seeds_assistant.ask("Where was the road transport agreement signed?").extracts[0]
    assert seeds_assistant.document(top.doc_id).text[top.start : top.end] == top.text
    assert "Dushanbe" in top.text
    with pytest.raises(KeyError):  # DocumentNotFound is a KeyError, as before
        seeds_assistant.document("gone.txt")


def test_duplicate_of_finds_the_same_bytes_under_any_name(seeds_assistant, tmp_path):
    copy = tmp_path / "renamed.txt"
    shutil.copy(SEEDS / B, copy)
    assert seeds_assistant.duplicate_of(copy) == B
    copy.write_text(OTTERS)
    assert seeds_assistant.duplicate_of(copy) is None


def test_store_description_and_question_encoder(seeds_assistant):
    assert seeds_assistant.describe_store() == {"kind": "faiss"}
    seeds_assistant.prepare_questions()  # loads what questions need; may be called again
    assert seeds_assistant.ask("Who announced that China would set up CNISCO?").extracts


def test_add_document_indexes_a_copy_under_a_free_name(own_assistant, tmp_path):
    folder = own_assistant.folder
    upload = tmp_path / "upload" / "otters.txt"
    upload.parent.mkdir()
    upload.write_text(OTTERS)
    before = time.time()
    added = own_assistant.add_document(upload, "otters.txt")
    modified = (own_assistant.folder / "otters.txt").stat().st_mtime_ns / 1e9
    assert before <= added.indexed <= time.time()  # when it was read and embedded
    expected = SourceInfo("otters.txt", OTTERS, len(OTTERS), 1, modified, added.indexed)
    assert added == expected  # title: its first line; modified: the file's time when indexed
    reopened = Assistant.from_folder(folder, embedder=own_assistant.embedder)
    assert reopened.source("otters.txt").indexed == added.indexed  # kept in the manifest
    assert upload.read_text() == OTTERS  # the uploaded file is copied, not moved
    assert (folder / "otters.txt").read_text() == OTTERS
    umask = os.umask(0)
    os.umask(umask)
    assert (folder / "otters.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert own_assistant.summary().documents == 3
    assert own_assistant.summary().passages == 30
    answer = own_assistant.ask("Why do sea otters hold hands?")
    assert answer.extracts[0].doc_id == "otters.txt"

    # The name is taken now: the next file of that name gets the next free one.
    upload.write_text("River otters slide down muddy banks into the water for fun.")
    assert own_assistant.add_document(upload, "otters.txt").doc_id == "otters-1.txt"
    assert (folder / "otters.txt").read_text() == OTTERS
    assert not list(folder.glob(".upload-*"))
    assert sorted(own_assistant.documents) == [A, B, "otters-1.txt", "otters.txt"]


def test_add_document_refuses_a_bad_file_or_name_and_changes_nothing(own_assistant, tmp_path):
    folder = own_assistant.folder
    before = sorted(p.name for p in folder.iterdir())
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(DocumentError):
        own_assistant.add_document(bad, "broken.pdf")
    for name in ("../escape.txt", "sub/x.txt", ".hidden.txt", ""):
        with pytest.raises(UsageError, match="not a plain file name"):
            own_assistant.add_document(SEEDS / A, name)
    assert sorted(p.name for p in folder.iterdir()) == before  # no copy left behind
    assert sorted(own_assistant.documents) == [A, B]


def test_trash_document_moves_the_file_aside_and_refresh_drops_it(own_assistant, tmp_path):
    folder = own_assistant.folder
    moved = own_assistant.trash_document(A)
    assert moved == folder / TRASH_DIRNAME / A
    assert not (folder / A).exists()
    assert moved.read_bytes() == (SEEDS / A).read_bytes()
    assert A in own_assistant.documents  # until the index is refreshed
    assert own_assistant.refresh().removed == [A]
    assert own_assistant.summary() == CorpusSummary(1, 14, own_assistant.summary().indexed_at)
    with pytest.raises(DocumentNotFound):
        own_assistant.trash_document(A)

    # The same name removed again never replaces the earlier removal.
    shutil.copy(SEEDS / A, folder / A)
    own_assistant.refresh()
    assert own_assistant.trash_document(A) == folder / TRASH_DIRNAME / A.replace(".txt", "-1.txt")
    assert len(list((folder / TRASH_DIRNAME).iterdir())) == 2

    # A document in a subfolder gets a flat name in the trash.
    (folder / "notes").mkdir()
    (folder / "notes" / "otters.txt").write_text(OTTERS)
    own_assistant.refresh()
    assert own_assistant.trash_document("notes/otters.txt").name == "notes__otters.txt"


def test_the_removal_confirmation_names_the_free_name_the_trash_will_give(own_assistant):
    """The confirmation says where the file will go: the name ``claim_name`` will take, "-1"...
    when an earlier removal holds it (``uploads.names_for``, the one sequence of both)."""
    app = ChatApp(own_assistant, watch=False)
    doc_id = sorted(own_assistant.documents)[0]
    trash = own_assistant.folder / TRASH_DIRNAME
    assert app._trash_path(doc_id) == f"{TRASH_DIRNAME}/{doc_id}"
    trash.mkdir(exist_ok=True)
    (trash / doc_id).write_text("an earlier removal")
    stem, suffix = doc_id.rsplit(".", 1)
    assert app._trash_path(doc_id) == f"{TRASH_DIRNAME}/{stem}-1.{suffix}"
    moved = own_assistant.trash_document(doc_id)
    assert (
        moved.relative_to(own_assistant.folder).as_posix() == f"{TRASH_DIRNAME}/{stem}-1.{suffix}"
    )


# ----- the chat keeps Answer objects in its state, dicts only where they leave ------------


def test_chat_state_holds_answers_including_the_ask_back(own_assistant):
    app = ChatApp(own_assistant, watch=False)
    state = app.respond("And when was it signed?", [], [], [])
    (asked_back,) = state[3]
    assert state[2] == [] and state[4] == PANEL_EMPTY  # the ask-back is no history
    assert isinstance(asked_back, Answer) and asked_back.clarify == "it"
    assert asked_back.abstained and asked_back.abstain_reason == NO_REFERENT
    assert asked_back.question == "And when was it signed?" and asked_back.extracts == []
    assert "What does “it” refer to?" in state[1][-1]["content"]
    _, messages, questions, answers, panel = app.respond(
        "Where was the road transport agreement signed?", *state[1:4]
    )
    assert len(messages) == 4 and questions == ["Where was the road transport agreement signed?"]
    assert isinstance(answers[1], Answer) and "Dushanbe" in answers[1].extracts[0].text
    assert "Dushanbe" in panel and 'id="qa-cited"' in panel
    assert app.pick("1:1:123", answers) == panel  # marker [1] of turn 1
    assert app.pick("0:1:123", answers) == PANEL_EMPTY  # the ask-back cites nothing

    app.feedback(answers, gr.LikeData(None, {"index": 3, "value": "", "liked": True}))
    app.feedback(answers, gr.LikeData(None, {"index": 1, "value": "", "liked": False}))
    up, down = (json.loads(line) for line in app.feedback_path.read_text().splitlines())
    assert app.feedback_path == own_assistant.index_dir / "feedback.jsonl"
    assert up["rating"] == "up" and up["history"] == []  # the ask-back is no history
    assert up["message"] == answers[1].message and up["abstain_reason"] is None
    top = answers[1].extracts[0]
    assert (up["extracts"][0]["doc_id"], up["extracts"][0]["start"]) == (top.doc_id, top.start)
    assert down["abstain_reason"] == NO_REFERENT and down["extracts"] == []
    assert down["abstained"] and down["message"] == answers[0].message


def test_a_removal_is_undone_by_restoring_the_file_from_the_trash(own_assistant):
    folder = own_assistant.folder
    moved = own_assistant.trash_document(A)
    own_assistant.refresh()
    where = moved.relative_to(folder).as_posix()
    with pytest.raises(UsageError, match="not a move qa makes"):
        own_assistant.restore_document(B, "copy.txt")  # not from the trash
    with pytest.raises(UsageError, match="not a move qa makes"):
        own_assistant.restore_document(where, "../outside.txt")
    restored = own_assistant.restore_document(where, A)
    assert restored.doc_id == A and A in own_assistant.documents
    assert (folder / A).read_bytes() == (SEEDS / A).read_bytes() and not moved.exists()
    with pytest.raises(DocumentNotFound, match="not in the trash"):
        own_assistant.restore_document(where, A)
