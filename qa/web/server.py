"""Serving the web chat and the REST API: ``serve`` (what ``qa serve`` and ``python app.py``
run: index a folder, then serve its chat and ``/api/``), ``launch`` (serve a built app, with
the API and the chat's sign-in when given) and ``free_port``."""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

import gradio as gr

from qa import config
from qa.assistant import Assistant
from qa.errors import UsageError
from qa.settings import Settings
from qa.web.access import ApiKeys, Limits, Users, check_exposure
from qa.web.api import RestApi
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
    auth: str | os.PathLike | None = None,
    api_keys: str | os.PathLike | None = None,
    insecure_no_auth: bool = False,
    limits: Limits | None = None,
):
    """Index ``folder`` (with progress) and serve the chat and the REST API; returns the
    running Blocks. ``auth``: the chat's users file; ``api_keys``: the API's keys file
    (``qa.web.access``). Without either, the API is open to whoever reaches the server, which
    must then be loopback unless ``insecure_no_auth``; with either, every API call but health
    needs a key."""
    host = config.setting(host, config.HOST_VARIABLE, config.HOST)
    users = Users(auth) if auth else None
    if users is not None and not users.entries():
        raise UsageError(f"{Path(auth).name} holds no users: add one first.")
    keys = ApiKeys(api_keys) if api_keys else None
    check_exposure(host, users is not None, insecure_no_auth)  # before a long indexing

    def progress(fraction, message):
        print(f"\r[{fraction:4.0%}] {message[:70]:<70}", end="" if fraction < 1 else "\n",
              file=sys.stderr, flush=True)  # fmt: skip

    assistant = Assistant.from_folder(
        folder, index_dir=index_dir, model=model, progress=progress, store=store, settings=settings
    )
    folder = config.corpus_folder(folder)
    port = int(config.setting(port, config.PORT_VARIABLE, config.PORT))
    demo = build(assistant)
    api = RestApi(assistant, keys, limits, open_access=users is None and keys is None)
    # Load the ONNX encoder (or the model) while the page opens: the first question need not wait.
    threading.Thread(target=assistant.prepare_questions, daemon=True).start()
    summary = assistant.summary()
    loaded = f"{plural(summary.documents, 'document')}, {plural(summary.passages, 'passage')}"
    print(
        f"qa: {loaded} "
        f"from {Path(folder).resolve()} ({_store_name(assistant)}); "
        f"serving on http://{host}:{port} (REST API: /api/, /docs; {_access(users, keys)})",
        flush=True,
    )
    launch(demo, host, port, block=block, api=api, users=users, insecure=insecure_no_auth)
    return demo


def launch(
    demo: gr.Blocks,
    host: str,
    port: int | None = None,
    block: bool = True,
    *,
    api: RestApi | None = None,
    users: Users | None = None,
    insecure: bool = False,
) -> str:
    """Serve ``demo`` (from ``build``) as ``qa serve`` does: four questions at a time, the
    page's CSS and script, errors shown, uploads over ``MAX_UPLOAD_BYTES`` refused while
    they arrive; ``api``'s routes on the same server; the chat behind ``users``' sign-in.
    A host beyond loopback without ``users`` is refused (UsageError) unless ``insecure``.
    ``port`` None takes a free one. Returns the app's address; with ``block`` false it
    returns at once and ``demo.close()`` stops the server."""
    open_api = api is not None and api.open_access
    warning = check_exposure(host, users is not None and not open_api, insecure)
    if warning:
        print(warning, file=sys.stderr, flush=True)
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
        auth=users.check if users is not None else None,
        auth_message=None if users is None else "Sign in with your qa user name and password.",
        # Gradio's FastAPI app is made with the API's routes (before its own) and gate.
        app_kwargs=api.app_kwargs() if api is not None else None,
    )
    return f"http://{host}:{port}/"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of ``host`` that nothing listens on now (the system's choice)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _access(users: Users | None, keys: ApiKeys | None) -> str:
    chat = "chat: open" if users is None else "chat: sign-in"
    if keys is not None:
        return f"{chat}, API: keys"
    return f"{chat}, API: {'open' if users is None else 'closed (no --api-keys)'}"


def _store_name(assistant: Assistant) -> str:
    where = assistant.describe_store()
    if where["kind"] == "milvus":
        return f"Milvus {where['uri']}, collection {where['collection']}"
    return "FAISS + BM25 in this process"


__all__ = ["free_port", "launch", "serve"]
