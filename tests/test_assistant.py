"""Assistant: real questions on the seeds, the span invariant, questions that must be refused.

The question tests and the span invariant run on both stores (FAISS in-process, milvus-lite).
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa import Assistant, QuestionError
from qa.pipeline import policy
from qa.pipeline.policy import MISSING_NAME, MISSING_NUMBER, MISSING_TYPE
from qa.web.render import answer_html

from .conftest import ROOT, store_spec

A = "000_0b88324673b57412.txt"  # Qatar News Agency piece
B = "002_d10c4a8f0ba2b87c.txt"  # Kazakh student's opinion piece

# Paraphrased the way a person asks; (question, document, a string the extract must contain).
SEED_QUESTIONS = [
    ("Where was the road transport agreement signed?", A, "Dushanbe"),
    ("In which month and year was the road transport deal concluded?", A, "September 2014"),
    ("Which convention did the SCO adopt against extremism?", A, "Anti-Extremism Convention"),
    ("Is the SCO a military alliance?", A, "not being a military alliance"),
    ("Which 2004 accord underpins cooperation against narcotics?", A, "2004 Agreement"),
    ("What share of UNESCO's World Heritage List are cultural sites of SCO countries?", A, "20%"),
    ("What does unequal economic development contribute to?", A, "extremism and conflicts"),
    ("Which principles should global trade follow according to the member states?", A,
     "transparency, non-discrimination"),
    ("Where do the trade flows covered by the transport agreement run from?", A, "Eastern Europe"),
    ("Which fields of cooperation build mutual trust among SCO members?", A,
     "cultural, educational, and scientific"),
    ("What does cultural dialogue help to reduce?", A, "xenophobia"),
    ("Which news agency is the source of the first article?", A, "Qatar News Agency"),
    ("Who is especially affected by societal extremism?", A, "youth"),
    ("What kind of growth does the organisation want to maintain?", A, "inclusive growth"),
    ("Where is the 17th meeting of heads of state taking place?", B, "Astana"),
    ("On which days is the heads of state council meeting held?", B, "June 8 to 9"),
    ("Which university does the author attend?", B,
     "Shanghai University of Political Science and Law"),
    ("Who announced that China would set up CNISCO?", B, "Xi Jinping"),
    ("In which city was the 13th SCO summit held?", B, "Bishkek"),
    ("When did Xi Jinping give the speech announcing CNISCO?", B, "13 September 2013"),
    ("What was the title of the Chinese president's speech?", B,
     "Promoting the Spirit of Shanghai"),
    ("Which two countries held joint anti-terrorism exercises in October 2002?", B,
     "China and Kyrgyzstan"),
    ("What convention did member states sign when the SCO was established?", B,
     "Shanghai Convention on Combating Terrorism"),
    ("What happened in Central Asia after the Soviet Union broke up?", B, "many problems"),
    ("Where were the multilateral exercises held?", B, "Xinjiang"),
    ("How does the author describe the SCO as an organization?", B, "open-minded and balanced"),
    ("Who wrote the opinion piece?", B, "Bibolatova Akmaral"),
    ("Which newspaper published the student's article?", B, "People’s Daily"),
    ("In which field have member states recently deepened their cooperation?", B, "humanities"),
    ("What was the SCO's original mission?", B, "combat terrorism"),
    ("Which country made great contributions to economic cooperation among members?", B,
     "China has made great contributions"),
    ("How long has the author been studying in Shanghai?", B, "four years"),
    # The byline blind spot (issue #32): answered from the other article's byline, or
    # refused because the reader does not vouch for attribution lines.
    ("Who wrote the article about reliable defenders of peace?", B, "Bibolatova Akmaral"),
    ("Which newspaper first published the student's article?", B, "People’s Daily"),
    ("What is the source of the article on the SCO's cultural heritage sites?", A,
     "Qatar News Agency"),
]  # fmt: skip


def _plain(case) -> tuple[str, str, str]:
    return tuple(case.values) if hasattr(case, "values") else case


@pytest.mark.parametrize(("question", "doc_id", "expected"), SEED_QUESTIONS)
def test_seed_question_is_answered_from_the_right_place(
    store_assistant, question, doc_id, expected
):
    answer = store_assistant.ask(question, history=[])
    assert not answer.abstained, f"abstained on {question!r}"
    top = answer.extracts[:2]
    assert any(e.doc_id == doc_id and expected in e.text for e in top), [e.text for e in top]


def test_most_seed_questions_are_answered_by_the_first_extract(store_assistant):
    first = sum(
        store_assistant.ask(q).extracts[0].text.count(expected) > 0
        for q, _, expected in map(_plain, SEED_QUESTIONS)
    )
    assert first / len(SEED_QUESTIONS) >= 0.8


def test_follow_up_uses_the_history(store_assistant):
    history = ["Where was the international road transport agreement signed?"]
    answer = store_assistant.ask("And when was it signed?", history=history)
    assert "September 2014" in answer.extracts[0].text
    assert answer.query.startswith(history[0])


def test_a_negated_question_the_sources_state_positively_is_refused_saying_why(store_assistant):
    """The seeds say who signed the agreement, not who did not: "not" asks for a fact no
    sentence states, and the answer says why in words (``why``, also in ``message``)."""
    question = "Which countries did not sign the international road transport agreement?"
    answer = store_assistant.ask(question)
    assert answer.abstained and answer.abstain_reason == policy.NEGATION_UNMATCHED
    assert answer.why == policy.WHY[policy.NEGATION_UNMATCHED]
    assert answer.message == f"The sources do not answer this. {answer.why}"
    assert answer.to_dict()["why"] == answer.why
    assert "the closest passage negates nothing" in answer_html(answer)  # the chat says it too
    signed = store_assistant.ask(question.replace("did not sign", "signed"))
    assert not signed.abstained and signed.why is None


def test_off_topic_question_abstains(store_assistant):
    answer = store_assistant.ask("What is the boiling point of water at sea level?")
    assert answer.abstained
    assert answer.extracts == []
    assert answer.related  # closest passages, labelled as not an answer
    # ... and says why in words: nothing matches closely, or the reader finds no answer.
    assert answer.why in (policy.WHY[policy.LOW_CONFIDENCE], policy.WHY[policy.NO_READER_ANSWER])
    assert answer.to_dict()["message"] == f"The sources do not answer this. {answer.why}"


def test_extracts_are_distinct_and_best_first(store_assistant):
    answer = store_assistant.ask("What did the SCO do about terrorism?", k=5)
    spans = [(e.doc_id, e.start, e.end) for e in answer.extracts]
    assert len(spans) == len(set(spans)) == 5
    scores = [e.score for e in answer.extracts]
    assert scores == sorted(scores, reverse=True)
    for a in answer.extracts:
        for b in answer.extracts:
            if a is not b and a.doc_id == b.doc_id:
                assert a.end <= b.start or b.end <= a.start


def test_every_extract_is_the_exact_source_span(store_assistant):
    for question, _, _ in map(_plain, SEED_QUESTIONS):
        answer = store_assistant.ask(question)
        for e in answer.extracts + answer.related:
            text = store_assistant.document(e.doc_id).text
            assert text[e.start : e.end] == e.text
            assert text[e.context_start : e.context_end] == e.context
            assert e.context_start <= e.start < e.end <= e.context_end


def test_answer_to_dict_is_json_ready(store_assistant):
    answer = store_assistant.ask("Where was the road transport agreement signed?")
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["abstained"] is False
    first = data["extracts"][0]
    assert {"doc_id", "title", "start", "end", "text", "score", "context"} <= set(first)
    assert data["message"] == first["text"]


@pytest.mark.parametrize(
    "question", ["", "   ", "\n\t", "\x00\x01\x02", "\u200b\u200b", "?!", 12, None]
)
def test_unusable_questions_raise_value_error(seeds_assistant, question):
    with pytest.raises(ValueError, match=r"question"):
        seeds_assistant.ask(question)


def test_huge_question_is_refused_with_a_message(seeds_assistant):
    with pytest.raises(QuestionError, match="too long"):
        seeds_assistant.ask("why " * 250_000)


def test_control_characters_inside_a_question_are_ignored(store_assistant):
    answer = store_assistant.ask("Where was the road\x00 transport\t agreement\r\n signed?")
    assert "Dushanbe" in answer.extracts[0].text


def test_unknown_document_is_a_key_error(seeds_assistant):
    with pytest.raises(KeyError, match="nope"):
        seeds_assistant.document("nope.txt")


# ----- the span invariant over generated documents (hypothesis) ---------------------------

words = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        whitelist_categories=("L", "M", "N", "P", "S", "Zs", "Cc", "Cf"),
    ),
    min_size=1,
    max_size=12,
)
sentences = st.lists(words, min_size=1, max_size=60).map(" ".join)
documents = st.lists(sentences, min_size=1, max_size=8).flatmap(
    lambda parts: st.sampled_from([". ", ".\r\n", "\n\n", "! ", "؟ "]).map(
        lambda sep: sep.join(parts)
    )
)


GENERATED = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@settings(max_examples=25, **GENERATED)
@given(texts=st.lists(documents, min_size=1, max_size=3), pick=st.integers(0, 10_000))
def test_span_invariant_on_generated_documents(tmp_path_factory, embedder, texts, pick):
    _index_and_check_spans(tmp_path_factory, embedder, "faiss", texts, pick)


# Fewer in Milvus: each example writes a collection (1.2 s against 0.2 s), and the spans come
# from qa's own index whichever store searches; what Milvus adds is its own search path.
@settings(max_examples=8, **GENERATED)
@given(texts=st.lists(documents, min_size=1, max_size=3), pick=st.integers(0, 10_000))
def test_span_invariant_on_generated_documents_in_milvus(tmp_path_factory, embedder, texts, pick):
    _index_and_check_spans(tmp_path_factory, embedder, "milvus-lite", texts, pick)


def _index_and_check_spans(tmp_path_factory, embedder, store, texts, pick):
    folder = tmp_path_factory.mktemp("generated")
    for n, text in enumerate(texts):
        (folder / f"doc{n}.txt").write_bytes(text.encode("utf-8"))
    spec = store_spec(store, tmp_path_factory.getbasetemp())  # one database, a collection each
    with Assistant.from_folder(folder, embedder=embedder, store=spec) as assistant:
        _check_spans(assistant, texts, pick)


def _check_spans(assistant, texts, pick):
    for n, text in enumerate(texts):
        if f"doc{n}.txt" in assistant.documents:
            stored = assistant.document(f"doc{n}.txt").text
            assert stored == text.removeprefix("\ufeff")
    tokens = [t for t in re.findall(r"\w+", " ".join(texts)) if t]
    question = " ".join(tokens[pick % len(tokens) :][:6]) if tokens else "anything"
    try:
        answer = assistant.ask(question or "anything", k=5)
    except QuestionError:
        return
    for e in answer.extracts + answer.related:
        text = assistant.document(e.doc_id).text
        assert text[e.start : e.end] == e.text
        assert text[e.context_start : e.context_end] == e.context


def test_gold_file_exists_for_the_eval():
    assert (ROOT / "eval" / "gold.jsonl").exists()


def test_assistant_is_importable_from_package_root():
    assert Assistant.__module__ == "qa.assistant"


def test_ask_many_matches_ask(store_assistant):
    questions = ["Where was the road transport agreement signed?", "And when was it signed?"]
    histories = [[], [questions[0]]]
    batch = store_assistant.ask_many(questions, histories, k=2)
    single = [store_assistant.ask(q, history=h, k=2) for q, h in zip(questions, histories)]
    for a, b in zip(batch, single):
        assert [(e.doc_id, e.start, e.end) for e in a.extracts] == [
            (e.doc_id, e.start, e.end) for e in b.extracts
        ]
        assert abs(a.confidence - b.confidence) < 1e-3


def test_a_bare_follow_up_is_asked_back_in_python_too(seeds_assistant):
    """The ask-back lives in the pipeline's policy, not the web chat: Python gets it. It
    searches nothing and cites nothing; with the earlier question, the same words are answered;
    in a batch, the other questions are answered as if asked alone."""
    from qa.pipeline.policy import NO_REFERENT

    back = seeds_assistant.ask("And when was it signed?")
    assert back.clarify == "it" and back.abstained and back.abstain_reason == NO_REFERENT
    assert back.extracts == [] and back.related == [] and back.timings == {}
    assert back.message.startswith("What does “it” refer to?")
    asked = "Where was the road transport agreement signed?"
    answered = seeds_assistant.ask("And when was it signed?", history=[asked])
    assert answered.clarify is None and not answered.abstained
    batch = seeds_assistant.ask_many(["And when was it signed?", asked], k=2)
    assert batch[0].clarify == "it"
    alone = seeds_assistant.ask(asked, k=2)
    assert [(e.doc_id, e.start) for e in batch[1].extracts] == [
        (e.doc_id, e.start) for e in alone.extracts
    ]
    # "Who founded it in Shanghai in 2001?" has words enough of its own to search with.
    assert seeds_assistant.ask("Who founded it in Shanghai in 2001?").clarify is None


def test_a_missing_year_or_count_abstains_but_a_missing_name_does_not(corpus, embedder):
    """Only a year or a count must be there (see qa.pipeline.focus.demands_type): SQuAD answers
    "who" with plain nouns ("contractors") as often as not."""
    (corpus / "works.txt").write_text(
        "Before the foundation is dug, contractors are required to verify and mark the "
        "existing utility lines. The road convention was adopted at the summit in Astana, "
        "where the delegations met in the old congress hall.",
        encoding="utf-8",
    )
    assistant = Assistant.from_folder(corpus, embedder=embedder)
    year = assistant.ask("In what year was the road convention adopted at the summit?")
    assert year.abstained and year.abstain_reason == MISSING_TYPE
    assert year.why == "The question asks for a year, and the closest passage gives none."
    assert "convention" in year.related[0].text  # the closest sentence, offered as related
    who = assistant.ask("Who is required to verify and mark the utility lines?")
    assert not who.abstained
    assert "contractors" in who.extracts[0].text


def test_a_changed_year_is_not_answered_from_the_sentence_with_the_real_one(seeds_assistant):
    """Issue 32's people-written decoys: a question that changes a date is refused
    (MISSING_NUMBER) rather than answered from the sentence holding the real date."""
    asked = "Which countries held joint anti-terrorism exercises in October {}?"
    real = seeds_assistant.ask(asked.format(2002))
    assert not real.abstained and "October 2002" in real.extracts[0].text
    changed = seeds_assistant.ask(asked.format(2005))
    assert changed.abstained and changed.abstain_reason == MISSING_NUMBER
    assert not changed.extracts and changed.related  # the closest passages, as not an answer
    assert changed.missing_numbers == ["2005"]
    assert changed.message.endswith("The closest passage does not mention 2005.")
    assert "does not mention 2005" in answer_html(changed)


def test_another_packages_value_is_not_quoted_for_the_package_asked_about(corpus, embedder):
    """Issue 31's near-miss: the question names a package the sources mention elsewhere, and
    the passage that answers it for another package is refused (MISSING_NAME), saying which
    name it lacks; asked about the package it is about, the same passage answers."""
    (corpus / "libxslt-faq.txt").write_text(
        "libxslt FAQ\n\nCompilation\n\nThere is a small shell script xslt-config which is "
        "installed as part of the usual install process and which prints the compiler and "
        "linker flags for programs using libxslt. Use it in your Makefile.\n",
        encoding="utf-8",
    )
    (corpus / "parser-news.txt").write_text(
        "Parser news\n\nThe XML parser of libxml2 now reads documents of any size in "
        "constant memory. Entities are expanded lazily.\n",
        encoding="utf-8",
    )
    assistant = Assistant.from_folder(corpus, embedder=embedder)
    other = assistant.ask("Which script prints the compiler flags for libxml2?")
    assert other.abstained and other.abstain_reason == MISSING_NAME, other.abstain_reason
    assert other.missing_names == ["libxml2"] and other.missing_numbers == []
    assert other.message.endswith("The closest passage does not mention libxml2.")
    assert "xslt-config" in other.related[0].text
    assert "does not mention libxml2" in answer_html(other)
    own = assistant.ask("Which script prints the compiler flags for libxslt?")
    assert not own.abstained and "xslt-config" in own.extracts[0].text
    # A name no source mentions is the older reason, naming it: not in the sources at all.
    absent = assistant.ask("Which script prints the compiler flags for libfoo3?")
    assert absent.abstained and absent.unknown == ["libfoo3"] and absent.missing_names == []
