"""Index: persistence, incremental updates by content hash, and recovery from damage."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from qa import Assistant
from qa.index.sync import STORAGE_VERSION, CorpusIndex
from qa.ingest.documents import file_sha256
from qa.ingest.text import repair_splits

from .conftest import SEEDS


@pytest.fixture
def seeds_copy(corpus):
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    return corpus


def _count(embedder):
    return embedder.texts_encoded


def test_reopening_an_unchanged_folder_embeds_nothing(seeds_copy, embedder):
    before = _count(embedder)
    first = Assistant.from_folder(seeds_copy, embedder=embedder)
    built = _count(embedder) - before
    assert built == len(first.index.corpus.sentence_span) + len(first.index)
    assert (seeds_copy / ".qa-index" / "CURRENT").exists()

    before = _count(embedder)
    second = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert _count(embedder) == before
    assert second.index.last_sync.unchanged == sorted(first.documents)
    np.testing.assert_array_equal(
        second.index.corpus.passage_vectors, first.index.corpus.passage_vectors
    )
    assert second.ask("Where was the road transport agreement signed?").extracts


def test_touching_a_file_without_changing_it_embeds_nothing(seeds_copy, embedder):
    Assistant.from_folder(seeds_copy, embedder=embedder)
    path = next(seeds_copy.glob("*.txt"))
    os.utime(path, ns=(1, 1))
    before = _count(embedder)
    assistant = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert _count(embedder) == before
    assert assistant.index.last_sync.unchanged == sorted(assistant.documents)


def test_add_change_delete_reembed_only_that_file(seeds_copy, embedder):
    Assistant.from_folder(seeds_copy, embedder=embedder)

    (seeds_copy / "zoo.txt").write_text(
        "The city zoo keeps three snow leopards.\nThey arrived from Nepal in 2019."
    )
    before = _count(embedder)
    assistant = Assistant.from_folder(seeds_copy, embedder=embedder)
    report = assistant.index.last_sync
    assert report.added == ["zoo.txt"] and not report.changed and not report.removed
    assert _count(embedder) - before == 3  # two sentences and one passage
    answer = assistant.ask("How many snow leopards does the zoo have?")
    assert answer.extracts[0].doc_id == "zoo.txt"
    assert "three snow leopards" in answer.extracts[0].text

    (seeds_copy / "zoo.txt").write_text("The city zoo keeps five snow leopards.")
    before = _count(embedder)
    assistant = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert assistant.index.last_sync.changed == ["zoo.txt"]
    assert _count(embedder) - before == 2
    answer = assistant.ask("How many snow leopards does the zoo have?")
    assert "five snow leopards" in answer.extracts[0].text

    (seeds_copy / "zoo.txt").unlink()
    before = _count(embedder)
    assistant = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert assistant.index.last_sync.removed == ["zoo.txt"]
    assert _count(embedder) == before
    assert "zoo.txt" not in assistant.documents
    answer = assistant.ask("How many snow leopards does the zoo have?")
    assert all(e.doc_id != "zoo.txt" for e in answer.extracts + answer.related)


def test_index_dir_can_live_elsewhere(seeds_copy, tmp_path, embedder):
    elsewhere = tmp_path / "elsewhere"
    assistant = Assistant.from_folder(seeds_copy, index_dir=elsewhere, embedder=embedder)
    assert (elsewhere / "CURRENT").exists()
    assert not (seeds_copy / ".qa-index").exists()
    assert assistant.index.index_dir == elsewhere


def test_index_dir_from_environment(seeds_copy, tmp_path, embedder, monkeypatch):
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "from-env"))
    Assistant.from_folder(seeds_copy, embedder=embedder)
    assert (tmp_path / "from-env" / "CURRENT").exists()


def _generation(folder):
    index_dir = folder / ".qa-index"
    return index_dir / (index_dir / "CURRENT").read_text().strip()


@pytest.mark.parametrize("damage", ["truncate-vectors", "garble-faiss", "bad-manifest"])
def test_damaged_index_is_detected_and_rebuilt(seeds_copy, embedder, damage):
    first = Assistant.from_folder(seeds_copy, embedder=embedder)
    expected = first.ask("Where was the road transport agreement signed?").extracts[0]
    generation = _generation(seeds_copy)
    if damage == "truncate-vectors":
        path = generation / "passage_vectors.npy"
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garble-faiss":
        path = generation / "dense.faiss"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        (generation / "manifest.json").write_text("{not json")
    assistant = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert assistant.index.last_sync.rebuilt_reason
    assert sorted(assistant.index.last_sync.added) == sorted(first.documents)
    again = assistant.ask("Where was the road transport agreement signed?").extracts[0]
    assert (again.doc_id, again.start, again.end) == (expected.doc_id, expected.start, expected.end)


def test_index_from_another_model_or_format_is_rebuilt(seeds_copy, embedder):
    Assistant.from_folder(seeds_copy, embedder=embedder)
    manifest_path = _generation(seeds_copy) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model"] = "some-other-model"
    manifest_path.write_text(json.dumps(manifest))
    assistant = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert "model" in assistant.index.last_sync.rebuilt_reason


def test_unreadable_file_is_skipped_and_named(seeds_copy, embedder, caplog):
    (seeds_copy / "binary.txt").write_bytes(bytes(range(256)) * 8)
    assistant = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert "binary.txt" in assistant.index.last_sync.skipped
    assert "binary.txt" not in assistant.documents
    assert any("binary.txt" in record.getMessage() for record in caplog.records)
    assert len(assistant.documents) == 2


def test_empty_folder_gives_an_abstaining_assistant(corpus, embedder):
    assistant = Assistant.from_folder(corpus, embedder=embedder)
    assert len(assistant.index) == 0
    answer = assistant.ask("Anything at all?")
    assert answer.abstained and answer.extracts == []


def test_old_generation_is_kept_until_the_new_one_is_complete(seeds_copy, embedder):
    Assistant.from_folder(seeds_copy, embedder=embedder)
    old = _generation(seeds_copy)
    # A crashed writer leaves a half-written generation behind; CURRENT still names the old one.
    crashed = seeds_copy / ".qa-index" / "gen-crashed"
    crashed.mkdir()
    (crashed / "vectors.npz").write_bytes(b"partial")
    index = CorpusIndex(seeds_copy, embedder=embedder)
    before = _count(embedder)
    report = index.sync()
    assert not report.rebuilt_reason and _count(embedder) == before
    assert _generation(seeds_copy) == old


def test_files_embedded_in_shared_batches_get_their_own_vectors(corpus, embedder, monkeypatch):
    import qa.index.sync

    monkeypatch.setattr(
        qa.index.sync, "EMBED_BATCH", 7
    )  # several files per encode call, and a rest
    topics = ["tides and harbours", "bread and ovens", "violins and bows", "glaciers", "bees"]
    for n, topic in enumerate(topics):
        text = f"Note {n}\n\nThis note is about {topic}. " + f"It says more on {topic}. " * n
        (corpus / f"{n}.txt").write_text(text + ("" if n else "\n\n"), encoding="utf-8")
    (corpus / "empty.txt").write_text("", encoding="utf-8")  # no texts: skipped, no vectors
    calls = []
    original = embedder.encode
    monkeypatch.setattr(
        embedder, "encode", lambda texts, **kw: calls.append(len(texts)) or original(texts, **kw)
    )
    index = CorpusIndex(corpus, None, embedder)
    index.sync()
    assert len(calls) < len(topics)  # shared calls, not one a file
    for doc_id, entry in index.corpus.entries.items():
        text = entry.document.text
        alone = original(
            [text[a:b] for a, b in entry.sentences] + [text[a:b] for a, b, *_ in entry.passages]
        )
        got = np.concatenate([entry.sentence_vectors, entry.passage_vectors], dtype=np.float32)
        assert got.shape == alone.shape
        # Sentence vectors are kept as float16: 11 bits of mantissa on components below 1.
        assert np.allclose(got, alone, atol=1e-3), doc_id
        assert np.allclose(got[len(entry.sentences) :], alone[len(entry.sentences) :], atol=1e-4)


def test_vectors_are_served_from_memory_maps_after_loading_and_after_saving(seeds_copy, embedder):
    first = Assistant.from_folder(seeds_copy, embedder=embedder)  # built, then saved
    assert isinstance(first.index.corpus.sentence_vectors, np.memmap)
    assert isinstance(first.index.corpus.passage_vectors, np.memmap)
    second = Assistant.from_folder(seeds_copy, embedder=embedder)  # loaded
    assert isinstance(second.index.corpus.sentence_vectors, np.memmap)
    entry = next(iter(second.index.corpus.entries.values()))
    assert np.shares_memory(entry.passage_vectors, second.index.corpus.passage_vectors)
    question = "Where was the road transport agreement signed?"
    assert second.ask(question).extracts[0].text == first.ask(question).extracts[0].text


def _rewrite_manifest(generation, **changes):
    """Set (or, with None, drop) manifest keys and checksum the generation's files again, as
    an index written that way would be."""
    manifest = json.loads((generation / "manifest.json").read_text())
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    manifest["checksums"] = {
        path.name: file_sha256(path)
        for path in sorted(generation.iterdir())
        if path.name != "manifest.json"
    }
    (generation / "manifest.json").write_text(json.dumps(manifest))


def test_an_index_in_the_earlier_single_file_layout_loads_without_embedding(seeds_copy, embedder):
    first = Assistant.from_folder(seeds_copy, embedder=embedder)
    generation = _generation(seeds_copy)
    with np.load(generation / "spans.npz") as spans:
        arrays = {name: spans[name] for name in spans.files}
    for name in ("sentence_vectors", "passage_vectors"):
        arrays[name] = np.load(generation / f"{name}.npy").astype(np.float32)  # as then
        (generation / f"{name}.npy").unlink()
    (generation / "spans.npz").unlink()
    np.savez(generation / "vectors.npz", **arrays)
    _rewrite_manifest(generation, storage=None)

    before = _count(embedder)
    second = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert _count(embedder) == before and second.index.last_sync.rebuilt_reason is None
    assert second.index.last_sync.upgraded_from == 1  # and written in today's layout
    assert (_generation(seeds_copy) / "sentence_vectors.npy").exists()
    np.testing.assert_array_equal(
        second.index.corpus.sentence_vectors, first.index.corpus.sentence_vectors
    )
    question = "Where was the road transport agreement signed?"
    assert second.ask(question).extracts[0].text == first.ask(question).extracts[0].text


def test_a_file_that_turns_unreadable_is_dropped_and_the_rest_kept(seeds_copy, embedder):
    first = Assistant.from_folder(seeds_copy, embedder=embedder)
    broken, kept = sorted(first.documents)
    (seeds_copy / broken).write_bytes(bytes(range(256)) * 8)
    before = _count(embedder)
    second = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert broken in second.index.last_sync.skipped and list(second.documents) == [kept]
    assert _count(embedder) == before  # nothing to embed: the kept file's vectors are reused
    assert len(second.index.corpus.passage_vectors) == len(second.index) < len(first.index)
    third = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert third.index.last_sync.rebuilt_reason is None and list(third.documents) == [kept]
    for assistant in (second, third):
        answer = assistant.ask("Who signed the agreement?")
        shown = answer.extracts + answer.related
        assert shown and all(extract.doc_id == kept for extract in shown)


def test_bm25_is_stored_and_reloaded_not_rebuilt(seeds_copy, embedder, monkeypatch):
    from qa.index.lexical import LexicalIndex

    first = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert (_generation(seeds_copy) / "bm25_terms.json").exists()

    def no_index(self, *args, **kwargs):
        raise AssertionError("an unchanged index must not tokenise its passages again")

    monkeypatch.setattr(LexicalIndex, "index", no_index)
    second = Assistant.from_folder(seeds_copy, embedder=embedder)
    question = "road transport agreement Dushanbe"
    np.testing.assert_allclose(
        second.index.corpus.lexical.scores(question), first.index.corpus.lexical.scores(question)
    )
    assert (
        second.index.corpus.lexical.document_frequency
        == first.index.corpus.lexical.document_frequency
    )
    # read through maps of the stored arrays, not into the process's own memory
    assert isinstance(second.index.corpus.lexical.postings.data, np.memmap)
    monkeypatch.undo()

    # an index saved before BM25 was stored: rebuilt from the text once, then stored
    generation = _generation(seeds_copy)
    for path in generation.glob("bm25_*"):
        path.unlink()
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["checksums"] = {
        name: value for name, value in manifest["checksums"].items() if not name.startswith("bm25")
    }
    (generation / "manifest.json").write_text(json.dumps(manifest))
    third = Assistant.from_folder(seeds_copy, embedder=embedder)
    assert third.index.last_sync.rebuilt_reason is None
    assert (_generation(seeds_copy) / "bm25_terms.json").exists()
    assert third.ask("Where was the road transport agreement signed?").extracts


def test_other_bm25_settings_rebuild_bm25_alone(seeds_copy, embedder):
    from qa import Settings
    from qa.settings import LexicalSettings

    first = Assistant.from_folder(seeds_copy, embedder=embedder)
    before = _count(embedder)
    tuned = Settings(lexical=LexicalSettings(k1=1.2, b=0.75))
    second = Assistant.from_folder(seeds_copy, embedder=embedder, settings=tuned)
    assert _count(embedder) == before  # no passage embedded again
    assert (second.index.corpus.lexical.k1, second.index.corpus.lexical.b) == (1.2, 0.75)
    question = "road transport agreement Dushanbe"
    assert not np.allclose(
        second.index.corpus.lexical.scores(question), first.index.corpus.lexical.scores(question)
    )
    terms = json.loads((_generation(seeds_copy) / "bm25_terms.json").read_text())
    assert (terms["k1"], terms["b"]) == (1.2, 0.75)  # stored, so reloaded next time
    with pytest.raises(ValueError, match="k1 > 0"):
        LexicalSettings(k1=0)


def test_stages_are_handed_passages_and_sentences_that_carry_their_text(seeds_assistant):
    index = seeds_assistant.index
    for i in range(len(index)):
        passage = index.passage(i)
        document = seeds_assistant.document(passage.doc_id)
        assert passage.text == document.text[passage.start : passage.end]
        for j in passage.sentences:
            sentence = index.sentence(j)
            assert sentence.doc_id == passage.doc_id
            assert passage.start <= sentence.start < sentence.end <= passage.end
            assert sentence.text == document.text[sentence.start : sentence.end]
            assert j in passage.sentences and index.passage_holding(j) <= i
    assert index.sentence(-1) is None and index.sentence(len(index.corpus.sentence_span)) is None
    for doc_id in index.corpus.doc_ids:  # a document's sentences are one run of ids, in text order
        ids = index.sentences_of(doc_id)
        starts = [index.sentence(j).start for j in ids]
        assert len(ids) and starts == sorted(starts)
        assert {index.sentence(j).doc_id for j in ids} == {doc_id}


def test_errors_are_qa_errors_and_the_builtin_they_refine(seeds_assistant, tmp_path):
    import qa
    from qa.settings import RetrievalSettings

    with pytest.raises(qa.DocumentNotFound, match="No document 'nope.txt'") as caught:
        seeds_assistant.document("nope.txt")
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, qa.QAError)
    with pytest.raises(qa.UsageError, match="k must be at least 1"):
        seeds_assistant.ask("Where was the agreement signed?", k=0)
    with pytest.raises(ValueError):  # still a ValueError for callers that catch that
        seeds_assistant.ask_many(["Where?"], [[], []])
    with pytest.raises(qa.SettingsError, match="retrieval mode"):
        RetrievalSettings(mode="fuzzy")
    with pytest.raises(qa.FolderError, match="Not a folder") as missing:
        qa.Assistant.from_folder(tmp_path / "absent", embedder=seeds_assistant.embedder)
    assert isinstance(missing.value, FileNotFoundError)


def test_sentence_vectors_are_stored_as_float16_and_read_as_float32(seeds_copy, embedder):
    index = Assistant.from_folder(seeds_copy, embedder=embedder).index
    generation = _generation(seeds_copy)
    assert np.load(generation / "sentence_vectors.npy", mmap_mode="r").dtype == np.float16
    assert np.load(generation / "passage_vectors.npy", mmap_mode="r").dtype == np.float32
    assert json.loads((generation / "manifest.json").read_text())["storage"] == STORAGE_VERSION
    ids = np.array([3, 0, 5])
    rows = index.sentence_rows(ids)
    assert rows.dtype == np.float32 and rows.shape == (3, index.corpus.sentence_vectors.shape[1])
    texts = [index.corpus.sentence_text(int(j)) for j in ids]
    exact = embedder.encode([repair_splits(text) for text in texts])
    # The round trip through float16 moves a cosine by about 1e-4, never near a ranking step.
    assert np.abs(rows - exact).max() < 1e-3
    assert np.abs(np.sum(rows * exact, axis=1) - 1).max() < 1e-3
    np.testing.assert_array_equal(index.passage_rows(ids), index.corpus.passage_vectors[ids])


def test_an_index_with_float32_sentence_vectors_is_rewritten_without_embedding(
    seeds_copy, embedder, monkeypatch
):
    from qa.index.dense import DenseIndex
    from qa.index.lexical import LexicalIndex

    first = Assistant.from_folder(seeds_copy, embedder=embedder)
    question = "Where was the road transport agreement signed?"
    expected = first.ask(question).extracts[0]
    generation = _generation(seeds_copy)
    path = generation / "sentence_vectors.npy"
    np.save(path, np.load(path).astype(np.float32))  # as written before storage 2
    _rewrite_manifest(generation, storage=None)

    def no_build(self, *args, **kwargs):
        raise AssertionError("rewriting the vectors must not rebuild FAISS or BM25")

    monkeypatch.setattr(LexicalIndex, "index", no_build)
    monkeypatch.setattr(DenseIndex, "build", no_build)
    before = _count(embedder)
    second = Assistant.from_folder(seeds_copy, embedder=embedder)
    report = second.index.last_sync
    assert _count(embedder) == before and report.rebuilt_reason is None
    assert report.upgraded_from == 1 and report.unchanged == sorted(first.documents)
    rewritten = _generation(seeds_copy)
    assert rewritten != generation
    assert np.load(rewritten / "sentence_vectors.npy", mmap_mode="r").dtype == np.float16
    assert second.index.corpus.sentence_vectors.dtype == np.float16
    again = second.ask(question).extracts[0]
    assert (again.doc_id, again.start, again.end) == (expected.doc_id, expected.start, expected.end)
    third = Assistant.from_folder(seeds_copy, embedder=embedder)  # once only
    assert third.index.last_sync.upgraded_from is None and _generation(seeds_copy) == rewritten


def test_an_index_stored_by_a_newer_qa_is_rebuilt_and_says_why(seeds_copy, embedder):
    first = Assistant.from_folder(seeds_copy, embedder=embedder)
    _rewrite_manifest(_generation(seeds_copy), storage=STORAGE_VERSION + 1)
    second = Assistant.from_folder(seeds_copy, embedder=embedder)
    reason = second.index.last_sync.rebuilt_reason
    assert reason and f"stored as {STORAGE_VERSION + 1}" in reason
    assert sorted(second.index.last_sync.added) == sorted(first.documents)
