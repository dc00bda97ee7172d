"""Command line: ``qa index FOLDER``, ``qa ask QUESTION``, ``qa serve``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap

from qa.errors import QAError
from qa.values import Answer
from qa.web.render import confidence_label


def _default_folder() -> str:
    from qa.config import corpus_folder

    return str(corpus_folder())


def _progress(fraction: float, message: str) -> None:
    print(f"\r[{fraction:4.0%}] {message[:70]:<70}", end="" if fraction < 1 else "\n",
          file=sys.stderr, flush=True)  # fmt: skip


def _open(args):
    from qa.assistant import Assistant

    return Assistant.from_folder(
        args.folder,
        index_dir=args.index_dir,
        model=args.model,
        progress=_progress,
        store=args.store,
        settings=_settings(args),
        ray=_ray_settings(args),
    )


def _ray_settings(args):
    """``--ray [ADDRESS]`` and its options, or None to embed in this process."""
    if getattr(args, "ray", None) is None:
        return None
    from qa.index.on_ray import RaySettings

    options = {
        "workers": args.ray_workers,
        "batch_size": args.ray_batch,
        "cpus_per_worker": args.ray_cpus_per_worker,
    }
    address = None if args.ray == LOCAL_RAY else args.ray
    return RaySettings(address=address, **{k: v for k, v in options.items() if v is not None})


LOCAL_RAY = "local"  # what a bare --ray means: start Ray on this machine


def _settings(args):
    """The shipped settings, with the reader off for ``--no-reader`` and for ``qa index``
    (which asks nothing: its process need not load the reader)."""
    from dataclasses import replace

    from qa.settings import Settings

    settings = Settings()
    if getattr(args, "no_reader", False) or args.command == "index":
        settings = replace(settings, reader=replace(settings.reader, enabled=False))
    return settings


def format_answer(answer: Answer, bold: tuple[str, str] = ("**", "**")) -> str:
    """A readable rendering of an answer for the terminal: the answer phrase in ``bold``
    (ANSI bold on a terminal, ``**...**`` otherwise) and each extract's confidence band."""
    lines = [f"Note: {answer.notice}", ""] if answer.notice else []
    if answer.abstained:
        lines.append(answer.message)
        if answer.related:
            lines.append("")
            lines.append("Closest passages (not an answer):")
            for extract in answer.related:
                lines.append(f"  - {_cite(extract)}")
                lines.append(textwrap.indent(textwrap.fill(extract.text, 96), "      "))
        return "\n".join(lines)
    for n, extract in enumerate(answer.extracts, 1):
        head = "Answer" if n == 1 else f"Also ({n})"
        band = confidence_label(extract.score)
        text = extract.text
        if extract.focus_start is not None and extract.focus_end is not None:
            a, b = extract.focus_start - extract.start, extract.focus_end - extract.start
            if n == 1:
                head += f": {bold[0]}{text[a:b]}{bold[1]}"
            text = f"{text[:a]}{bold[0]}{text[a:b]}{bold[1]}{text[b:]}"
        lines.append(f"{head} [confidence {band}, {extract.score:.2f}]")
        # A sentence of wrapped text keeps its line breaks in the source: shown as one line.
        lines.append(textwrap.indent(textwrap.fill(f"“{' '.join(text.split())}”", 96), "  "))
        lines.append(f"  — {_cite(extract)}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _cite(extract) -> str:
    where = extract.location or (f"page {extract.page}" if extract.page else None)
    where = f", {where}" if where else ""  # "page 3", "slide 2", "§ Installation"
    return f"{extract.title} [{extract.doc_id}, characters {extract.start}–{extract.end}{where}]"


def main(argv: list[str] | None = None) -> int:
    """The ``qa`` command; returns its exit status."""
    try:
        return _main(argv)
    except BrokenPipeError:  # ``qa ask ... | head -4``: the reader has what it wanted
        # Python would report the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="qa", description="Answer questions from a folder of documents, with citations."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", help="where the index lives (default FOLDER/.qa-index)")
    common.add_argument("--model", help="embedding model: a folder or a name (default: packaged)")
    common.add_argument(
        "--store",
        help="where passages are searched: faiss (default, or $QA_STORE), "
        "milvus-lite:PATH.db or milvus://HOST:PORT[?collection=NAME]",
    )
    common.add_argument(
        "--no-reader", action="store_true", help="answer without the reader (qa/models/reader.py)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    index_cmd = sub.add_parser("index", parents=[common], help="build or update a folder's index")
    index_cmd.add_argument("folder")
    index_cmd.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        metavar="ADDRESS",
        help="embed new and changed files on Ray: a cluster's address, or none to start Ray "
        "here (needs the ray extra; see docs/milvus.md)",
    )
    index_cmd.add_argument(
        "--ray-workers", type=int, help="embedding actors, one model each (default 2)"
    )
    index_cmd.add_argument("--ray-batch", type=int, help="files per Ray batch (default 8)")
    index_cmd.add_argument(
        "--ray-cpus-per-worker",
        type=int,
        help="CPUs each actor reserves and its encoder's threads (default 1)",
    )

    ask = sub.add_parser("ask", parents=[common], help="ask a question")
    ask.add_argument("question")
    ask.add_argument("--folder", default=None, help="the documents (default: seeds/)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("-k", type=int, default=3, help="how many extracts (default 3)")
    ask.add_argument(
        "--history", action="append", default=[], help="an earlier question (repeat, oldest first)"
    )

    serve = sub.add_parser("serve", parents=[common], help="start the web chat")
    serve.add_argument("--folder", default=None, help="the documents (default: seeds/)")
    serve.add_argument(
        "--host", default=None, help="address to serve on (default 127.0.0.1, $GRADIO_SERVER_NAME)"
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port (default 7860 or $GRADIO_SERVER_PORT)"
    )
    serve.add_argument(
        "--auth",
        metavar="FILE",
        help="the chat's users, who sign in (python -m qa.web.access add-user FILE NAME)",
    )
    serve.add_argument(
        "--api-keys",
        metavar="FILE",
        help="the REST API's keys (python -m qa.web.access add-key FILE NAME --role read|write)",
    )
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve a non-loopback host without --auth: anyone who reaches it may use it all",
    )
    serve.add_argument(
        "--limits",
        metavar="NAME=VALUE,...",
        help="per-client limits other than the defaults (qa.web.access.Limits), e.g. "
        "asks_per_minute=120,ask_burst=20,concurrent_uploads=1",
    )

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="qa: %(levelname)s: %(message)s")
    if getattr(args, "folder", None) is None:
        args.folder = _default_folder()
    try:
        if args.command == "index":
            assistant = _open(args)
            assistant.prepare_questions()  # so that later `qa ask` need not load torch
            report, summary = assistant.last_sync, assistant.summary()
            print(
                f"Indexed {summary.documents} documents, {summary.passages} passages "
                f"in {assistant.index_dir} ({len(report.added)} added, "
                f"{len(report.changed)} changed, {len(report.removed)} removed, "
                f"{len(report.unchanged)} unchanged, {len(report.skipped)} skipped) "
                f"in {report.seconds:.1f} s"
            )
            if report.resumed:
                print(f"Resumed {len(report.resumed)} files from an interrupted Ray build")
            where = assistant.describe_store()
            if where["kind"] != "faiss":
                print(
                    f"Store: {where['kind']} {where['uri']}, collection {where['collection']} "
                    f"({len(report.store_written)} documents written, "
                    f"{len(report.store_removed)} removed)"
                )
            for doc_id, reason in report.skipped.items():
                print(f"  skipped {doc_id}: {reason}", file=sys.stderr)
            return 0
        if args.command == "ask":
            if args.k < 1:
                parser.error("-k must be at least 1")
            assistant = _open(args)
            answer = assistant.ask(args.question, history=args.history, k=args.k)
            if args.json:
                print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
            else:
                bold = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("**", "**")
                print(format_answer(answer, bold))
            return 0
        if args.command == "serve":
            from qa.web.access import Limits
            from qa.web.server import serve

            serve(args.folder, host=args.host, port=args.port, index_dir=args.index_dir,
                  model=args.model, store=args.store, settings=_settings(args), auth=args.auth,
                  api_keys=args.api_keys, insecure_no_auth=args.insecure_no_auth,
                  limits=Limits.parse(args.limits))  # fmt: skip
            return 0
    except (QAError, ValueError, FileNotFoundError) as error:
        print(f"qa: error: {error}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
