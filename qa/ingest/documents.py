"""Documents: find the supported files under a folder and read each into text with a title.

A document's ``text`` is the reference for every character offset qa reports. Plain text and
Markdown are kept exactly as stored (decoded); HTML is reduced to its visible text; PDF pages
are joined with blank lines and the start offset of each page is kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

from qa.errors import DocumentError, FolderError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES

MAX_TITLE_CHARS = 200


@dataclass(frozen=True)
class Document:
    """One source file as text. ``pages`` holds the start offset of each PDF page."""

    doc_id: str
    title: str
    text: str
    sha256: str
    kind: str = "text"
    pages: tuple[int, ...] = field(default=())

    def page_at(self, offset: int) -> int | None:
        """The 1-based PDF page holding ``offset``, or None for documents without pages."""
        if not self.pages:
            return None
        return max(1, bisect_right(self.pages, offset))

    def to_dict(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "text": self.text,
            "sha256": self.sha256,
            "kind": self.kind,
            "pages": list(self.pages),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Document:
        return cls(
            doc_id=data["doc_id"],
            title=data["title"],
            text=data["text"],
            sha256=data["sha256"],
            kind=data.get("kind", "text"),
            pages=tuple(data.get("pages", ())),
        )


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in blocks so large files cost little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_files(folder: Path) -> dict[str, Path]:
    """Supported files under ``folder``, recursively, keyed by their POSIX path relative to it.

    Hidden files and folders (such as the index folder ``.qa-index``) are skipped, and so are
    symbolic links that lead outside the folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FolderError(f"Not a folder: {folder}")
    root = folder.resolve()
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            log.warning("Skipping %s: it links outside %s", relative, folder)
            continue
        doc_id = document_id(relative)
        if doc_id in found:  # a literal "\\xff" in one name and a byte 0xff in another
            log.warning("Skipping %s: its name reads the same as %s", relative, found[doc_id])
            continue
        found[doc_id] = path
    return found


def document_id(relative: Path) -> str:
    """The POSIX path of a file relative to its folder, as valid Unicode: bytes of the name that
    are not UTF-8 are written as ``\\xff``, so the index and the page can store and show it."""
    return os.fsencode(relative.as_posix()).decode("utf-8", errors="backslashreplace")


def read_document(path: Path, doc_id: str, *, root: Path | None = None) -> Document:
    """Read one file into a Document, or raise DocumentError saying why it cannot be read.

    With ``root``, the file actually opened must lie inside that folder: a name swapped for a
    link to elsewhere after the folder was listed is refused, not read. Whatever a parser
    raises on a crafted or damaged file (pypdf raises AssertionError, AttributeError,
    LimitReachedError...) is a DocumentError naming the file, so one bad file is skipped and
    never stops the indexing of the rest. ``sha256`` is the hash of the bytes read.
    """
    path = Path(path)
    try:
        data = _read_inside(path, root)
    except OSError as error:
        reason = f"the file could not be opened ({error.strerror})"
        raise DocumentError(str(path), reason) from error
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        return _parse(path, doc_id, data, sha256)
    except DocumentError:
        raise
    except Exception as error:  # a parser's own bug or limit, on this file only
        reason = f"the file could not be parsed ({type(error).__name__}: {error})"
        raise DocumentError(str(path), reason) from error


def _read_inside(path: Path, root: Path | None) -> bytes:
    """The bytes of ``path``, checked after opening to come from a file inside ``root``.

    Checking the name before opening leaves a window in which it can become a link to any
    file; the open file's identity (device and inode) cannot change, so it is compared with
    the file its resolved path, inside ``root``, names now.
    """
    with open(path, "rb") as handle:
        if root is not None:
            real = Path(os.path.realpath(path))
            if not (real.is_relative_to(Path(root).resolve()) and _same_file(handle, real)):
                raise DocumentError(str(path), f"it links outside {root}: not read")
        return handle.read()


def _same_file(handle, path: Path) -> bool:
    opened = os.fstat(handle.fileno())
    try:
        there = os.stat(path)
    except OSError:
        return False
    return (there.st_dev, there.st_ino) == (opened.st_dev, opened.st_ino)


def _parse(path: Path, doc_id: str, data: bytes, sha256: str) -> Document:
    suffix = path.suffix.lower()
    if data.startswith(b"%PDF-") or suffix in PDF_SUFFIXES:
        text, title, pages = _read_pdf(path, data)
        return Document(doc_id, title or _fallback_title(text, doc_id), text, sha256, "pdf", pages)
    text = _decode(data, path)
    kind, title = "text", None
    if suffix in HTML_SUFFIXES:
        (text, title), kind = _read_html(text), "html"
    elif suffix != ".txt":
        title = _markdown_title(text)
    if not text.strip():
        raise DocumentError(str(path), "the file is empty: there is no text to index")
    return Document(doc_id, title or _fallback_title(text, doc_id), text, sha256, kind)


def _decode(data: bytes, path: Path) -> str:
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


def _fallback_title(text: str, doc_id: str) -> str:
    for line in text.splitlines():
        line = " ".join(line.split())
        if line and any(ch.isalnum() for ch in line):
            return _clip(line)
    return Path(doc_id).stem  # the name as stored, never undecodable bytes


def _clip(title: str) -> str:
    title = "".join(ch for ch in title if unicodedata.category(ch)[0] != "C")
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


def _markdown_title(text: str) -> str | None:
    """The text of the first ATX heading (``## Title ##``), read line by line with string
    methods: the regex it replaces backtracked for hours on a title line of many spaces."""
    for line in text.splitlines():
        title = _atx_heading(line)
        if title:
            return _clip(title)
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


_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "header", "footer", "blockquote", "pre", "title", "dd", "dt",
}  # fmt: skip
_HIDDEN_TAGS = {"noscript", "template", "head"}  # their text is not shown
_RAW_TEXT_TAGS = {"script", "style"}  # their content is not markup, and not shown
_TAG_NAME = re.compile(r"[^\s/>]+")


def _read_html(markup: str) -> tuple[str, str | None]:
    """The visible text of HTML, one line per block, and its title (``<title>``, else the first
    ``<h1>``). A single forward scan whose every search starts where the last one ended, so
    time is linear in the markup: bs4 and html.parser took quadratic time on deep nesting
    and on runs of ``<a`` or ``</``."""
    html = _HtmlText()
    pos, end = 0, len(markup)
    while pos < end:
        lt = markup.find("<", pos)
        if lt < 0:
            html.text(markup[pos:])
            break
        html.text(markup[pos:lt])
        pos = _read_markup(markup, lt, html)
    lines = (" ".join(line.split()) for line in "".join(html.parts).splitlines())
    return "\n".join(line for line in lines if line), html.title()


def _read_markup(markup: str, lt: int, html: _HtmlText) -> int:
    """Read the construct at ``markup[lt] == "<"``; return where the text after it starts."""
    after = markup[lt + 1 : lt + 2]
    if markup.startswith("<!--", lt):
        close = markup.find("-->", lt + 4)
        return len(markup) if close < 0 else close + 3
    if not (after.isalpha() or after in "/!?") or not after:
        html.text("<")  # "a < b": a literal "<"
        return lt + 1
    gt = markup.find(">", lt)
    if gt < 0:  # a tag cut off by the end of the file is dropped, as browsers do
        return len(markup)
    closing = after == "/"
    name = _TAG_NAME.match(markup, lt + 1 + closing, gt)
    if after in "!?" or name is None:  # a declaration, processing instruction or bogus tag
        return gt + 1
    name = name.group().lower()
    if closing:
        html.end(name)
        return gt + 1
    html.start(name, self_closing=markup[gt - 1] == "/")
    if name in _RAW_TEXT_TAGS:
        close = re.compile(f"</{name}", re.IGNORECASE).search(markup, gt + 1)
        return len(markup) if close is None else close.start()
    return gt + 1


class _HtmlText:
    """What the scan of ``_read_html`` collects: shown text, and the title candidates (the
    text of the first ``<title>`` and of the first ``<h1>``)."""

    def __init__(self):
        self.parts: list[str] = []
        self.hidden = dict.fromkeys(_HIDDEN_TAGS, 0)
        self.depth = {"title": 0, "h1": 0}
        self.found: dict[str, list[str]] = {"title": [], "h1": []}
        self.done: set[str] = set()

    def text(self, raw: str) -> None:
        if not raw:
            return
        text = unescape(raw)
        for tag, depth in self.depth.items():
            if depth and tag not in self.done:
                self.found[tag].append(text)
        if not any(self.hidden.values()):
            self.parts.append(text)

    def start(self, name: str, self_closing: bool) -> None:
        if name in _BLOCK_TAGS:
            self.parts.append("\n")
        if self_closing:
            return
        if name == "body":
            self.hidden["head"] = 0  # an unclosed <head> ends where the body begins
        if name in self.hidden:
            self.hidden[name] += 1
        if name in self.depth:
            self.depth[name] += 1

    def end(self, name: str) -> None:
        if name in _BLOCK_TAGS:
            self.parts.append("\n")
        if self.hidden.get(name):
            self.hidden[name] -= 1
        if self.depth.get(name):
            self.depth[name] -= 1
            if not self.depth[name]:
                self.done.add(name)

    def title(self) -> str | None:
        for tag in ("title", "h1"):
            text = " ".join("".join(self.found[tag]).split())
            if text:
                return _clip(text)
        return None


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
            title = _clip(" ".join(str(reader.metadata.title).split())) or None
    except DocumentError:
        raise
    except Exception as error:  # pypdf raises many types on damaged files
        reason = f"the PDF could not be read ({type(error).__name__}: {error})"
        raise DocumentError(str(path), reason) from error
    text = "\n\n".join(parts)
    if not text.strip():
        raise DocumentError(str(path), "the PDF has no extractable text (scanned images?)")
    return text, title, tuple(pages)
