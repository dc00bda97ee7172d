"""Dense index: FAISS over L2-normalised vectors, exact for small corpora, IVF for large ones.

Below ``DenseSettings.exact_limit`` vectors the index is exact (``IndexFlatIP``): at 100k
vectors of 384 dimensions one search scans 150 MB, a few milliseconds on 2 cores, and nothing
is lost. Above it, an inverted file (``IndexIVFScalarQuantizer``) keeps each vector as float16
(768 bytes at 384 dimensions, so a million fit in ~0.75 GiB) in one of ``nlist`` clusters and
scans only the ``nprobe`` clusters nearest the query; loaded from the index folder, its codes
are searched through a read-only map of the file. The retriever re-scores the candidates it
returns with the exact vectors, so the approximation can only cost a candidate, never change a
score. Figures: ``python -m eval.perf --scale`` (eval/BENCHMARKS.md).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np

from qa.settings import DenseSettings


class DenseIndex:
    """Nearest passages by inner product; ``build`` it from vectors, then ``search``."""

    def __init__(self, settings: DenseSettings | None = None):
        self.settings = settings or DenseSettings()
        self.kind = "flat"
        self.nlist = 0
        self.mapped = False  # codes read through a map of the index file (see load)
        self._source = None  # that file, open
        self._faiss = None

    def __len__(self) -> int:
        return 0 if self._faiss is None else int(self._faiss.ntotal)

    def build(self, vectors: np.ndarray) -> DenseIndex:
        """Index ``vectors`` (n, d), normalised float32; replaces whatever was indexed."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        self.kind = self.settings.kind_for(n)
        if n == 0:
            self._faiss = None
            return self
        if self.kind == "flat":
            self.nlist = 0
            index = faiss.IndexFlatIP(dim)
        else:
            # IVF needs enough points per cluster to train (faiss warns below 39 per list).
            self.nlist = self.settings.nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
            quantizer = faiss.IndexFlatIP(dim)
            fp16, inner_product = faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, self.nlist, fp16, inner_product)
            # faiss wants 39+ training points per cluster; a fixed sample: the same index again
            wanted = max(self.settings.train_size, 40 * self.nlist)
            sample = vectors
            if n > wanted:
                chosen = np.random.default_rng(0).choice(n, wanted, replace=False)
                sample = vectors[np.sort(chosen)]
            index.train(sample)
        index.add(vectors)
        self._faiss = index
        self.mapped, self._source = False, None
        self._set_nprobe()
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """For each query row, the ``k`` best (scores, ids); ids of missing hits are -1."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if self._faiss is None:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        return self._faiss.search(queries, min(k, len(self)))

    def memory_bytes(self) -> int:
        """Bytes the index holds: its vectors (or codes), ids and cluster centroids."""
        if self._faiss is None:
            return 0
        dim = self._faiss.d
        if self.kind == "flat":
            return len(self) * dim * 4
        return len(self) * (dim * 2 + 8) + self.nlist * dim * 4

    def to_dict(self) -> dict:
        """What was built, for the manifest."""
        return {
            "kind": self.kind,
            "vectors": len(self),
            "nlist": self.nlist,
            "nprobe": self.settings.nprobe if self.kind == "ivf" else 0,
            "settings": self.settings.to_dict(),
        }

    def save(self, path: str | os.PathLike) -> None:
        import faiss

        if self._source is not None:  # mapped: faiss would write a reference to the map
            self._source.seek(0)
            with open(path, "wb") as out:
                shutil.copyfileobj(self._source, out, 1 << 20)
        elif self._faiss is not None:
            faiss.write_index(self._faiss, str(path))

    @classmethod
    def load(cls, path: str | os.PathLike, description: dict) -> DenseIndex:
        """Read an index written by ``save`` and described by ``to_dict``."""
        import faiss

        index = cls(DenseSettings.from_dict(description["settings"]))
        index.kind, index.nlist = description["kind"], description["nlist"]
        if Path(path).exists():
            # An inverted file's codes (0.78 GB at a million passages) are searched through a
            # read-only map of the file: only the clusters queries scan become resident, and
            # the kernel may drop them again. The lists cannot grow then; qa rebuilds instead.
            flags = faiss.IO_FLAG_MMAP if index.kind == "ivf" else 0
            if flags:  # held open to be copied by save, even once an update deletes it
                index._source = open(path, "rb")  # noqa: SIM115
            index._faiss = faiss.read_index(str(path), flags)
            index.mapped = bool(flags)
            index._set_nprobe()
        if len(index) != description["vectors"]:
            raise ValueError(f"{path} holds {len(index)} vectors, not {description['vectors']}")
        return index

    def _set_nprobe(self) -> None:
        if self.kind == "ivf":
            self._faiss.nprobe = min(self.settings.nprobe, self.nlist)
