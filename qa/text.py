"""Text normalisation and terms for lexical matching.

Matching works on normalised terms (case-folded, accent-folded, stemmed, stopwords removed);
nothing here changes a document's text, so every offset still refers to the text as stored.
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache

# Function words and question words carry no evidence about where an answer is.
STOPWORDS = frozenset(
    """
    a an and are as at be been being but by can could did do does doing for from had has
    have having he her hers him his how i if in into is it its itself me my no nor not of on
    or our ours she should so such than that the their theirs them then there these they
    this those to too was we were what when where which while who whom whose why will with
    would you your yours also about after again any because before both during each few
    further here just more most other over own same some through under until up very s t d
    ll m o re ve y
    """.split()
)

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def fold(text: str) -> str:
    """Lower-case and strip accents, keeping one output character per word character."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """Folded word tokens, stopwords included."""
    return _WORD.findall(fold(text))


def terms(text: str) -> list[str]:
    """Stemmed content terms of ``text``, in order, repeats kept (for BM25 term frequency)."""
    tokens = [token for token in words(text) if token not in STOPWORDS]
    return _stemmer().stemWords(tokens) if tokens else []


def terms_many(texts: list[str]) -> list[list[str]]:
    """``terms`` for many texts, stemming all tokens in one call."""
    token_lists = [[t for t in words(text) if t not in STOPWORDS] for text in texts]
    flat = [token for tokens in token_lists for token in tokens]
    stemmed = iter(_stemmer().stemWords(flat)) if flat else iter(())
    return [[next(stemmed) for _ in tokens] for tokens in token_lists]


def is_meaningful(text: str) -> bool:
    """True when ``text`` holds at least one letter or digit once control characters are gone."""
    return any(ch.isalnum() for ch in text if unicodedata.category(ch)[0] != "C")


@lru_cache(maxsize=500_000)
def _zipf(word: str) -> float:
    """wordfreq's Zipf frequency of ``word`` in English.

    A lowercase ASCII word is its own single token, so its frequency is read from wordfreq's
    table directly and rounded as ``zipf_frequency`` rounds it (equal on every word of SQuAD
    dev, tests/test_text.py). ``zipf_frequency`` tokenises first: 16 us a word against 3, which
    is what made a fresh process's first questions slow (extraction repairs every candidate
    sentence, about 1 ms a sentence cold).
    """
    if not (word.isascii() and word.isalpha() and word.islower()):
        from wordfreq import zipf_frequency

        return zipf_frequency(word, "en")
    freq = _frequencies().get(word)
    if freq is None:
        return 0.0
    freq = 1.0 / (1.0 / freq)  # as wordfreq combines a word's tokens (one here)
    freq = round(freq, math.floor(-math.log(freq, 10)) + 3)  # its 3 significant digits
    return round(math.log(freq, 10) + 9, 2)


@lru_cache(maxsize=1)
def _frequencies() -> dict[str, float]:
    from wordfreq import get_frequency_dict

    return get_frequency_dict("en", "best")  # the call (and cached table) wordfreq makes


_LETTERS = re.compile(r"[^\W\d_]+")


def repair_splits(text: str) -> str:
    """``text`` with words broken by PDF extraction rejoined ("Ch ina" -> "China").

    Two neighbours separated by one space are joined when the joined word is common English
    (Zipf frequency >= 3) and clearly more common than the rarer fragment, which must itself
    be uncommon (< 4): "ba lanced" joins, "is land" and "car pet" do not. Used only for
    matching (terms and vectors); offsets always refer to the original text.
    """
    out: list[str] = []
    position = 0
    matches = list(_LETTERS.finditer(text))
    n = 0
    while n < len(matches) - 1:
        a, b = matches[n], matches[n + 1]
        if text[a.end() : b.start()] == " " and _joins(a.group(), b.group()):
            out.append(text[position : a.end()])
            position = b.start()  # drop the space
            n += 2
        else:
            n += 1
    out.append(text[position:])
    return "".join(out)


def _joins(a: str, b: str) -> bool:
    if len(a) + len(b) < 4 or len(a) > 15 or len(b) > 15 or not (a + b).isalpha():
        return False
    rarer = min(_zipf(a.lower()), _zipf(b.lower()))
    if rarer >= 4.0:
        return False
    joined = _zipf((a + b).lower())
    return joined >= 3.0 and joined >= rarer + 1.5
