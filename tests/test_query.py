"""Query: the question worked out once (no model needed: vectors are made up)."""

import numpy as np
import pytest

from qa.pipeline.focus import DATE
from qa.pipeline.query import AUTHOR_LINE, SOURCE_LINE, attribution
from qa.values import Query

VECTOR = np.ones(4, dtype=np.float32) / 2


def test_a_question_on_its_own():
    query = Query.of("In what year was the agreement signed?", VECTOR)
    assert query.text == query.question
    assert not query.follow_up
    assert query.question_vector is None
    assert "agreement" in " ".join(query.terms)
    assert query.question_terms == query.terms
    assert query.kind == DATE
    assert query.demands_type  # "what year": a sentence without a year cannot answer
    assert query.attribution is None
    assert query.reader_text == query.question


def test_a_follow_up_keeps_both_forms():
    earlier = "Where was the road transport agreement signed?"
    asked = "And when was it signed?"
    query = Query(asked, f"{earlier} {asked}", VECTOR, VECTOR * 2)
    assert query.follow_up
    assert set(query.question_terms) < set(query.terms)  # its own terms, then the earlier ones
    assert query.kind == DATE  # the kind comes from the question as asked ("when")
    # the reader reads the asked question first, so its question word decides the answer's kind
    assert query.reader_text == f"{asked} {earlier}"


def test_computed_once():
    query = Query.of("Who wrote the article?", VECTOR)
    assert query.terms is query.terms  # cached, not worked out again per stage
    assert query.attribution is AUTHOR_LINE


@pytest.mark.parametrize(
    ("question", "pattern"),
    [
        ("Who wrote the opinion piece?", AUTHOR_LINE),
        ("Which news agency supplied the article?", SOURCE_LINE),
        ("What is the SCO?", None),
    ],
)
def test_attribution(question, pattern):
    assert attribution(question) is pattern


@pytest.mark.parametrize(
    ("line", "byline"),
    [
        ("(Author: Bibolatova Akmaral, Kazakhstan student)", True),
        ("By Jane Doe, Reuters", True),
        ("Written by Ann Lee", True),
        ("By 1900, the city had grown to a million people.", False),
        ("By August 1914, the war had begun.", False),
        ("By the end of the war the SCO...", False),
    ],
)
def test_an_author_line_is_a_byline_not_any_sentence_starting_with_by(line, byline):
    """ "By 1900, ..." begins many sentences: as a byline "By" is followed by a name alone."""
    assert bool(AUTHOR_LINE.match(line)) is byline
