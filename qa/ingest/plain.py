"""Plain text and Markdown: bytes decoded (UTF-8, UTF-16 with a mark, else cp1252) and kept
exactly as stored; a Markdown file's title is its first ATX heading. Also what every format
shares: ``Parsed``, what a format's reader returns, and ``clip_title``.
"""

from __future__ import annotations

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
    names one, its kind, and the start offset of each page (PDF)."""

    text: str
    title: str | None = None
    kind: str = "text"
    pages: tuple[int, ...] = field(default=())


def read_plain(path: Path, data: bytes) -> Parsed:
    """A ``.txt`` file: its title is found later (the first line with a word)."""
    return Parsed(decode(data, path))


def read_markdown(path: Path, data: bytes) -> Parsed:
    text = decode(data, path)
    return Parsed(text, _markdown_title(text))


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


def _markdown_title(text: str) -> str | None:
    """The text of the first ATX heading (``## Title ##``), read line by line with string
    methods: the regex it replaces backtracked for hours on a title line of many spaces."""
    for line in text.splitlines():
        title = _atx_heading(line)
        if title:
            return clip_title(title)
    return None


def _atx_heading(line: str) -> str | None:
    rest = line.lstrip()
    if len(line) - len(rest) > 3:  # indented four or more: code, not a heading
        return None
    body = rest.lstrip("#")
    if not 1 <= len(rest) - len(body) <= 6 or not body[:1].isspace():
        return None
    body = body.strip()
    closed = body.rstrip("#")
    if not closed or closed[-1].isspace():  # a closing run of #s follows white space
        body = closed.strip()
    return body or None
