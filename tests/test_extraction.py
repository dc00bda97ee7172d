"""Extraction: one sentence, or two adjacent ones when the answer runs across them."""

from __future__ import annotations

from qa import Assistant

DOC = (
    "Harbour report\n\n"
    "The Lakeside Ferry Agreement was concluded by the two port towns after long talks. "
    "It cuts the crossing fare to four euros and adds a night service.\n\n"
    "Passengers may bring the following items on board: "
    "bicycles, small dogs and one suitcase each.\n\n"
    "The weather on the lake was calm all summer. "
    "Fishermen reported a good season for perch and pike."
)


def _assistant(corpus, embedder) -> Assistant:
    (corpus / "harbour.txt").write_text(DOC, encoding="utf-8")
    return Assistant.from_folder(corpus, embedder=embedder)


def _sentence(text: str) -> tuple[int, int]:
    start = DOC.index(text)
    return start, start + len(text)


def test_a_sentence_that_points_back_is_quoted_with_the_one_before(corpus, embedder):
    assistant = _assistant(corpus, embedder)
    answer = assistant.ask("What fare does the Lakeside Ferry Agreement set for the crossing?")
    best = answer.extracts[0]
    first = _sentence("The Lakeside Ferry Agreement was concluded")
    second = _sentence("It cuts the crossing fare to four euros and adds a night service.")
    # "It cuts the fare..." names the agreement only through the sentence before.
    assert (best.start, best.end) == (first[0], second[1])
    assert best.text == DOC[best.start : best.end]
    assert best.context_start <= best.start < best.end <= best.context_end


def test_a_sentence_ending_in_a_colon_is_quoted_with_the_next(corpus, embedder):
    assistant = _assistant(corpus, embedder)
    answer = assistant.ask("What items may passengers bring on board?")
    best = answer.extracts[0]
    assert "bicycles, small dogs and one suitcase each." in best.text
    assert best.text.startswith("Passengers may bring")


def test_a_self_contained_sentence_is_quoted_alone(corpus, embedder):
    assistant = _assistant(corpus, embedder)
    answer = assistant.ask("Which fish did the fishermen catch this season?")
    best = answer.extracts[0]
    assert (best.start, best.end) == _sentence(
        "Fishermen reported a good season for perch and pike."
    )


def test_pairs_never_cross_paragraphs_and_extracts_never_overlap(corpus, embedder):
    assistant = _assistant(corpus, embedder)
    for question in [
        "What fare does the ferry charge?",
        "What may passengers bring?",
        "How was the weather on the lake?",
        "Who concluded the ferry agreement?",
    ]:
        extracts = assistant.ask(question, k=5).extracts
        for e in extracts:
            assert "\n\n" not in e.text
        spans = sorted((e.start, e.end) for e in extracts)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def test_the_next_term_of_a_definition_list_is_not_run_into_the_answer(corpus, embedder):
    """An HTML definition list: "...owned by this user and group." then, on the next line,
    the next term "backup". A lower-case start on a new line is a new block, not a sentence
    the splitter cut (it was quoted as "...owned by this user and group.\\nbackup")."""
    (corpus / "users.html").write_text(
        "<html><body><dl><dt>root</dt><dd>The superuser owns the system files.</dd>"
        "<dt>www-data</dt><dd>Web servers run as this account. The files of the web sites "
        "are owned by this user and group.</dd><dt>backup</dt><dd>Backups run as this "
        "account.</dd></dl></body></html>",
        encoding="utf-8",
    )
    assistant = Assistant.from_folder(corpus, embedder=embedder)
    answer = assistant.ask("Who owns the files of the web sites?")
    assert not answer.abstained
    assert answer.extracts[0].text.endswith("owned by this user and group.")


def test_a_code_block_answers_only_a_question_about_code(corpus, embedder):
    """Issue #31: a code sample (``server.listen(5050)``) was returned as a fact about a
    program. Code blocks are indexed and searchable, but quoted only for a question about code
    (commands, syntax, how to do something, or naming code itself)."""
    from qa import Assistant

    (corpus / "README.md").write_text(
        "# Otter server\n\nThe otter server listens on port 8080 unless told otherwise.\n\n"
        "## Example\n\nA client of another program might look like this:\n\n"
        "```js\nconst server = net.createServer();\nserver.listen(5050);\n```\n\n"
        "## Starting\n\nStart it with the command below.\n\n    otter --serve --port 8080\n"
    )
    assistant = Assistant.from_folder(corpus, embedder=embedder)
    document = assistant.document("README.md")
    assert len(document.code) == 2 and document.in_code(*_span(document, "server.listen"))
    answer = assistant.ask("Which port does the otter server listen on?", k=3)
    assert all("listen(5050)" not in e.text for e in answer.extracts + answer.related)

    def quoted(question: str) -> list[str]:  # every extract the extractor would offer
        from qa.values import Query

        query = Query.of(question, assistant.embedder.encode_questions([question])[0])
        candidates = assistant.retrieve(query)
        extracts = assistant.extractor.run(query, assistant.index.corpus, candidates, k=10)
        return [e.text for e in extracts]

    assert not any("listen(5050)" in text for text in quoted("Which port does it listen on?"))
    assert any("listen(5050)" in text for text in quoted("What does server.listen() take?"))


def _span(document, needle: str) -> tuple[int, int]:
    start = document.text.index(needle)
    return start, start + len(needle)
