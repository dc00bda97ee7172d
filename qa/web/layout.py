"""The web chat's page (``build``): a chat on the left whose answers carry citation markers
[n]; on the right the source panel, which shows the whole cited document with the cited span
highlighted and scrolled into view (other extracts from the same document lightly marked). A
Sources tab lists the documents, shows any of them, takes uploads and removes documents (to
``.qa-trash/``). Thumbs up/down go to ``feedback.jsonl`` (``qa.web.feedback``);
``?doc=&start=&end=`` opens the app on one span. ``/ask`` is also an API endpoint returning
``Answer.to_dict()``. The page's CSS and scripts are the files in ``assets/``.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from qa.assistant import TRASH_DIRNAME, Assistant
from qa.ingest.documents import SUPPORTED_SUFFIXES
from qa.web.callbacks import EXAMPLES, PANEL_EMPTY, VIEWER_EMPTY, ChatApp

ASSETS = Path(__file__).resolve().parent / "assets"


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8").strip()


CSS = _asset("style.css")  # given to Gradio's launch (qa.web.server)
HEAD = f"<script>\n{_asset('page.js')}\n</script>"  # the page script, in <head>
# Gradio's ``js=``: function expressions run in the page after an event.
SCROLL_JS = _asset("scroll.js")  # the cited span into view in the source panel
ANSWER_JS = _asset("answer.js")  # that, and a new answer shown from its start
SHOW_SOURCE_JS = _asset("show_source.js")  # that, and the panel itself on a narrow screen


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
                    # Written by the page's script when a citation marker is clicked (page.js).
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


__all__ = ["ANSWER_JS", "CSS", "HEAD", "SCROLL_JS", "SHOW_SOURCE_JS", "build"]
