"""PDF: pypdf's text of each page, pages joined by blank lines, the start offset of each page
kept, and the title from the file's metadata."""

from __future__ import annotations

import logging
from pathlib import Path

from qa.errors import DocumentError
from qa.ingest.plain import Parsed, clip_title

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
        parts: list[str] = []
        pages: list[int] = []
        offset = 0
        for page in reader.pages:
            page_text = (page.extract_text() or "").strip()
            pages.append(offset)
            parts.append(page_text)
            offset += len(page_text) + 2
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
