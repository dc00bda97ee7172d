"""The web chat's page (``build``): a chat on the left whose answers quote their best extract
with citation markers [n] and list their sources as chips; on the right the source panel, which
shows the whole cited document with the cited span highlighted, focused and scrolled into view
(other extracts from the same document lightly marked), headed by the question it answers. A
Sources tab lists the documents as a library (a row opens one in the viewer), takes uploads and
removes documents (to ``.qa-trash/``, once confirmed). Thumbs up/down go to ``feedback.jsonl``
(``qa.web.feedback``); ``?doc=&start=&end=`` opens the app on one span. ``/ask`` is also an API
endpoint returning ``Answer.to_dict()``. The page's CSS and script are the files in ``assets/``.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from qa.assistant import Assistant
from qa.ingest.documents import SUPPORTED_SUFFIXES
from qa.web.callbacks import EXAMPLES, PANEL_EMPTY, VIEWER_EMPTY, ChatApp

ASSETS = Path(__file__).resolve().parent / "assets"


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8").strip()


CSS = _asset("style.css")  # given to Gradio's launch (qa.web.server)
HEAD = f"<script>\n{_asset('page.js')}\n</script>"  # the page script, in <head>
# Gradio's ``js=``: run in the page once an event's outputs are in; each calls page.js.
ANSWER_JS = "() => window.qa && qa.answered()"  # a new answer shown from its start
SCROLL_JS = "() => window.qa && qa.scrolled()"  # the cited span into view in its box
SHOW_SOURCE_JS = "() => window.qa && qa.shown()"  # that, focused, and the panel in view
OPENED_JS = "() => window.qa && qa.opened()"  # a library row's document focused
CONFIRM_JS = "() => window.qa && qa.confirming()"  # focus on "Cancel" of a removal
SAID_JS = "() => window.qa && qa.said()"  # the removal's message said aloud

INTRO = (
    "<h1 class='qa-title'>Ask the sources</h1><p>Every answer is quoted <b>verbatim</b> from "
    "the documents, with its exact location. When the documents do not say, the answer says "
    "so. Press <kbd>/</kbd> to type a question.</p>"
)
# Shown only to the keyboard, as a skip link: the way from the question box to the answer's
# citations in one Shift+Tab (page.js focuses the latest answer's first marker).
JUMP = "<button type='button' class='qa-jump'>Go to the latest answer's citations</button>"


def build(assistant: Assistant) -> gr.Blocks:
    """The Gradio app for ``assistant``."""
    app = ChatApp(assistant)
    with gr.Blocks(title="qa — answers quoted from your sources") as demo:
        gr.HTML(INTRO)
        questions = gr.State([])
        answers = gr.State([])
        removing = gr.State(None)  # the document a shown confirmation is about
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
                        placeholder="Answers appear here, quoted from the documents.",
                        elem_id="qa-chat",
                    )
                    gr.HTML(JUMP, elem_id="qa-jump")
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
                    # Written by the page's script when a citation marker is clicked (page.js).
                    pick = gr.Textbox(elem_id="qa-pick", elem_classes="qa-hidden", container=False)
                    # Buttons, not gr.Examples: that cuts each question at 60 characters.
                    with gr.Group(elem_id="qa-examples"):
                        gr.HTML("<p class='qa-try'>Try an example (it asks at once):</p>")
                        examples = [
                            gr.Button(example, size="sm", elem_classes="qa-example")
                            for example in EXAMPLES
                        ]
                    clear = gr.Button("Clear conversation", elem_id="qa-clear")
                with gr.Column(scale=2):
                    panel = gr.HTML(PANEL_EMPTY, label="Source", elem_id="qa-source")
        with gr.Tab("Sources"):
            library = gr.HTML(app.library(), elem_id="qa-library")
            # Written by the page's script when a row of the library is clicked (page.js).
            opened = gr.Textbox(elem_id="qa-open", elem_classes="qa-hidden", container=False)
            with gr.Row():
                with gr.Column(scale=2):
                    picker = gr.Dropdown(
                        choices=app.choices(),
                        value=None,  # the default, the first choice, would not match the viewer
                        label="Show a document",
                        elem_id="qa-picker",
                    )
                    remove = gr.Button("Remove this document…", size="sm", elem_id="qa-remove")
                    with gr.Column(visible=False, elem_id="qa-confirm") as confirm:
                        confirm_text = gr.HTML()
                        with gr.Row():
                            remove_yes = gr.Button(
                                "Yes, move it to the trash",
                                variant="stop",
                                size="sm",
                                elem_id="qa-remove-yes",
                            )
                            remove_no = gr.Button("Cancel", size="sm", elem_id="qa-remove-no")
                    removed = gr.HTML(elem_id="qa-remove-status")
                    undo = gr.Button(
                        "Undo the removal", size="sm", visible=False, elem_id="qa-undo"
                    )
                    undoing = gr.State(None)  # (where in the trash, doc_id) of the last removal
                with gr.Column(scale=2):
                    files = gr.File(
                        label=(
                            "Add documents (txt, md, html, pdf, docx, pptx, odt, epub, rtf): "
                            "indexed when dropped"
                        ),
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

        def asking(event):
            """Ask what the box holds once ``event`` (which disables Ask) is done."""
            event.then(
                app.respond, [box, chatbot, questions, answers], outputs, api_visibility="private"
            ).then(
                lambda: gr.update(interactive=True),
                None,
                send,
                queue=False,
                api_visibility="private",
            ).then(None, js=ANSWER_JS).then(
                app.loaded, None, loaded, api_visibility="private", show_progress="hidden"
            )

        # The Ask button is disabled while a question runs, so one click asks once.
        disable = gr.update(interactive=False)
        asking(
            gr.on(
                [box.submit, send.click],
                lambda: disable,
                None,
                send,
                queue=False,
                api_visibility="private",
            )
        )
        for button, example in zip(examples, EXAMPLES):  # an example asks at once
            asking(
                button.click(
                    lambda text=example: (text, disable),
                    None,
                    [box, send],
                    queue=False,
                    api_visibility="private",
                )
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
        # The user's choice only: a row click or a removal sets the picker and the viewer both.
        picker.input(app.show_document, picker, viewer, api_visibility="private")
        opened.change(app.open_row, opened, [picker, viewer], api_visibility="private").then(
            None, js=OPENED_JS
        )
        add.click(
            app.upload,
            files,
            [status, library, picker],
            api_name="upload",
            api_visibility="undocumented",
            show_progress_on=[status],  # the library stays in view and usable meanwhile
        ).then(app.loaded, None, loaded, api_visibility="private", show_progress="hidden")
        files.upload(
            app.upload,
            files,
            [status, library, picker],
            api_visibility="private",
            show_progress_on=[status],  # one bar, on the status box: the library stays usable
        ).then(lambda: None, None, files, api_visibility="private").then(
            app.loaded, None, loaded, api_visibility="private", show_progress="hidden"
        )
        remove.click(
            app.confirm_removal,
            picker,
            [confirm, confirm_text, removed, removing],
            api_visibility="private",
        ).then(None, js=CONFIRM_JS)
        # Another choice, or "Cancel": the question no longer stands.
        gr.on(
            [picker.input, opened.change, remove_no.click],
            lambda: (gr.update(visible=False), "", None),
            None,
            [confirm, removed, removing],
            queue=False,
            api_visibility="private",
        )
        remove_yes.click(
            app.remove,
            removing,
            [removed, library, picker, viewer, loaded, confirm, undo, undoing],
            api_visibility="private",
        ).then(None, js=SAID_JS)
        undo.click(
            app.undo_removal,
            undoing,
            [removed, library, picker, viewer, loaded, undo, undoing],
            api_visibility="private",
        ).then(None, js=SAID_JS)
        gr.api(app.api_ask, api_name="ask")
        # The page's values are made when the app is built: read the current ones on load.
        # Quietly: a progress overlay on load would dim what the page shows at first.
        demo.load(
            app.open_shared, None, panel, api_visibility="private", show_progress="hidden"
        ).then(None, js=SCROLL_JS)
        demo.load(app.loaded, None, loaded, api_visibility="private", show_progress="hidden")
        demo.load(
            lambda: (app.library(), gr.update(choices=app.choices())),
            None,
            [library, picker],
            api_visibility="private",
            show_progress="hidden",
        )
    return demo


__all__ = ["ANSWER_JS", "CSS", "HEAD", "SCROLL_JS", "SHOW_SOURCE_JS", "build"]
