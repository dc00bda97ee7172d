"""qa.text: term analysis and the repair of words split by PDF extraction."""

from __future__ import annotations

import re

import pytest
from wordfreq import zipf_frequency

from qa.text import _zipf, repair_splits, terms

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
