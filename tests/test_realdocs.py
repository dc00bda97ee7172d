"""The real-file gold set (eval/realdocs/): its files are well-formed, its sentences are in
the sources where this machine has them, and its measures (fragments, hit@1) do what the
README says. No model and no LibreOffice are needed."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from eval.realdocs import (
    FORMATS,
    QUESTION_KINDS,
    RealDocument,
    RealQuestion,
    assign_splits,
    build_corpus,
    ends_sentence,
    fragment_reason,
    is_whole,
    load_manifest,
    load_questions,
    locate,
    markdown_slides,
    score,
    select_questions,
    starts_sentence,
    summarize,
)
from qa.ingest.documents import file_sha256
from qa.values import Answer, Extract

DOCUMENTS = load_manifest()
QUESTIONS = load_questions()
BY_ID = {doc.id: doc for doc in DOCUMENTS}
SUFFIXES = {"text": ".txt", "markdown": ".md", "html": ".html", "pdf": ".pdf"}


# ----- the files of the set ---------------------------------------------------------------


def test_manifest_is_well_formed():
    ids = [doc.id for doc in DOCUMENTS]
    assert len(ids) == len(set(ids)) >= 25
    assert {doc.kind for doc in DOCUMENTS} == set(FORMATS)  # every format is in the set
    for doc in DOCUMENTS:
        assert doc.kind in FORMATS and doc.why
        assert Path(doc.id).suffix == SUFFIXES.get(doc.kind, f".{doc.kind}"), doc.id
        assert Path(doc.source).is_absolute() and not doc.source.startswith("/work/main/")
        assert len(doc.sha256) == 64 and int(doc.sha256, 16) >= 0
        if doc.make is not None:
            assert doc.make["convert"] == Path(doc.id).suffix[1:]
            assert doc.make["from"] == doc.source
        else:
            assert doc.kind in ("text", "markdown", "html", "pdf")


def test_questions_are_well_formed():
    ids = [q.id for q in QUESTIONS]
    assert len(ids) == len(set(ids)) >= 60
    kinds = Counter(q.kind for q in QUESTIONS)
    assert set(kinds) == set(QUESTION_KINDS)
    assert kinds["near_miss"] >= 10 and kinds["off_topic"] >= 10 and kinds["answerable"] >= 40
    assert {q.split for q in QUESTIONS} == {"dev", "test"}
    for q in QUESTIONS:
        assert q.question.strip().endswith("?"), q.id
        if q.kind == "answerable":
            assert q.doc in BY_ID and q.answer and q.sentence, q.id
            assert q.answer in q.sentence, q.id
            assert q.note is None
        elif q.kind == "near_miss":
            assert q.doc in BY_ID and q.note and q.answer is None and q.sentence is None, q.id
        else:
            assert q.doc is None and q.answer is None and q.sentence is None, q.id
    # Every format has questions, and near-misses are on documents qa reads today too.
    assert {BY_ID[q.doc].kind for q in QUESTIONS if q.doc} == set(FORMATS)


def test_splits_follow_the_rule_and_keep_a_document_in_one_split():
    off_topic = [q.id for q in QUESTIONS if q.kind == "off_topic"]
    rule = assign_splits(DOCUMENTS, off_topic)
    for q in QUESTIONS:
        assert q.split == rule[q.doc or q.id], q.id
    per_kind = Counter((doc.kind, rule[doc.id]) for doc in DOCUMENTS)
    for kind in FORMATS:
        if sum(per_kind[kind, split] for split in ("dev", "test")) > 1:
            assert per_kind[kind, "dev"] and per_kind[kind, "test"], kind
    dev = sum(1 for doc in DOCUMENTS if rule[doc.id] == "dev") / len(DOCUMENTS)
    assert 0.3 <= dev <= 0.5


def _present(doc: RealDocument) -> bool:
    source = Path(doc.source)
    return source.is_file() and file_sha256(source) == doc.sha256


@pytest.mark.parametrize(
    "doc", [d for d in DOCUMENTS if d.kind in ("text", "markdown")], ids=lambda d: d.id
)
def test_sentences_occur_in_the_text_and_markdown_sources(doc):
    if not _present(doc):
        pytest.skip(f"{doc.source} is not on this machine (or is another version)")
    text = Path(doc.source).read_bytes().decode("utf-8-sig")
    for q in QUESTIONS:
        if q.doc == doc.id and q.kind == "answerable":
            assert q.sentence in text, q.id


# ----- sentences and fragments ------------------------------------------------------------


WRAPPED = (
    "Intro line.\n\n"
    "Vim saves undo files in the same directory as the file.  You can change\n"
    "this with the 'undodir' option.\n"
)


def test_a_whole_sentence_is_whole_and_a_cut_one_is_a_fragment():
    start = WRAPPED.index("Vim saves")
    end = WRAPPED.index("file.") + len("file.")
    assert is_whole(WRAPPED, start, end)
    # Two sentences over a line break: still whole.
    assert is_whole(WRAPPED, start, len(WRAPPED))
    # Cut at the line break: ends mid-sentence.
    cut = WRAPPED.index("You can change") + len("You can change")
    second = WRAPPED.index("You can")
    assert starts_sentence(WRAPPED, second) and not ends_sentence(WRAPPED, cut)
    assert fragment_reason(WRAPPED, second, cut) == "ends mid-sentence"
    # Starting mid-sentence, at the start of the wrapped line.
    middle = WRAPPED.index("this with")
    assert not starts_sentence(WRAPPED, middle)
    assert fragment_reason(WRAPPED, middle, len(WRAPPED)) == "starts mid-sentence"
    # Mid-line, mid-sentence.
    assert fragment_reason(WRAPPED, WRAPPED.index("undo files"), cut) == (
        "starts mid-sentence, ends mid-sentence"
    )


def test_headings_and_list_items_are_block_boundaries():
    markdown = "## Install\nRun the installer\n\n- first item\n- second item\n"
    heading_end = markdown.index("Install") + len("Install")
    assert is_whole(markdown, 0, heading_end)  # a heading, then its paragraph's line
    body = markdown.index("Run")
    assert starts_sentence(markdown, body)  # after a Markdown heading line
    assert ends_sentence(markdown, body + len("Run the installer"))  # a blank line follows
    item = markdown.index("first item")
    assert is_whole(markdown, item, item + len("first item"))  # list marker, next item
    assert is_whole(markdown, markdown.index("- first"), item + len("first item"))
    assert is_whole(markdown, markdown.index("Install"), heading_end)  # after the "## "
    # Extracted HTML: a heading-like line after a finished sentence, then the paragraph.
    html = "You will see other types.\nScalar Types\nA scalar type represents a single value."
    assert starts_sentence(html, html.index("A scalar"))
    assert not starts_sentence(html, html.index("Types\n"))
    # Option names as lowercase headings, numbered headings after a navigation bar.
    cargo = "It inherits from the dev profile.\nbench\nThe bench profile is used by cargo bench."
    assert starts_sentence(cargo, cargo.index("The bench"))
    libffi = "Previous: Closure Example, Up: Using libffi [Index]\n2.7 Thread Safety\nlibffi is"
    assert starts_sentence(libffi, libffi.index("libffi is"))
    # A wrapped line is no heading: its previous line does not end a sentence.
    wrapped = "when we converted a String to a numeric\ntype using parse in the\nChapter 2, we"
    assert not starts_sentence(wrapped, wrapped.index("Chapter"))
    # AsciiDoc joins blocks with a lone "+" line, as a blank line would.
    asciidoc = "\tcan help to avoid confusion.\n+\nWhenever you split, use the same one.\n"
    assert starts_sentence(asciidoc, asciidoc.index("Whenever"))
    assert ends_sentence(asciidoc, asciidoc.index("+") + 1)
    # A table row is a block of its own.
    table = "| a | b |\n| `clippy::pedantic` | allow |\n| c | d |\n"
    row = table.index("| `clippy")
    assert is_whole(table, row, table.index("allow") + len("allow |"))
    bare = "name | default | what\n---|---|---\n`ROOT` | `~/.pyenv` | Root\n`DIR` | `.` | Dir\n"
    assert is_whole(bare, bare.index("`ROOT`"), bare.index("| Root") + len("| Root"))
    # Vim's |tag| links are no table: a line cut before one is still cut.
    vim = "\tlet skip_defaults_vim = 1\nThis has to be done in the |system-vimrc| file.\n"
    assert not ends_sentence(vim, vim.index("= 1") + 3)


def test_in_text_with_one_line_per_block_every_line_is_a_boundary():
    # qa's text of libxslt's FAQ.html: a <p> ending without a full stop, then the next <li>.
    html = (
        "LIBS=`xslt-config --libs`\n"
        "Note also that if you use the EXSLT extensions from the program then you should "
        "prepend -lexslt to the LIBS options\n"
        "passing parameters on the xsltproc command line doesn't work\n"
    )
    start = html.index("Note")
    end = html.index("options") + len("options")
    assert is_whole(html, start, end, lines=True)
    assert fragment_reason(html, start, end, lines=True) is None
    # The same characters as hard-wrapped plain text: the next line may go on the sentence.
    assert fragment_reason(html, start, end) == "ends mid-sentence"
    # Inside a line a cut is still a cut.
    assert not starts_sentence(html, html.index("you should"), lines=True)
    assert not ends_sentence(html, html.index(" to the LIBS"), lines=True)


def test_locate_ignores_white_space_when_asked():
    text = "The default is 256 for incremental builds, and 16 for\nnon-incremental builds."
    sentence = "The default is 256 for incremental builds, and 16 for non-incremental builds."
    assert locate(text, sentence) == (0, len(text))
    assert locate(text, sentence, exact=True) is None
    assert locate(text, "16", 20, len(text)) == (text.index("16"), text.index("16") + 2)


# ----- scoring a hand-made answer ---------------------------------------------------------


DOC_TEXT = (
    "Profiles\n"
    "The default is 256 for incremental builds, and 16 for\n"
    "non-incremental builds. The bench profile inherits the settings from the release "
    "profile.\n"
)
QUESTION = RealQuestion(
    id="t1",
    split="dev",
    question="How many codegen units for non-incremental builds?",
    kind="answerable",
    doc="profiles.html",
    answer="16",
    sentence="The default is 256 for incremental builds, and 16 for non-incremental builds.",
)


def _answer(start: int, end: int, focus: tuple[int, int] | None = None, doc="profiles.html"):
    extract = Extract(
        doc_id=doc,
        title="Profiles",
        start=start,
        end=end,
        text=DOC_TEXT[start:end],
        score=0.9,
        context_start=0,
        context_end=len(DOC_TEXT),
        context=DOC_TEXT,
        focus_start=focus[0] if focus else None,
        focus_end=focus[1] if focus else None,
    )
    return Answer(QUESTION.question, QUESTION.question, False, 0.9, [extract])


def _score(answer: Answer) -> dict:
    return score(QUESTION, answer, lambda doc_id: DOC_TEXT, exact=False)


def test_hit_phrase_and_fragment_of_a_whole_sentence():
    start = DOC_TEXT.index("The default")
    end = DOC_TEXT.index("builds. The") + len("builds.")
    focus = (DOC_TEXT.index("16 for"), DOC_TEXT.index("16 for") + 2)
    record = _score(_answer(start, end, focus))
    assert record["gold_found"] and record["hit"] and record["fragment"] is None
    assert record["phrase"] == "16" and record["em"] == 1.0 and record["f1"] == 1.0


def test_a_cut_extract_is_a_fragment_even_when_it_holds_the_answer():
    start = DOC_TEXT.index("The default")
    end = DOC_TEXT.index("16 for") + len("16 for")  # cut at the line break
    record = _score(_answer(start, end))
    assert record["hit"]
    assert record["fragment"] == "ends mid-sentence, cuts the gold sentence"
    assert record["em"] == 0.0 and 0 < record["f1"] < 1  # the whole extract as the phrase


def test_the_wrong_sentence_or_document_is_no_hit():
    start = DOC_TEXT.index("The bench")
    record = _score(_answer(start, len(DOC_TEXT)))
    assert not record["hit"] and record["fragment"] is None
    elsewhere = _score(_answer(DOC_TEXT.index("The default"), len(DOC_TEXT), doc="other.html"))
    assert not elsewhere["hit"]


def test_summary_counts_abstentions_and_fragments():
    answered = _score(_answer(DOC_TEXT.index("The default"), DOC_TEXT.index("16 for") + 6))
    abstained = Answer("q?", "q?", True, 0.1, [])
    near = score(
        RealQuestion("n1", "dev", "q?", "near_miss", doc="profiles.html", note="x"),
        abstained,
        lambda doc_id: DOC_TEXT,
        exact=False,
    )
    off_topic = RealQuestion("o1", "dev", "q?", "off_topic")
    bench = _answer(DOC_TEXT.index("The bench"), len(DOC_TEXT))
    off = score(off_topic, bench, lambda doc_id: DOC_TEXT, exact=False)
    summary = summarize([answered, near, off])
    assert summary["hit@1"] == 1.0 and summary["false_abstentions"] == 0.0
    assert summary["abstain_recall_near_miss"] == 1.0
    assert summary["abstain_recall_off_topic"] == 0.0
    assert summary["abstain_recall"] == 0.5
    # Shown: the cut answer (a fragment) and a whole sentence for the off-topic question.
    assert summary["shown"] == 2 and summary["fragments"] == 1
    assert summary["fragment_rate"] == 0.5


# ----- building the corpus ----------------------------------------------------------------


def test_missing_changed_unmade_and_unreadable_documents_are_left_out(tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text("A note.\n", encoding="utf-8")
    sha = file_sha256(source)
    documents = [
        RealDocument("notes.txt", str(source), sha, "text", None, "plain"),
        RealDocument("gone.txt", str(tmp_path / "gone.txt"), sha, "text", None, "absent"),
        RealDocument("old.txt", str(source), "0" * 64, "text", None, "changed"),
        RealDocument(
            "notes.docx", str(source), sha, "docx", {"convert": "docx", "from": str(source)}, "x"
        ),
    ]
    build = build_corpus(tmp_path / "cache", documents, soffice="")
    assert build.present == ["notes.txt"]
    assert set(build.missing) == {"gone.txt", "old.txt"}
    assert build.not_made == {"notes.docx": "LibreOffice (soffice) not found"}
    assert [p.name for p in build.folder.iterdir()] == ["notes.txt"]
    questions = [
        RealQuestion("a", "dev", "q?", "answerable", "notes.txt", "note", "A note."),
        RealQuestion("b", "dev", "q?", "answerable", "gone.txt", "x", "x"),
        RealQuestion("c", "dev", "q?", "near_miss", "notes.docx", note="x"),
        RealQuestion("d", "test", "q?", "off_topic"),
    ]
    prepared = select_questions(questions, build, "dev")
    assert [q.id for q in prepared.asked] == ["a"]
    assert prepared.left_out == {"source missing or changed": 1, "not made": 1}


def test_markdown_becomes_slides_without_code():
    markdown = (
        "# Title\n\nSome `code` and a [link](http://x).\n\n```sh\nrm -rf /\n```\n\n"
        "## Part\n\n- one\n- two\n\n```{versionadded} 10.0\n```\n"
    )
    assert markdown_slides(markdown) == [
        ("Title", ["Some code and a link."]),
        ("Part", ["one", "two", "New in version 10.0."]),
    ]


def test_the_manifest_is_json_with_the_documented_keys():
    entries = json.loads((Path(__file__).parent.parent / "eval/realdocs/manifest.json").read_text())
    assert all(set(e) == {"id", "source", "sha256", "kind", "make", "why"} for e in entries)
