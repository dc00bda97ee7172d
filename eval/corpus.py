"""A benchmark's corpus on disk and its index: texts written as ``.txt`` files under
``<cache>/corpus`` and opened with ``Assistant.from_folder`` (index in ``<cache>/index``).

The index is qa's own persisted index, whose manifest is keyed by the model and each file's
SHA-256, so a second run embeds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from qa import Assistant, Settings
from qa.index.sync import CorpusIndex
from qa.models.embedder import Embedder
from qa.settings import PassageSettings, ReaderSettings


def write_corpus(folder: Path, documents: dict[str, str], prune: bool = True) -> int:
    """Write ``documents`` (file name -> text) into ``folder``; returns how many were written.

    A file is rewritten only when its bytes differ, so unchanged files keep their mtime and the
    index reuses them without even hashing. With ``prune``, files not in ``documents`` go.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, text in documents.items():
        path = folder / name
        data = text.encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
            written += 1
    if prune:
        for path in folder.iterdir():
            if path.is_file() and path.name not in documents:
                path.unlink()
    return written


def sentence_count(index: CorpusIndex) -> int:
    """How many sentences ``index`` holds."""
    return index.corpus.sentence_count


def open_corpus(
    cache: Path,
    documents: dict[str, str],
    embedder: Embedder,
    titles: bool = False,
    store: str | None = None,
    reader: bool = True,
) -> tuple[Assistant, dict]:
    """Write ``documents`` under ``cache/corpus`` and open (build or load) their index.

    Returns the Assistant (shipped settings) and facts about the index for the summary. Every
    indexed text is checked against what was written, since the gold offsets refer to it.
    ``store`` (see ``qa.search.store.open_store``) shares the index folder, so switching stores
    embeds nothing again. Without ``reader``, answers are the sentence scores' alone.
    """
    began = time.perf_counter()
    written = write_corpus(cache / "corpus", documents)
    encoded = embedder.texts_encoded
    assistant = Assistant.from_folder(
        cache / "corpus",
        index_dir=cache / "index",
        embedder=embedder,
        settings=Settings(
            model=embedder.model_name,
            passages=PassageSettings(titles=titles),
            reader=ReaderSettings(enabled=reader),
        ),
        progress=progress_printer("indexing"),
        store=store,
    )
    report = assistant.index.last_sync
    if report.skipped:
        raise RuntimeError(f"qa skipped corpus files: {report.skipped}")
    for name, text in documents.items():
        if assistant.document(name).text != text:
            raise RuntimeError(f"indexed text of {name} differs from the file written")
    index = assistant.index
    facts = {
        "cache": str(cache),
        "documents": len(index.documents),
        "passages": len(index),
        "sentences": sentence_count(index),
        "files_written": written,
        "documents_embedded": len(report.added) + len(report.changed),
        "texts_embedded": embedder.texts_encoded - encoded,
        "store": index.store.describe(),
        "store_documents_written": len(report.store_written),
        "seconds": round(time.perf_counter() - began, 2),
    }
    print(
        f"index: {facts['documents']} documents, {facts['passages']} passages, "
        f"{facts['sentences']} sentences; embedded {facts['texts_embedded']} texts "
        f"({facts['seconds']:.1f} s)"
    )
    return assistant, facts


def store_tag(assistant: Assistant) -> str:
    """What result files of this store are named with: nothing for the default."""
    store = assistant.index.store.describe()
    if store["kind"] == "faiss":
        return ""
    server = store["kind"] == "milvus" and store["uri"].startswith(("http://", "https://"))
    return f"_{store['kind']}_server" if server else f"_{store['kind']}"


def progress_printer(what: str) -> Callable[[float, str], None]:
    """A ``progress(fraction, message)`` callback printing every 5% with the elapsed time."""
    began = time.perf_counter()
    shown = [-1]

    def progress(fraction: float, message: str) -> None:
        step = int(fraction * 20)
        if step > shown[0]:
            shown[0] = step
            print(f"  {what} {fraction:6.1%} ({time.perf_counter() - began:.0f} s)", flush=True)

    return progress
