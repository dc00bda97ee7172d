"""qa.ingest.text: term analysis and the repair of words split by PDF extraction."""

from __future__ import annotations

import re

import pytest
from wordfreq import zipf_frequency

from qa.ingest.text import _zipf, fold, repair_splits, terms

from .conftest import SEEDS


def test_zipf_reads_wordfreq_s_table_as_zipf_frequency_does():
    """The direct table lookup equals wordfreq's own answer, rounding included: on every word
    of the seeds and every pair of neighbours joined (also checked on all of SQuAD dev's
    160,414), and on the words it leaves to wordfreq (capitals, accents, unknown)."""
    words = set()
    for path in SEEDS.glob("*.txt"):
        found = re.findall(r"[^\W\d_]+", path.read_text(encoding="utf-8"))
        words |= {w.lower() for w in found} | {(a + b).lower() for a, b in zip(found, found[1:])}
    words |= {"China", "café", "straße", "zzqxv", "a", "the", "ina"}
    assert len(words) > 1000
    for word in sorted(words):
        assert _zipf.__wrapped__(word) == zipf_frequency(word, "en"), word


@pytest.mark.parametrize(
    ("text", "repaired"),
    [
        ("Ch ina and Russia", "China and Russia"),
        ("a ba lanced approach", "a balanced approach"),
        ("an is land of car pet", "an is land of car pet"),  # both halves common: kept apart
    ],
)
def test_repair_splits_joins_only_fragments_of_a_common_word(text, repaired):
    assert repair_splits(text) == repaired


def test_terms_fold_case_and_accents_and_stem():
    assert terms("Cafés in CHINA") == terms("cafe in china")


def test_fold_takes_ascii_text_the_short_way_to_the_same_result():
    """ASCII text is only lower-cased; the full path (case folding, NFKD, no combining marks)
    gives the same for every ASCII character and for the seeds' lines (also checked on all
    12,638 SQuAD dev paragraphs and questions)."""
    import unicodedata

    def full(text):
        text = unicodedata.normalize("NFKD", text.casefold())
        return "".join(ch for ch in text if not unicodedata.combining(ch))

    texts = ["".join(map(chr, range(128)))] + [
        line for path in SEEDS.glob("*.txt") for line in path.read_text().splitlines()
    ]
    assert all(fold(t) == full(t) for t in texts)
    assert fold("Straße CAFÉ") == full("Straße CAFÉ") == "strasse cafe"


def test_the_cached_frequency_table_is_wordfreq_s_and_a_damaged_one_is_replaced(
    tmp_path, monkeypatch
):
    from qa.ingest import text

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    text._frequencies.cache_clear()
    try:
        first = text._frequencies()  # wordfreq's own dict, written to the cache
        (cached,) = tmp_path.glob("wordfreq-en-*.npz")
        text._frequencies.cache_clear()
        table = text._frequencies()
        assert isinstance(table, text.WordFrequencies) and len(table.words) == len(first)
        assert all(table.get(word) == frequency for word, frequency in first.items())
        assert table.get("notawordatallxq") is None and table.get("") is None
        whole = cached.read_bytes()
        for damaged in (b"not a table", whole[: len(whole) // 2]):  # garbage; a cut zip file
            cached.write_bytes(damaged)
            text._frequencies.cache_clear()
            assert text._frequencies() == first  # read from wordfreq again, and cached again
            assert len(text.WordFrequencies.load(cached).words) == len(first)
        text._frequencies.cache_clear()
        assert isinstance(text._frequencies(), text.WordFrequencies)
    finally:
        text._frequencies.cache_clear()
