"""Entries: one file read, split and embedded into a ``DocumentEntry``, the unit the index
keeps per document; shared by ``CorpusIndex`` (in this process) and the Ray workers
(``qa.index.on_ray``). A file that cannot be read is skipped with its reason."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.errors import DocumentError
from qa.index.corpus import DocumentEntry, searchable_passage
from qa.ingest.documents import read_document
from qa.ingest.text import repair_splits

if TYPE_CHECKING:
    from qa.ingest.splitter import PassageSplitter
    from qa.models.embedder import Embedder

log = logging.getLogger(__name__)


def read_entry(
    path: Path, doc_id: str, folder: Path, splitter: PassageSplitter
) -> tuple[DocumentEntry, list[str]]:
    """A file's entry without vectors yet, and the texts to embed for it (its sentences',
    then its passages'). Raises DocumentError. (A function, so Ray workers run the same code.)
    """
    try:  # before reading: a change made while it is read then shows at the next sync
        stat = path.stat()
    except OSError as error:
        raise DocumentError(
            str(path), f"the file could not be opened ({error.strerror})"
        ) from error
    document = read_document(path, doc_id, root=folder)
    sentences, passages = splitter.run(document)
    text = document.text
    sentence_spans = np.array([(s.start, s.end) for s in sentences], dtype=np.int64)
    passage_rows = np.array(
        [(p.start, p.end, p.first_sentence, p.last_sentence) for p in passages], dtype=np.int64
    )
    # Vectors of the split-repaired text ("Ch ina" -> "China"); spans stay on the raw text.
    title = document.title if splitter.settings.titles else ""
    texts = [repair_splits(text[s.start : s.end]) for s in sentences] + [
        searchable_passage(title, text[p.start : p.end]) for p in passages
    ]
    entry = DocumentEntry(
        document=document,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        ctime_ns=stat.st_ctime_ns,
        indexed=time.time(),
        sentences=sentence_spans.reshape(-1, 2),
        passages=passage_rows.reshape(-1, 4),
        sentence_vectors=None,
        passage_vectors=None,
    )
    return entry, texts


def embed_entries(
    embedder: Embedder, batch: list[tuple[DocumentEntry, list[str]]], report=None
) -> list[DocumentEntry]:
    """Fill in the vectors of read entries, encoding all their texts in one call
    (``report(done, total)`` as texts are embedded)."""
    if not batch:
        return []
    vectors = embedder.encode([t for _, texts in batch for t in texts], report=report)
    offset = 0
    for entry, texts in batch:
        own = vectors[offset : offset + len(texts)]
        offset += len(texts)
        entry.sentence_vectors = own[: len(entry.sentences)]
        entry.passage_vectors = own[len(entry.sentences) :]
    return [entry for entry, _ in batch]
