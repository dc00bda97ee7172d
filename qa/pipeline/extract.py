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
from functools import lru_cache

import numpy as np

from qa.index.corpus import Corpus
from qa.ingest.text import repair_splits, terms, words
from qa.pipeline.focus import Phrase, find_focus, type_match, whole_tokens
from qa.settings import ExtractionSettings
from qa.values import Candidate, Extract, Passage, PassageReading, Query, Sentence

# A sentence opening like this leans on the one before for what it is about.
_POINTS_BACK = re.compile(
    r"^\W*(?:it|its|this|that|these|those|they|their|he|she|his|her|such|the\s+(?:move|"
    r"deal|agreement|plan|project|decision|country|company|government|group|report|event))\b",
    re.IGNORECASE,
)


class Extractor:
    """Scores the sentences of retrieved passages and returns the best as ``Extract``s."""

    def __init__(self, settings: ExtractionSettings | None = None):
        self.settings = settings or ExtractionSettings()

    def run(
        self,
        query: Query,
        corpus: Corpus,
        candidates: list[Candidate],
        k: int = 3,
        readings: list[PassageReading] | None = None,
        reader_weight: float = 0.0,
    ) -> list[Extract]:
        """The ``k`` best extracts (a sentence or two adjacent ones), best first, disjoint.

        ``corpus`` is the generation the candidates come from: sentences beyond them
        (neighbours, bylines) are read from it. For a follow-up, the question as asked and its
        own vector count towards the signals beside the resolved query. ``readings`` are the
        reader's answers in the passages it read: a sentence holding the start of one gets its
        ``has_answer`` as the ``reader`` signal (0 otherwise), weighted ``reader_weight``
        against the other signals' sum, and the answer becomes the extract's focus.
        """
        s = self.settings
        owners = self._candidates(corpus, candidates[: s.passages], query.attribution)
        if not query.about_code:  # a code block shows; it answers only questions about code
            owners = {j: v for j, v in owners.items() if not _in_code(corpus, v[2])}
        if not owners:
            return []
        ids = np.array(sorted(owners), dtype=np.int64)
        sentences = {j: owners[j][2] for j in owners}
        texts = [sentences[int(j)].text for j in ids]
        signals = self.signals(corpus, query, ids, texts, owners)
        if query.follow_up and query.question_vector is not None:
            own = corpus.sentence_similarity(ids, query.question_vector)
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
            answers = _answers([sentences[int(j)] for j in ids], readings)
            signals["reader"] = np.array(
                [answers[int(j)].has_answer if int(j) in answers else 0.0 for j in ids]
            )
            signals["sentence"] = scores
            scores = (1 - reader_weight) * scores + reader_weight * signals["reader"]
        scores = attribution_first(query, ids, texts, owners, candidates, scores)
        query_terms = set(query.terms) | set(query.question_terms)
        extracts: list[Extract] = []
        taken: list[tuple[int, int]] = []  # sentence-id ranges already quoted
        for o in np.argsort(-scores, kind="stable"):
            if len(extracts) == k:
                break
            j = int(ids[o])
            spans = [self._span(corpus, sentences[j], query_terms)] if s.join_neighbours else []
            for first, last in [*spans, (sentences[j], sentences[j])]:
                if not any(first.id <= b and a <= last.id for a, b in taken):
                    break  # extracts never overlap: else the sentence alone, if it is free
            else:
                continue
            taken.append((first.id, last.id))
            extracts.append(
                self._extract(
                    corpus,
                    first,
                    last,
                    owners[j][1],
                    float(scores[o]),
                    {name: float(values[o]) for name, values in signals.items()},
                    query,
                    answers.get(j),
                )
            )
        return extracts

    def _span(
        self, corpus: Corpus, sentence: Sentence, query_terms: set[str]
    ) -> tuple[Sentence, Sentence]:
        """The sentences (first, last) to quote for a best ``sentence``: it alone, or it with
        one neighbour when the answer runs across them.

        A sentence that opens with a word pointing back ("It", "This agreement") is joined to
        the one before when the other holds question terms it lacks, whichever of the two
        scored best; it is joined to the next also when it announces it (ends in a colon)
        or the sentence splitter cut mid-sentence (the next starts in lower case, on the same
        line). Only within one paragraph of one document.
        """
        text = sentence.text
        own = set(terms(repair_splits(text)))

        def adds_question_terms(other: Sentence) -> bool:
            return bool((set(terms(repair_splits(other.text))) - own) & query_terms)

        previous = corpus.sentence(sentence.id - 1)
        following = corpus.sentence(sentence.id + 1)
        if (
            self._joined(corpus, previous, sentence)
            and _POINTS_BACK.match(text)
            and adds_question_terms(previous)
        ):
            return previous, sentence
        if self._joined(corpus, sentence, following):
            after = following.text
            # A lower-case start means the splitter cut a sentence, but only inside a line: on
            # a new line it is a new block, such as the next term of a definition list.
            cut = after[:1].islower() and "\n" not in _gap(corpus, sentence, following)
            if text.rstrip().endswith(":") or cut:
                return sentence, following
            if _POINTS_BACK.match(after) and adds_question_terms(following):
                return sentence, following
        return sentence, sentence

    def _joined(self, corpus: Corpus, a: Sentence | None, b: Sentence | None) -> bool:
        """Sentences ``a`` and ``b`` exist, are consecutive in one document and paragraph."""
        if a is None or b is None or a.doc_id != b.doc_id:
            return False
        gap = _gap(corpus, a, b)
        return "\n\n" not in gap and len(gap) < 5

    def _candidates(
        self, corpus: Corpus, candidates: list[Candidate], byline: re.Pattern | None = None
    ) -> dict[int, tuple[float, Passage, Sentence]]:
        """Sentence id -> (relevance in [0, 1] of its best passage, that passage, the sentence).

        For a question about authorship or source, the attribution lines of the documents
        retrieved are candidates too: they usually sit at the end, far from the topic.
        """
        if not candidates:
            return {}
        top = max(c.score for c in candidates)
        bottom = min(c.score for c in candidates)
        spread = top - bottom if top - bottom > 1e-9 else 1.0
        owner: dict[int, tuple[float, Passage, Sentence]] = {}
        for c in candidates:
            relevance = (c.score - bottom) / spread if len(candidates) > 1 else 1.0
            for j in c.passage.sentences:
                if j not in owner:
                    owner[j] = (relevance, c.passage, corpus.sentence(j))
                elif owner[j][0] < relevance:
                    owner[j] = (relevance, c.passage, owner[j][2])
        if byline is not None:
            self._add_bylines(corpus, owner, candidates, byline)
        long_enough = {
            j: v for j, v in owner.items() if len(words(v[2].text)) >= self.settings.min_words
        }
        return long_enough or owner

    def _add_bylines(
        self, corpus: Corpus, owner, candidates: list[Candidate], byline: re.Pattern
    ) -> None:
        for doc_id in dict.fromkeys(c.doc_id for c in candidates):
            for j in corpus.sentences_of(doc_id):
                if j in owner:
                    continue
                sentence = corpus.sentence(j)
                if byline.match(sentence.text):
                    owner[j] = (0.0, corpus.passage(corpus.passage_holding(j)), sentence)

    def signals(self, corpus: Corpus, query: Query, ids, texts, candidates) -> dict:
        """Every signal for every candidate sentence, as arrays in ``ids`` order."""
        sentence_terms = [sentence_terms_of(text) for text in texts]
        query_terms = set(query.terms)
        question_terms = set(query.question_terms)
        lexical_all = self._coverage(corpus, query_terms, sentence_terms)
        lexical_now = self._coverage(corpus, question_terms, sentence_terms)
        kind = query.kind
        untyped = np.array([1.0 - type_match(query.question, t, kind) for t in texts])
        echo = np.array([1.0 if len(st - query_terms) < 2 else 0.0 for st in sentence_terms])
        line = query.attribution
        byline = np.array([1.0 if line is not None and line.match(t) else 0.0 for t in texts])
        return {
            "dense": corpus.sentence_similarity(ids, query.vector),
            "lexical": (lexical_all + lexical_now) / 2,
            "passage": np.array([candidates[int(j)][0] for j in ids]),
            "untyped": untyped,
            "echo": echo,
            "byline": byline,
        }

    def _coverage(
        self, corpus: Corpus, query_terms: set[str], sentence_terms: list[frozenset[str]]
    ) -> np.ndarray:
        if not query_terms:
            return np.zeros(len(sentence_terms))
        # sorted: a set's order changes with each process's string hashing, and with it the
        # last bits of the sums
        weights = {t: corpus.idf(t) for t in sorted(query_terms)}
        total = sum(weights.values())
        return np.array(
            [sum(w for t, w in weights.items() if t in st) / total for st in sentence_terms]
        )

    def _extract(
        self,
        corpus: Corpus,
        first: Sentence,
        last: Sentence,
        passage: Passage,
        score: float,
        signals: dict,
        query: Query,
        answer: PassageReading | None = None,
    ) -> Extract:
        document = corpus.document(first.doc_id)
        start, end = first.start, last.end
        text = document.text[start:end]
        context_start = min(passage.start, start)
        context_end = max(passage.end, end)
        if answer is not None and start <= answer.start and answer.end <= end:
            focus = Phrase(answer.start - start, answer.end - start, "reader")
        else:
            focus = find_focus(query.question, text, query.kind) if query.kind else None
        if focus is not None:  # never part of an identifier, path, address or number
            focus = Phrase(*whole_tokens(text, focus.start, focus.end), focus.kind)
        return Extract(
            doc_id=first.doc_id,
            title=document.title,
            start=start,
            end=end,
            text=text,
            score=score,
            context_start=context_start,
            context_end=context_end,
            context=document.text[context_start:context_end],
            page=document.page_at(start),
            location=document.location_at(start),
            focus_start=start + focus.start if focus else None,
            focus_end=start + focus.end if focus else None,
            signals=signals,
        )


ATTRIBUTION_WORDS = 25  # an attribution line names a person or a source, not a story


def attribution_first(query: Query, ids, texts, owners, candidates, scores: np.ndarray):
    """``scores``, with the attribution line the question asks for first: for "Who wrote...?"
    or "Which newspaper...?", the short author or source line of the document retrieval
    ranks best is the answer by what it is, though it shares no words with the question and
    the reader, trained on sentences that state facts, gives it nothing (the other article's
    byline, or a sentence of the story, was quoted instead)."""
    line = query.attribution
    if line is None or not candidates or not len(scores):
        return scores
    best_doc = candidates[0].doc_id
    for o, j in enumerate(ids):
        sentence = owners[int(j)][2]
        text = texts[o]
        if (
            sentence.doc_id == best_doc
            and line.match(text)
            and len(words(text)) <= ATTRIBUTION_WORDS
        ):
            scores = scores.copy()
            scores[o] = max(float(scores.max()), float(scores[o]))
            order_first = np.argsort(-scores, kind="stable")
            if ids[order_first[0]] != j:  # ties: the attribution line goes first
                scores[o] += 1e-6
            return scores
    return scores


def _in_code(corpus: Corpus, sentence: Sentence) -> bool:
    return corpus.document(sentence.doc_id).in_code(sentence.start, sentence.end)


def _gap(corpus: Corpus, a: Sentence, b: Sentence) -> str:
    """The text between sentence ``a`` and the next one, ``b``, of the same document."""
    return corpus.document(a.doc_id).text[a.end : b.start]


def _answers(sentences: list[Sentence], readings: list[PassageReading]) -> dict:
    """Sentence id -> the most confident reading whose answer starts in it."""
    found: dict[int, PassageReading] = {}
    for r in readings:
        if r.end <= r.start:
            continue
        for sentence in sentences:
            if sentence.doc_id == r.doc_id and sentence.start <= r.start < sentence.end:
                if sentence.id not in found or found[sentence.id].has_answer < r.has_answer:
                    found[sentence.id] = r
                break
    return found


@lru_cache(maxsize=16384)
def sentence_terms_of(text: str) -> frozenset[str]:
    """The terms of a sentence, its PDF splits mended: the same sentences are candidates for
    many questions, and this was about 45% of extraction's time under cProfile (2026-12-07,
    the gold questions on the seeds)."""
    return frozenset(terms(repair_splits(text)))
