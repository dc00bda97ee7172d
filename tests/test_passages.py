"""Passages: sentence spans and windows are exact, ordered, and never cut a sentence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qa.ingest.documents import Document, find_files, read_document
from qa.ingest.splitter import PassageSplitter, is_boilerplate, split_blocks, split_sentences
from qa.settings import PassageSettings

from .conftest import SEEDS


def _seed_documents():
    return [read_document(path, doc_id) for doc_id, path in find_files(SEEDS).items()]


def test_seed_boilerplate_is_left_out_of_passages():
    for document in _seed_documents():
        sentences, passages = PassageSplitter().run(document)
        texts = [document.text[s.start : s.end] for s in sentences]
        assert not any("cookies" in t or t == "Comments are closed." for t in texts)
        assert all(not is_boilerplate(t) for t in texts)
    assert is_boilerplate("Comments are closed.")
    assert is_boilerplate("This website uses cookies to improve your experience.")
    assert not is_boilerplate("The SCO was established to promote good-neighbourliness.")


def test_passages_are_whole_sentences_with_overlap_and_bounded_length():
    settings = PassageSettings(max_chars=600, overlap=1)
    for document in _seed_documents():
        sentences, passages = PassageSplitter(settings).run(document)
        starts = {s.start for s in sentences}
        ends = {s.end for s in sentences}
        for p in passages:
            assert p.start in starts and p.end in ends
            assert p.start == sentences[p.first_sentence].start
            assert p.end == sentences[p.last_sentence - 1].end
            if p.last_sentence - p.first_sentence > 1:
                assert p.end - p.start <= settings.max_chars
        covered = {j for p in passages for j in range(p.first_sentence, p.last_sentence)}
        assert covered == set(range(len(sentences)))
        # consecutive windows inside one paragraph share a sentence
        shared = sum(
            1 for a, b in zip(passages, passages[1:]) if b.first_sentence < a.last_sentence
        )
        assert shared >= 1


def test_title_line_is_its_own_sentence():
    document = _seed_documents()[0]
    first = split_sentences(document.text)[0]
    assert document.text[first[0] : first[1]] == document.text.splitlines()[0].strip()


sentence_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=300
)


@settings(max_examples=200, deadline=None)
@given(st.lists(sentence_text, max_size=12), st.sampled_from(["\n", "\r\n", " ", "\n\n"]))
def test_sentence_spans_are_exact_trimmed_ordered(parts, joiner):
    text = joiner.join(parts)
    spans = split_sentences(text, max_chars=120)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip() and piece
        assert "\n" not in piece and "\r" not in piece
        previous_end = end
    # no non-space character is lost
    covered = set()
    for start, end in spans:
        covered.update(range(start, end))
    assert all(text[i].isspace() or i in covered for i in range(len(text)))


@settings(max_examples=100, deadline=None)
@given(st.lists(sentence_text, min_size=1, max_size=12), st.integers(1, 3))
def test_passages_cover_every_sentence_in_order(parts, overlap):
    text = ". ".join(parts)
    document = Document("d.txt", "d", text, "0")
    sentences, passages = PassageSplitter(PassageSettings(max_chars=200, overlap=overlap)).run(
        document
    )
    assert [p.first_sentence for p in passages] == sorted(p.first_sentence for p in passages)
    covered = {j for p in passages for j in range(p.first_sentence, p.last_sentence)}
    assert covered == set(range(len(sentences)))


# ----- layout: wrapped lines, titles, lists, Markdown ---------------------------------------

WRAPPED = """The Debian base-passwd package contains the master versions of
/etc/passwd and /etc/group. These are used to set up the files
on a new system.

Installation
Run the installer and answer the questions. It takes a few
minutes on most machines, even slow ones.

  - a list item that is long enough to be
    continued on the next line
  - another item
Version: 1.2
"""


def _texts(text: str, layout: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text, layout=layout)]


def test_a_line_break_inside_a_wrapped_paragraph_is_no_sentence_boundary():
    texts = _texts(WRAPPED, "wrapped")
    assert texts == [
        "The Debian base-passwd package contains the master versions of\n"
        "/etc/passwd and /etc/group.",
        "These are used to set up the files\non a new system.",
        "Installation",  # a title line ending well short of its paragraph stays apart
        "Run the installer and answer the questions.",
        "It takes a few\nminutes on most machines, even slow ones.",
        "a list item that is long enough to be\n    continued on the next line",
        "another item",  # list items: each its own, quoted from its first word
        "Version: 1.2",  # a form's field
    ]
    # HTML's text is one block a line (qa's HTML reader writes it so): lines stay apart.
    assert "The Debian base-passwd package contains the master versions of" in _texts(
        WRAPPED, "lines"
    )


def test_narrow_lines_and_aligned_columns_stay_apart():
    poem = "Roses are red\nViolets are blue\n"
    assert _texts(poem, "wrapped") == ["Roses are red", "Violets are blue"]
    table = (
        "Use the option described below when the files are large and slow\n"
        "--size\t\tthe largest file, in bytes, that is read into memory whole\n"
    )
    assert len(_texts(table, "wrapped")) == 2


def test_a_terms_description_goes_on_over_its_hanging_indent():
    # Vim's help (undo.txt): a tag, a tab, its description, the next line indented to it.
    help_text = (
        "Reading an existing undo file may fail for several reasons:\n"
        "*E823*\tThe magic number at the start of the file doesn't match.  This usually\n"
        "\tmeans it is not an undo file.\n"
        "*E824*\tThe version number of the undo file indicates that it's written by a\n"
        "\tnewer version of Vim.  You need that newer version to open it.\n"
    )
    texts = _texts(help_text, "wrapped")
    assert "This usually\n\tmeans it is not an undo file." in texts
    assert (
        "*E824*\tThe version number of the undo file indicates that it's written by a\n"
        "\tnewer version of Vim." in texts
    )
    # A table whose rows hold more columns keeps its lines apart, and so does a next line
    # indented elsewhere than the description's column.
    table = "name\tdefault\twhat it is for in the program\n\tsecond line of it\n"
    assert len(_texts(table, "wrapped")) == 2
    other = "-v\tverbose output, printing every step as it is taken\n  not a continuation\n"
    assert len(_texts(other, "wrapped")) == 2


def test_markdown_blocks_come_from_a_commonmark_parser():
    text = (
        "PyYAML\n======\n\nSome *text* that\nwraps here. Second sentence.\n\n"
        "## Install\n\n- item one\n  continues\n- item two\n\n"
        "```\nserver.listen(5050)\n```\n\n| option | default |\n|---|---|\n| port | 80 |\n"
    )
    texts = _texts(text, "markdown")
    assert texts == [
        "PyYAML",  # a setext heading: its underline is no content
        "Some *text* that\nwraps here.",
        "Second sentence.",
        "Install",
        "item one\n  continues",
        "item two",
        "server.listen(5050)",
        "| option | default |",
        "| port | 80 |",
    ]


def test_sentences_stay_exact_spans_and_passages_break_at_blocks():
    document = Document("notes.md", "Notes", "# Notes\n\n" + WRAPPED, "")
    sentences, passages = PassageSplitter(PassageSettings(min_paragraph_chars=1)).run(document)
    for s in sentences:
        assert document.text[s.start : s.end].strip() == document.text[s.start : s.end]
    # a passage ends where its paragraph (block) does, not at a line break inside it
    first = document.text[passages[1].start : passages[1].end]
    assert first.startswith("The Debian") and first.endswith("on a new system.")


def test_text_written_a_paragraph_a_line_keeps_its_lines_apart():
    """News and web text put each paragraph on one long line, with no blank line between:
    there a line break is a paragraph break, for sentences and passages alike (the seeds)."""
    first = "The summit was held in Astana on 8 June, with every member state present. " * 3
    second = "Delegates agreed on a new road transport agreement and a trade protocol. " * 3
    text = f"{first.strip()}\n{second.strip()}\n"
    spans, owners = split_blocks(text, layout="wrapped")
    assert len(set(owners)) == 2 and all("\n" not in text[a:b] for a, b in spans)
    document = Document("news.txt", "News", text, "")
    _, passages = PassageSplitter(PassageSettings(min_paragraph_chars=1)).run(document)
    assert all("\n" not in text[p.start : p.end] for p in passages)


def test_a_myst_directive_is_prose_but_a_code_fence_is_code():
    text = (
        "```{note}\nPinning refers to using the `==` operator to require the package to be a\n"
        "specific version.\n```\n\n```\nSomePackage == 1.2.3\nOther == 4.5.6\n```\n"
    )
    assert _texts(text, "markdown") == [
        "Pinning refers to using the `==` operator to require the package to be a\n"
        "specific version.",
        "SomePackage == 1.2.3",
        "Other == 4.5.6",
    ]
    nested = "".join(f"{'`' * (9 - n)}{{note}}\n" for n in range(6)) + "Deep text.\n"
    assert _texts(nested, "markdown")  # nested directives: bounded, no recursion error
