"""Vector files: float16 storage round trip and row reads (qa.index.vectors); no model needed."""

from __future__ import annotations

import numpy as np
import pytest

from qa.index.vectors import VectorRows, map_vectors, save_vectors


def _unit_rows(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_float16_round_trip_keeps_cosines_to_a_thousandth(tmp_path):
    vectors = _unit_rows(300)
    save_vectors(tmp_path / "v.npy", vectors, np.float16)
    mapped = map_vectors(tmp_path / "v.npy")
    assert isinstance(mapped, np.memmap) and mapped.dtype == np.float16
    assert mapped.shape == vectors.shape
    back = VectorRows(mapped)(np.arange(300))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, vectors.astype(np.float16).astype(np.float32))
    query = _unit_rows(1, seed=1)[0]
    assert np.abs(back @ query - vectors @ query).max() < 1e-3
    assert np.abs(np.linalg.norm(back, axis=1) - 1).max() < 1e-3


def test_saving_in_blocks_writes_every_row(tmp_path, monkeypatch):
    import qa.index.vectors

    monkeypatch.setattr(qa.index.vectors, "SAVE_BLOCK", 7)  # several blocks and a rest
    vectors = _unit_rows(50, dim=4)
    save_vectors(tmp_path / "v.npy", vectors, np.float32)
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), vectors)


def test_an_empty_array_is_saved_and_read(tmp_path):
    save_vectors(tmp_path / "v.npy", np.zeros((0, 384), np.float32), np.float16)
    empty = np.load(tmp_path / "v.npy")
    assert empty.shape == (0, 384) and empty.dtype == np.float16
    assert VectorRows(empty)(np.zeros(0, np.int64)).shape == (0, 384)


def test_rows_in_any_order_with_repeats_match_indexing_the_array(tmp_path):
    vectors = _unit_rows(1000, dim=8).astype(np.float16)
    np.save(tmp_path / "v.npy", vectors)
    rows = VectorRows(map_vectors(tmp_path / "v.npy"))
    assert rows._file is not None  # read with pread, not through the map
    ids = np.array([5, 6, 7, 3, 999, 0, 6, 6, 100, 4])
    np.testing.assert_array_equal(rows(ids), vectors[ids].astype(np.float32))
    in_memory = VectorRows(np.asarray(vectors))  # not a file: plain indexing
    assert in_memory._file is None
    np.testing.assert_array_equal(in_memory(ids), rows(ids))


def test_a_row_outside_the_file_or_a_truncated_file_is_an_error(tmp_path):
    np.save(tmp_path / "v.npy", _unit_rows(10, dim=4))
    rows = VectorRows(map_vectors(tmp_path / "v.npy"))
    with pytest.raises(IndexError):
        rows(np.array([10]))
    with pytest.raises(IndexError):
        rows(np.array([-1]))
    size = (tmp_path / "v.npy").stat().st_size
    with open(tmp_path / "v.npy", "r+b") as handle:  # cut after the map was made
        handle.truncate(size - 16)
    with pytest.raises(OSError, match="ends before row 9"):
        rows(np.array([8, 9]))
