"""Serving the web chat: ``serve`` (what ``qa serve`` and ``python app.py`` run: index a
folder, then serve its chat), ``launch`` (serve a built app) and ``free_port``."""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

import gradio as gr

from qa import config
from qa.assistant import Assistant
from qa.settings import Settings
from qa.web.callbacks import MAX_UPLOAD_BYTES, plural
from qa.web.layout import CSS, HEAD, build


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


__all__ = ["free_port", "launch", "serve"]
