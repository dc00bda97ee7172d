"""Scope: questions about what no source mentions are abstentions that say so."""

from __future__ import annotations

import pytest

from qa.pipeline.policy import NOT_IN_SOURCES
from qa.pipeline.scope import Scope


@pytest.fixture(scope="module")
def scope(seeds_assistant) -> Scope:
    return Scope(seeds_assistant.index.corpus.lexical)


def test_a_name_no_source_mentions_is_an_abstention_that_names_it(seeds_assistant):
    answer = seeds_assistant.ask("What is the capital of Australia?")
    assert answer.abstained
    assert answer.abstain_reason == NOT_IN_SOURCES
    assert answer.unknown == ["Australia"]
    assert answer.extracts == [] and answer.related  # closest passages, not an answer
    assert answer.message == "The sources do not answer this. No source mentions Australia."


def test_a_question_whose_every_term_is_unknown_or_everywhere_is_out_of_scope(seeds_assistant):
    # "SCO" is in most passages; "secretariat" and "headquartered" in none.
    answer = seeds_assistant.ask("In which city is the SCO secretariat headquartered?")
    assert answer.abstain_reason == NOT_IN_SOURCES
    assert "secretariat" in answer.unknown and "SCO" not in answer.unknown


@pytest.mark.parametrize(
    "question",
    [
        "What subject does the Kazakh student major in?",  # Kazakh ~ Kazakhstan
        "Where was the agreement on road transport signed, in Dushanbe or Kazakstan?",  # typo
        "What did the SCO and the UN agree on terrorism?",  # abbreviations never decide
        "Where is the summit of the Shanghai Cooperation Organization held?",
    ],
)
def test_names_the_sources_know_in_some_form_keep_the_question_in_scope(scope, question):
    assert scope.unknown(question) == []


def test_word_forms_and_near_spellings_are_known(scope):
    assert scope.knows("kazakh")  # a corpus term starts with it
    assert scope.knows("kazakstan")  # one edit from "kazakhstan"
    assert not scope.knows("australia")
    assert not scope.knows("secretariat")


def test_a_follow_up_is_judged_with_its_resolved_query(scope):
    # Elliptical on its own, in scope once resolved from the conversation.
    assert scope.unknown("And when?", "When was the road transport agreement signed") == []


def test_the_chat_and_the_cli_say_which_words_no_source_mentions(seeds_assistant):
    from qa.cli import format_answer
    from qa.web.render import answer_html

    answer = seeds_assistant.ask("Who founded <b>Zanzibarian</b> Airways?")
    assert answer.abstain_reason == NOT_IN_SOURCES
    html = answer_html(answer)
    assert "No source mentions" in html and "Zanzibarian" in html
    assert "<b>Zanzibarian" not in html  # words of the question are escaped like documents
    assert "No source mentions" in format_answer(answer)
