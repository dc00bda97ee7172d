"""Corpus: the documents of one index generation, read-only, with what stages read of them.

A ``Corpus`` is made once from its documents' entries (``Corpus.assemble``) and never changed:
an update assembles a new one aside and the index swaps it in whole (``qa.index.sync``), so a
question reads one generation throughout. Stages read it through methods: ``passage(i)``,
``sentence(j)``, ``document(doc_id)``, the vectors of given rows, term weights. Its arrays
run through the documents in order: passage ``i`` and sentence ``j`` are positions in them,
which is what stores and FAISS speak in.

It also carries the in-process search structures built over it: FAISS over the passage
vectors and the BM25 index (bm25s; only its term statistics when another store searches),
which the embedded store (``qa.search.store``) searches and the index folder saves with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from qa.index.dense import DenseIndex
from qa.index.lexical import LexicalIndex
from qa.index.vectors import VECTOR_DTYPES, VectorRows
from qa.ingest.documents import Document
from qa.ingest.text import repair_splits
from qa.settings import DenseSettings, LexicalSettings
from qa.values import Passage, Sentence

VECTOR_FILES = ("sentence_vectors", "passage_vectors")


def searchable_passage(title: str, text: str) -> str:
    """What is embedded and BM25-indexed for a passage: its document's title, then its text.

    A passage often names its subject only through the title ("He was born in..."); with the
    title, passage hit@1 on 12 SQuAD articles rose from 0.725 to 0.745. Used when
    ``PassageSettings.titles`` is on. Offsets and extracts still refer to the text alone.
    """
    return f"{title}\n{repair_splits(text)}" if title else repair_splits(text)


@dataclass
class DocumentEntry:
    """One document with its spans and vectors, as stored in the index."""

    document: Document
    size: int
    mtime_ns: int
    sentences: np.ndarray  # (n, 2) int64 spans
    passages: np.ndarray  # (p, 4) int64: start, end, first sentence, last sentence (exclusive)
    sentence_vectors: np.ndarray
    passage_vectors: np.ndarray
    ctime_ns: int = 0  # inode change time: cannot be set back like mtime (0: unknown)
    indexed: float = 0.0  # when it was read and embedded (seconds, UTC epoch; 0: unknown)

    def same_stat(self, stat: os.stat_result) -> bool:
        """Whether the file is surely unchanged: same size, mtime and ctime as when read."""
        return (self.size, self.mtime_ns, self.ctime_ns) == (
            stat.st_size,
            stat.st_mtime_ns,
            stat.st_ctime_ns,
        )

    def stamp(self, stat: os.stat_result) -> None:
        self.size, self.mtime_ns, self.ctime_ns = stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


@dataclass
class StoredArrays:
    """The arrays of a loaded generation, reusable while its documents stay the same."""

    doc_ids: list[str]
    sentence_vectors: np.ndarray
    passage_vectors: np.ndarray
    dense: DenseIndex | None
    lexical: LexicalIndex | None
    storage: int = (
        0  # the layout they were read from (qa.index.generations.STORAGE_VERSION: current)
    )


class Corpus:
    """The documents of one generation: spans, vectors, term statistics, FAISS. Read-only."""

    def __init__(
        self,
        entries: dict[str, DocumentEntry],
        sentence_vectors: np.ndarray,
        passage_vectors: np.ndarray,
        dense: DenseIndex,
        lexical: LexicalIndex,
        titles: bool,
        fingerprint: dict | None = None,
    ):
        self.entries = entries
        # What its vectors and spans depend on (format, model, passage settings; qa.index.sync):
        # a store keys what it keeps on it.
        self.fingerprint = fingerprint or {}
        self.doc_ids = list(entries)
        self.titles = titles  # passages are searched with their document's title
        listed = list(entries.values())
        sentence_offsets = np.cumsum([0] + [len(e.sentences) for e in listed])
        passage_offsets = np.cumsum([0] + [len(e.passages) for e in listed]).tolist()
        self.first_passage = dict(zip(self.doc_ids, passage_offsets))
        self.sentence_doc = np.concatenate(
            [np.full(len(e.sentences), i, dtype=np.int32) for i, e in enumerate(listed)]
            or [np.zeros(0, np.int32)]
        )
        self.sentence_span = np.concatenate(
            [e.sentences for e in listed] or [np.zeros((0, 2), np.int64)]
        )
        self.passage_doc = np.concatenate(
            [np.full(len(e.passages), i, dtype=np.int32) for i, e in enumerate(listed)]
            or [np.zeros(0, np.int32)]
        )
        rows = [e.passages + [0, 0, off, off] for e, off in zip(listed, sentence_offsets)]
        rows = np.concatenate(rows or [np.zeros((0, 4), np.int64)])
        self.passage_span = rows[:, :2]
        self.passage_sentences = rows[:, 2:]
        self.sentence_vectors = sentence_vectors
        self.passage_vectors = passage_vectors
        self.dense = dense
        self.lexical = lexical
        self._rows = {name: VectorRows(getattr(self, name)) for name in VECTOR_FILES}
        self._point_entries()

    @classmethod
    def assemble(
        cls,
        entries: dict[str, DocumentEntry],
        titles: bool,
        dense: DenseSettings,
        lexical: LexicalSettings,
        fingerprint: dict,
        embedded: bool = True,
        lexical_embedded: bool = True,
        stored: StoredArrays | None = None,
    ) -> tuple[Corpus, bool]:
        """The corpus of ``entries``, with FAISS and BM25 built over it: (corpus, rebuilt).

        ``stored`` arrays and search structures, read from disk for unchanged documents, are
        used as they are when they hold exactly these documents, in this order. ``embedded``:
        whether FAISS is searched here (else it stays empty); ``lexical_embedded``: whether
        BM25 searches here (else only its term statistics are kept). ``rebuilt`` says whether
        a search structure was built anew (so the index folder should be saved).
        """
        doc_ids = list(entries)
        listed = list(entries.values())
        if stored is not None and stored.doc_ids != doc_ids:
            stored = None
        if stored is not None:
            sentence_vectors, passage_vectors = stored.sentence_vectors, stored.passage_vectors
        else:
            dim = listed[0].passage_vectors.shape[1] if listed else 0
            # In the stored dtypes already: what is served before the save is what is saved.
            sentence_vectors, passage_vectors = (
                np.concatenate(
                    [getattr(e, name) for e in listed] or [np.zeros((0, dim))],
                    dtype=VECTOR_DTYPES[name],
                )
                for name in VECTOR_FILES
            )
        rebuilt = False
        loaded = stored.dense if stored is not None else None
        if not embedded or not len(passage_vectors):
            search = DenseIndex(dense)
        elif loaded is not None and len(loaded) == len(passage_vectors):
            search = loaded
        else:
            search = DenseIndex(dense).build(passage_vectors)
            rebuilt = True
        corpus = cls(entries, sentence_vectors, passage_vectors, search, None, titles, fingerprint)
        terms = stored.lexical if stored is not None else None
        if (
            terms is not None
            and len(terms) == len(corpus)
            and (terms.k1, terms.b) == (lexical.k1, lexical.b)
            and terms.statistics_only != lexical_embedded
        ):
            corpus.lexical = terms
        elif not len(corpus):
            corpus.lexical = LexicalIndex(lexical.k1, lexical.b)
        else:
            texts = [corpus.searchable_text(i) for i in range(len(corpus))]
            corpus.lexical = LexicalIndex(lexical.k1, lexical.b).index(texts, bm25=lexical_embedded)
            rebuilt = True
        return corpus, rebuilt

    @classmethod
    def empty(cls, dense: DenseSettings, lexical: LexicalSettings, fingerprint: dict) -> Corpus:
        """A corpus of no documents (an index before its first sync)."""
        none = np.zeros((0, 0), np.float32)
        terms = LexicalIndex(lexical.k1, lexical.b)
        return cls({}, none, none, DenseIndex(dense), terms, True, fingerprint)

    def with_vectors(self, sentence_vectors: np.ndarray, passage_vectors: np.ndarray) -> Corpus:
        """This corpus serving other copies of its vectors (the saved files, memory-mapped)."""
        return Corpus(
            self.entries,
            sentence_vectors,
            passage_vectors,
            self.dense,
            self.lexical,
            self.titles,
            self.fingerprint,
        )

    def _point_entries(self) -> None:
        """Make each entry's vectors views into the global arrays, so each is held once."""
        s = p = 0
        for entry in self.entries.values():
            s1, p1 = s + len(entry.sentences), p + len(entry.passages)
            entry.sentence_vectors = self.sentence_vectors[s:s1]
            entry.passage_vectors = self.passage_vectors[p:p1]
            s, p = s1, p1

    # ----- what stages read ---------------------------------------------------------------

    def __len__(self) -> int:
        """Number of passages."""
        return len(self.passage_doc)

    @property
    def sentence_count(self) -> int:
        return len(self.sentence_span)

    @property
    def documents(self) -> dict[str, Document]:
        return {doc_id: entry.document for doc_id, entry in self.entries.items()}

    def document(self, doc_id: str) -> Document:
        """The document ``doc_id``; raises KeyError when the corpus does not hold it."""
        return self.entries[doc_id].document

    def passage(self, i: int) -> Passage:
        """Passage ``i``: its document, span, text and sentences."""
        doc_id = self.doc_ids[self.passage_doc[i]]
        start, end = (int(x) for x in self.passage_span[i])
        first, last = (int(x) for x in self.passage_sentences[i])
        document = self.entries[doc_id].document
        return Passage(i, doc_id, start, end, document.text[start:end], first, last)

    def passage_id(self, doc_id: str, number: int) -> int | None:
        """The id of ``doc_id``'s passage ``number`` (counted from 0), None if it has none."""
        entry = self.entries.get(doc_id)
        if entry is None or not 0 <= number < len(entry.passages):
            return None
        return self.first_passage[doc_id] + number

    def passage_key(self, i: int) -> tuple[str, int]:
        """Passage ``i`` as (document id, its number in the document): ids that outlive an
        update (another store's rows are keyed on them)."""
        doc_id = self.doc_ids[self.passage_doc[i]]
        return doc_id, i - self.first_passage[doc_id]

    def sentence(self, j: int) -> Sentence | None:
        """Sentence ``j`` (ids run through the documents in order), or None past either end."""
        if not 0 <= j < len(self.sentence_span):
            return None
        doc_id = self.doc_ids[self.sentence_doc[j]]
        start, end = (int(x) for x in self.sentence_span[j])
        return Sentence(j, doc_id, start, end, self.entries[doc_id].document.text[start:end])

    def sentences_of(self, doc_id: str) -> range:
        """The ids of document ``doc_id``'s sentences."""
        number = self.doc_ids.index(doc_id)
        found = np.flatnonzero(self.sentence_doc == number)
        return range(int(found[0]), int(found[-1]) + 1) if len(found) else range(0)

    def sentence_ranges(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The first and last (exclusive) sentence ids of passages ``ids``."""
        return self.passage_sentences[ids, 0], self.passage_sentences[ids, 1]

    def passage_holding(self, j: int) -> int:
        """The first passage whose sentences include sentence ``j``."""
        found = int(np.searchsorted(self.passage_sentences[:, 1], j, side="right"))
        return min(found, len(self) - 1)

    def passage_text(self, i: int) -> str:
        start, end = self.passage_span[i]
        return self.entries[self.doc_ids[self.passage_doc[i]]].document.text[start:end]

    def searchable_text(self, i: int) -> str:
        """What BM25 indexes for passage ``i`` (see ``searchable_passage``)."""
        title = self.entries[self.doc_ids[self.passage_doc[i]]].document.title
        return searchable_passage(title if self.titles else "", self.passage_text(i))

    def sentence_text(self, j: int) -> str:
        start, end = self.sentence_span[j]
        return self.entries[self.doc_ids[self.sentence_doc[j]]].document.text[start:end]

    def sentence_rows(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of sentences ``ids``, as float32 (they are stored as float16)."""
        return self._rows["sentence_vectors"](ids)

    def passage_rows(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of passages ``ids``, as float32."""
        return self._rows["passage_vectors"](ids)

    def sentence_similarity(self, ids: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Inner products of sentences ``ids`` with a normalised ``vector``."""
        return self.sentence_rows(ids) @ vector

    def idf(self, term: str) -> float:
        """The term's inverse document frequency over the passages (BM25's)."""
        return self.lexical.idf(term)

    def dense_search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` passages by inner product with a normalised ``vector`` in FAISS."""
        scores, ids = self.dense.search(vector.reshape(1, -1), k)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]
