"""The web chat (Gradio): ask, read the verbatim answer, see exactly where it comes from.

Layout: a chat on the left whose answers carry citation markers [n]; on the right the source
panel, which shows the whole cited document with the cited span highlighted and scrolled into
view (other extracts from the same document lightly marked). A Sources tab lists the documents,
shows any of them, takes uploads and removes documents (to ``.qa-trash/``). A page script
(``HEAD``) wires the markers, "/" and plain-text copies and names of answers. Thumbs up/down
go to ``feedback.jsonl`` (``qa.feedback``); ``?doc=&start=&end=`` opens the app on one span.
``/ask`` is also an API endpoint returning ``Answer.to_dict()``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from qa import config
from qa.assistant import TRASH_DIRNAME, Assistant
from qa.errors import DocumentError, DocumentNotFound, QAError, StoreError
from qa.ingest.documents import SUPPORTED_SUFFIXES, find_files
from qa.pipeline.conversation import missing_antecedent
from qa.settings import Settings
from qa.values import Answer
from qa.web import feedback
from qa.web.render import answer_html, cite, clarify_html, document_html, escape

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
EXAMPLES = [
    "Where was the road transport agreement signed?",
    "Who announced that China would set up CNISCO?",
    "What share of UNESCO's World Heritage List are cultural sites of SCO countries?",
    "Which countries held joint anti-terrorism exercises in October 2002?",
]
PANEL_EMPTY = "<p class='qa-hint'>Ask a question: the cited source appears here.</p>"
VIEWER_EMPTY = "<p class='qa-hint'>Choose a document to show it here.</p>"

CSS = """
.qa-doc { white-space: pre-wrap; max-height: 60vh; overflow-y: auto; line-height: 1.5;
          padding: 8px; border: 1px solid var(--border-color-primary); border-radius: 6px; }
.qa-doc-head { margin-bottom: 6px; }
mark.qa-cited { background: #ffd54f; color: #000; padding: 1px 0; }
mark.qa-other { background: #fff3c4; color: #000; }
strong.qa-focus { background: #ffe082; color: #000; }
/* Contrast of at least 4.5:1 (WCAG AA) where Gradio's default theme falls short. */
#qa-ask { background: #c2410c; color: #fff; }
#qa-ask:hover { background: #9a3412; }
#qa-ask:disabled { background: #6b7280; }
[role=tab].selected { color: #c2410c; }
#qa-question textarea::placeholder, #qa-picker input::placeholder { color: #595959; opacity: 1; }
#qa-picker input, #qa-upload .or { color: var(--body-text-color); }
footer, footer a, footer button { color: #4b5563 !important; }
h1.qa-title { font-size: 1.5rem; margin: 0.2em 0; }
.qa-hidden { display: none !important; }
#qa-chat a.qa-cite { font-weight: 600; text-decoration: none; padding: 0 2px;
  border-radius: 3px; color: #1d4ed8 !important; }
#qa-chat a.qa-cite:hover, #qa-chat a.qa-cite:focus { background: #dbeafe;
  outline: 2px solid #1d4ed8; }
#qa-chat a.qa-share { color: #1d4ed8 !important; }
#qa-chat .prose { opacity: 1 !important; }  /* Gradio fades messages to 0.8: less contrast */
ol.qa-sources { list-style: none; padding-left: 0; }
ol.qa-sources li { margin: 4px 0; overflow-wrap: break-word; }
ol.qa-sources .qa-snippet { display: block; }
ol.qa-sources .qa-src-title { font-weight: 600; }
ol.qa-sources li.qa-secondary { font-size: 0.9em; color: #595959; }
.qa-back { display: none; }
@media (max-width: 767px) { .qa-back { display: inline-block; margin: 4px 0; } }
/* Example questions wrap rather than end in an ellipsis on narrow screens. */
#qa-examples button { white-space: normal; text-align: left; justify-content: flex-start;
  height: auto; }
.qa-try { margin: 4px 8px; }
"""
# Runs in the page. Gradio labels each chat message with its raw content and copies that raw
# content, which for an answer is escaped HTML: both get the message's visible text instead.
HEAD = """<script>
(() => {
  const plain = (el) => (el ? el.innerText : "").replace(/\\s+/g, " ").trim();
  const relabel = () => {
    for (const el of document.querySelectorAll("#qa-chat [data-testid=bot]")) {
      const text = "Answer: " + plain(el.querySelector(".message-content"));
      if (el.getAttribute("aria-label") !== text) el.setAttribute("aria-label", text);
    }
  };
  new MutationObserver(relabel).observe(document.documentElement, {
    subtree: true, childList: true, characterData: true,
    attributes: true, attributeFilter: ["aria-label"],
  });
  // "/" anywhere but in a text field focuses the question box, as on many sites.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const box = document.querySelector("#qa-question textarea");
    if (box) { event.preventDefault(); box.focus(); }
  });
  // A citation marker [n] in an answer shows that answer's citation n in the source panel,
  // through the hidden #qa-pick box ("turn:n:time", so that a repeat is still a change).
  document.addEventListener("click", (event) => {
    const target = event.target.closest ? event.target : event.target.parentElement;
    const back = target.closest(".qa-back");
    if (back) {
      event.preventDefault();
      const answers = document.querySelectorAll("#qa-chat [data-testid=bot]");
      const answer = window.qaPicked && window.qaPicked.isConnected
        ? window.qaPicked : answers[answers.length - 1];
      if (answer) answer.scrollIntoView({block: "start"});
      return;
    }
    const marker = target.closest("#qa-chat .qa-cite");
    if (!marker) return;
    event.preventDefault();
    event.stopPropagation();  // not also a click on the whole message
    const message = marker.closest("[data-testid=bot]");
    const turn = [...document.querySelectorAll("#qa-chat [data-testid=bot]")].indexOf(message);
    const box = document.querySelector("#qa-pick textarea, #qa-pick input");
    if (turn < 0 || !box) return;
    window.qaPicked = message;
    const n = (marker.textContent.match(/\\d+/) || [])[0];  // "[2]": the sanitizer drops data-*
    box.value = `${turn}:${n}:${Date.now()}`;
    box.dispatchEvent(new Event("input", {bubbles: true}));
  }, true);
  // Capture phase: runs before Gradio's own handler, which it replaces for chat messages.
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("#qa-chat button");
    if (!button || button.getAttribute("aria-label") !== "Copy message") return;
    // The buttons follow their message's row.
    let row = button.closest(".message-buttons");
    while (row && !row.classList.contains("message-row")) row = row.previousElementSibling;
    const content = row && row.querySelector(".message-content");
    if (!content) return;
    event.stopPropagation();
    event.preventDefault();
    navigator.clipboard.writeText(content.innerText.trim());
  }, true);
})();
</script>"""
# The cited span is scrolled to inside the document's own box: scrolling the page would move a
# phone's screen from the answer to the source panel below it.
SCROLL_JS = """() => { setTimeout(() => {
  const el = document.getElementById('qa-cited'), box = document.getElementById('qa-doc');
  if (el && box) box.scrollTop += el.getBoundingClientRect().top
    - box.getBoundingClientRect().top - box.clientHeight / 3;
}, 50); }"""
# A new answer is read from its start: the chat (autoscroll off) scrolls to the top of it,
# not to its end, which on a phone would show the source list instead of the quote.
ANSWER_JS = SCROLL_JS.replace(
    "}, 50); }",
    "  const all = document.querySelectorAll('#qa-chat [data-testid=bot]');"
    "  const last = all[all.length - 1];"
    "  let log = last && last.parentElement;"
    "  while (log && log.scrollHeight <= log.clientHeight + 1) log = log.parentElement;"
    "  if (last && log && log.id !== 'qa-chat' && log !== document.documentElement)"
    "    log.scrollTop += last.getBoundingClientRect().top - log.getBoundingClientRect().top - 8;"
    "  const top = last ? last.getBoundingClientRect().top : 0;"  # the page too, if it hides it
    "  if (top < 0 || top > window.innerHeight * 0.6) last.scrollIntoView({block: 'start'});"
    "\n}, 50); }",
)
# After a tap on a citation marker the source is what was asked for: on a narrow screen,
# where the panel is below the chat, the page goes to it (its "Back to the answer" returns).
SHOW_SOURCE_JS = SCROLL_JS.replace(
    "}, 50); }",
    "  const panel = document.getElementById('qa-source');"
    "  if (panel && window.innerWidth < 768) panel.scrollIntoView({block: 'start'});\n}, 50); }",
)


def safe_filename(name: str) -> str:
    """A plain file name from an uploaded name: no folders, no hidden or odd characters."""
    name = unicodedata.normalize("NFKC", Path(str(name).replace("\\", "/")).name)
    name = re.sub(r"[^\w.\- ]+", "_", name).strip(" .")
    stem, suffix = os.path.splitext(name)
    if not stem:
        stem = "upload"
    return f"{stem[:100]}{suffix.lower()}"


class FolderWatch:
    """Notices changes to the corpus folder and refreshes the index in the background.

    The check is cheap (the names, sizes, mtimes and ctimes of the supported files) and made
    before a question at most every ``interval`` seconds. A question waits at most ``wait``
    seconds for a refresh it started, then is answered from what is indexed: the refresh
    swaps the new generation in when it is done.
    """

    def __init__(self, assistant: Assistant, interval: float = 2.0, wait: float = 2.0):
        self.assistant = assistant
        self.interval, self.wait = interval, wait
        self._seen = self._signature()
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._refreshing: threading.Thread | None = None

    def _signature(self) -> dict[str, tuple[int, int, int]]:
        signature = {}
        for doc_id, path in find_files(self.assistant.folder).items():
            try:
                stat = path.stat()
            except OSError:  # gone since it was listed: the next check sees it missing
                continue
            signature[doc_id] = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        return signature

    def check(self) -> None:
        """Refresh when the folder changed since the last refresh (see the class)."""
        with self._lock:
            running = self._refreshing is not None and self._refreshing.is_alive()
            if not running and time.monotonic() - self._checked >= self.interval:
                self._checked = time.monotonic()
                signature = self._signature()
                if signature != self._seen:
                    self._refreshing = threading.Thread(
                        target=self._refresh, args=(signature,), daemon=True
                    )
                    self._refreshing.start()
            thread = self._refreshing
        if thread is not None:
            thread.join(self.wait)

    def _refresh(self, signature: dict) -> None:
        try:
            report = self.assistant.refresh()
        except Exception:  # noqa: BLE001 (kept serving; tried again at the next check)
            log.exception("Could not refresh the index of %s", self.assistant.folder)
            return
        self._seen = signature  # taken before the refresh: later changes are seen next time
        if report.modified:
            log.warning("Refreshed the index: %s", _summary(report))


@dataclass(frozen=True)
class Clarification:
    """A turn the chat answered by asking back what a bare follow-up's pronoun refers to
    (``clarify_html``): not an Answer, and like an abstention it cites nothing."""

    question: str
    pronoun: str
    extracts: tuple = ()

    def to_dict(self) -> dict:
        """The turn as ``qa.feedback.record`` reads it (``clarify``: the pronoun)."""
        return {"question": self.question, "extracts": [], "clarify": self.pronoun}


def _summary(report) -> str:
    parts = [(report.added, "added"), (report.changed, "changed"), (report.removed, "removed")]
    return ", ".join(f"{len(ids)} {what}" for ids, what in parts if ids)


class ChatApp:
    """The state-free callbacks of the web UI, bound to one Assistant and corpus folder."""

    def __init__(self, assistant: Assistant, watch: bool = True):
        self.assistant = assistant
        # Files added, edited or deleted behind the app's back are noticed before a question.
        self.watch = FolderWatch(assistant) if watch else None
        self.started = time.time()

    def _notice_changes(self) -> None:
        if self.watch is not None:
            self.watch.check()

    # ----- chat -----------------------------------------------------------------------

    def respond(self, question: str, messages: list, questions: list, answers: list):
        """Answer ``question`` in the conversation; returns the new UI state.

        ``answers`` (a ``gr.State``, kept on the server) holds each turn's ``Answer``, or a
        ``Clarification``: objects, made into dicts only where they leave the app (the
        ``/ask`` API, feedback lines).
        """
        messages = list(messages or [])
        questions = list(questions or [])
        answers = list(answers or [])
        self._notice_changes()
        pronoun = missing_antecedent(question, questions) if isinstance(question, str) else None
        if pronoun:  # a search would answer about whatever the pronoun happens to match
            asked = " ".join(question.split())
            messages.append({"role": "user", "content": escape(asked)})
            messages.append({"role": "assistant", "content": clarify_html(pronoun)})
            answers.append(Clarification(asked, pronoun))
            return ("", messages, questions, answers, PANEL_EMPTY)
        try:
            answer = self.assistant.ask(question, history=questions)
        except (QAError, ValueError) as error:  # a bad question, or the store is unreachable
            gr.Warning(str(error))
            return (question, messages, questions, answers, gr.update())
        questions.append(answer.question)
        answers.append(answer)
        messages.append({"role": "user", "content": escape(answer.question)})
        messages.append({"role": "assistant", "content": answer_html(answer)})
        return ("", messages, questions, answers, self.source_panel(answer, 0))

    def source_panel(self, answer: Answer | Clarification | None, choice: int | None) -> str:
        """The document of citation ``choice`` of ``answer``, with the span highlighted."""
        if not answer or choice is None or not 0 <= int(choice) < len(answer.extracts):
            return PANEL_EMPTY
        extracts = answer.extracts
        chosen = extracts[int(choice)]
        try:
            document = self.assistant.document(chosen.doc_id)
        except KeyError:
            return f"<p>{escape(chosen.doc_id)} is no longer in the index.</p>"
        others = [
            (e.start, e.end) for e in extracts if e is not chosen and e.doc_id == chosen.doc_id
        ]
        return document_html(
            document, (chosen.start, chosen.end), others, label=f"[{int(choice) + 1}]"
        )

    def pick(self, picked: str, answers: list) -> str:
        """A citation marker clicked in the chat: ``picked`` is "turn:number:nonce" (HEAD)."""
        try:
            turn, number = (int(part) for part in str(picked).split(":")[:2])
        except ValueError:
            return gr.update()
        if not answers or not 0 <= turn < len(answers):
            return gr.update()
        return self.source_panel(answers[turn], number - 1)

    def select_message(self, answers: list, event: gr.SelectData):
        """Clicking an answer in the chat shows its first citation."""
        index = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        turn = int(index) // 2
        if not answers or turn >= len(answers):
            return gr.update()
        return self.source_panel(answers[turn], 0)

    def open_shared(self, request: gr.Request) -> str:
        """The span a share link names (``?doc=ID&start=S&end=E``), shown when the page opens."""
        params = request.query_params if request else {}
        if "doc" not in params:
            return gr.update()
        doc_id = params["doc"]
        try:
            document = self.assistant.document(doc_id)
            start, end = int(params.get("start", "")), int(params.get("end", ""))
        except (KeyError, ValueError):
            return f"<p>The shared link names {escape(doc_id)}, which is not in the index.</p>"
        if not 0 <= start < end <= len(document.text):
            return f"<p>The shared link's span is not in {escape(doc_id)} as indexed now.</p>"
        return document_html(document, (start, end), label="Shared span")

    @staticmethod
    def clear():
        """A new conversation: nothing of the old one is kept, shown or used for follow-ups."""
        return "", [], [], [], PANEL_EMPTY

    def feedback(self, answers: list, event: gr.LikeData) -> None:
        """Append the thumbs up or down on an answer, with its question, spans and settings."""
        index = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        turn = int(index) // 2
        if not answers or turn >= len(answers) or event.liked not in (True, False):
            return  # not an answer, or a mark taken back: nothing to keep
        history = [a.question for a in answers[:turn] if not isinstance(a, Clarification)]
        line = feedback.record(
            answers[turn].to_dict(),
            "up" if event.liked else "down",
            history,
            self.assistant.settings.to_dict(),
        )
        try:
            feedback.append(self.feedback_path, line)
        except OSError as error:  # a read-only index folder: say so, keep serving
            gr.Warning(f"Could not save the feedback in {self.feedback_path}: {error}")

    @property
    def feedback_path(self) -> Path:
        return self.assistant.index_dir / feedback.FEEDBACK_NAME

    def loaded(self) -> str:
        """What answers come from: documents, passages and when the index last changed."""
        summary = self.assistant.summary()
        stamp = self.started if summary.indexed_at is None else summary.indexed_at
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))
        counts = f"{plural(summary.documents, 'document')}, {plural(summary.passages, 'passage')}"
        return f"<p class='qa-loaded'>Answering from {counts} · last indexed {when}</p>"

    # ----- sources --------------------------------------------------------------------

    def sources_table(self) -> list[list]:
        return [[s.title, s.doc_id, s.size, s.passages] for s in self.assistant.sources()]

    def show_document(self, doc_id: str | None) -> str:
        if not doc_id:
            return VIEWER_EMPTY
        try:
            return document_html(self.assistant.document(doc_id))
        except KeyError:
            return f"<p>{escape(doc_id)} is not in the index.</p>"

    def upload(self, files, progress=gr.Progress()):  # noqa: B008 (Gradio's injection idiom)
        """Copy uploaded files into the corpus and index them; report each file's outcome."""
        files = files or []
        if not isinstance(files, list):
            files = [files]
        lines = []
        for n, file in enumerate(files):
            source = Path(getattr(file, "name", file))
            progress((n, len(files)), desc=f"Indexing {source.name}")
            lines.append(self._add_one(source))
        choices = sorted(self.assistant.documents)
        status = "\n".join(lines) or "No file chosen."
        return status, self.sources_table(), gr.update(choices=choices)

    def _add_one(self, source: Path) -> str:
        name = safe_filename(source.name)
        if Path(name).suffix not in SUPPORTED_SUFFIXES:
            return f"✗ {name}: not a supported type ({', '.join(sorted(SUPPORTED_SUFFIXES))})."
        size = source.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            return f"✗ {name}: {size:,} bytes is over the {MAX_UPLOAD_BYTES:,}-byte limit."
        same = self.assistant.duplicate_of(source)
        if same is not None:
            return f"= {name}: the same content as {same}, already indexed. Not added again."
        try:
            # The name is only proposed: it is claimed atomically once the file is indexed, so
            # same-name uploads at one moment each keep their file ("name-1.txt"...).
            added = self.assistant.add_document(source, name)
        except DocumentError as error:
            return f"✗ {name}: {error.reason}. Nothing was changed."
        except StoreError as error:  # raised after the file was added and indexed locally
            return f"⚠ {name}: added, but {error} The next update stores it."
        except QAError as error:  # the index could not be saved (a full disk)
            return f"✗ {name}: {error} Nothing was changed."
        return f"✓ {added.doc_id}: indexed, {plural(added.passages, 'passage')}."

    def remove(self, doc_id: str | None):
        """Move ``doc_id``'s file to the trash folder and drop its passages from the index."""
        moved = None
        if doc_id:
            # Flattened name, never replacing an earlier removal: nothing is destroyed.
            with contextlib.suppress(DocumentNotFound):  # no such file in the corpus folder
                moved = self.assistant.trash_document(doc_id)
        if moved is None:
            message = f"✗ {doc_id}: not found." if doc_id else "Choose a document to remove."
            return message, self.sources_table(), gr.update(), gr.update(), self.loaded()
        try:
            self.assistant.refresh()
        except QAError as error:  # the file is in the trash; the next update drops it
            return f"⚠ {doc_id}: moved to {moved}, but {error}", *self._after_change()
        where = moved.relative_to(self.assistant.folder).as_posix()
        return f"✓ {doc_id}: removed (the file is in {where}).", *self._after_change()

    def _after_change(self):
        choices = sorted(self.assistant.documents)
        return (
            self.sources_table(),
            gr.update(choices=choices, value=None),
            VIEWER_EMPTY,
            self.loaded(),
        )

    # ----- API ------------------------------------------------------------------------

    def api_ask(self, question: str, history: list[str] | None = None) -> dict:
        """Answer ``question`` (``history``: earlier questions, oldest first) as a dict."""
        self._notice_changes()
        try:
            return self.assistant.ask(question, history=history).to_dict()
        except (QAError, ValueError) as error:
            raise gr.Error(str(error)) from error


def plural(n: int, noun: str) -> str:
    """``1 passage``, ``2 passages``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def build(assistant: Assistant) -> gr.Blocks:
    """The Gradio app for ``assistant``."""
    app = ChatApp(assistant)
    with gr.Blocks(title="qa — answers quoted from your sources") as demo:
        gr.HTML(
            "<h1 class='qa-title'>Ask the sources</h1><p>Every answer is quoted "
            "<b>verbatim</b> from the documents, with its exact location. When the documents "
            "do not say, the answer says so. Press <kbd>/</kbd> to type a question.</p>"
        )
        questions = gr.State([])
        answers = gr.State([])
        with gr.Tab("Chat"):
            loaded = gr.HTML(app.loaded(), elem_id="qa-loaded")
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        height=480,
                        sanitize_html=True,
                        feedback_options=("Like", "Dislike"),  # appended to feedback.jsonl
                        buttons=["copy", "copy_all"],  # no share button: it has no name
                        autoscroll=False,  # ANSWER_JS shows a new answer from its start
                        elem_id="qa-chat",
                    )
                    with gr.Row():
                        box = gr.Textbox(
                            placeholder="Ask a question about the documents…",
                            label="Question",
                            show_label=False,
                            autofocus=True,  # the first stop: typing asks
                            scale=5,
                            elem_id="qa-question",
                            # No max_length: the browser would cut a long question silently;
                            # the app refuses it with a message instead (clean_question).
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
                    # Written by the page's script when a citation marker is clicked (HEAD).
                    pick = gr.Textbox(elem_id="qa-pick", elem_classes="qa-hidden", container=False)
                    # Buttons, not gr.Examples: that cuts each question at 60 characters.
                    with gr.Group(elem_id="qa-examples"):
                        gr.HTML("<p class='qa-try'>Try an example:</p>")
                        for example in EXAMPLES:
                            gr.Button(example, size="sm", elem_classes="qa-example").click(
                                lambda text=example: text, None, box, api_visibility="private"
                            )
                    clear = gr.Button("Clear conversation", elem_id="qa-clear")
                with gr.Column(scale=2):
                    panel = gr.HTML(PANEL_EMPTY, label="Source", elem_id="qa-source")
        with gr.Tab("Sources"):
            table = gr.Dataframe(
                value=app.sources_table(),
                headers=["title", "file", "bytes", "passages"],
                interactive=False,
                elem_id="qa-sources-table",
            )
            with gr.Row():
                with gr.Column(scale=2):
                    picker = gr.Dropdown(
                        choices=sorted(assistant.documents),
                        value=None,  # the default, the first choice, would not match the viewer
                        label="Show a document",
                        elem_id="qa-picker",
                    )
                    remove = gr.Button(
                        f"Remove this document (to {TRASH_DIRNAME}/)",
                        size="sm",
                        elem_id="qa-remove",
                    )
                with gr.Column(scale=2):
                    files = gr.File(
                        label="Add documents (txt, md, html, pdf): indexed when dropped",
                        file_count="multiple",
                        file_types=sorted(SUPPORTED_SUFFIXES),
                        elem_id="qa-upload",
                    )
                    # The API's /upload; in the page, dropping or choosing files is enough.
                    add = gr.Button("Add to sources", elem_id="qa-add", visible=False)
                    status = gr.Textbox(
                        label="Upload status",
                        interactive=False,
                        lines=3,
                        elem_id="qa-upload-status",
                    )
            viewer = gr.HTML(VIEWER_EMPTY, elem_id="qa-viewer")

        outputs = [box, chatbot, questions, answers, panel]
        # The Ask button is disabled while a question runs, so one click asks once.
        gr.on(
            [box.submit, send.click],
            lambda: gr.update(interactive=False),
            None,
            send,
            queue=False,
            api_visibility="private",
        ).then(
            app.respond, [box, chatbot, questions, answers], outputs, api_visibility="private"
        ).then(
            lambda: gr.update(interactive=True), None, send, queue=False, api_visibility="private"
        ).then(None, js=ANSWER_JS).then(
            app.loaded, None, loaded, api_visibility="private", show_progress="hidden"
        )
        pick.change(app.pick, [pick, answers], panel, api_visibility="private").then(
            None, js=SHOW_SOURCE_JS
        )
        chatbot.select(app.select_message, [answers], panel, api_visibility="private").then(
            None, js=SCROLL_JS
        )
        clear.click(app.clear, None, outputs, api_visibility="private")
        chatbot.like(app.feedback, [answers], None, api_visibility="private")
        # The chat's own trash icon empties only the chat: the rest of the state goes too.
        chatbot.clear(app.clear, None, outputs, api_visibility="private")
        picker.change(app.show_document, picker, viewer, api_visibility="private")
        add.click(
            app.upload,
            files,
            [status, table, picker],
            api_name="upload",
            api_visibility="undocumented",
        ).then(app.loaded, None, loaded, api_visibility="private", show_progress="hidden")
        files.upload(app.upload, files, [status, table, picker], api_visibility="private").then(
            lambda: None, None, files, api_visibility="private"
        ).then(app.loaded, None, loaded, api_visibility="private", show_progress="hidden")
        remove.click(
            app.remove,
            picker,
            [status, table, picker, viewer, loaded],
            api_visibility="private",
        )
        gr.api(app.api_ask, api_name="ask")
        # The page's values are made when the app is built: read the current ones on load.
        # Quietly: a progress overlay on load would dim what the page shows at first.
        demo.load(
            app.open_shared, None, panel, api_visibility="private", show_progress="hidden"
        ).then(None, js=SCROLL_JS)
        demo.load(app.loaded, None, loaded, api_visibility="private", show_progress="hidden")
        demo.load(
            lambda: (app.sources_table(), gr.update(choices=sorted(assistant.documents))),
            None,
            [table, picker],
            api_visibility="private",
            show_progress="hidden",
        )
    return demo


def serve(
    folder: str | os.PathLike | None = None,
    host: str | None = None,
    port: int | None = None,
    index_dir: str | os.PathLike | None = None,
    model: str | None = None,
    block: bool = True,
    store: str | None = None,
    settings: Settings | None = None,
):
    """Index ``folder`` (with progress) and serve the chat; returns the running Blocks."""
    import sys

    def progress(fraction, message):
        print(f"\r[{fraction:4.0%}] {message[:70]:<70}", end="" if fraction < 1 else "\n",
              file=sys.stderr, flush=True)  # fmt: skip

    assistant = Assistant.from_folder(
        folder, index_dir=index_dir, model=model, progress=progress, store=store, settings=settings
    )
    folder = config.corpus_folder(folder)
    host = config.setting(host, config.HOST_VARIABLE, config.HOST)
    port = int(config.setting(port, config.PORT_VARIABLE, config.PORT))
    demo = build(assistant)
    # Load the ONNX encoder (or the model) while the page opens: the first question need not wait.
    threading.Thread(target=assistant.prepare_questions, daemon=True).start()
    summary = assistant.summary()
    loaded = f"{plural(summary.documents, 'document')}, {plural(summary.passages, 'passage')}"
    print(
        f"qa: {loaded} "
        f"from {Path(folder).resolve()} ({_store_name(assistant)}); "
        f"serving on http://{host}:{port}",
        flush=True,
    )
    launch(demo, host, port, block=block)
    return demo


def launch(demo: gr.Blocks, host: str, port: int | None = None, block: bool = True) -> str:
    """Serve ``demo`` (from ``build``) as ``qa serve`` does: four questions at a time, the
    page's CSS and script, errors shown, uploads over ``MAX_UPLOAD_BYTES`` refused while
    they arrive. ``port`` None takes a free one. Returns the app's address; with ``block``
    false it returns at once and ``demo.close()`` stops the server."""
    port = free_port(host) if port is None else port
    demo.queue(default_concurrency_limit=4)
    demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        show_error=True,
        css=CSS,
        head=HEAD,
        quiet=True,
        max_file_size=MAX_UPLOAD_BYTES,  # refused while it arrives, not after
    )
    return f"http://{host}:{port}/"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of ``host`` that nothing listens on now (the system's choice)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _store_name(assistant: Assistant) -> str:
    where = assistant.describe_store()
    if where["kind"] == "milvus":
        return f"Milvus {where['uri']}, collection {where['collection']}"
    return "FAISS + BM25 in this process"


__all__ = [
    "CSS",
    "HEAD",
    "TRASH_DIRNAME",
    "Answer",
    "ChatApp",
    "Clarification",
    "build",
    "cite",
    "free_port",
    "launch",
    "plural",
    "safe_filename",
    "serve",
]
