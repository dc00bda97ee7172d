"""EPUB e-books, read with ebooklib: the chapters in reading order (the spine), each chapter's
XHTML reduced to its visible text as blocks: paragraphs, headings, list items and table rows
(cells joined by " | ").

Locations: each chapter starts at its entry in the book's table of contents ("§ Baking day"),
and so does each place the contents point to inside a chapter; every heading (h1-h6) is a
location too. The title is the book's ``dc:title``, else its first heading. A book whose
chapters are encrypted (DRM) is refused by name; font obfuscation is not encryption of text.
"""

from __future__ import annotations

import io
import posixpath
import re
import warnings
from html import unescape
from pathlib import Path
from urllib.parse import unquote

from lxml import etree, html

from qa.errors import DocumentError
from qa.ingest.packaged import Kind, TextBuilder, open_package, plain_errors, read_member
from qa.ingest.plain import Parsed

EPUB = Kind("e-book", ".epub")
CELL_SEPARATOR = " | "

_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_LEFT_OUT = {"head", "script", "style", "template", "nav", "noscript", "svg", "math", "rt"}
_ITEMS = {"li", "dt", "dd"}
_BLOCKS = {
    "p", "div", "section", "article", "aside", "header", "footer", "main", "blockquote",
    "figure", "figcaption", "caption", "address", "hr", "body", "html", "pre", "table",
    "thead", "tbody", "tfoot", "details", "summary", "center", "ul", "ol", "dl", "menu",
}  # fmt: skip
_SPACE = re.compile(r"[ \t\r\n\f]+")
_FONT_OBFUSCATION = {b"http://www.idpf.org/2008/embedding", b"http://ns.adobe.com/pdf/enc#RC"}
_ALGORITHM = re.compile(rb'Algorithm\s*=\s*["\']([^"\']*)["\']')
# Chapters are XML; a chapter that is not well-formed is read as HTML. Neither parser loads
# external entities or the network.
_XML = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)


def read_epub(path: Path, data: bytes) -> Parsed:
    package = open_package(path, data, EPUB)
    encryption = read_member(package, "META-INF/encryption.xml") or b""
    if any(a not in _FONT_OBFUSCATION for a in _ALGORITHM.findall(encryption)):
        raise DocumentError(str(path), "the e-book is protected (DRM): its text is encrypted")
    with plain_errors(path, EPUB.unreadable):
        from ebooklib import ITEM_DOCUMENT, epub

        with warnings.catch_warnings():  # ebooklib warns of its own future defaults
            warnings.simplefilter("ignore")
            book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": False})
        contents = _contents(book.toc)
        out = TextBuilder()
        for idref, _linear in book.spine:
            item = book.get_item_with_id(idref)
            if item is None or item.get_type() != ITEM_DOCUMENT:
                continue
            name = _normal(item.get_name())
            anchors = contents.get(name) or contents.get(posixpath.basename(name), {})
            if None in anchors:
                out.location(f"§ {anchors[None]}")
            _Chapter(out, anchors).walk(_parse(item.get_content()))
        titles = book.get_metadata("DC", "title")
        title = titles[0][0] if titles and isinstance(titles[0][0], str) else None
    return out.parsed(title, "epub")


def _contents(toc, found: dict | None = None) -> dict[str, dict[str | None, str]]:
    """The table of contents as {chapter file: {anchor id or None: label}}, first label kept;
    each file is also found by its base name, as some books point at chapters loosely."""
    found = {} if found is None else found
    for entry in toc:
        if isinstance(entry, tuple | list):  # (section, children)
            section, children = entry[0], entry[1] if len(entry) > 1 else ()
            _add(found, getattr(section, "href", None), getattr(section, "title", None))
            _contents(children, found)
        else:
            _add(found, getattr(entry, "href", None), getattr(entry, "title", None))
    return found


def _add(found: dict, href: str | None, label: str | None) -> None:
    label = " ".join((label or "").split())
    if not href or not label:
        return
    name, _, anchor = href.partition("#")
    name = _normal(name)
    for key in (name, posixpath.basename(name)):
        found.setdefault(key, {}).setdefault(anchor or None, label[:80])


def _normal(name: str) -> str:
    return posixpath.normpath(unquote(name))


def _parse(content: bytes):
    try:
        return etree.fromstring(content, _XML)
    except etree.XMLSyntaxError:
        return html.document_fromstring(content)


def _local(element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""  # a comment or processing instruction
    return tag.rsplit("}", 1)[-1].lower()


class _Chapter:
    """The blocks of one chapter: inline text gathers until a block element ends it."""

    def __init__(self, out: TextBuilder, anchors: dict[str | None, str]):
        self.out = out
        self.anchors = anchors
        self.inline: list[str] = []
        self.pre = 0

    def flush(self) -> None:
        self.out.block("".join(self.inline))
        self.inline = []

    def text(self, text: str | None) -> None:
        if text:
            self.inline.append(text if self.pre else _SPACE.sub(" ", text))

    def walk(self, element) -> None:
        if isinstance(element, etree._Entity):  # &nbsp; of a DTD that is not loaded
            self.inline.append(unescape(element.text))
            return
        name = _local(element)
        anchor = element.get("id") if name else None
        if anchor and anchor in self.anchors:
            self.flush()
            self.out.location(f"§ {self.anchors[anchor]}")
        if not name or name in _LEFT_OUT:
            return
        if name in _HEADINGS:
            self.flush()
            self.out.heading(_inline_text(element))
        elif name == "br":
            self.inline.append("\n")
        elif name == "tr":
            self.flush()
            cells = (" ".join(_inline_text(c).split()) for c in element if _cell(c))
            self.out.block(CELL_SEPARATOR.join(cell for cell in cells if cell))
        elif name in _ITEMS or name in _BLOCKS:
            self.flush()
            self.pre += name == "pre"
            self.children(element)
            self.pre -= name == "pre"
            self.flush()
        else:
            self.children(element)

    def children(self, element) -> None:
        self.text(element.text)
        for child in element:
            self.walk(child)
            self.text(child.tail)


def _cell(element) -> bool:
    return _local(element) in ("td", "th")


def _inline_text(element) -> str:
    """The text of a heading or a cell on one line: blocks in it are spaces."""
    parts: list[str] = []
    _collect(element, parts)
    return " ".join("".join(parts).split())


def _collect(element, parts: list[str]) -> None:
    parts.append(element.text or "")
    for child in element:
        if isinstance(child, etree._Entity):
            parts.append(unescape(child.text))
        elif _local(child) and _local(child) not in _LEFT_OUT:
            space = " " if _local(child) in _BLOCKS | _ITEMS | {"br", "td", "th"} else ""
            parts.append(space)
            _collect(child, parts)
            parts.append(space)
        parts.append(child.tail or "")
