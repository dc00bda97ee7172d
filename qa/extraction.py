"""Extraction: pick the sentences inside retrieved passages that answer the question.

Each candidate sentence gets a score from three signals, each in [0, 1]-ish:

- ``dense``: cosine similarity of the question and the sentence (precomputed vectors);
- ``lexical``: the share of the question's term weight (IDF) the sentence contains;
- ``passage``: how well the best retrieved passage holding the sentence scored, relative to
  the best passage.

``score = w_dense * dense + w_lexical * lexical + w_passage * passage``. The best sentences
are returned verbatim with their passage as context; sentences never repeat or overlap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .answer import Extract
from .index import CorpusIndex
from .retrieval import RetrievedPassage
from .text import terms, words


@dataclass(frozen=True)
class ExtractionSettings:
    """Signal weights, how many passages to read, and the shortest sentence worth quoting."""

    w_dense: float = 0.45
    w_lexical: float = 0.35
    w_passage: float = 0.20
    passages: int = 6
    min_words: int = 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExtractionSettings:
        return cls(**data)


class Extractor:
    """Scores the sentences of retrieved passages and returns the best as ``Extract``s."""

    def __init__(self, index: CorpusIndex, settings: ExtractionSettings | None = None):
        self.index = index
        self.settings = settings or ExtractionSettings()

    def run(
        self,
        query: str,
        query_vector: np.ndarray,
        passages: list[RetrievedPassage],
        k: int = 3,
    ) -> list[Extract]:
        """The ``k`` best sentences, best first."""
        s = self.settings
        index = self.index
        passages = passages[: s.passages]
        if not passages:
            return []
        top = max(p.score for p in passages)
        bottom = min(p.score for p in passages)
        spread = top - bottom if top - bottom > 1e-9 else 1.0
        # sentence id -> (passage relevance in [0, 1], passage id), keeping the best passage
        owner: dict[int, tuple[float, int]] = {}
        for p in passages:
            relevance = (p.score - bottom) / spread if len(passages) > 1 else 1.0
            first, last = index.passage_sentences[p.passage]
            for j in range(int(first), int(last)):
                if j not in owner or owner[j][0] < relevance:
                    owner[j] = (relevance, p.passage)
        ids = np.array(sorted(owner), dtype=np.int64)
        texts = [index.sentence_text(int(j)) for j in ids]
        keep = np.array([len(words(t)) >= s.min_words for t in texts])
        if not keep.any():
            keep[:] = True
        ids, texts = ids[keep], [t for t, k_ in zip(texts, keep) if k_]
        dense = index.sentence_vectors[ids] @ query_vector
        lexical = self._coverage(query, texts)
        passage = np.array([owner[int(j)][0] for j in ids])
        scores = s.w_dense * dense + s.w_lexical * lexical + s.w_passage * passage
        order = np.argsort(-scores, kind="stable")[:k]
        extracts = []
        for o in order:
            j = int(ids[o])
            extracts.append(
                self._extract(
                    j,
                    owner[j][1],
                    float(scores[o]),
                    {
                        "dense": float(dense[o]),
                        "lexical": float(lexical[o]),
                        "passage": float(passage[o]),
                    },
                )
            )
        return extracts

    def _coverage(self, query: str, texts: list[str]) -> np.ndarray:
        query_terms = set(terms(query))
        if not query_terms:
            return np.zeros(len(texts))
        weights = {t: self.index.lexical.idf(t) for t in query_terms}
        total = sum(weights.values())
        return np.array(
            [sum(w for t, w in weights.items() if t in set(terms(text))) / total for text in texts]
        )

    def _extract(self, sentence: int, passage: int, score: float, signals: dict) -> Extract:
        index = self.index
        doc_id = index.doc_ids[index.sentence_doc[sentence]]
        document = index.entries[doc_id].document
        start, end = (int(x) for x in index.sentence_span[sentence])
        context_start, context_end = (int(x) for x in index.passage_span[passage])
        return Extract(
            doc_id=doc_id,
            title=document.title,
            start=start,
            end=end,
            text=document.text[start:end],
            score=score,
            context_start=context_start,
            context_end=context_end,
            context=document.text[context_start:context_end],
            page=document.page_at(start),
            signals=signals,
        )
