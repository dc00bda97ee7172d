"""PDF: pypdf's text of each page, pages joined by blank lines, the start offset of each page
kept, and the title from the file's metadata."""

from __future__ import annotations

import logging
from pathlib import Path

from qa.errors import DocumentError
from qa.ingest.plain import (
    CONTENT_FLOOR,
    CONTENT_PER_BYTE,
    PAGE_CHARS,
    Parsed,
    clip_title,
    over_budget,
    text_budget,
)

log = logging.getLogger(__name__)


def read_pdf(path: Path, data: bytes) -> Parsed:
    text, title, pages = _read_pdf(path, data)
    locations = tuple((start, f"page {n}") for n, start in enumerate(pages, 1))
    return Parsed(text, title, "pdf", pages, locations)


def _read_pdf(path: Path, data: bytes) -> tuple[str, str | None, tuple[int, ...]]:
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError(str(path), "the PDF is encrypted")
        _check_content(reader, path, len(data))
        parts: list[str] = []
        pages: list[int] = []
        offset, budget = 0, text_budget(len(data))
        for n, page in enumerate(reader.pages, 1):
            page_text = (page.extract_text() or "").strip()
            if len(page_text) > PAGE_CHARS:
                reason = f"page {n} holds over {PAGE_CHARS:,} characters, more than a page can"
                raise DocumentError(str(path), reason + ": it was not indexed")
            pages.append(offset)
            parts.append(page_text)
            offset += len(page_text) + 2
            if offset > budget:  # refused as it grows, not after reading every page
                raise DocumentError(str(path), over_budget(offset, len(data)))
        title = None
        if reader.metadata and reader.metadata.title:
            title = clip_title(" ".join(str(reader.metadata.title).split())) or None
    except DocumentError:
        raise
    except Exception as error:  # pypdf raises many types on damaged files
        # The library's own words go to the log, not to the person who uploaded the file.
        log.warning("%s: pypdf could not read it: %s: %s", path, type(error).__name__, error)
        reason = "the PDF could not be read (it may be damaged or not a PDF)"
        raise DocumentError(str(path), reason) from error
    text = "\n\n".join(parts)
    if not text.strip():
        raise DocumentError(str(path), "the PDF has no extractable text (scanned images?)")
    return text, title, tuple(pages)


def _check_content(reader, path: Path, size: int) -> None:
    """Refuse, before extracting any text, a PDF whose pages' drawing instructions together
    are far more than its size explains (pages sharing one content stream count it each
    time: that is what made 10 kB extract to 27.8 M characters). Decoding is cheap here:
    pypdf decodes a shared stream once."""
    most = max(CONTENT_FLOOR, CONTENT_PER_BYTE * size)
    total = 0
    for page in reader.pages:
        contents = page.get_contents()
        total += len(contents.get_data()) if contents is not None else 0
        if total > most:
            reason = (
                f"its pages hold over {total:,} bytes of drawing instructions in a file of "
                f"{size:,} bytes (at most {most:,}): it looks made to cost hours of work, so "
                "it was not indexed"
            )
            raise DocumentError(str(path), reason)
