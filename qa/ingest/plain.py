"""Plain text and Markdown: bytes decoded (UTF-8, UTF-16 with a mark, else cp1252) and kept
exactly as stored; a Markdown file's title is its first ATX heading. Also what every format
shares: ``Parsed``, what a format's reader returns, and ``clip_title``.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import DocumentError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parsed:
    """A file read by its format: the text every offset refers to, its title if the file
    names one, its kind, the start offset of each page (PDF), and its locations: sorted
    ``(start offset, label)`` pairs, the label as a person would cite it ("page 3",
    "slide 2", "§ Installation" for a heading)."""

    text: str
    title: str | None = None
    kind: str = "text"
    pages: tuple[int, ...] = field(default=())
    locations: tuple[tuple[int, str], ...] = field(default=())
    code: tuple[tuple[int, int], ...] = field(default=())  # code blocks' (start, end)


# What a file may expand to, checked while it is read, before any splitting or embedding: a
# 10 kB PDF whose 40 pages share one 1 MB content stream extracted to 27.8 M characters (37
# minutes of embedding). Plain text and HTML hold at most a character a byte, compressed text
# (PDF, Office, e-books) a few; a file is refused beyond TEXT_PER_BYTE, or TEXT_FLOOR.
TEXT_FLOOR = 200_000  # characters any file may hold, however small (60 dense pages)
TEXT_PER_BYTE = 20
PAGE_CHARS = 100_000  # characters of one PDF page (a dense page holds about 5,000)
CONTENT_FLOOR = 4 << 20  # bytes of a PDF's drawing instructions, all its pages together,
CONTENT_PER_BYTE = 50  # or this many per byte of the file (content streams compress ~5x)


def text_budget(size: int) -> int:
    """The most characters of text a file of ``size`` bytes may hold."""
    return max(TEXT_FLOOR, TEXT_PER_BYTE * size)


def over_budget(chars: int, size: int) -> str:
    """The reason a file of ``size`` bytes that expanded to ``chars`` characters is refused."""
    return (
        f"it expands to over {chars:,} characters from {size:,} bytes (at most "
        f"{text_budget(size):,} for a file this size): it looks made to cost hours of work, "
        "so it was not indexed"
    )


def read_plain(path: Path, data: bytes) -> Parsed:
    """A ``.txt`` file: its title is found later (the first line with a word)."""
    return Parsed(decode(data, path))


def read_markdown(path: Path, data: bytes) -> Parsed:
    text = decode(data, path)
    headings, code = markdown_structure(text)
    return Parsed(text, _markdown_title(text), locations=headings, code=code)


HEADINGS_PARSE_LIMIT = 4_000_000  # characters (the splitter's MARKDOWN_PARSE_LIMIT): beyond,
# a file is read as wrapped text, and cited without sections


def markdown_structure(text: str) -> tuple[tuple, tuple]:
    """Each heading's start offset and label ("§ Installation"), as CommonMark reads them, so
    an extract is cited by its section; and each code block's (start, end), its content lines
    (fenced or indented)."""
    if len(text) > HEADINGS_PARSE_LIMIT:
        return (), ()
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def offset(line: int) -> int:
        return starts[line] if line < len(starts) else len(text)

    tokens = markdown_parser().parse(text)
    headings, code = [], []
    for before, token in zip([None, *tokens], tokens):
        if before is not None and before.type == "heading_open" and token.type == "inline":
            label = " ".join(token.content.split())
            if label and before.map:
                headings.append((offset(before.map[0]), "§ " + clip_title(label)))
        if token.type in ("fence", "code_block") and token.map and token.content.strip():
            first, last = token.map
            if token.type == "fence":  # the lines between the fences
                first, last = (
                    first + 1,
                    last - 1 if text[offset(last - 1) :].startswith(token.markup) else last,
                )
            start, end = offset(first), offset(last)
            while end > start and text[end - 1] in "\r\n":
                end -= 1
            if end > start and not token.info.strip().startswith("{"):  # MyST: prose
                code.append((start, end))
    return tuple(headings), tuple(code)


MAX_TITLE_CHARS = 200


def decode(data: bytes, path: Path) -> str:
    if b"\x00" in data[:8192] and not (data.startswith((b"\xff\xfe", b"\xfe\xff"))):
        raise DocumentError(str(path), "looks like a binary file, not text")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Invalid bytes become lone surrogates, one per byte; encoding drops them to count them.
    data = data.removeprefix(b"\xef\xbb\xbf")
    text = data.decode("utf-8", errors="surrogateescape")
    bad = len(data) - len(text.encode("utf-8", errors="ignore"))
    wide = len(text) - len(text.encode("ascii", errors="ignore"))
    if wide - bad >= bad:
        # Mostly UTF-8 with a few stray bytes: one U+FFFD per bad byte, the rest kept exact.
        log.warning("%s has %d bytes that are not UTF-8; they read as U+FFFD", path, bad)
        return _STRAY.sub("\ufffd", text)
    # No UTF-8 to speak of: cp1252 covers most legacy Western text.
    log.warning("%s is not UTF-8; decoded as cp1252", path)
    return data.decode("cp1252", errors="replace")


_STRAY = re.compile("[\udc80-\udcff]")


def clip_title(title: str) -> str:
    title = "".join(ch for ch in title if unicodedata.category(ch)[0] != "C")
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


TITLE_SCAN = 65_536  # a Markdown title is the first heading within this many characters


@functools.cache
def markdown_parser():
    """CommonMark's block parser (markdown-it-py, with tables): blocks only. Its inline rules
    are off: qa needs no emphasis or links, and they take superlinear time on crafted input
    (200 kB of "[" took 15 s; without them, 2 MB take 0.03 s). Made once per process (0.8 ms
    each, twice per Markdown file otherwise); ``parse`` keeps its state per call."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark").enable("table")
    parser.disable("inline")
    return parser


def _markdown_title(text: str) -> str | None:
    """The text of the first heading, ATX (``## Title ##``) or setext (``Title`` underlined
    with ``===``), as CommonMark reads it, within the first ``TITLE_SCAN`` characters."""
    tokens = markdown_parser().parse(text[:TITLE_SCAN])
    for before, token in zip(tokens, tokens[1:]):
        if before.type == "heading_open" and token.type == "inline" and token.content.strip():
            return clip_title(" ".join(token.content.split()))
    return None
