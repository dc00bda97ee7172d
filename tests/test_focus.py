"""Answer focus: question types, typed phrases, and the answering phrase inside a sentence."""

from __future__ import annotations

import pytest

from qa.pipeline.focus import (
    DATE,
    NAME,
    NUMBER,
    PATH,
    PERSON,
    PLACE,
    SYMBOL,
    candidates,
    demands_type,
    find_focus,
    quantity_unit,
    question_type,
    type_match,
)

ROAD = (
    "An important practical step in this direction is the implementation of the SCO Member "
    "States Agreement on Facilitation of International Road Transport, signed in Dushanbe, "
    "Tajikistan, in September 2014."
)
CNISCO = (
    "On 13 September 2013, at the 13th meeting of the Council of Heads of State of the Shanghai "
    "Cooperation Organization (SCO) held in Bishkek, Chinese President Xi Jinping, in his "
    "important speech entitled “Promoting the Spirit of Shanghai, and Promoting Common "
    "Development” he announced that China will set up CNISCO."
)
EXERCISES = (
    "After the signing of the Convention, in October 2002, China and Kyrgyzstan successfully "
    "held joint anti-terrorism military exercises in the border areas of the two countries."
)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When was it signed?", DATE),
        ("In what year was the convention adopted?", DATE),
        ("How often do they meet?", DATE),
        ("How many soldiers took part?", NUMBER),
        ("What percentage of sites are cultural?", NUMBER),
        ("How long has the author studied there?", NUMBER),
        ("Who announced it?", PERSON),
        ("Which Chinese leader announced it?", PERSON),
        ("Where was the agreement signed?", PLACE),
        ("Which newspaper published it?", NAME),
        ("Which two countries held exercises?", NAME),
        # "when" joining clauses, vague heads, and untyped questions
        ("What does the SCO plan to build when conditions allow?", None),
        ("Which age group is most affected?", None),
        ("What kind of missions are included?", None),
        ("What does cultural dialogue help to reduce?", None),
    ],
)
def test_question_type(question, kind):
    assert question_type(question) == kind


@pytest.mark.parametrize(
    ("question", "text", "expected"),
    [
        ("Where was the agreement signed?", ROAD, "Dushanbe"),
        ("When was the agreement signed?", ROAD, "September 2014"),
        ("Who announced that China would set up CNISCO?", CNISCO, "Chinese President Xi Jinping"),
        ("When did Xi announce CNISCO?", CNISCO, "13 September 2013"),
        ("Which two countries held exercises in October 2002?", EXERCISES, "China and Kyrgyzstan"),
        ("How many countries held the exercises?", EXERCISES, "two countries"),
        (
            "What share of the World Heritage List are SCO sites?",
            "The cultural sites currently constitute 20% of UNESCO's World Heritage List.",
            "20%",
        ),
        (
            "How long has the author been studying there?",
            "I have been studying here for four years, which enables us to contribute.",
            "four years",
        ),
        (
            "Who wrote the piece?",
            "(Author: Bibolatova Akmaral, Kazakhstan student)",
            "Bibolatova Akmaral",
        ),
    ],
)
def test_find_focus_picks_the_answering_phrase(question, text, expected):
    focus = find_focus(question, text)
    assert focus is not None
    assert text[focus.start : focus.end] == expected


@pytest.mark.parametrize(
    ("question", "text"),
    [
        # the only number restates the question, or counts something else
        ("How many soldiers took part in the October 2002 exercises?", EXERCISES),
        ("How many sites are on the list?", "Sites constitute 20% of the list."),
        # a quoted title is not a person
        ("Who gave the speech?", "The speech was entitled “Promoting Common Development”."),
        ("In what year was the convention adopted?", "The convention was adopted at a summit."),
    ],
)
def test_no_focus_when_nothing_of_the_type_answers(question, text):
    assert find_focus(question, text) is None
    assert type_match(question, text) == 0.0


def test_type_match_is_graded():
    assert type_match("What does dialogue reduce?", "Dialogue reduces xenophobia.") == 1.0
    assert type_match("Who chairs the meeting?", "The Council of Heads of State meets.") == 0.5
    assert type_match("Who chairs the meeting?", "Chinese President Xi Jinping chairs it.") == 1.0


def test_focus_spans_are_offsets_into_the_text_as_given():
    text = "  Signed in\tDushanbe,  Tajikistan , in  September  2014 ."
    focus = find_focus("When was it signed?", text)
    assert text[focus.start : focus.end] == "September  2014"


@pytest.mark.parametrize(
    ("question", "unit"),
    [
        ("How many rival princes were involved?", "princ"),
        ("How many broadcast television partners does the NFL have?", "partner"),
        ("How many countries held the exercises?", "countri"),
        ("In April 2014, how many New Zealand students attended private schools?", "student"),
        ("How many people was the module designed to carry?", "peopl"),
        ("What does the SCO do?", None),
    ],
)
def test_quantity_unit_is_the_counted_noun(question, unit):
    assert quantity_unit(question) == unit


@pytest.mark.parametrize(
    ("question", "text", "expected"),
    [
        # adjectives between the number and what it counts
        (
            "How many broadcast television partners does the NFL have?",
            "The game was televised by CBS, one of the three main broadcast television partners.",
            "three main",
        ),
        ("How many rival princes were involved?", "A coup involving five princes.", "five princes"),
        # vague and written-out quantities
        ("How many lakes are there?", "There are several lakes in Warsaw.", "several lakes"),
        ("How many Kenyans are poor?", "Half of Kenyans live below the poverty line.", "Half"),
        ("How many times a year does it meet?", "The Council meets twice a year.", "twice"),
        ("How many years has it existed?", "It has existed for thousands of years.", "thousands"),
        # a share of the counted people
        ("How many teachers felt stress?", "A study found 42% of UK teachers felt it.", "42%"),
    ],
)
def test_find_focus_counts_what_the_question_counts(question, text, expected):
    focus = find_focus(question, text)
    assert focus is not None
    assert text[focus.start : focus.end] == expected


@pytest.mark.parametrize(
    ("question", "demands"),
    [
        ("In what year was the convention adopted?", True),
        ("Which year did it open?", True),
        ("How many soldiers took part?", True),
        ("When did the Doctor change bodies?", False),  # "after sustaining an injury"
        ("Who must verify the utility lines?", False),  # "contractors"
        ("Where is British English used?", False),  # "in the country"
        ("What does dialogue reduce?", False),
    ],
)
def test_demands_type(question, demands):
    assert demands_type(question) is demands


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Which variable sets where pyenv-virtualenv caches downloaded packages?", SYMBOL),
        ("Which environment variable tells libffi where to create its closure files?", SYMBOL),
        ("Which option of setup.py builds in place?", SYMBOL),
        ("What directory does pyenv-virtualenv use as its download cache?", PATH),
        # The same head nouns in questions about the world, not software: untyped.
        ("What function does ozone perform for the planet?", None),
        ("What variable is associated with all problems solved within logarithmic space?", None),
        ("The flags on the moon are all still standing save for which mission's flag?", None),
        ("What path does a ball thrown in a moving vehicle take?", None),
    ],
)
def test_documentation_questions_ask_for_a_symbol_or_a_path(question, kind):
    assert question_type(question) == kind
    assert demands_type(question) is (kind is not None)


def test_symbols_and_paths_are_code_shaped_tokens():
    text = (
        "* `PYENV_VIRTUALENV_CACHE_PATH`, if set, names a directory. The default is "
        "~/.pyenv/cache, so pass -save-temps or set CFLAGS (see Cargo.lock, valgrind.h, "
        "libxml2 and $HOME/.cargo/). The U.S. team, e.g. Anna, wrote it."
    )
    symbols = [text[c.start : c.end] for c in candidates(text, SYMBOL)]
    assert symbols == [
        "PYENV_VIRTUALENV_CACHE_PATH",
        "~/.pyenv/cache",
        "-save-temps",
        "CFLAGS",
        "Cargo.lock",
        "valgrind.h",
        "libxml2",
        "$HOME/.cargo/",
    ]
    paths = [text[c.start : c.end] for c in candidates(text, PATH)]
    assert paths == ["~/.pyenv/cache", "$HOME/.cargo/"]
    question = "Which variable sets where pyenv-virtualenv caches downloaded packages?"
    focus = find_focus(question, text)
    assert text[focus.start : focus.end] == "PYENV_VIRTUALENV_CACHE_PATH"
    # A sentence naming only what the question names holds no answer of the kind.
    assert type_match(question, "Set environment variables to control pyenv-virtualenv.") == 0.0


def test_a_words_first_term_is_its_term_and_none_for_a_stopword():
    from qa.ingest.text import terms
    from qa.pipeline.focus import _first_term

    for word in ("Signed", "agreements", "Dushanbe", "2014", "Ch", "ina"):
        assert _first_term(word) == terms(word)[0]
    assert _first_term("the") is None and terms("the") == []


@pytest.mark.parametrize(
    ("text", "phrase", "whole"),
    [
        ("set ORT_DISABLE_TELEMETRY=1 to stop it", "ORT", "ORT_DISABLE_TELEMETRY"),
        ("write to list@freelists.org for help.", "freelists.org", "list@freelists.org"),
        ("about 10,000 troops", "000", "10,000"),
        ("see /etc/passwd.", "passwd", "/etc/passwd"),  # the sentence's full stop left out
        ("version 3.11.7 is out", "11", "3.11.7"),
        ("use the -v flag", "v", "-v"),
        ("It was signed in 2014.", "2014", "2014"),  # already whole: unchanged
        ("(Dushanbe), Tajikistan", "Dushanbe", "Dushanbe"),
        ("on 8, 9 and 10", "8", "8"),  # a list, not a number
    ],
)
def test_an_answer_phrase_is_never_cut_inside_a_token(text, phrase, whole):
    from qa.pipeline.focus import whole_tokens

    start = text.index(phrase)
    a, b = whole_tokens(text, start, start + len(phrase))
    assert text[a:b] == whole
