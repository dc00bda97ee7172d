"""Feedback marks from the chat, read back and turned into gold candidates (no model needed)."""

from __future__ import annotations

from eval.feedback import candidates
from qa.pipeline.policy import NO_REFERENT
from qa.values import Answer
from qa.web import feedback

EXTRACT = {
    "doc_id": "a.txt",
    "title": "A",
    "start": 100,
    "end": 140,
    "text": "The treaty was signed in Dushanbe in 2014.",
    "focus_start": 125,
    "focus_end": 133,
    "page": None,
    "score": 0.8,
}


def test_marks_become_gold_candidates_last_mark_winning(tmp_path):
    path = tmp_path / feedback.FEEDBACK_NAME
    answer = {"question": "Where was it signed?", "query": "q", "extracts": [EXTRACT]}
    abstention = {"question": "How many moons?", "abstained": True, "extracts": []}
    feedback.append(path, feedback.record(answer, "down", ["Which treaty?"], {"k": 1}))
    feedback.append(path, feedback.record(answer, "up", ["Which treaty?"], {"k": 1}))
    feedback.append(path, feedback.record(abstention, "up", [], {"k": 1}))
    with path.open("a") as handle:
        handle.write('{"rating": "up", "question": "cut mid-wri')  # a crash mid-write
    marks = feedback.read(path)
    assert [m["rating"] for m in marks] == ["down", "up", "up"]
    assert marks[0]["extracts"][0]["start"] == 100 and marks[0]["settings"] == {"k": 1}

    items = candidates(path)
    assert len(items) == 2  # the answer's later "up" replaced its "down"
    first, second = items
    assert first["answers"] == ["Dushanbe"] and first["doc"] == "a.txt"
    assert first["history"] == ["Which treaty?"] and first["split"] == "review"
    assert second["answers"] == [] and second["doc"] is None
    assert "abstention" in second["note"]


def test_a_wrong_answer_is_a_candidate_to_fill_in(tmp_path):
    path = tmp_path / feedback.FEEDBACK_NAME
    answer = {"question": "Who signed it?", "extracts": [EXTRACT]}
    feedback.append(path, feedback.record(answer, "down", [], {}))
    (item,) = candidates(path)
    assert item["answers"] == [] and item["doc"] is None
    assert "marked wrong" in item["note"] and "a.txt" in item["note"]


def test_an_ask_back_keeps_its_reason_and_cites_nothing():
    """A bare follow-up asked back (``Answer.clarify``) is recorded with the Answer's own
    reason, ``NO_REFERENT``, and no spans."""
    asked_back = Answer(
        question="And when was it signed?",
        query="And when was it signed?",
        abstained=True,
        confidence=0.0,
        extracts=[],
        abstain_reason=NO_REFERENT,
        clarify="it",
    )
    line = feedback.record(asked_back.to_dict(), "down", [], {})
    assert line["abstained"] and line["abstain_reason"] == NO_REFERENT
    assert line["extracts"] == [] and line["message"] == asked_back.message
