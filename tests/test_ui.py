"""Web UI: the real Gradio app on a free port, driven by gradio_client and by Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from qa import Assistant
from qa.web.callbacks import safe_filename
from qa.web.layout import build
from qa.web.render import (
    answer_html,
    citation,
    document_html,
    escape,
    library_html,
    picker_choices,
    short_title,
)
from qa.web.server import free_port, launch

from .browser import CHROMIUM, chromium
from .conftest import ROOT, SEEDS, STORES, store_spec

ARTIFACTS = ROOT / "tests" / "artifacts"

# Untrusted text that must show as text: raw HTML, an event handler, a javascript: link.
XSS_MARKDOWN = (
    "# Zebra facts\n\n"
    "Zebras sleep standing up on the savanna <script>window.__xss = 1</script> at night.\n\n"
    'The zebra stripe pattern <img src=x onerror="window.__xss = 2"> is unique to each animal.\n\n'
    "Read the [zebra guide](javascript:window.__xss=3) for the zebra diet of grass.\n"
)
XSS_HTML = (
    "<html><head><title>Giraffe &lt;b&gt;facts&lt;/b&gt;</title></head><body>"
    "<p>Giraffes have &lt;script&gt;window.__xss=4&lt;/script&gt; long necks for browsing.</p>"
    "<script>window.__xss = 5</script></body></html>"
)


@pytest.fixture(scope="module")
def ui_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ui")
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, folder / path.name)
    (folder / "zebra.md").write_text(XSS_MARKDOWN, encoding="utf-8")
    (folder / "giraffe.html").write_text(XSS_HTML, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def server(ui_folder, embedder):
    """The real app (real model and index) served on a free loopback port."""
    assistant = Assistant.from_folder(ui_folder, embedder=embedder)
    demo = build(assistant)
    yield launch(demo, "127.0.0.1", block=False), assistant  # as `qa serve` serves it
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


# ----- rendering (pure functions) ---------------------------------------------------------


def test_escape_neutralises_html_and_markdown():
    raw = '<script>x</script> <img src=x onerror="y"> [a](javascript:z) **b** `c`'
    safe = escape(raw)
    for needle in ("<", ">", "[", "](", "**", "`", "javascript:"):
        assert needle not in safe
    assert html_unescape(safe) == raw


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_document_html_marks_cited_and_other_spans(server):
    _, assistant = server
    document = assistant.document("zebra.md")
    start = document.text.index("Zebras sleep")
    other = document.text.index("The zebra stripe")
    markup = document_html(document, (start, start + 12), [(other, other + 16)])
    assert '<mark class="qa-cited" id="qa-cited">Zebras sleep</mark>' in markup
    assert '<mark class="qa-other">The zebra stripe</mark>' in markup
    assert "<script>" not in markup and "<img" not in markup


def test_answer_html_quotes_first_then_one_chip_per_document_in_words(server):
    """Issue 33: the quote first, confidence in words, a chip per document holding its
    extracts' markers; exact characters only in the popover, never as primary text."""
    _, assistant = server
    answer = assistant.ask("Where was the road transport agreement signed?")
    markup = answer_html(answer)
    assert markup.startswith('<blockquote class="qa-quote">')
    assert '<p class="qa-confidence">High confidence</p>' in markup
    assert f"({answer.extracts[0].score:.2f})" not in markup  # no bare number
    documents = {e.doc_id for e in answer.extracts}
    assert markup.count('<li class="qa-chip">') == len(documents)
    for n, extract in enumerate(answer.extracts, 1):
        assert f">[{n}]<" in markup
        # The whole citation and exact span: in the popover (and the copied text), escaped.
        assert f'<span class="qa-pop-cite">{escape(citation(extract))}</span>' in markup
    shown = shown_text(markup)
    assert "characters" not in shown and answer.extracts[0].doc_id not in shown
    assert "Dushanbe" in shown and "Sources" in shown


def shown_text(markup: str) -> str:
    """The text of ``markup`` that shows without hovering: not the popovers, hidden names or
    attributes (as the page's CSS hides ``qa-pop`` and ``qa-name``)."""
    from html.parser import HTMLParser

    class Shown(HTMLParser):
        def __init__(self):
            super().__init__()
            self.text, self.hidden = [], []  # the open elements, hidden or not

        def handle_starttag(self, tag, attrs):
            if tag not in ("br", "img", "input"):
                classes = (dict(attrs).get("class") or "").split()
                hidden = bool(self.hidden and self.hidden[-1]) or bool(
                    {"qa-pop", "qa-name"} & set(classes)
                )
                self.hidden.append(hidden)

        def handle_endtag(self, tag):
            if tag not in ("br", "img", "input") and self.hidden:
                self.hidden.pop()

        def handle_data(self, data):
            if not (self.hidden and self.hidden[-1]):
                self.text.append(data)

    parser = Shown()
    parser.feed(markup)
    return "".join(parser.text)


def test_browser_library_sorts_by_a_column_and_filters_by_name(page, server):
    """Issue 33: the library is sortable (a column's name sorts by it, again reverses it,
    numbers as numbers, aria-sort says which) and filterable (title or file name)."""
    _, assistant = server
    page.get_by_role("tab", name="Sources").click()
    rows = page.locator("#qa-library tbody tr")
    rows.first.wait_for()
    by_size = sorted(assistant.sources(), key=lambda s: s.size)
    size = page.locator("#qa-library th", has_text="Size")
    size.locator("button").click()
    assert size.get_attribute("aria-sort") == "ascending"
    shown = [row.locator("code").inner_text() for row in rows.all()]
    assert shown == [s.doc_id for s in by_size]
    size.locator("button").click()
    assert size.get_attribute("aria-sort") == "descending"
    assert [row.locator("code").inner_text() for row in rows.all()] == shown[::-1]
    heading = page.locator("#qa-library th", has_text="Document")
    assert heading.get_attribute("aria-sort") == "none"
    page.locator("#qa-filter").fill("ZEBRA")
    visible = [row for row in rows.all() if row.is_visible()]
    assert [row.locator("code").inner_text() for row in visible] == ["zebra.md"]
    page.wait_for_function(
        "document.querySelector('#qa-live').textContent.includes('1 of')", timeout=10_000
    )
    page.locator("#qa-filter").fill("")
    assert all(row.is_visible() for row in rows.all())


def test_library_lists_documents_by_title_with_format_and_size(server):
    _, assistant = server
    markup = library_html(assistant.sources())
    titles = re.findall(r'class="qa-open" value="[^"]*">(.*?)</button>', markup)
    assert titles == sorted(titles, key=lambda t: html_unescape(t).casefold())
    assert "Giraffe &#60;b&#62;facts&#60;/b&#62;" in titles  # an untrusted title, escaped
    zebra = markup[markup.index('value="zebra&#46;md"') :].split("</tr>")[0]
    size = assistant.source("zebra.md").size
    assert '"markdown">Markdown</td>' in zebra and f'"{size}">{size} bytes</td>' in zebra
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(assistant.source("zebra.md").indexed))
    assert f">{when}</td>" in zebra  # when qa indexed it, UTC
    choices = picker_choices(assistant.sources())  # "Show a document": titles, not file names
    assert ("Zebra facts — zebra.md", "zebra.md") in choices
    assert [value for _, value in choices] == [
        s.doc_id for s in sorted(assistant.sources(), key=lambda s: s.title.casefold())
    ]
    unknown = replace(assistant.source("zebra.md"), indexed=float("nan"))  # a damaged manifest
    assert ">–</td>" in library_html([unknown])


def test_answer_html_abstention_is_plain_and_labelled(server):
    _, assistant = server
    answer = assistant.ask("Who won the 2018 football World Cup?")
    markup = answer_html(answer)
    assert "The sources do not answer this." in markup
    assert "not an answer" in markup


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../x.txt", "x.txt"),
        ("/etc/passwd.md", "passwd.md"),
        ("C:\\evil\\a.PDF", "a.pdf"),
        (".hidden.txt", "hidden.txt"),
        ("we<i>rd na:me?.html", "we_i_rd na_me_.html"),
        ("...", "upload"),
    ],
)
def test_safe_filename_keeps_uploads_inside_the_corpus(name, expected):
    assert safe_filename(name) == expected


# ----- server, through gradio_client ------------------------------------------------------


def test_api_ask_returns_answer_dict_with_exact_spans(client, server):
    _, assistant = server
    result = client.predict("Where was the road transport agreement signed?", api_name="/ask")
    assert result["abstained"] is False
    top = result["extracts"][0]
    assert "Dushanbe" in top["text"]
    assert assistant.document(top["doc_id"]).text[top["start"] : top["end"]] == top["text"]


def test_api_abstains_off_topic(client):
    result = client.predict("What is the boiling point of water at sea level?", api_name="/ask")
    assert result["abstained"] is True
    assert result["extracts"] == []
    assert result["why"] and result["message"] == f"The sources do not answer this. {result['why']}"


def test_api_follow_up_uses_history(client):
    result = client.predict(
        "And when was it signed?",
        ["Where was the road transport agreement signed?"],
        api_name="/ask",
    )
    assert "September 2014" in result["extracts"][0]["text"]


def test_api_asks_back_a_bare_follow_up_as_python_does(client, server):
    """/ask, the chat and Python share one policy: the same question back, the same dict."""
    _, assistant = server
    result = client.predict("And when was it signed?", api_name="/ask")
    assert result["clarify"] == "it" and result["abstained"] is True and result["extracts"] == []
    direct = assistant.ask("And when was it signed?").to_dict()
    assert {k: v for k, v in result.items() if k != "timings"} == {
        k: v for k, v in direct.items() if k != "timings"
    }


def test_api_blank_question_is_a_clear_error(client):
    with pytest.raises(Exception, match="question is empty"):
        client.predict("  ", api_name="/ask")


def test_upload_indexes_a_new_document_and_refuses_a_bad_one(client, server, tmp_path):
    _, assistant = server
    good = tmp_path / "otters.txt"
    good.write_text("Sea otters hold hands while they sleep so they do not drift apart.")
    status, table, _ = client.predict([handle_file(str(good))], api_name="/upload")
    assert "otters.txt: indexed" in status
    assert "otters.txt" in assistant.documents
    assert (assistant.folder / "otters.txt").exists()
    result = client.predict("Why do sea otters hold hands?", api_name="/ask")
    assert result["extracts"][0]["doc_id"] == "otters.txt"

    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    before = sorted(assistant.documents)
    status, _, _ = client.predict([handle_file(str(bad))], api_name="/upload")
    assert "broken.pdf" in status and "Nothing was changed" in status
    assert sorted(assistant.documents) == before
    assert not (assistant.folder / "broken.pdf").exists()
    assert not list(assistant.folder.glob(".upload-*"))

    # Persisted: a fresh Assistant on the folder sees the upload without re-embedding it.
    before = assistant.embedder.texts_encoded
    again = Assistant.from_folder(assistant.folder, embedder=assistant.embedder)
    assert "otters.txt" in again.documents
    assert assistant.embedder.texts_encoded == before


@pytest.mark.parametrize("store", STORES)
def test_app_py_starts_and_answers(ui_folder, tmp_path, store):
    """``python app.py`` as a user runs it: prints where it serves, then answers over HTTP."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port)}
    spec = store_spec(store, tmp_path)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--folder", str(ui_folder), "--store", spec],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 180
        lines = []
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "serving on" in line:
                break
            assert process.poll() is None, "".join(lines)
        assert f"http://127.0.0.1:{port}" in lines[-1]
        assert "documents" in lines[-1] and "passages" in lines[-1]
        assert ("Milvus" in lines[-1]) == (store != "faiss")
        result = None
        while time.monotonic() < deadline and result is None:
            try:
                result = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
                    "Who announced that China would set up CNISCO?", api_name="/ask"
                )
            except Exception:  # the server may still be starting
                time.sleep(0.5)
        assert result and "Xi Jinping" in result["extracts"][0]["text"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


# ----- real browser -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash tests/run`, which installs it")
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, server):
    context = browser.new_context(
        viewport={"width": 1400, "height": 900},
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    page.goto(server[0])
    page.wait_for_selector("#qa-question textarea", timeout=60_000)
    yield page
    context.close()


def ask_in_browser(page, question: str) -> None:
    box = page.locator("#qa-question textarea")
    box.fill(question)
    page.locator("#qa-ask").click()


BOT = "#qa-chat [data-testid=bot]"
QUESTION_ROAD = "Where was the road transport agreement signed?"


def ask_and_wait(page, question: str):
    """Ask in the page and wait for the answer's message; returns it (a Locator)."""
    before = page.locator(BOT).count()
    ask_in_browser(page, question)
    # Settled, too: the button's fade back from disabled once left it half-transparent when
    # axe looked (a colour-contrast "violation" on a loaded machine).
    page.wait_for_function(
        f"document.querySelectorAll('{BOT}').length > {before}"
        " && !document.querySelector('#qa-ask').disabled"
        " && document.querySelector('#qa-ask').getAnimations().length === 0",
        timeout=60_000,
    )
    return page.locator(BOT).nth(before)


def test_browser_shows_answer_and_highlighted_source(page):
    ask_in_browser(page, "Where was the road transport agreement signed?")
    page.wait_for_selector("#qa-chat blockquote", timeout=60_000)
    quote = page.locator("#qa-chat blockquote").last.inner_text()
    assert "Dushanbe" in quote
    cited = page.locator("#qa-source mark#qa-cited")
    cited.wait_for(timeout=30_000)
    assert "Dushanbe, Tajikistan" in cited.inner_text()
    assert cited.is_visible()
    assert page.locator("#qa-source").inner_text().count("Shanghai Cooperation") >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

    # A follow-up in the same conversation uses the history.
    ask_in_browser(page, "And when was it signed?")
    page.wait_for_function(
        "document.querySelectorAll('#qa-chat blockquote').length >= 2", timeout=60_000
    )
    assert "September 2014" in page.locator("#qa-chat blockquote").last.inner_text()


def test_browser_abstention_reads_plainly(page):
    ask_in_browser(page, "How many moons does Mars have?")
    page.wait_for_function(
        "document.querySelector('#qa-chat') && "
        "document.querySelector('#qa-chat').innerText.includes('The sources do not answer this.')",
        timeout=60_000,
    )
    assert page.locator("#qa-source mark#qa-cited").count() == 0


def test_browser_shows_untrusted_text_as_text(page):
    for question in (
        "How do zebras sleep on the savanna?",
        "What is unique about the zebra stripe pattern?",
        "Where can I read about the zebra diet of grass?",
        "Why do giraffes have long necks?",
    ):
        # One at a time: the Ask button is disabled while a question runs, so a question
        # typed during the previous one's answer would be dropped.
        ask_and_wait(page, question)
    page.wait_for_function(
        "document.querySelectorAll('#qa-chat .message-row, #qa-chat [data-testid=bot]').length"
        " >= 4 && document.querySelector('#qa-chat').innerText.includes('giraffe')",
        timeout=90_000,
    )
    chat_text = page.locator("#qa-chat").inner_text()
    assert "<img src=x onerror=" in chat_text or "<script>" in chat_text
    assert page.dialogs == []
    assert page.evaluate("window.__xss") is None
    assert page.locator("#qa-chat img[src='x'], #qa-source img[src='x']").count() == 0
    assert (
        page.locator("#qa-chat a[href^='javascript'], #qa-source a[href^='javascript']").count()
        == 0
    )
    assert page.locator("#qa-chat script, #qa-source script").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "xss.png"), full_page=True)


# ----- issue 17: each bug as a user met it ------------------------------------------------


def test_browser_citation_of_an_earlier_answer_shows_that_answers_source(page, server):
    _, assistant = server
    first = "Where was the road transport agreement signed?"
    expected = assistant.ask(first).extracts
    assert len(expected) >= 2 and expected[1].doc_id != "zebra.md"
    ask_and_wait(page, first)
    ask_and_wait(page, "What is unique about the zebra stripe pattern?")
    page.locator(BOT).first.locator(".qa-cite", has_text="[2]").click()
    cited = page.locator("#qa-source mark#qa-cited")
    page.wait_for_function(
        "(t) => { const m = document.querySelector('#qa-source mark#qa-cited');"
        " return m && m.innerText.trim() === t; }",
        arg=expected[1].text.strip(),
        timeout=30_000,
    )
    assert expected[1].doc_id in page.locator("#qa-source .qa-doc-head").inner_text()
    assert "zebra" not in cited.inner_text().lower()


def test_browser_chat_trash_icon_forgets_the_conversation(page):
    ask_and_wait(page, "Where was the road transport agreement signed?")
    page.locator("#qa-source mark#qa-cited").wait_for(timeout=30_000)
    page.locator("#qa-chat button[aria-label='Clear']").click()
    page.wait_for_function(
        "document.querySelector('#qa-source').innerText.includes('Ask a question')",
        timeout=10_000,
    )
    # The follow-up has nothing to follow now: qa asks what "it" is instead of guessing.
    reply = ask_and_wait(page, "And when was it signed?")
    assert "refer to" in reply.inner_text()
    assert "September 2014" not in page.locator("#qa-chat").inner_text()


def test_browser_bare_follow_up_asks_what_it_refers_to(page):
    reply = ask_and_wait(page, "And when was it signed?")
    assert "What does “it” refer to?" in reply.inner_text()
    assert page.locator("#qa-source mark#qa-cited").count() == 0
    # Once the conversation names it, the same follow-up is answered from it.
    ask_and_wait(page, "Where was the road transport agreement signed?")
    assert "September 2014" in ask_and_wait(page, "And when was it signed?").inner_text()


def test_browser_answer_is_announced_and_copied_as_plain_text(page, server):
    """A new answer is said by a live region, as text; no role-less element of the chat has a
    name (axe: aria-prohibited-attr; Gradio's names were its raw HTML); the copy button copies
    the quote and its numbered citations, not markup."""
    _, assistant = server
    question = "Where was the road transport agreement signed?"
    extracts = assistant.ask(question).extracts
    answer = ask_and_wait(page, question)
    live = page.locator("#qa-live")
    assert live.get_attribute("role") == "status" and live.get_attribute("aria-live") == "polite"
    page.wait_for_function(
        "document.querySelector('#qa-live').textContent.startsWith('Answer: ')", timeout=10_000
    )
    said = live.text_content()
    assert "Dushanbe, Tajikistan" in said and "High confidence" in said
    for raw in ("<", "&#", "&lt;", "blockquote", "[1]"):
        assert raw not in said
    named = page.evaluate(
        """() => [...document.querySelectorAll('#qa-chat [aria-label]')]
        .filter(e => !e.getAttribute('role') && !['A', 'BUTTON', 'INPUT'].includes(e.tagName))
        .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert named == []
    assert answer.get_attribute("aria-label") is None
    # The chat's own log would read the whole message again.
    assert page.locator("#qa-chat [role=log]").get_attribute("aria-live") == "off"
    page.locator(".bot-row").last.hover()
    copy = page.locator(".message-buttons-left button[aria-label='Copy message']")
    copy.last.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    lines = [f"“{' '.join(extracts[0].text.split())}” [1]"]
    lines += [f"[{n}] {citation(e)}" for n, e in enumerate(extracts, 1)]
    assert copied == "\n".join(lines) + "\n"


def test_browser_copy_conversation_is_plain_text_with_numbered_citations(page, server):
    """Issue 33: "Copy conversation" copies questions, quotes and citations as text (it
    copied raw HTML and entities)."""
    _, assistant = server
    first = "Who announced that China would set up CNISCO?"
    second = "How many moons does Mars have?"
    extracts, abstained = assistant.ask(first).extracts, assistant.ask(second)
    assert abstained.abstained
    ask_and_wait(page, first)
    ask_and_wait(page, second)
    page.locator("#qa-chat button[aria-label='Copy conversation']").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    expected = [f"Q: {first}", f"A: “{' '.join(extracts[0].text.split())}” [1]"]
    expected += [f"[{n}] {citation(e)}" for n, e in enumerate(extracts, 1)]
    expected += ["", f"Q: {second}", f"A: {abstained.message}"]
    assert copied == "\n".join(expected) + "\n"
    page.wait_for_function(
        "document.querySelector('#qa-live').textContent === 'Copied the conversation.'",
        timeout=10_000,
    )


def test_browser_sources_picker_and_viewer_agree(page):
    page.get_by_role("tab", name="Sources").click()
    picker = page.locator("#qa-picker input")
    picker.wait_for()
    viewer = page.locator("#qa-viewer")
    assert picker.input_value() == ""
    assert "Choose a document" in viewer.inner_text()
    assert "Ask a question" not in viewer.inner_text()
    picker.click()
    option = page.locator("#qa-picker ul li", has_text="zebra.md").first
    option.wait_for()
    option.click()
    # The choice first, then what it shows: under load (CI, a busy machine) the viewer once
    # did not follow within 30 s, and the failure did not say which of the two had not happened.
    page.wait_for_function(
        "document.querySelector('#qa-picker input').value.endsWith(' — zebra.md')", timeout=30_000
    )
    page.wait_for_function(
        "document.querySelector('#qa-viewer').innerText.includes('Zebras sleep')",
        timeout=30_000,
    )


def upload_in_browser(page, *paths: Path) -> str:
    """Upload ``paths`` on the Sources tab as a user would; returns the upload status."""
    page.get_by_role("tab", name="Sources").click()
    status = page.locator("#qa-upload-status textarea")
    status.wait_for()
    before = status.input_value()
    # One step: choosing (or dropping) files indexes them.
    page.locator("#qa-upload input[type=file]").set_input_files([str(p) for p in paths])
    page.wait_for_function(
        "(b) => { const s = document.querySelector('#qa-upload-status textarea');"
        " return s && s.value && s.value !== b && !s.value.startsWith('Indexing'); }",
        arg=before,
        timeout=60_000,
    )
    return status.input_value()


def test_browser_an_upload_shows_its_stage_on_one_bar_and_the_library_stays(page, server, tmp_path):
    """Issue #33: a 100 kB upload (hundreds of sentences) showed three bars at "0/1 steps"
    that never moved and hid the library. Now one bar, on the status box, names the file and
    its stage ("embedding n of N") with an estimate of the time left, and the library stays in
    view meanwhile."""
    _, assistant = server
    big = tmp_path / "otter-colonies.txt"
    big.write_text(
        "\n".join(
            f"Colony {i} of river otters lives {i % 17 + 2} km upstream of bridge {i * 7}."
            for i in range(1500)
        )
    )
    page.get_by_role("tab", name="Sources").click()
    page.locator("#qa-upload-status textarea").wait_for()
    page.locator("#qa-upload input[type=file]").set_input_files([str(big)])
    page.wait_for_function(
        "document.querySelector('#qa-upload-status').innerText.includes('embedding')",
        timeout=60_000,
    )
    shown = page.locator("#qa-upload-status").inner_text()
    assert "otter-colonies.txt: embedding" in shown and " of " in shown
    first = re.search(r"embedding ([0-9,]+) of", shown)[1]
    page.wait_for_function(  # the bar moves: a later count than the first one seen
        "(first) => { const m = /embedding ([0-9,]+) of/.exec("
        "document.querySelector('#qa-upload-status').innerText);"
        " return m === null || m[1] !== first; }",
        arg=first,
        timeout=60_000,
    )
    library = page.locator("#qa-library")
    assert library.is_visible() and "zebra.md" in library.inner_text()
    pending = page.evaluate(
        "document.querySelectorAll('#qa-library .pending, #qa-picker .pending').length"
    )
    assert pending == 0  # no progress overlay on the library or the picker
    page.wait_for_function(  # the estimate, once a second and a batch have given a pace
        "/embedding [0-9,]+ of [0-9,]+ · about [0-9]+ (s|min) left/"
        ".test(document.querySelector('#qa-upload-status').innerText)",
        timeout=60_000,
    )
    page.wait_for_function(
        "document.querySelector('#qa-upload-status textarea').value.includes('indexed')",
        timeout=120_000,
    )
    assert "otter-colonies.txt" in assistant.documents


def test_browser_same_content_uploaded_twice_is_stored_once(page, server, tmp_path):
    _, assistant = server
    folder = assistant.folder
    pelicans = tmp_path / "pelicans.txt"
    pelicans.write_text("Brown pelicans dive from the air to catch fish near the surface.")
    assert "pelicans.txt: indexed" in upload_in_browser(page, pelicans)
    again = upload_in_browser(page, pelicans)
    assert "same content as pelicans.txt" in again
    renamed = tmp_path / "pelicans copy.txt"
    shutil.copy(pelicans, renamed)
    assert "same content as pelicans.txt" in upload_in_browser(page, renamed)
    assert sorted(p.name for p in folder.glob("pelican*")) == ["pelicans.txt"]
    assert [d for d in assistant.documents if d.startswith("pelicans")] == ["pelicans.txt"]


def test_browser_too_long_question_is_refused_with_a_message(page):
    question = "Where was the road transport agreement signed? " * 50  # 2,350 characters
    box = page.locator("#qa-question textarea")
    box.fill(question)
    assert len(box.input_value()) == len(question)  # not cut by the browser
    page.locator("#qa-ask").click()
    page.get_by_text("The question is too long").first.wait_for(timeout=30_000)
    assert box.input_value() == question  # nothing lost: the user can shorten it
    assert page.locator(BOT).count() == 0


def test_browser_upload_reports_one_passage_and_is_readable_by_others(page, server, tmp_path):
    _, assistant = server
    note = tmp_path / "herons.txt"
    note.write_text("Grey herons stand still in shallow water for a long time.")
    status = upload_in_browser(page, note)
    assert "herons.txt: indexed, 1 passage." in status
    mode = (assistant.folder / "herons.txt").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_browser_ask_button_is_disabled_while_a_question_runs(page):
    page.evaluate(
        """() => {
        window.__askStates = [];
        const button = document.querySelector('#qa-ask');
        new MutationObserver(() => window.__askStates.push(button.disabled))
            .observe(button, {attributes: true});
    }"""
    )
    ask_and_wait(page, "Who announced that China would set up CNISCO?")
    page.wait_for_function("!document.querySelector('#qa-ask').disabled", timeout=10_000)
    assert True in page.evaluate("window.__askStates")


# ----- accessibility ----------------------------------------------------------------------


# What axe leaves for review (its "incomplete") on Gradio's own elements, not ours: the tab
# buttons' colours sit under a pseudo element, and the upload box's floating label overlaps
# the drop zone. Any other item (one of qa's elements) fails the test.
GRADIO_REVIEW = re.compile(r'<button role="tab"|<label data-testid="block-label"')


def serious_violations(page, review: bool = True) -> list[str]:
    """axe-core's serious and critical findings on the page, and (``review``) its "needs
    review" items on qa's own elements, as readable lines."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page).response
    found = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    return found + [
        f"needs review: {v['id']}: {n['target']} {n['html'][:120]}"
        for v in results["incomplete"]
        for n in v["nodes"]
        if review and not GRADIO_REVIEW.match(n["html"])
    ]


@pytest.mark.parametrize("width,height", [(1366, 900), (390, 844)])
def test_browser_axe_finds_nothing_serious_nor_ours_to_review(browser, server, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(server[0])
        page.wait_for_selector("#qa-question textarea", timeout=60_000)
        assert serious_violations(page) == []
        answer = ask_and_wait(page, "Where was the road transport agreement signed?")
        page.locator("#qa-source mark#qa-cited").wait_for(state="attached", timeout=30_000)
        assert serious_violations(page) == []
        # With a source opened from a marker (focused, marked current), and a popover shown.
        answer.locator(".qa-cite", has_text="[2]").click()
        page.wait_for_function("window.qa.done.shown >= 1", timeout=30_000)
        answer.locator(".qa-cite", has_text="[2]").hover()
        # The popover's own contrast; the text it covers meanwhile cannot be judged (at 390 px
        # it lies over the quote), so review items are counted once it is gone.
        assert serious_violations(page, review=False) == []
        page.mouse.move(1, 1)
        assert serious_violations(page) == []
        page.get_by_role("tab", name="Sources").click()
        page.locator("#qa-picker input").wait_for()
        assert serious_violations(page) == []
        page.locator("#qa-library tbody tr").first.click()  # a document open in the viewer
        page.wait_for_function("window.qa.done.opened >= 1", timeout=30_000)
        assert serious_violations(page) == []
    finally:
        context.close()


def contrast(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two CSS ``rgb()``/``rgba()`` colours (alpha ignored)."""
    import re

    def luminance(color: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"[\d.]+", color)[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_browser_keyboard_and_screen_reader_basics(page):
    assert page.locator("h1").inner_text() == "Ask the sources"
    box = page.locator("#qa-question textarea")
    assert page.get_by_role("textbox", name="Question", exact=True).count() == 1
    # The question box is the first stop: focused on load, and "/" comes back to it.
    assert page.evaluate("document.activeElement.closest('#qa-question') !== null")
    page.get_by_role("tab", name="Sources").focus()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.closest('#qa-question') !== null")
    assert box.input_value() == ""  # the "/" was not typed into the box
    # Enter asks.
    page.keyboard.type("Who announced that China would set up CNISCO?")
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelectorAll('{BOT}').length === 1", timeout=60_000)
    # Placeholder text reads at 4.5:1 or better on its field.
    colors = page.evaluate(
        """() => { const box = document.querySelector('#qa-question textarea');
        return [getComputedStyle(box, '::placeholder').color,
                getComputedStyle(box).backgroundColor]; }"""
    )
    assert contrast(*colors) >= 4.5, colors


def test_browser_keyboard_reaches_the_cited_span_and_back_in_three_keys(page):
    """Issue 33: from the question box to the cited span in three keys (Shift+Tab to the skip
    link, Enter to the latest answer's first marker, Enter to its span, focused and said);
    back to that marker in three ("Back to the answer", shown on every width) or one
    (Escape); "/" returns to the box."""
    ask_and_wait(page, "Where was the road transport agreement signed?")
    page.wait_for_function("window.qa.done.answered >= 1", timeout=10_000)
    box = page.locator("#qa-question textarea")
    box.focus()
    for key in ("Shift+Tab", "Enter", "Enter"):
        page.keyboard.press(key)
    on_span = (
        "document.activeElement.id === 'qa-cited'"
        " && document.activeElement.closest('#qa-source') !== null"
    )
    page.wait_for_function(on_span, timeout=30_000)
    assert page.evaluate("document.activeElement.tabIndex") == -1
    page.wait_for_function(
        "document.querySelector('#qa-live').textContent.startsWith('Source 1: ')",
        timeout=10_000,
    )
    assert "Escape goes back to the answer" in page.locator("#qa-live").text_content()
    assert page.locator("#qa-source .qa-back").is_visible()  # at 1400 px wide too
    marker = page.locator(f"{BOT} .qa-quote .qa-cite")
    for key in ("Shift+Tab", "Shift+Tab", "Enter"):
        page.keyboard.press(key)
    assert marker.evaluate("m => m === document.activeElement")
    assert marker.get_attribute("aria-current") == "true"
    page.keyboard.press("Enter")
    page.wait_for_function(on_span, timeout=30_000)
    page.keyboard.press("Escape")
    assert marker.evaluate("m => m === document.activeElement")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.closest('#qa-question') !== null")


def test_browser_library_row_opens_the_document(page, server):
    """Issue 33: the Sources tab lists documents by title (file, format, size, passages); a
    click anywhere on a row shows that document in the viewer, focused, and chooses it."""
    _, assistant = server
    page.get_by_role("tab", name="Sources").click()
    rows = page.locator("#qa-library tbody tr")
    rows.first.wait_for()
    titles = [row.locator("button.qa-open").inner_text() for row in rows.all()]
    assert titles == sorted(titles, key=str.casefold)
    assert "Giraffe <b>facts</b>" in titles  # untrusted text as text
    assert page.locator("#qa-library b").count() == 0
    zebra = rows.filter(has_text="zebra.md")
    cells = [" ".join(c.split()) for c in zebra.locator("td").all_inner_texts()]
    assert cells[0].startswith("Zebra facts") and "zebra.md" in cells[0]
    assert cells[1:4] == [
        "Markdown",
        f"{assistant.source('zebra.md').size} bytes",
        str(assistant.source("zebra.md").passages),
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cells[4])  # indexed, UTC
    zebra.locator("td").nth(3).click()  # not on the title's button: the whole row opens
    page.wait_for_function(
        "document.activeElement.closest('#qa-viewer .qa-doc') !== null", timeout=30_000
    )
    assert "Zebras sleep" in page.locator("#qa-viewer").inner_text()
    assert page.locator("#qa-picker input").input_value().endswith(" — zebra.md")


def test_browser_a_removal_can_be_undone_until_the_next(page, server, tmp_path):
    """Issue #33: "Undo the removal" moves the file back from the trash and indexes it again;
    the button is there only after a removal, and only for the last one."""
    _, assistant = server
    folder = assistant.folder
    narwhal = tmp_path / "narwhal.txt"
    narwhal.write_text("Narwhals keep a single long spiral tusk through the Arctic winter.")
    assert "narwhal.txt: indexed" in upload_in_browser(page, narwhal)
    page.get_by_role("tab", name="Sources").click()
    undo = page.locator("#qa-undo")
    assert undo.is_hidden()
    page.locator("#qa-library tbody tr", has_text="narwhal.txt").click()
    page.wait_for_function(
        "document.querySelector('#qa-picker input').value.endsWith(' — narwhal.txt')",
        timeout=30_000,
    )
    page.locator("#qa-remove").click()
    page.locator("#qa-remove-yes").click()
    undo.wait_for(timeout=60_000)
    assert "narwhal.txt" not in assistant.documents and not (folder / "narwhal.txt").exists()
    undo.click()
    page.wait_for_function(
        "document.querySelector('#qa-remove-status').innerText.includes('is back')",
        timeout=60_000,
    )
    assert (
        "narwhal.txt is back in the documents folder and indexed"
        in page.locator("#qa-remove-status").inner_text()
    )
    undo.wait_for(state="hidden", timeout=10_000)
    assert (folder / "narwhal.txt").read_text().startswith("Narwhals")
    assert not (folder / ".qa-trash" / "narwhal.txt").exists()
    assert "narwhal.txt" in assistant.documents
    assert "narwhal.txt" in page.locator("#qa-library").inner_text()
    answer = assistant.ask("What do narwhals keep through the Arctic winter?")
    assert answer.extracts and answer.extracts[0].doc_id == "narwhal.txt"


def test_browser_remove_document_moves_it_to_trash_and_out_of_the_index(page, server, tmp_path):
    _, assistant = server
    folder = assistant.folder
    walrus = tmp_path / "walrus.txt"
    walrus.write_text("Walruses use their long tusks to haul themselves out onto the sea ice.")
    assert "walrus.txt: indexed" in upload_in_browser(page, walrus)
    passages = assistant.summary().passages
    own = assistant.source("walrus.txt").passages
    page.get_by_role("tab", name="Chat").click()
    page.wait_for_function(
        "(n) => document.querySelector('#qa-loaded').innerText.includes(n)",
        arg=f"{len(assistant.documents)} documents, {passages:,} passages",
        timeout=10_000,
    )
    page.get_by_role("tab", name="Sources").click()
    picker = page.locator("#qa-picker input")
    picker.click()
    page.locator("#qa-picker ul li", has_text="walrus.txt").first.click()
    page.wait_for_function(
        "document.querySelector('#qa-viewer').innerText.includes('Walruses')", timeout=30_000
    )
    # Removal asks first, in plain words, naming where the file goes (never a server path);
    # "Cancel" is focused, and keeps the document.
    confirm = page.locator("#qa-confirm")
    page.locator("#qa-remove").click()
    confirm.wait_for(timeout=30_000)
    asked = confirm.inner_text()
    assert f"Remove “{assistant.document('walrus.txt').title}” (walrus.txt)?" in asked
    assert "moves to .qa-trash/walrus.txt in the documents folder" in asked
    assert "Nothing is deleted" in asked and str(folder) not in asked
    page.wait_for_function("document.activeElement.id === 'qa-remove-no'", timeout=10_000)
    page.keyboard.press("Enter")
    confirm.wait_for(state="hidden", timeout=30_000)
    assert (folder / "walrus.txt").exists() and "walrus.txt" in assistant.documents
    # Another document chosen meanwhile: the question no longer stands.
    page.locator("#qa-remove").click()
    confirm.wait_for(timeout=30_000)
    page.locator("#qa-library tbody tr", has_text="zebra.md").click()
    confirm.wait_for(state="hidden", timeout=30_000)
    page.wait_for_function(
        "document.querySelector('#qa-picker input').value.endsWith(' — zebra.md')", timeout=30_000
    )
    page.locator("#qa-library tbody tr", has_text="walrus.txt").click()
    page.wait_for_function(
        "document.querySelector('#qa-picker input').value.endsWith(' — walrus.txt')", timeout=30_000
    )
    page.locator("#qa-remove").click()
    page.locator("#qa-remove-yes").click()
    page.wait_for_function(
        "document.querySelector('#qa-remove-status').innerText.includes('Removed walrus.txt')",
        timeout=60_000,
    )
    said = page.locator("#qa-remove-status").inner_text()
    assert "the file is now .qa-trash/walrus.txt in the documents folder" in said
    assert str(folder) not in said
    upload_status = page.locator("#qa-upload-status textarea").input_value()
    assert "Removed" not in upload_status and "trash" not in upload_status
    assert confirm.is_hidden()
    page.wait_for_function(
        "document.querySelector('#qa-live').textContent.includes('Removed walrus.txt')",
        timeout=10_000,
    )
    assert "walrus.txt" not in page.locator("#qa-library").inner_text()
    assert "walrus.txt" not in assistant.documents
    assert assistant.summary().passages == passages - own
    assert not (folder / "walrus.txt").exists()
    assert (folder / ".qa-trash" / "walrus.txt").read_text().startswith("Walruses")
    assert picker.input_value() == ""
    assert "Choose a document" in page.locator("#qa-viewer").inner_text()
    result = assistant.ask("How do walruses haul themselves out onto the ice?")
    assert all(e.doc_id != "walrus.txt" for e in result.extracts + result.related)
    page.get_by_role("tab", name="Chat").click()
    page.wait_for_function(
        "(n) => document.querySelector('#qa-loaded').innerText.includes(n)",
        arg=f"{assistant.summary().passages:,} passages",
        timeout=10_000,
    )


def test_browser_chat_says_what_is_loaded_and_examples_are_whole(browser, server):
    _, assistant = server
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(server[0])
        page.wait_for_selector("#qa-question textarea", timeout=60_000)
        page.wait_for_function(
            "(n) => document.querySelector('#qa-loaded').innerText.includes(n)",
            arg=f"Answering from {len(assistant.documents)} documents, "
            f"{assistant.summary().passages:,} passages · last indexed ",
            timeout=10_000,
        )
        cut = page.evaluate(
            """() => [...document.querySelectorAll('#qa-examples button')]
            .filter(b => b.scrollWidth > b.clientWidth + 1
                      || [...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
            .map(b => b.innerText)"""
        )
        assert cut == []
        shown = page.locator("#qa-examples").first.inner_text()
        from qa.web.callbacks import EXAMPLES

        for example in EXAMPLES:
            assert example in shown
    finally:
        context.close()


def test_browser_phone_empty_chat_shows_the_question_box_and_examples(browser, server):
    """Issue 33: on a phone, the empty chat leaves the question box and every example in
    view without scrolling (the empty chat took 480 px and pushed them below)."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(server[0])
        page.wait_for_selector("#qa-examples .qa-example", timeout=60_000)
        below = page.evaluate(
            """() => [...document.querySelectorAll(
                '#qa-question textarea, #qa-ask, #qa-examples .qa-example')]
            .filter(e => { const r = e.getBoundingClientRect();
                           return r.top < 0 || r.bottom > window.innerHeight || !r.height; })
            .map(e => e.innerText || e.tagName)"""
        )
        assert below == []
        assert page.evaluate("window.scrollY") == 0
        # The chat's own placeholder is not under its floating label.
        label = page.locator("#qa-chat [data-testid=block-label]").bounding_box()
        hint = page.locator("#qa-chat .placeholder-content p").bounding_box()
        assert hint["y"] >= label["y"] + label["height"]
    finally:
        context.close()


def test_browser_an_example_asks_when_clicked(page, server):
    """Issue 33: an example asks at once (it only filled the box)."""
    from qa.web.callbacks import EXAMPLES

    _, assistant = server
    example = EXAMPLES[1]
    expected = assistant.ask(example).extracts[0]
    page.locator("#qa-examples .qa-example", has_text=example).click()
    page.wait_for_function(f"document.querySelectorAll('{BOT}').length === 1", timeout=60_000)
    assert page.locator("#qa-chat [data-testid=user]").inner_text().strip() == example
    assert " ".join(expected.text.split()) in page.locator(BOT).inner_text()
    page.wait_for_function("!document.querySelector('#qa-ask').disabled", timeout=10_000)
    assert page.locator("#qa-question textarea").input_value() == ""


def test_browser_thumbs_append_feedback_that_eval_turns_into_gold_candidates(
    page, server, tmp_path
):
    _, assistant = server
    path = assistant.index_dir / "feedback.jsonl"
    before = path.read_text().count("\n") if path.exists() else 0
    question = "Who announced that China would set up CNISCO?"
    ask_and_wait(page, question)
    page.locator(".message-buttons-left button[aria-label='Like']").last.click()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        not path.exists() or path.read_text().count("\n") == before
    ):
        time.sleep(0.1)
    import json

    mark = json.loads(path.read_text().splitlines()[-1])
    expected = assistant.ask(question)
    assert mark["rating"] == "up" and mark["question"] == question
    assert [(e["doc_id"], e["start"], e["end"]) for e in mark["extracts"]] == [
        (e.doc_id, e.start, e.end) for e in expected.extracts
    ]
    assert mark["settings"]["abstain_below"] == assistant.settings.abstain_below

    from eval.__main__ import main as eval_main

    eval_main(["--feedback", str(path), "--out", str(tmp_path)])
    items = [json.loads(line) for line in (tmp_path / "feedback_candidates.jsonl").open()]
    item = next(i for i in items if i["question"] == question)
    assert item["doc"] == expected.extracts[0].doc_id and item["split"] == "review"
    assert item["answers"] and item["answers"][0] in expected.extracts[0].text
    assert "Xi Jinping" in expected.extracts[0].text


# ----- citations where the eye is ---------------------------------------------------------


def test_browser_citation_markers_show_their_source_and_the_list_is_readable(page, server):
    """Markers are named by where they go; hovering tells the whole citation; a click shows
    the span, marks the marker current and heads the panel with the question; the sources are
    one chip per document, with no offsets or bare scores in their text."""
    _, assistant = server
    question = "Where was the road transport agreement signed?"
    expected = assistant.ask(question).extracts
    answer = ask_and_wait(page, question)
    markers = answer.locator(".qa-cite")
    assert markers.first.inner_text() == "[1]"
    second = answer.locator(".qa-cite", has_text="[2]")
    name = f"Source 2: {short_title(expected[1].title)}"
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('#qa-chat .qa-cite')]"
        ".some(m => m.getAttribute('aria-label') === n)",
        arg=name,
        timeout=10_000,
    )
    assert second.get_attribute("aria-label") == name
    share = answer.locator("a.qa-share").first.get_attribute("aria-label")
    assert share.startswith("Link to this extract: source 1, ") and "new tab" in share
    # Hovering the quote's marker tells where it is from; a chip's marker has a popover.
    assert answer.locator(".qa-quote .qa-cite").get_attribute("title") == citation(expected[0])
    pop = answer.locator(".qa-ref", has=page.locator(".qa-cite", has_text="[2]")).locator(".qa-pop")
    assert pop.is_hidden()
    second.hover()
    pop.wait_for(state="visible", timeout=10_000)
    shown = " ".join(pop.inner_text().split())
    assert citation(expected[1]) in shown  # whole title, file and exact characters
    assert " ".join(expected[1].text.split())[:40] in shown and "confidence" in shown
    second.click()
    page.wait_for_function(
        "(t) => { const m = document.querySelector('#qa-source mark#qa-cited');"
        " return m && m.innerText.trim() === t; }",
        arg=expected[1].text.strip(),
        timeout=30_000,
    )
    # The citation shown is the current one, and the panel says which question it answers.
    assert second.get_attribute("aria-current") == "true"
    assert page.locator("#qa-chat [aria-current=true]").count() == 1
    assert page.locator("#qa-source .qa-panel-q").inner_text() == f"Source 2 for “{question}”"
    # The sources: one chip per document (short title; whole title on hover), no offsets.
    page.mouse.move(0, 0)
    pop.wait_for(state="hidden", timeout=10_000)
    chips = answer.locator(".qa-chip")
    assert chips.count() == len({e.doc_id for e in expected})
    first_chip = chips.first.locator(".qa-chip-title")
    assert first_chip.inner_text() == short_title(expected[0].title)
    assert first_chip.get_attribute("title") == f"{expected[0].title} ({expected[0].doc_id})"
    text = answer.inner_text()
    assert "High confidence" in text and "(0." not in text and "characters" not in text
    assert text.index("Dushanbe") < text.index("Sources")  # the quote first
    assert page.locator("#qa-citations").count() == 0  # no radio list below the input


def test_browser_phone_keeps_the_answer_in_view_and_one_tap_switches(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    page = context.new_page()

    def in_view(selector: str) -> bool:
        return page.evaluate(
            """(s) => { const r = document.querySelector(s).getBoundingClientRect();
            return r.bottom > 0 && r.top < window.innerHeight; }""",
            selector,
        )

    try:
        page.goto(server[0])
        page.wait_for_selector("#qa-question textarea", timeout=60_000)
        # Asked with the keyboard's Enter: the box keeps the focus, so nothing else scrolls
        # the page (a click on Ask moves the focus, and Gradio scrolls back to the box). Two
        # questions, the second with a long answer: the chat scrolls it up to its top, where
        # its floating label and buttons are.
        box = page.locator("#qa-question textarea")
        for n, question in enumerate(
            [QUESTION_ROAD, "Who announced that China would set up CNISCO?"], 1
        ):
            box.fill(question)
            page.keyboard.press("Enter")
            page.wait_for_function("(n) => window.qa.done.answered >= n", arg=n, timeout=60_000)
        answer = page.locator(BOT).last
        latest = f"document.querySelectorAll('{BOT}')[1]"
        page.locator("#qa-source mark#qa-cited").wait_for(state="attached", timeout=30_000)
        assert page.evaluate(  # no jump to the source panel below
            f"(() => {{ const r = {latest}.getBoundingClientRect();"
            " return r.bottom > 0 && r.top < window.innerHeight; })()"
        )
        quote = answer.locator("blockquote").bounding_box()
        chat = page.locator("#qa-chat").bounding_box()
        assert chat["y"] <= quote["y"] < chat["y"] + chat["height"]  # read from its start
        assert quote["y"] >= 0
        # Its first line shows in the chat's box, under neither its floating label (which
        # lets clicks through, so elementFromPoint would not see it), its buttons, nor its
        # "Scroll down" button.
        covered = page.evaluate(
            """(answer) => { const range = document.createRange();
            range.selectNodeContents(answer.querySelector('.qa-quote'));
            const line = range.getClientRects()[0];
            const log = answer.closest('[role=log]').getBoundingClientRect();
            const over = (r) => r.width && r.left < line.right && line.left < r.right
                && r.top < line.bottom && line.top < r.bottom;
            const covers = [...document.querySelectorAll(
                '#qa-chat [data-testid=block-label], #qa-chat .top-panel,'
                + ' #qa-chat .scroll-down-button-container')]
              .filter(e => over(e.getBoundingClientRect())).map(e => e.className);
            if (line.top < Math.max(log.top, 0) || line.bottom > Math.min(log.bottom,
                window.innerHeight)) covers.push('outside the chat or the screen');
            return covers; }""",
            answer.element_handle(),
        )
        assert covered == []
        assert not in_view("#qa-source mark#qa-cited")
        marker = answer.locator(".qa-cite").first
        marker.tap()
        page.wait_for_function(
            "(() => { const r = document.querySelector('#qa-source mark#qa-cited')"
            ".getBoundingClientRect(); return r.bottom > 0 && r.top < window.innerHeight; })()",
            timeout=10_000,
        )
        page.locator("#qa-source .qa-back").tap()
        page.wait_for_function(
            f"(() => {{ const r = {latest}.getBoundingClientRect();"
            " return r.bottom > 0 && r.top < window.innerHeight; })()",
            timeout=10_000,
        )
        assert marker.evaluate("m => m === document.activeElement")  # back where it was
    finally:
        context.close()


def test_browser_share_link_opens_the_app_on_one_span(page, server):
    _, assistant = server
    question = "How do zebras sleep on the savanna?"
    top = assistant.ask(question).extracts[0]
    answer = ask_and_wait(page, question)
    href = answer.locator("a.qa-share").first.get_attribute("href")
    assert href.startswith("?") and f"start={top.start}" in href and f"end={top.end}" in href
    page.goto(server[0] + href)
    cited = page.locator("#qa-source mark#qa-cited")
    cited.wait_for(timeout=60_000)
    assert cited.inner_text().strip() == top.text.strip()
    assert top.doc_id in page.locator("#qa-source .qa-doc-head").inner_text()
    # A link to what is not (or no longer) indexed says so, and the app still works.
    page.goto(server[0] + "?doc=gone.txt&start=0&end=5")
    source_says(page, "not in the index")
    page.goto(server[0] + f"?doc={top.doc_id}&start=5&end=999999999")
    source_says(page, "span is not in")
    page.goto(server[0] + f"?doc={top.doc_id}&start=abc&end=5")
    source_says(page, "not character positions")


def source_says(page, text: str) -> None:
    """Wait until the source panel shows ``text``."""
    page.wait_for_function(
        "(t) => { const e = document.querySelector('#qa-source');"
        " return e && e.innerText.includes(t); }",
        arg=text,
        timeout=60_000,
    )
