"""qa.pipeline.policy on hand-made values (no model): the order of abstention reasons, the
bar for further extracts, and the ask-back rule."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qa.pipeline import policy
from qa.settings import Settings
from qa.values import Extract, Passage, PassageReading, Query


def extract(score: float, untyped: float = 0.0) -> Extract:
    return Extract("a.txt", "A", 0, 5, "Hello", score, 0, 5, "Hello", signals={"untyped": untyped})


def reading(has_answer: float) -> PassageReading:
    return PassageReading(Passage(0, "a.txt", 0, 5, "Hello", 0, 1), 0, 5, has_answer)


QUERY = Query.of("Where is the harbour?", np.zeros(3, np.float32))
YEAR = Query.of("In what year was the harbour built?", np.zeros(3, np.float32))
SETTINGS = Settings()


def test_an_unknown_word_is_the_first_reason_given():
    decision = policy.decide(QUERY, [extract(0.9)], [reading(0.0)], ["Atlantis"], SETTINGS)
    assert decision.reason == policy.NOT_IN_SOURCES


def test_no_reader_answer_comes_before_low_confidence():
    decision = policy.decide(QUERY, [extract(0.1)], [reading(0.0)], [], SETTINGS)
    assert decision.reason == policy.NO_READER_ANSWER
    decision = policy.decide(QUERY, [extract(0.1)], [reading(0.9)], [], SETTINGS)
    assert decision.reason == policy.LOW_CONFIDENCE


def test_the_bar_depends_on_whether_the_reader_read():
    on = SETTINGS.abstain_below
    off = SETTINGS.abstain_below_without_reader
    assert on != off
    between = (on + off) / 2
    with_reader = policy.decide(QUERY, [extract(between)], [reading(0.9)], [], SETTINGS)
    without = policy.decide(QUERY, [extract(between)], None, [], SETTINGS)
    assert with_reader.abstained != without.abstained
    assert policy.threshold(SETTINGS, True) == on and policy.threshold(SETTINGS, False) == off


def test_a_missing_year_abstains_only_when_a_year_is_asked_for():
    assert policy.decide(YEAR, [extract(0.9, 1.0)], None, [], SETTINGS).reason == (
        policy.MISSING_TYPE
    )
    assert policy.decide(QUERY, [extract(0.9, 1.0)], None, [], SETTINGS).reason is None


def test_a_confident_reader_is_not_overruled_by_the_type_check():
    """The count asked for worded as the type check does not expect ("10,000 troops" for "how
    many soldiers"): the reader's span there, at 0.9999, is not refused as MISSING_TYPE."""
    count = Query.of("How many soldiers took part?", np.zeros(3, np.float32))
    vouched = replace(extract(0.9, 1.0), signals={"untyped": 1.0, "reader": 0.9999})
    assert policy.decide(count, [vouched], [reading(0.9999)], [], SETTINGS).reason is None
    # Fairly sure is not enough: "20%" for "how many sites" at 0.965 (gold dev).
    doubtful = replace(vouched, signals={"untyped": 1.0, "reader": 0.965})
    assert policy.decide(count, [doubtful], [reading(0.965)], [], SETTINGS).reason == (
        policy.MISSING_TYPE
    )
    # Without the reader, nothing vouches: the type check stands.
    assert policy.decide(count, [vouched], None, [], SETTINGS).reason == policy.MISSING_TYPE


def test_a_refusal_says_why_in_words_naming_the_kind_asked_for():
    weak = policy.decide(QUERY, [extract(0.1)], [reading(0.9)], [], SETTINGS)
    assert weak.why == "No passage matches the question closely enough to quote as its answer."
    unread = policy.decide(QUERY, [extract(0.9)], [reading(0.0)], [], SETTINGS)
    assert unread.why == policy.WHY[policy.NO_READER_ANSWER]
    year = policy.decide(YEAR, [extract(0.9, 1.0)], None, [], SETTINGS)
    assert year.why == "The question asks for a year, and the closest passage gives none."
    kinds = {
        "How many soldiers took part?": "a number",
        "Which environment variable sets the root of pyenv-virtualenv?": (
            "a variable, option or command name"
        ),
        "What directory does pyenv-virtualenv keep its cache in?": "a path or directory",
    }
    for question, kind in kinds.items():
        query = Query.of(question, np.zeros(3, np.float32))
        decision = policy.decide(query, [extract(0.9, 1.0)], None, [], SETTINGS)
        assert decision.reason == policy.MISSING_TYPE
        assert decision.why == f"The question asks for {kind}, and the closest passage gives none."
    assert policy.decide(QUERY, [extract(0.9)], None, [], SETTINGS).why is None  # answered


def test_further_extracts_are_offered_only_above_the_bar():
    bar = SETTINGS.abstain_below_without_reader
    decision = policy.decide(
        QUERY, [extract(0.9), extract(bar + 0.01), extract(bar - 0.01)], None, [], SETTINGS
    )
    assert decision.reason is None and [e.score for e in decision.extracts] == [0.9, bar + 0.01]


def test_nothing_found_is_low_confidence():
    assert policy.decide(QUERY, [], None, [], SETTINGS).reason == policy.LOW_CONFIDENCE


def test_ask_back_only_for_a_bare_follow_up_that_opens_a_conversation():
    assert policy.clarification("And when was it signed?", []) == "it"
    assert policy.clarification("And when was it signed?", ["Where was it agreed?"]) is None
    assert policy.clarification("Who founded it in Shanghai in 2001?", []) is None
    assert policy.clarification("Where was the agreement signed?", []) is None


def test_settings_tree_round_trips_and_refuses_unknown_keys():
    import pytest

    from qa.errors import SettingsError

    changed = replace(SETTINGS, reader=replace(SETTINGS.reader, passages=2), abstain_below=0.2)
    assert Settings.from_dict(changed.to_dict()) == changed
    assert Settings.from_dict({}) == SETTINGS  # every key has its default
    with pytest.raises(SettingsError, match="no setting colour"):
        Settings.from_dict({"reader": {"colour": "blue"}})


def quote(text: str, reader: float = 0.0) -> Extract:
    return Extract("a.txt", "A", 0, len(text), text, 0.9, 0, 5, text, signals={"reader": reader})


@pytest.mark.parametrize(
    ("question", "conditions"),
    [
        ("What did the price of oil rise to in 1979?", ["1979"]),
        ("What changed in Python 3.12 and 3.11.4?", ["3.12", "3.11.4"]),
        ("Who earns over 60,000 dollars?", ["60000"]),
        ("DEC had 3 layers but evolved into how many?", []),  # one digit: "three layers"
        ("What does error E824 mean on x86_64 or v2?", []),  # parts of identifiers
    ],
)
def test_the_numbers_a_question_names_as_conditions(question, conditions):
    assert Query.of(question, np.zeros(3, np.float32)).conditions == conditions


def test_a_number_the_question_names_and_the_best_extract_lacks_is_a_reason():
    """The decoy people write by changing a date: "in 1979" answered from a sentence about
    1974. No reader vouches for it (its certainty is about a span, not the condition)."""
    changed = Query.of("What did the price of oil rise to in 1979?", np.zeros(3, np.float32))
    decoy = quote("By March 1974, the price of oil had risen to nearly $12.", reader=0.9999)
    decision = policy.decide(changed, [decoy], [reading(0.99)], [], SETTINGS)
    assert decision.reason == policy.MISSING_NUMBER and decision.missing == ["1979"]
    held = quote("In 1979, the price of oil rose to $39.50 a barrel.")
    assert policy.decide(changed, [held], [reading(0.99)], [], SETTINGS).reason is None
    amount = Query.of("Who earns over 60,000 dollars?", np.zeros(3, np.float32))
    assert policy.missing_numbers(amount, quote("Families earning 60000 dollars pay.")) == []
    assert policy.missing_numbers(amount, quote("Families earning $60,000 pay.")) == []
    new = Query.of("What does Python 3.12 add to f-strings?", np.zeros(3, np.float32))
    sentence = quote("F-strings may now nest quotes of the same kind.")
    assert policy.missing_numbers(new, sentence) == ["3.12"]
    titled = replace(sentence, title="What's New In Python 3.12")  # the document says which
    assert policy.missing_numbers(new, titled) == []
    assert policy.missing_numbers(new, replace(sentence, location="§ Python 3.12")) == []


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("Which script prints the compiler flags for libxml2?", ["libxml2"]),
        ("Where is the rustup home directory by default?", ["rustup"]),
        ("What does PYENV_ROOT set on x86_64?", ["PYENV_ROOT", "x86_64"]),
        ("How does valgrind-memcheck report leaks?", ["valgrind-memcheck"]),
        # Words of English, however rare, and their typing errors are not names: "gazettes",
        # "smalled"; nor are ordinals, decades, ranges, contractions or the first word.
        ("Where are the gazettes of the smalled collection?", []),
        ("What happened in the 17th century, the 1970s and 2012-13?", []),
        ("Why shouldn't I use Memcheck with Python?", []),
    ],
)
def test_the_program_and_setting_names_a_question_names(question, names):
    assert Query.of(question, np.zeros(3, np.float32)).identifiers == names


def test_a_name_the_question_names_and_the_passage_lacks_is_a_reason():
    """Another package's value: "libxml2" asked, libxslt's script quoted. The passage's
    context, title and section count as naming it; no reader vouches for the quote."""
    asked = Query.of("Which script prints the compiler flags for libxml2?", np.zeros(3))
    other = quote("The xslt-config script prints the flags libxslt needs.", reader=0.9999)
    decision = policy.decide(asked, [other], [reading(0.99)], [], SETTINGS, ["libxml2"])
    assert decision.reason == policy.MISSING_NAME and decision.missing == ["libxml2"]
    # Without the corpus knowing the name (the caller passes none), the rule says nothing.
    assert policy.decide(asked, [other], [reading(0.99)], [], SETTINGS).reason is None
    for place in ("context", "title", "location"):
        held = replace(other, **{place: "Building with LIBXML2"})
        assert policy.missing_names(["libxml2"], held) == []
    number = Query.of("Which script prints the flags for libxml2 2.9?", np.zeros(3))
    first = policy.decide(number, [other], [reading(0.99)], [], SETTINGS, ["libxml2"])
    assert first.reason == policy.MISSING_NUMBER  # the number is named first


@pytest.mark.parametrize(
    ("question", "negated"),
    [
        ("What did the Netherlands not let America use during the embargo?", True),
        ("Which country wasn't hit by the embargo?", True),
        ("Which Valgrind tool does no analysis at all?", True),
        # Asking about a negated fact needs more than the word: these ask none. A negation in
        # a clause of its own or by "without" sets a condition; the fact asked is not negated.
        ("Which integer type does Rust pick when I don't annotate one?", False),
        ("What weight does a glob pattern get if none is given?", False),
        ("How do I get a Cargo.toml for a project I started without Cargo?", False),
        ("Whether or not a problem can be solved is studied by which field?", False),
        ("What did the embargo not only raise but double?", False),
        ("Why is Homebrew no longer used?", False),
        ("Which country was hit by the embargo?", False),
    ],
)
def test_a_negated_question(question, negated):
    assert Query.of(question, np.zeros(3, np.float32)).negated is negated


def test_a_negated_question_whose_best_passage_negates_nothing_is_refused():
    """The decoy people write by adding "not": the sentence says what the Netherlands did.
    An answer that negates in other words ("refused", "excluding", "unable") is kept, and no
    reader vouches for the plain sentence."""
    asked = Query.of("What did the Netherlands not let America use?", np.zeros(3))
    plain = quote("The Netherlands let America use its airfields for supplies.", reader=0.9999)
    decision = policy.decide(asked, [plain], [reading(0.99)], [], SETTINGS)
    assert decision.reason == policy.NEGATION_UNMATCHED and decision.abstained
    for said in (
        "The Netherlands did not let America use its ports.",
        "The Netherlands refused to let America use its ports.",
        "The Netherlands let America use everything except its ports.",
        "The Netherlands was unable to let America use its ports.",
    ):
        assert policy.decide(asked, [quote(said)], [reading(0.99)], [], SETTINGS).reason is None
    # The same sentence for the question without "not" is an answer.
    positive = Query.of("What did the Netherlands let America use?", np.zeros(3))
    assert policy.decide(positive, [plain], [reading(0.99)], [], SETTINGS).reason is None
