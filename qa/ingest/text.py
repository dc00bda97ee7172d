"""Text normalisation and terms for lexical matching.

Matching works on normalised terms (case-folded, accent-folded, stemmed, stopwords removed);
nothing here changes a document's text, so every offset still refers to the text as stored.
"""

from __future__ import annotations

import bisect
import importlib.util
import logging
import math
import os
import re
import tempfile
import unicodedata
from functools import lru_cache
from pathlib import Path

from qa.config import cache_dir
from qa.models.cache import discard, record, record_path, verified

log = logging.getLogger(__name__)

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
    if text.isascii():  # the same result (ASCII has no accents or decompositions), 20x sooner
        return text.lower()
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


def zipf(word: str) -> float:
    """wordfreq's Zipf frequency of ``word`` in English (0 for an unknown word)."""
    return _zipf(word)


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
def _frequencies() -> dict[str, float] | WordFrequencies:
    """wordfreq's English table: from qa's cache when it is there (0.08 s), else from wordfreq
    (importing it and reading its table took 0.56 s of a fresh ``qa ask``'s 2.4 s), then
    cached. The cache is keyed on wordfreq's data file, so a new wordfreq is read afresh."""
    source = _wordfreq_source()
    if source is None:
        return _wordfreq_table()
    stat = source.stat()
    path = (
        cache_dir() / f"wordfreq-en-{WordFrequencies.FORMAT}-{stat.st_size}-{stat.st_mtime_ns}.npz"
    )
    try:
        if verified(path):  # not a file someone changed (a zip bomb cost 4 GB at each start)
            return WordFrequencies.load(path)
        discard(path)
    except Exception:  # noqa: BLE001 - not cached yet, or damaged in any way: read wordfreq's own
        discard(path)
    table = _wordfreq_table()
    try:
        WordFrequencies.from_dict(table).save(path)
    except (OSError, ValueError) as error:  # a read-only home: slower, not wrong
        log.debug("Not caching the word frequencies at %s: %s", path, error)
    return table


def _wordfreq_table() -> dict[str, float]:
    from wordfreq import get_frequency_dict

    return get_frequency_dict("en", "best")  # the call (and cached table) wordfreq makes


def _wordfreq_source() -> Path | None:
    """wordfreq's English table file ("best" is its large list), or None when not found."""
    spec = importlib.util.find_spec("wordfreq")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "large_en.msgpack.gz"
    return path if path.is_file() else None


class WordFrequencies:
    """A word -> frequency table looked up by binary search in its sorted words: read back in
    a fraction of the time a dict of 321,000 entries takes to build."""

    FORMAT = 1  # of the cache file

    def __init__(self, words: list[str], frequencies: list[float]):
        self.words = words
        self.frequencies = frequencies

    @classmethod
    def from_dict(cls, table: dict[str, float]) -> WordFrequencies:
        words = sorted(table)
        if any("\n" in word for word in words):
            raise ValueError("a word holds a line break")
        return cls(words, [table[word] for word in words])

    def get(self, word: str) -> float | None:
        at = bisect.bisect_left(self.words, word)
        if at < len(self.words) and self.words[at] == word:
            return self.frequencies[at]
        return None

    def save(self, path: Path) -> None:
        """Write atomically (a reader never sees half a file)."""
        import numpy as np

        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        os.close(handle)
        try:
            blob = "\n".join(self.words).encode("utf-8")
            np.savez(
                temporary,
                words=np.frombuffer(blob, dtype=np.uint8),
                frequencies=np.asarray(self.frequencies, dtype=np.float64),
            )
            record(Path(temporary))
            os.replace(record_path(Path(temporary)), record_path(path))
            os.replace(temporary, path)
        finally:
            for left in (temporary, str(record_path(Path(temporary)))):
                if os.path.exists(left):
                    os.unlink(left)

    @classmethod
    def load(cls, path: Path) -> WordFrequencies:
        import zipfile

        import numpy as np

        # As ``save`` writes it: members stored, not compressed, so reading takes no more
        # memory than the file's size, whatever the file claims.
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
        if (
            any(m.compress_type != zipfile.ZIP_STORED for m in members)
            or sum(m.file_size for m in members) > path.stat().st_size
        ):
            raise ValueError("not a word-frequency table as qa writes it")
        with np.load(path, allow_pickle=False) as stored:
            words = stored["words"].tobytes().decode("utf-8").split("\n")
            frequencies = stored["frequencies"].tolist()
        if len(words) != len(frequencies):  # written whole (atomically), so only if tampered
            raise ValueError("not a word-frequency table")
        return cls(words, frequencies)


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
