"""PDF: pypdf's text of each page, pages joined by blank lines, the start offset of each page
kept, and the title from the file's metadata."""

from __future__ import annotations

import logging
import re
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
from qa.ingest.text import zipf

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
        total, budget = 0, text_budget(len(data))
        for n, page in enumerate(reader.pages, 1):
            page_text = (page.extract_text() or "").strip()
            if len(page_text) > PAGE_CHARS:
                reason = f"page {n} holds over {PAGE_CHARS:,} characters, more than a page can"
                raise DocumentError(str(path), reason + ": it was not indexed")
            parts.append(page_text)
            total += len(page_text) + 2
            if total > budget:  # refused as it grows, not after reading every page
                raise DocumentError(str(path), over_budget(total, len(data)))
        parts = [mend_hyphens(part) for part in drop_running_lines(parts)]
        pages, offset = [], 0
        for part in parts:
            pages.append(offset)
            offset += len(part) + 2
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


# ----- what a printed page adds to its text ----------------------------------------------------

# A page's number alone on its first or last line: "4", "- 4 -", "Page 4", "4 of 17", "iv".
_PAGE_NUMBER = re.compile(
    r"\W*(?:page\s+)?(?:\d{1,4}|[ivxlc]{1,6})(?:\s*(?:/|of)\s*\d{1,4})?\W*", re.IGNORECASE
)
EDGE_LINES = 2  # lines at the top and at the bottom of a page where running lines are
RUNNING_SHARE = 0.5  # of the pages (3 at least) on which a line repeats to be a running one


def drop_running_lines(pages: list[str]) -> list[str]:
    """``pages`` without their running headers and footers (a line repeated at the top or the
    bottom of at least half the pages, numbers aside: "Shared MIME-info Database") and page
    numbers alone on a first or last line. A one- or two-page PDF is left as it is."""
    if len(pages) < 3:
        return pages
    lines = [page.split("\n") for page in pages]
    counts: dict[str, int] = {}
    for page in lines:
        for key in {_shape(line) for line in _edges(page)}:
            counts[key] = counts.get(key, 0) + 1
    least = max(3, RUNNING_SHARE * len(pages))
    running = {key for key, n in counts.items() if n >= least and key}
    # Numbers alone are page numbers when most pages have one: not a lone "100." of a table.
    numbered = sum(any(_is_page_number(line) for line in _edges(page)) for page in lines)
    out = []
    for page in lines:
        n = len(page)
        edge = set(range(min(EDGE_LINES, n))) | set(range(max(0, n - EDGE_LINES), n))
        drop = {
            at
            for at in edge
            if _shape(page[at]) in running or (numbered >= least and _is_page_number(page[at]))
        }
        out.append("\n".join(line for at, line in enumerate(page) if at not in drop).strip())
    return out


def _is_page_number(line: str) -> bool:
    return bool(line.strip()) and _PAGE_NUMBER.fullmatch(line.strip()) is not None


def _edges(page: list[str]) -> list[str]:
    return page[:EDGE_LINES] + page[-EDGE_LINES:]


def _shape(line: str) -> str:
    """A line with its numbers and spacing set aside: "Chapter 3 - Page 12" and "Chapter 4 -
    Page 13" are one running line."""
    return " ".join(re.sub(r"\d+", "#", line).split()).lower()


HYPHEN_JOIN_ZIPF = 2.5  # a word (about once in 3 million words) of English, not a compound
_HYPHENATED = re.compile(r"([A-Za-z]{2,})-\n([a-z]{2,})")


def mend_hyphens(text: str) -> str:
    """Words hyphenated at a line's end joined again: "man-\nagement" -> "management" when the
    joined word is a word (wordfreq), else the hyphen kept and the break dropped ("well-known")."""

    def join(match: re.Match) -> str:
        left, right = match.group(1), match.group(2)
        whole = left + right
        if zipf(whole.lower()) >= HYPHEN_JOIN_ZIPF:
            return whole
        return f"{left}-{right}"

    return _HYPHENATED.sub(join, text)
