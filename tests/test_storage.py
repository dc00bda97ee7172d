"""qa.index.generations: a generation saved and read back, damage refused, names claimed (no
model)."""

from __future__ import annotations

import numpy as np
import pytest

from qa.errors import CorruptIndexError, IndexFolderError
from qa.index.corpus import Corpus
from qa.index.generations import MARKER, claim_index_dir, current_generation, load, save
from qa.index.uploads import claim_name, upload_copy
from qa.settings import DenseSettings

from .fakes import FINGERPRINT, make_corpus


@pytest.fixture
def corpus() -> Corpus:
    """The hand-made corpus (here, not conftest's folder of the same name)."""
    return make_corpus()[0]


def test_a_saved_generation_reads_back_the_same(tmp_path, corpus):
    folder, index_dir = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    claim_index_dir(index_dir, folder)
    assert (index_dir / MARKER).is_file()
    saved = save(index_dir, corpus, FINGERPRINT)
    assert isinstance(saved.sentence_vectors, np.memmap)  # served from the files now
    entries, stored = load(index_dir, FINGERPRINT, DenseSettings())
    assert list(entries) == corpus.doc_ids and stored.doc_ids == corpus.doc_ids
    for doc_id, entry in entries.items():
        assert entry.document == corpus.entries[doc_id].document
        np.testing.assert_array_equal(entry.passages, corpus.entries[doc_id].passages)
    np.testing.assert_array_equal(stored.passage_vectors, corpus.passage_vectors)
    assert len(stored.dense) == len(corpus) and len(stored.lexical) == len(corpus)
    with pytest.raises(CorruptIndexError, match="model"):
        load(index_dir, FINGERPRINT | {"model": "another"}, DenseSettings())
    generation = current_generation(index_dir)
    (generation / "spans.npz").write_bytes(b"garbage")
    with pytest.raises(CorruptIndexError, match="checksum"):
        load(index_dir, FINGERPRINT, DenseSettings())


def test_an_index_folder_holding_anything_else_is_refused(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(IndexFolderError, match="not a qa index"):
        claim_index_dir(tmp_path / "home", folder)
    with pytest.raises(IndexFolderError, match="corpus folder itself"):
        claim_index_dir(folder, folder)
    assert (tmp_path / "home" / "notes.txt").read_text() == "mine"


def test_a_new_folder_another_process_is_claiming_at_the_same_moment_is_claimed(tmp_path):
    # Two `qa index` runs on one new folder: the other one's mark is still a temporary file
    # (replace_text) when this one looks. Such a folder was once refused as "not a qa index".
    folder, index_dir = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    index_dir.mkdir()
    (index_dir / f"{MARKER}.k2x9q1ab").write_text("This folder is a qa index")
    claim_index_dir(index_dir, folder)
    assert (index_dir / MARKER).is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / f"{MARKER}-notes.txt").write_text("not ours")  # only the mark's own temporaries
    with pytest.raises(IndexFolderError, match="not a qa index"):
        claim_index_dir(other, folder)


def test_a_folder_the_other_process_marks_while_this_one_looks_is_claimed(tmp_path, monkeypatch):
    # The other half of the race (CI, 2026-12-06): this process found no mark, then the rival
    # renamed its temporary into QA-INDEX while this one listed the folder, so the temporary had
    # vanished (or QA-INDEX itself was listed) and the folder was refused as "not a qa index".
    from qa.index import generations

    folder, index_dir = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    index_dir.mkdir()
    scanned = []

    def rival_finishes_while_listed(path):
        scanned.append(path)
        (path / MARKER).write_text("This folder is a qa index")
        return False

    monkeypatch.setattr(generations, "holds_only_an_index", rival_finishes_while_listed)
    generations.claim_index_dir(index_dir, folder)
    assert scanned == [index_dir]
    monkeypatch.undo()
    assert generations.holds_only_an_index(index_dir)  # the mark itself is qa's own file


def test_names_are_claimed_without_replacing_a_file(tmp_path):
    (tmp_path / "otters.txt").write_text("first")
    source = tmp_path / "upload.bin"
    source.write_text("second")
    copy = upload_copy(source, tmp_path / "otters.txt")
    assert copy.name.startswith(".upload-") and copy.suffix == ".txt" and source.exists()
    claimed = claim_name(copy, tmp_path / "otters.txt")
    assert claimed.name == "otters-1.txt" and claimed.read_text() == "second"
    assert (tmp_path / "otters.txt").read_text() == "first" and not copy.exists()


@pytest.mark.parametrize(
    ("elapsed", "done", "total", "said"),
    [
        (0.5, 100, 400, ""),  # under a second: no pace yet
        (4.0, 0, 400, ""),  # nothing done yet
        (4.0, 400, 400, ""),  # finished
        (4.0, 100, 400, "about 15 s left"),  # 12 s, in steps of 5
        (1.0, 399, 400, "about 5 s left"),  # never "0 s"
        (30.0, 100, 400, "about 2 min left"),  # 90 s
    ],
)
def test_an_upload_is_told_the_time_left_from_its_pace(elapsed, done, total, said):
    from qa.index.report import time_left

    assert time_left(elapsed, done, total) == said
