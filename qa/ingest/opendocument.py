"""OpenDocument text (.odt, LibreOffice's and Google Docs' own), read with odfpy.

The body in order, each a block: paragraphs, list items, headings (each one a location,
"§ Heading") and table rows (cells joined by " | "); sections are opened. Footnotes,
comments, frames (text boxes, images), deleted tracked text and generated indexes (a table of
contents repeats the headings) are left out. A password-protected file is refused by name.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from qa.errors import DocumentError
from qa.ingest.packaged import Kind, TextBuilder, open_package, plain_errors, read_member
from qa.ingest.plain import Parsed

ODT = Kind("OpenDocument text", ".odt")
CELL_SEPARATOR = " | "

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_DC = "http://purl.org/dc/elements/1.1/"
_INDEXES = {
    "table-of-content", "alphabetical-index", "illustration-index", "bibliography",
    "user-index", "object-index", "table-index",
}  # fmt: skip
# Inline content that is not the paragraph's own text.
_LEFT_OUT = {
    (_TEXT, "note"), (_TEXT, "ruby-text"), (_OFFICE, "annotation"), (_TEXT, "tracked-changes"),
}  # fmt: skip
_SPACE = re.compile(r"[ \t\r\n]+")  # ODF collapses white space in text, as HTML does


def read_odt(path: Path, data: bytes) -> Parsed:
    package = open_package(path, data, ODT)
    manifest = read_member(package, "META-INF/manifest.xml") or b""
    if b"encryption-data" in manifest:
        reason = "the OpenDocument text is password-protected: save it without a password"
        raise DocumentError(str(path), reason)
    mimetype = (read_member(package, "mimetype") or b"").strip()
    if mimetype and mimetype != b"application/vnd.oasis.opendocument.text":
        raise DocumentError(str(path), ODT.unreadable)
    with plain_errors(path, ODT.unreadable):
        from odf.opendocument import load

        document = load(io.BytesIO(data))
        out = TextBuilder()
        _Body(out).walk(document.text)
        title = None
        for element in document.meta.childNodes:
            if element.qname == (_DC, "title"):
                title = _inline(element)
                break
    return out.parsed(title, "odt")


class _Body:
    """The blocks of an OpenDocument body, walked in document order."""

    def __init__(self, out: TextBuilder):
        self.out = out

    def walk(self, parent) -> None:
        for child in _elements(parent):
            namespace, name = child.qname
            if namespace == _TEXT and name == "h":
                self.out.heading(_inline(child))
            elif namespace == _TEXT and name == "p":
                self.out.block(_inline(child))
            elif namespace == _TEXT and name in ("list", "list-item", "list-header"):
                self.walk(child)
            elif namespace == _TABLE and name == "table":
                self.table(child)
            elif namespace == _TEXT and name in ("section", "soft-page-break"):
                self.walk(child)

    def table(self, table) -> None:
        for row in _rows(table):
            cells = []
            for cell in _elements(row):
                if cell.qname == (_TABLE, "table-cell"):  # not covered (merged) cells
                    cells.append(" ".join(_cell_text(cell).split()))
            self.out.block(CELL_SEPARATOR.join(cell for cell in cells if cell))


def _rows(table):
    """The rows of a table, through header rows and row groups, not those of tables in it."""
    for child in _elements(table):
        if child.qname[0] != _TABLE:
            continue
        if child.qname[1] == "table-row":
            yield child
        elif child.qname[1] in ("table-header-rows", "table-rows", "table-row-group"):
            yield from _rows(child)


def _cell_text(cell) -> str:
    parts = []
    for child in _elements(cell):
        if child.qname in ((_TEXT, "p"), (_TEXT, "h")):
            parts.append(_inline(child))
        elif child.qname == (_TABLE, "table"):
            parts.extend(" ".join(_cell_text(c) for c in _elements(row)) for row in _rows(child))
        elif child.qname[0] == _TEXT:  # lists, sections
            parts.append(_cell_text(child))
    return " ".join(parts)


def _elements(parent):
    return (child for child in parent.childNodes if child.nodeType == child.ELEMENT_NODE)


def _inline(element) -> str:
    """A paragraph's text: spans and links opened; ``text:s``, tabs and line breaks as the
    white space they stand for; notes, comments and frames left out."""
    parts: list[str] = []
    _collect(element, parts)
    return "".join(parts)


def _collect(element, parts: list[str]) -> None:
    for child in element.childNodes:
        if child.nodeType == child.TEXT_NODE:
            parts.append(_SPACE.sub(" ", child.data))
            continue
        if child.nodeType != child.ELEMENT_NODE:
            continue
        namespace, name = child.qname
        if child.qname in _LEFT_OUT or namespace != _TEXT and namespace != _DC:
            continue  # frames (draw:), comments, notes, forms
        if name == "s":
            count = child.getAttrNS(_TEXT, "c")
            parts.append(" " * min(int(count) if count and count.isdigit() else 1, 100))
        elif name == "tab":
            parts.append("\t")
        elif name == "line-break":
            parts.append("\n")
        elif name in _INDEXES:
            continue
        else:
            _collect(child, parts)
