"""Passages: sentence spans and windows are exact, ordered, and never cut a sentence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qa.ingest.documents import Document, find_files, read_document
from qa.ingest.splitter import PassageSplitter, is_boilerplate, split_sentences
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
