"""Extraction: pick the sentences inside retrieved passages that answer the question.

Each candidate sentence gets a score, a weighted sum of signals:

- ``dense``: cosine similarity of the (resolved) question and the sentence;
- ``lexical``: the share of the question's term weight (IDF) the sentence holds; for a
  follow-up, the new question's own terms count as much as the whole resolved query's;
- ``passage``: how well the best retrieved passage holding the sentence scored, relative to
  the best passage;
- ``untyped`` (penalty): the question wants a date, number, person or place and the sentence
  has none that the question does not already state (0.5 when it has only a looser match,
  e.g. some name where a person's name was asked for);
- ``echo`` (penalty): the sentence says nothing beyond the question's own words;
- ``byline`` (bonus): the question asks who wrote or published the text and the sentence is
  an attribution line ("Source: ...", "(Author: ...)", "By ...").

The best sentences are returned verbatim with their passage as context and, where the
question is typed, the answering phrase inside them (``focus_start``/``focus_end``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from .answer import Extract
from .focus import Candidate, find_focus, question_type, type_match
from .index import CorpusIndex
from .reader import PassageReading
from .retrieval import RetrievedPassage
from .text import repair_splits, terms, words

# The question's target is the text's author ("Who wrote...") or its source ("Which newspaper...").
_AUTHOR_QUESTION = re.compile(
    r"\bwho\s+(?:\w+\s+)?(?:wrote|authored|penned)\b|\bwritten\s+by\b"
    r"|\b(?:which|what|who)\s+(?:\w+\s+){0,2}(?:author|writer)\b",
    re.IGNORECASE,
)
_SOURCE_QUESTION = re.compile(
    r"\bwho\s+(?:\w+\s+)?(?:published|reported|supplied)\b"
    r"|\b(?:which|what)\s+(?:\w+\s+){0,2}(?:newspaper|agency|outlet|publication|publisher"
    r"|source|paper)\b",
    re.IGNORECASE,
)
# A sentence opening like this leans on the one before for what it is about.
_POINTS_BACK = re.compile(
    r"^\W*(?:it|its|this|that|these|those|they|their|he|she|his|her|such|the\s+(?:move|"
    r"deal|agreement|plan|project|decision|country|company|government|group|report|event))\b",
    re.IGNORECASE,
)
_AUTHOR_LINE = re.compile(r"^\W*(?:author|by|written by|words by)\b\s*:?", re.IGNORECASE)
_SOURCE_LINE = re.compile(r"^\W*(?:source|sources|via|published (?:in|by))\b\s*:?", re.IGNORECASE)


def attribution(question: str) -> re.Pattern | None:
    """The pattern of the attribution lines ``question`` asks about, if it asks about one."""
    if _AUTHOR_QUESTION.search(question):
        return _AUTHOR_LINE
    if _SOURCE_QUESTION.search(question):
        return _SOURCE_LINE
    return None


@dataclass(frozen=True)
class ExtractionSettings:
    """Signal weights, how many passages to read, and the shortest sentence worth quoting."""

    w_dense: float = 0.45
    w_lexical: float = 0.35
    w_passage: float = 0.20
    w_untyped: float = 0.30
    w_echo: float = 0.20
    w_byline: float = 0.25
    passages: int = 8
    min_words: int = 3
    join_neighbours: bool = True  # quote two adjacent sentences when the answer runs across

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
        question: str | None = None,
        question_vector: np.ndarray | None = None,
        readings: list[PassageReading] | None = None,
        reader_weight: float = 0.0,
    ) -> list[Extract]:
        """The ``k`` best extracts (a sentence or two adjacent ones), best first, disjoint.

        ``question`` and ``question_vector`` are the question as asked, when ``query`` was
        expanded from the conversation (a follow-up): both then count towards the signals.
        ``readings`` are the reader's answers in the passages it read: a sentence holding the
        start of one gets its ``has_answer`` as the ``reader`` signal (0 otherwise), weighted
        ``reader_weight`` against the other signals' sum, and the answer becomes the
        extract's focus.
        """
        s = self.settings
        question = question or query
        candidates = self._candidates(passages[: s.passages], attribution(query))
        if not candidates:
            return []
        ids = np.array(sorted(candidates), dtype=np.int64)
        texts = [self.index.sentence_text(int(j)) for j in ids]
        signals = self.signals(query, question, query_vector, ids, texts, candidates)
        if question_vector is not None:
            own = self.index.sentence_rows(ids) @ question_vector
            signals["dense"] = (signals["dense"] + own) / 2
        scores = (
            s.w_dense * signals["dense"]
            + s.w_lexical * signals["lexical"]
            + s.w_passage * signals["passage"]
            - s.w_untyped * signals["untyped"]
            - s.w_echo * signals["echo"]
            + s.w_byline * signals["byline"]
        )
        answers: dict[int, PassageReading] = {}
        if readings is not None:
            answers = self._answers(ids, readings)
            signals["reader"] = np.array(
                [answers[int(j)].has_answer if int(j) in answers else 0.0 for j in ids]
            )
            signals["sentence"] = scores
            scores = (1 - reader_weight) * scores + reader_weight * signals["reader"]
        kind = question_type(question)
        query_terms = set(terms(query)) | set(terms(question))
        extracts: list[Extract] = []
        taken: list[tuple[int, int]] = []  # sentence-id ranges already quoted
        for o in np.argsort(-scores, kind="stable"):
            if len(extracts) == k:
                break
            j = int(ids[o])
            spans = [self._span(j, query_terms)] if s.join_neighbours else []
            for first, last in [*spans, (j, j)]:
                if not any(first <= b and a <= last for a, b in taken):
                    break  # extracts never overlap: else the sentence alone, if it is free
            else:
                continue
            taken.append((first, last))
            extracts.append(
                self._extract(
                    first,
                    last,
                    candidates[int(ids[o])][1],
                    float(scores[o]),
                    {name: float(values[o]) for name, values in signals.items()},
                    question,
                    kind,
                    answers.get(j),
                )
            )
        return extracts

    def _answers(self, ids: np.ndarray, readings: list[PassageReading]) -> dict:
        """Sentence id -> the most confident reading whose answer starts in it."""
        index = self.index
        number = {doc_id: n for n, doc_id in enumerate(index.doc_ids)}
        found: dict[int, PassageReading] = {}
        for r in readings:
            if r.end <= r.start:
                continue
            doc = number.get(r.doc_id)
            for j in ids:
                j = int(j)
                a, b = index.sentence_span[j]
                if index.sentence_doc[j] == doc and a <= r.start < b:
                    if j not in found or found[j].has_answer < r.has_answer:
                        found[j] = r
                    break
        return found

    def _span(self, j: int, query_terms: set[str]) -> tuple[int, int]:
        """The sentence range (first, last) to quote for best sentence ``j``: it alone, or it
        with one neighbour when the answer runs across them.

        A sentence that opens with a word pointing back ("It", "This agreement") is joined to
        the one before when the other holds question terms it lacks, whichever of the two
        scored best; ``j`` is joined to the next also when it announces it (ends in a colon)
        or the sentence splitter cut mid-sentence (the next starts in lower case). Only within
        one paragraph of one document.
        """
        index = self.index
        text = index.sentence_text(j)
        own = set(terms(repair_splits(text)))

        def adds_question_terms(other: int) -> bool:
            return bool((set(terms(repair_splits(index.sentence_text(other)))) - own) & query_terms)

        previous, following = j - 1, j + 1
        if self._joined(previous, j) and _POINTS_BACK.match(text) and adds_question_terms(previous):
            return previous, j
        if self._joined(j, following):
            after = index.sentence_text(following)
            if text.rstrip().endswith(":") or after[:1].islower():
                return j, following
            if _POINTS_BACK.match(after) and adds_question_terms(following):
                return j, following
        return j, j

    def _joined(self, a: int, b: int) -> bool:
        """Sentences ``a`` and ``b`` exist, are consecutive in one document and paragraph."""
        index = self.index
        if a < 0 or b >= len(index.sentence_span) or index.sentence_doc[a] != index.sentence_doc[b]:
            return False
        doc_id = index.doc_ids[index.sentence_doc[a]]
        gap = index.entries[doc_id].document.text[
            index.sentence_span[a][1] : index.sentence_span[b][0]
        ]
        return "\n\n" not in gap and len(gap) < 5

    def _candidates(
        self, passages: list[RetrievedPassage], byline: re.Pattern | None = None
    ) -> dict[int, tuple[float, int]]:
        """Sentence id -> (relevance in [0, 1] of its best passage, that passage's id).

        For a question about authorship or source, the attribution lines of the documents
        retrieved are candidates too: they usually sit at the end, far from the topic.
        """
        if not passages:
            return {}
        index = self.index
        top = max(p.score for p in passages)
        bottom = min(p.score for p in passages)
        spread = top - bottom if top - bottom > 1e-9 else 1.0
        owner: dict[int, tuple[float, int]] = {}
        for p in passages:
            relevance = (p.score - bottom) / spread if len(passages) > 1 else 1.0
            first, last = index.passage_sentences[p.passage]
            for j in range(int(first), int(last)):
                if j not in owner or owner[j][0] < relevance:
                    owner[j] = (relevance, p.passage)
        if byline is not None:
            self._add_bylines(owner, passages, byline)
        long_enough = {
            j: v
            for j, v in owner.items()
            if len(words(index.sentence_text(j))) >= self.settings.min_words
        }
        return long_enough or owner

    def _add_bylines(self, owner, passages, byline: re.Pattern) -> None:
        index = self.index
        for doc in {int(index.passage_doc[p.passage]) for p in passages}:
            for j in np.flatnonzero(index.sentence_doc == doc):
                if int(j) not in owner and byline.match(index.sentence_text(int(j))):
                    passage = int(np.searchsorted(index.passage_sentences[:, 1], j, side="right"))
                    owner[int(j)] = (0.0, min(passage, len(index) - 1))

    def signals(self, query, question, query_vector, ids, texts, candidates) -> dict:
        """Every signal for every candidate sentence, as arrays in ``ids`` order."""
        sentence_terms = [set(terms(repair_splits(text))) for text in texts]
        query_terms = set(terms(query))
        question_terms = set(terms(question))
        lexical_all = self._coverage(query_terms, sentence_terms)
        lexical_now = self._coverage(question_terms, sentence_terms)
        kind = question_type(question)
        untyped = np.array([1.0 - type_match(question, t, kind) for t in texts])
        echo = np.array([1.0 if len(st - query_terms) < 2 else 0.0 for st in sentence_terms])
        line = attribution(query)
        byline = np.array([1.0 if line is not None and line.match(t) else 0.0 for t in texts])
        return {
            "dense": self.index.sentence_rows(ids) @ query_vector,
            "lexical": (lexical_all + lexical_now) / 2,
            "passage": np.array([candidates[int(j)][0] for j in ids]),
            "untyped": untyped,
            "echo": echo,
            "byline": byline,
        }

    def _coverage(self, query_terms: set[str], sentence_terms: list[set[str]]) -> np.ndarray:
        if not query_terms:
            return np.zeros(len(sentence_terms))
        weights = {t: self.index.lexical.idf(t) for t in query_terms}
        total = sum(weights.values())
        return np.array(
            [sum(w for t, w in weights.items() if t in st) / total for st in sentence_terms]
        )

    def _extract(self, first, last, passage, score, signals, question, kind, answer=None):
        index = self.index
        doc_id = index.doc_ids[index.sentence_doc[first]]
        document = index.entries[doc_id].document
        start, end = int(index.sentence_span[first][0]), int(index.sentence_span[last][1])
        text = document.text[start:end]
        context_start = min(int(index.passage_span[passage][0]), start)
        context_end = max(int(index.passage_span[passage][1]), end)
        if answer is not None and start <= answer.start and answer.end <= end:
            focus = Candidate(answer.start - start, answer.end - start, "reader")
        else:
            focus = find_focus(question, text, kind) if kind else None
        return Extract(
            doc_id=doc_id,
            title=document.title,
            start=start,
            end=end,
            text=text,
            score=score,
            context_start=context_start,
            context_end=context_end,
            context=document.text[context_start:context_end],
            page=document.page_at(start),
            focus_start=start + focus.start if focus else None,
            focus_end=start + focus.end if focus else None,
            signals=signals,
        )
