"""``python app.py``: the qa web chat over ``seeds/`` (or ``--folder``) on 127.0.0.1:7860."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace

from qa import Settings
from qa.web.app import serve


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the qa chat.")
    parser.add_argument("--folder", default=None, help="documents to answer from (default: seeds/)")
    parser.add_argument("--host", default=None, help="default 127.0.0.1 ($GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, default=None, help="default 7860 ($GRADIO_SERVER_PORT)")
    parser.add_argument("--index-dir", default=None, help="default FOLDER/.qa-index")
    parser.add_argument("--model", default=None, help="embedding model path or name")
    parser.add_argument(
        "--store",
        default=None,
        help="faiss (default), milvus-lite:PATH.db or milvus://HOST:PORT[?collection=NAME]",
    )
    parser.add_argument("--no-reader", action="store_true", help="answer without the reader")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="qa: %(levelname)s: %(message)s")
    settings = Settings()
    if args.no_reader:
        settings = replace(settings, reader=replace(settings.reader, enabled=False))
    serve(
        args.folder,
        args.host,
        args.port,
        args.index_dir,
        args.model,
        store=args.store,
        settings=settings,
    )


if __name__ == "__main__":
    main()
