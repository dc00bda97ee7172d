"""What each event of the web chat does (``ChatApp``): ask, show a citation's source, open a
shared span, clear, keep a thumbs up or down, say what answers come from, list, show, upload
and remove documents (``safe_filename``, ``MAX_UPLOAD_BYTES``; a removal is confirmed first,
naming where the file goes), and the ``/ask`` API.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import unicodedata
from pathlib import Path

import gradio as gr

from qa.assistant import TRASH_DIRNAME, Assistant
from qa.errors import DocumentError, DocumentNotFound, QAError, StoreError
from qa.index import uploads
from qa.ingest.documents import SUPPORTED_SUFFIXES
from qa.values import Answer
from qa.web import feedback
from qa.web.render import (
    answer_html,
    clarify_html,
    document_html,
    escape,
    library_html,
    picker_choices,
)
from qa.web.watch import FolderWatch

log = logging.getLogger(__name__)
# What the page says of a fault of qa's own (a bug): never the exception's words, which may
# hold the server's paths (Gradio shows an error's message as it is).
INTERNAL = "Something went wrong inside qa; the server's log has the details."
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
EXAMPLES = [
    "Where was the road transport agreement signed?",
    "Who announced that China would set up CNISCO?",
    "What share of UNESCO's World Heritage List are cultural sites of SCO countries?",
    "Which countries held joint anti-terrorism exercises in October 2002?",
]
PANEL_EMPTY = "<p class='qa-hint'>Ask a question: the cited source appears here.</p>"
VIEWER_EMPTY = "<p class='qa-hint'>Choose a document to show it here.</p>"


def safe_filename(name: str) -> str:
    """A plain file name from an uploaded name: no folders, no hidden or odd characters."""
    name = unicodedata.normalize("NFKC", Path(str(name).replace("\\", "/")).name)
    name = re.sub(r"[^\w.\- ]+", "_", name).strip(" .")
    stem, suffix = os.path.splitext(name)
    if not stem:
        stem = "upload"
    return f"{stem[:100]}{suffix.lower()}"


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

        ``answers`` (a ``gr.State``, kept on the server) holds each turn's ``Answer``:
        objects, made into dicts only where they leave the app (the ``/ask`` API, feedback
        lines). A bare follow-up is asked back (``Answer.clarify``) and is no history.
        """
        messages = list(messages or [])
        questions = list(questions or [])
        answers = list(answers or [])
        self._notice_changes()
        try:
            answer = self.assistant.ask(question, history=questions)
        except (QAError, ValueError) as error:  # a bad question, or the store is unreachable
            gr.Warning(str(error))
            return (question, messages, questions, answers, gr.update())
        except Exception:  # a fault of qa's own: its words here, the traceback in the log
            log.exception("Answering %r failed", question[:100])
            gr.Warning(INTERNAL)
            return (question, messages, questions, answers, gr.update())
        answers.append(answer)
        messages.append({"role": "user", "content": escape(answer.question)})
        if answer.clarify:  # a search would answer about whatever the pronoun happens to match
            messages.append({"role": "assistant", "content": clarify_html(answer.clarify)})
            return ("", messages, questions, answers, PANEL_EMPTY)
        questions.append(answer.question)
        messages.append({"role": "assistant", "content": answer_html(answer)})
        return ("", messages, questions, answers, self.source_panel(answer, 0))

    def source_panel(self, answer: Answer | None, choice: int | None) -> str:
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
            document,
            (chosen.start, chosen.end),
            others,
            label=f"Source {int(choice) + 1}",
            question=answer.question,
        )

    def pick(self, picked: str, answers: list) -> str:
        """A citation marker clicked in the chat: ``picked`` is "turn:number:nonce" (page.js)."""
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
        except KeyError:
            return f"<p>The shared link names {escape(doc_id)}, which is not in the index.</p>"
        try:
            start, end = int(params.get("start", "")), int(params.get("end", ""))
        except ValueError:
            return "<p>The shared link's start and end are not character positions.</p>"
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
        history = [a.question for a in answers[:turn] if not a.clarify]
        line = feedback.record(
            answers[turn].to_dict(),
            "up" if event.liked else "down",
            history,
            self.assistant.settings.to_dict(),
        )
        try:
            feedback.append(self.feedback_path, line)
        except OSError:  # a read-only index folder, a full disk: say so, keep serving
            log.warning("could not save feedback in %s", self.feedback_path, exc_info=True)
            gr.Warning("Your feedback could not be saved (the index folder is full or read-only).")

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

    def library(self) -> str:
        """The Sources tab's table of documents (``qa.web.render.library_html``)."""
        return library_html(self.assistant.sources())

    def choices(self) -> list[tuple[str, str]]:
        """The document picker's choices (``qa.web.render.picker_choices``)."""
        return picker_choices(self.assistant.sources())

    def open_row(self, opened: str):
        """A row of the library clicked: ``opened`` is ``[doc_id, nonce]`` as JSON (page.js).
        Shows the document and makes it the picker's choice (what "Remove" acts on)."""
        try:
            doc_id = json.loads(opened)[0]
        except (ValueError, TypeError, IndexError, KeyError):
            return gr.update(), gr.update()
        if not isinstance(doc_id, str) or doc_id not in self.assistant.documents:
            return gr.update(), self.show_document(str(doc_id))
        return gr.update(value=doc_id), self.show_document(doc_id)

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

            def stage(fraction: float, what: str, n=n, name=source.name) -> None:
                # One bar for the upload, on the status box only: its file, stage and share.
                which = f" ({n + 1} of {len(files)})" if len(files) > 1 else ""
                progress((n + fraction) / len(files), desc=f"{name}{which}: {what}")

            lines.append(self._add_one(source, stage))
        status = "\n".join(lines) or "No file chosen."
        return status, self.library(), gr.update(choices=self.choices())

    def _add_one(self, source: Path, progress=None) -> str:
        name = safe_filename(source.name)
        if refused := unsupported(name):
            return f"✗ {refused}"
        size = source.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            return f"✗ {name}: {size:,} bytes is over the {MAX_UPLOAD_BYTES:,}-byte limit."
        same = self.assistant.duplicate_of(source)
        if same is not None:
            return f"= {name}: the same content as {same}, already indexed. Not added again."
        try:
            # The name is only proposed: it is claimed atomically once the file is indexed, so
            # same-name uploads at one moment each keep their file ("name-1.txt"...).
            added = self.assistant.add_document(source, name, progress=progress)
        except DocumentError as error:
            return f"✗ {name}: {error.reason}. Nothing was changed."
        except StoreError as error:  # raised after the file was added and indexed locally
            return f"⚠ {name}: added, but {error} The next update stores it."
        except QAError as error:  # the index could not be saved (a full disk)
            return f"✗ {name}: {error} Nothing was changed."
        except Exception:  # a fault of qa's own: its words here, the traceback in the log
            log.exception("Adding %s failed", name)
            return f"✗ {name}: {INTERNAL}"
        return f"✓ {added.doc_id}: indexed, {plural(added.passages, 'passage')}."

    def confirm_removal(self, doc_id: str | None):
        """The confirmation shown, with its question "Remove ...?" in plain words naming where
        the file will go (relative to the documents folder), and the document it is about
        (what "Yes" removes, whatever is chosen meanwhile); or why there is nothing to do."""
        if not doc_id or doc_id not in self.assistant.documents:
            said = "Choose a document first: the one shown below is the one removed."
            return gr.update(visible=False), "", _said(said), None
        title = self.assistant.document(doc_id).title
        question = (
            f"<p><b>Remove “{escape(title)}” ({escape(doc_id)})?</b> Answers will no longer "
            f"quote it. Nothing is deleted: the file moves to "
            f"<code>{escape(self._trash_path(doc_id))}</code> in the documents folder, "
            "from where it can be moved back.</p>"
        )
        return gr.update(visible=True), question, "", doc_id

    def _trash_path(self, doc_id: str) -> str:
        """Where ``Assistant.trash_document`` would put ``doc_id`` now, relative to the folder
        (the first free name, as ``uploads.claim_name`` takes it)."""
        target = Path(TRASH_DIRNAME) / uploads.trash_name(doc_id)
        names = uploads.names_for(target)
        return next(n for n in names if not (self.assistant.folder / n).exists()).as_posix()

    def remove(self, doc_id: str | None):
        """Move ``doc_id``'s file to the trash folder and drop its passages from the index.
        Returns what was done (for the page), the library, picker, viewer and loaded line, and
        hides the confirmation."""
        moved = None
        if doc_id:
            # Flattened name, never replacing an earlier removal: nothing is destroyed.
            with contextlib.suppress(DocumentNotFound):  # no such file in the corpus folder
                moved = self.assistant.trash_document(doc_id)
        hidden = gr.update(visible=False)
        if moved is None:
            said = "Choose a document to remove."
            if doc_id:
                said = f"✗ {doc_id} is not in the documents folder (any more)."
            kept = (gr.update(), gr.update())  # picker and viewer as they are
            return _said(said), self.library(), *kept, self.loaded(), hidden, hidden, None
        where = moved.relative_to(self.assistant.folder).as_posix()
        # Until the next removal, "Undo" moves it back (the state holds where it went).
        undo = (gr.update(visible=True), (where, doc_id))
        try:
            self.assistant.refresh()
        except QAError as error:  # the file is in the trash; the next update drops it
            said = f"⚠ {doc_id} was moved to {where} in the documents folder, but {error}"
            return _said(said), *self._after_change(), hidden, *undo
        said = f"✓ Removed {doc_id}: the file is now {where} in the documents folder."
        return _said(said), *self._after_change(), hidden, *undo

    def undo_removal(self, undo):
        """Move the last removed document back from the trash and index it again."""
        hidden = (gr.update(visible=False), None)
        if not undo:
            return _said("Nothing to undo."), *self._after_change(), *hidden
        where, doc_id = undo
        try:
            restored = self.assistant.restore_document(where, doc_id)
        except QAError as error:
            said = f"✗ {doc_id} could not be moved back: {error}"
            return _said(said), *self._after_change(), *hidden
        said = f"✓ {restored.doc_id} is back in the documents folder and indexed."
        return _said(said), *self._after_change(), *hidden

    def _after_change(self):
        return (
            self.library(),
            gr.update(choices=self.choices(), value=None),
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
        except Exception as error:  # a fault of qa's own: never its raw words or paths
            log.exception("Answering %r failed", str(question)[:100])
            raise gr.Error(INTERNAL) from error


def unsupported(name: str) -> str | None:
    """Why an upload named ``name`` is refused for its type (the chat and the REST API say it
    alike), or None when qa reads it."""
    if Path(name).suffix in SUPPORTED_SUFFIXES:
        return None
    return f"{name}: not a supported type ({', '.join(sorted(SUPPORTED_SUFFIXES))})."


def _said(text: str) -> str:
    """A line of the Sources tab's messages, escaped (names of files are untrusted)."""
    return f"<p class='qa-said'>{escape(text)}</p>"


def plural(n: int, noun: str) -> str:
    """``1 passage``, ``2 passages``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


__all__ = [
    "EXAMPLES",
    "MAX_UPLOAD_BYTES",
    "PANEL_EMPTY",
    "VIEWER_EMPTY",
    "ChatApp",
    "plural",
    "safe_filename",
]
