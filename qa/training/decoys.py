"""Synthetic unanswerable questions (issue 32): answerable training questions edited the way
SQuAD 2.0's writers made their decoys, each paired with the window that answers the original,
so that "no answer" must win with the original's answer in view.

- A changed number: a number of two digits or more in the question ("in 1974") becomes one
  that its article never mentions (a year moved by 1-9, another amount doubled or trebled).
- A swapped name: a capitalised name of the question that its answer's window holds
  ("Normandy") becomes the nearest name (by the sentence encoder's similarity: the same kind of
  thing, "Brittany" rather than "1066") asked about in another training article, which this
  article never mentions.

Negation and antonyms are left out: "not" turns many SQuAD questions into answerable ones
of another fact, and there is no antonym dictionary on this machine. Only training articles
are edited (``split_of``), never a dev or test one.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

import numpy as np

from .squad import SquadData, SquadQuestion, article_number, split_of

# A run of capitalised words ("Super Bowl", "Denver Broncos"); the question's first word is
# capitalised by grammar, not as a name, and is skipped.
_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")
_NUMBER = re.compile(r"(?<![\w.,])\d{2,}(?![\w.,]\d)")


def names(question: str) -> list[tuple[int, int]]:
    """The spans of the capitalised names of ``question``, its first word left out."""
    first = re.match(r"\W*\w+", question)
    skip = first.end() if first else 0
    found = []
    for match in _NAME.finditer(question):
        start = max(match.start(), skip)
        text = question[start : match.end()].strip()
        if len(text) >= 3 and text[0].isupper():
            start = question.index(text, start)
            found.append((start, start + len(text)))
    return found


def mentions(text: str, phrase: str) -> bool:
    """Whether ``text`` holds ``phrase`` as whole words, case ignored."""
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE) is not None


def changed_number(question: str, article: str, rng: random.Random) -> str | None:
    """``question`` with one of its numbers changed to one ``article`` never mentions."""
    found = list(_NUMBER.finditer(question))
    rng.shuffle(found)
    for match in found:
        value = int(match.group())
        if 1000 <= value <= 2100:  # a year
            options = [value + d for d in (-9, -7, -5, -3, -2, -1, 1, 2, 3, 5, 7, 9)]
        else:
            options = [value * 2, value * 3, value + 10, max(10, value // 2)]
        options = [o for o in options if o != value and not mentions(article, str(o))]
        if options:
            new = str(rng.choice(options))
            return question[: match.start()] + new + question[match.end() :]
    return None


def decoy_questions(data: SquadData, count: int, seed: int, embed) -> list[SquadQuestion]:
    """Up to ``count`` edited questions of the training articles (half changed numbers where
    there are enough, the rest swapped names), unanswerable, with the original's answer spans
    as their ``plausible`` decoy. ``embed(texts)`` gives unit vectors (the sentence encoder)."""
    rng = random.Random(seed)
    train = [q for q in data.questions if q.spans and split_of(article_number(q.doc_id)) == "train"]
    numbered = []
    for q in train:
        edited = changed_number(q.question, data.documents[q.doc_id], rng)
        if edited is not None:
            numbered.append(_unanswerable(q, edited, "number"))
    pool: dict[str, set[str]] = {}  # name -> the articles asking about it
    for q in train:
        for a, b in names(q.question):
            pool.setdefault(q.question[a:b], set()).add(q.doc_id)
    pool_names = sorted(pool)
    vectors = embed(pool_names)
    where = {name: i for i, name in enumerate(pool_names)}
    swapped = []
    for q in rng.sample(train, len(train)):
        if len(swapped) >= count:
            break
        article = data.documents[q.doc_id]
        window = _answer_window(data, q)
        for a, b in names(q.question):
            name = q.question[a:b]
            if not mentions(window, name):
                continue
            similar = np.argsort(-(vectors @ vectors[where[name]]))[1:40]
            choices = [
                pool_names[i]
                for i in similar
                if q.doc_id not in pool[pool_names[i]]
                and not mentions(article, pool_names[i])
                and not (set(pool_names[i].lower().split()) & set(name.lower().split()))
            ][:3]
            if choices:
                new = q.question[:a] + rng.choice(choices) + q.question[b:]
                swapped.append(_unanswerable(q, new, "name"))
                break
    numbers = rng.sample(numbered, min(len(numbered), count // 2))
    return numbers + swapped[: count - len(numbers)]


def _answer_window(data: SquadData, q: SquadQuestion) -> str:
    """The paragraph ``q`` was written on (its answer's surroundings)."""
    start, end = q.spans[0]
    for a, b in data.paragraphs[q.doc_id]:
        if a <= start and end <= b:
            return data.documents[q.doc_id][a:b]
    return data.documents[q.doc_id][max(0, start - 300) : end + 300]


def _unanswerable(q: SquadQuestion, question: str, kind: str) -> SquadQuestion:
    return replace(
        q, qid=f"{q.qid}-{kind}", question=question, answers=(), spans=(), plausible=q.spans
    )


__all__ = ["changed_number", "decoy_questions", "mentions", "names"]
