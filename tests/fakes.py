"""A tiny hand-made corpus for unit tests where the model is not the point: two documents,
their sentences at full stops, two sentences a passage, random normalised vectors."""

from __future__ import annotations

import hashlib

import numpy as np

from qa.index.corpus import Corpus, DocumentEntry
from qa.ingest.documents import Document
from qa.settings import DenseSettings, LexicalSettings

DIM = 8
FINGERPRINT = {"format": 0, "model": "made-up", "settings": {}}
TEXTS = {
    "a.txt": ("Otters", "Otters hold hands. They sleep afloat. Kelp keeps them in place."),
    "b.txt": ("Walruses", "Walruses haul out on ice. Their tusks grow all their lives."),
}


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for n, char in enumerate(text):
        if char == ".":
            spans.append((start, n + 1))
            start = n + 2
    return spans


def make_entry(doc_id: str, rng: np.random.Generator) -> DocumentEntry:
    """A document whose sentences are its full stops' spans, two sentences a passage."""
    title, text = TEXTS[doc_id]
    sha = hashlib.sha256(text.encode()).hexdigest()
    sentences = np.array(sentence_spans(text), dtype=np.int64)
    passages = np.array(
        [
            (
                sentences[i][0],
                sentences[min(i + 1, len(sentences) - 1)][1],
                i,
                min(i + 2, len(sentences)),
            )
            for i in range(0, len(sentences), 2)
        ],
        dtype=np.int64,
    )

    def vectors(n: int) -> np.ndarray:
        v = rng.normal(size=(n, DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return DocumentEntry(
        Document(doc_id, title, text, sha),
        len(text),
        0,
        sentences,
        passages,
        vectors(len(sentences)),
        vectors(len(passages)),
    )


def make_corpus(**options) -> tuple[Corpus, bool]:
    rng = np.random.default_rng(0)
    entries = {doc_id: make_entry(doc_id, rng) for doc_id in sorted(TEXTS)}
    return Corpus.assemble(
        entries, True, DenseSettings(), LexicalSettings(), FINGERPRINT, **options
    )
