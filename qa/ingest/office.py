"""Word (.docx) and PowerPoint (.pptx), read with python-docx and python-pptx.

A Word document's body in order, each a block: paragraphs, list items, headings (a heading
style or outline level: each one a location, "§ Heading") and table rows (cells joined by
" | "); content controls are read, tables of contents are not (they repeat the
headings). Text in text boxes, headers, footers, footnotes and comments is left out, and so
is deleted tracked text; inserted tracked text is kept.

A presentation's slides in order, each a location ("slide 3"): the paragraphs of each
shape's text and the rows of its tables are blocks, groups are opened; hidden slides are left
out but keep their number. A slide's speaker notes follow it, as their own location ("slide
3, notes"), so a quote from them never reads as the slide's.
"""

from __future__ import annotations

import io
from pathlib import Path

from lxml import etree

from qa.ingest.packaged import Kind, TextBuilder, open_package, plain_errors
from qa.ingest.plain import Parsed

WORD = Kind("Word document", ".docx")
POWERPOINT = Kind("PowerPoint presentation", ".pptx")
CELL_SEPARATOR = " | "

_NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
}
_W = f"{{{_NS['w']}}}"
# The text of a paragraph: its runs' text, tabs and breaks, in order; not text boxes anchored
# in it (they have paragraphs of their own), deleted or moved-away text, or fallback copies.
_RUN_TEXT = etree.XPath(
    ".//w:r[not(ancestor::w:txbxContent or ancestor::w:del or ancestor::w:moveFrom"
    " or ancestor::mc:Fallback)]"
    "/*[self::w:t or self::w:tab or self::w:br or self::w:cr or self::w:noBreakHyphen]",
    namespaces=_NS,
)
_CELL_PARAGRAPHS = etree.XPath(".//w:p[not(ancestor::w:txbxContent)]", namespaces=_NS)
_TOC_GALLERY = etree.XPath(
    "./w:sdtPr/w:docPartObj/w:docPartGallery/@w:val", namespaces=_NS, smart_strings=False
)


def read_docx(path: Path, data: bytes) -> Parsed:
    open_package(path, data, WORD)
    with plain_errors(path, WORD.unreadable):
        import docx
        from docx.opc.constants import RELATIONSHIP_TYPE

        document = docx.Document(io.BytesIO(data))
        out = TextBuilder()
        _WordBody(document, out).walk(document.element.body)
        title = None
        if _has_part(document.part.package, RELATIONSHIP_TYPE.CORE_PROPERTIES):
            title = document.core_properties.title  # else python-docx makes up one
    return out.parsed(title, "docx")


def _has_part(package, relationship: str) -> bool:
    try:
        package.part_related_by(relationship)
    except KeyError:
        return False
    return True


class _WordBody:
    """The blocks of a Word body, walked in document order."""

    def __init__(self, document, out: TextBuilder):
        self.document = document
        self.out = out
        self.styles: dict[str | None, bool] = {}  # style id -> a heading style

    def walk(self, parent) -> None:
        for child in parent.iterchildren():
            tag = child.tag
            if tag == _W + "p":
                self.paragraph(child)
            elif tag == _W + "tbl":
                self.table(child)
            elif tag == _W + "sdt":
                if any("Table of Contents" in value for value in _TOC_GALLERY(child)):
                    continue
                content = child.find(_W + "sdtContent")
                if content is not None:
                    self.walk(content)
            elif tag in (_W + "customXml", _W + "ins"):
                self.walk(child)

    def paragraph(self, p) -> None:
        text = _paragraph_text(p)
        if self.is_heading(p):
            self.out.heading(text)
        else:
            self.out.block(text)

    def is_heading(self, p) -> bool:
        """A heading style ("Heading 2", "Title") or an outline level, its own or its style's."""
        ppr = p.find(_W + "pPr")
        style_id = None
        if ppr is not None:
            if _outline(ppr):
                return True
            style = ppr.find(_W + "pStyle")
            style_id = None if style is None else style.get(_W + "val")
        if style_id not in self.styles:
            from docx.enum.style import WD_STYLE_TYPE

            style = self.document.part.get_style(style_id, WD_STYLE_TYPE.PARAGRAPH)
            name = (style.name or "").lower() if style is not None else ""
            heading = name.startswith("heading") or name == "title"
            seen = 0
            while style is not None and seen < 20 and not heading:  # outline levels inherited
                ppr = style.element.find(_W + "pPr")
                heading = ppr is not None and _outline(ppr)
                style, seen = style.base_style, seen + 1
            self.styles[style_id] = heading
        return self.styles[style_id]

    def table(self, tbl) -> None:
        for row in tbl.iter(_W + "tr"):
            if _nested(row, tbl):
                continue  # a table in a cell is read with its cell
            cells = []
            for cell in row.iter(_W + "tc"):
                if cell.getparent() is row or cell.getparent().getparent().getparent() is row:
                    paragraphs = (_paragraph_text(p) for p in _CELL_PARAGRAPHS(cell))
                    cells.append(" ".join(" ".join(p.split()) for p in paragraphs if p.strip()))
            self.out.block(CELL_SEPARATOR.join(cell for cell in cells if cell))


def _nested(row, table) -> bool:
    """Whether ``row`` belongs to a table inside ``table`` rather than to ``table`` itself."""
    parent = row.getparent()
    while parent is not None and parent is not table:
        if parent.tag == _W + "tbl":
            return True
        parent = parent.getparent()
    return False


def _outline(ppr) -> bool:
    level = ppr.find(_W + "outlineLvl")
    value = None if level is None else level.get(_W + "val")
    return value is not None and value.isdigit() and int(value) < 9  # 9 is body text


def _paragraph_text(p) -> str:
    parts = []
    for element in _RUN_TEXT(p):
        tag = element.tag
        if tag == _W + "t":
            parts.append(element.text or "")
        elif tag == _W + "tab":
            parts.append("\t")
        elif tag == _W + "noBreakHyphen":
            parts.append("-")
        else:
            parts.append("\n")
    return "".join(parts)


def read_pptx(path: Path, data: bytes) -> Parsed:
    open_package(path, data, POWERPOINT)
    with plain_errors(path, POWERPOINT.unreadable):
        import pptx
        from pptx.opc.constants import RELATIONSHIP_TYPE

        presentation = pptx.Presentation(io.BytesIO(data))
        out = TextBuilder()
        first_title = None
        for number, slide in enumerate(presentation.slides, 1):
            if slide.element.get("show") in ("0", "false"):
                continue  # a hidden slide: not shown, so not quoted
            out.location(f"slide {number}")
            for shape in slide.shapes:
                _shape(shape, out)
            if first_title is None and slide.shapes.title is not None:
                first_title = slide.shapes.title.text_frame.text or None
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                out.location(f"slide {number}, notes")
                for paragraph in slide.notes_slide.notes_text_frame.paragraphs:
                    out.block(paragraph.text)
        title = None
        if _has_part(presentation.part.package, RELATIONSHIP_TYPE.CORE_PROPERTIES):
            title = presentation.core_properties.title
    return out.parsed(title or first_title, "pptx")


def _shape(shape, out: TextBuilder) -> None:
    if getattr(shape, "shapes", None) is not None:  # a group: its shapes in order
        for member in shape.shapes:
            _shape(member, out)
    elif shape.has_text_frame:
        for paragraph in shape.text_frame.paragraphs:
            out.block(paragraph.text)  # a line break ("\v") in it is a newline
    elif getattr(shape, "has_table", False) and shape.has_table:
        for row in shape.table.rows:
            cells = (" ".join(cell.text.split()) for cell in row.cells if not cell.is_spanned)
            out.block(CELL_SEPARATOR.join(cell for cell in cells if cell))
