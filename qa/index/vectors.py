"""Vector files of an index: how they are written, mapped, and read a few rows at a time.

Sentence vectors are stored as float16 and passage vectors as float32 (``VECTOR_DTYPES``);
queries take the rows they need as float32 (``VectorRows``).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

# Sentence vectors are 73% of the vectors (2.7 per passage) and are only ever dotted with a
# question, so float16 (error ~1e-4 on a cosine) halves them: at a million passages 4.1 GB
# became 2.0 GB, with SQuAD and gold figures unchanged (docs/speed.md). Passage vectors stay
# float32: FAISS is built from them, and a flat index holds them as float32 anyway.
VECTOR_DTYPES = {"sentence_vectors": np.float16, "passage_vectors": np.float32}
SAVE_BLOCK = 65_536  # rows cast and written at a time (100 MB of float32)


def save_vectors(path: Path, vectors: np.ndarray, dtype) -> None:
    """Write ``vectors`` as a ``dtype`` .npy file, cast in blocks: casting a million passages'
    sentence vectors (a memory map, when rewriting an older index) at once would need GBs."""
    if not len(vectors):  # an empty file cannot be mapped
        np.save(path, np.zeros(vectors.shape, dtype))
        return
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=vectors.shape)
    for start in range(0, len(vectors), SAVE_BLOCK):
        out[start : start + SAVE_BLOCK] = vectors[start : start + SAVE_BLOCK]
    out.flush()
    del out


def map_vectors(path: Path) -> np.ndarray:
    """A read-only memory map of a saved array, advised for random access: queries read a few
    scattered rows, and from a cold page cache the default read-ahead made each row cost
    ~50 kB of resident pages instead of ~5 kB."""
    array = np.load(path, mmap_mode="r")
    handle = getattr(array, "_mmap", None)
    if handle is not None and hasattr(mmap, "MADV_RANDOM"):
        handle.madvise(mmap.MADV_RANDOM)
    if isinstance(array, np.memmap):
        # Opened with the map, so rows read with VectorRows come from the same file even
        # after a newer generation replaces (and deletes) it; closed with the array.
        array.rows_file = open(path, "rb", buffering=0)  # noqa: SIM115
    return array


class VectorRows:
    """Rows of ``vectors`` as float32. Rows of a memory-mapped file are read with ``pread``
    rather than through the map, one call per run of consecutive rows: touching the map cost
    a fresh process page faults (and kept every page it touched in its resident memory)."""

    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors
        self._file = getattr(vectors, "rows_file", None)  # only a map_vectors array has one
        if self._file is not None:
            self._offset = vectors.offset
            self._row_bytes = vectors.dtype.itemsize * int(np.prod(vectors.shape[1:]))

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if self._file is None or not len(ids):
            return np.asarray(self.vectors[ids], dtype=np.float32)
        if ids.min() < 0 or ids.max() >= len(self.vectors):
            raise IndexError(f"row {int(ids.max())} of {len(self.vectors)}")
        unique, inverse = np.unique(ids, return_inverse=True)
        cuts = (np.flatnonzero(np.diff(unique) != 1) + 1).tolist()
        out = np.empty((len(unique), *self.vectors.shape[1:]), dtype=self.vectors.dtype)
        fd = self._file.fileno()
        for a, b in zip([0, *cuts], [*cuts, len(unique)]):
            wanted = (b - a) * self._row_bytes
            got = os.preadv(fd, [out[a:b]], self._offset + int(unique[a]) * self._row_bytes)
            if got != wanted:
                raise OSError(f"{self._file.name} ends before row {int(unique[b - 1])}")
        return out[inverse].astype(np.float32)
