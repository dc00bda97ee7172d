"""HTML: the visible text, one line per block, and the title (``<title>``, else the first
``<h1>``), read by a single forward scan in linear time. Page furniture is left out:
``<nav>``, ``<aside>``, the page's ``<header>`` and ``<footer>`` (not an article's), and
containers marked as navigation, menus, sidebars, tables of contents, page headers or
footers by their class, id or role (Sphinx, DocBook, Texinfo, mdBook manuals mark theirs
so), unless that would leave most of the text out (an unclosed container)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

from qa.ingest.plain import Parsed, clip_title, decode


def read_html(path: Path, data: bytes) -> Parsed:
    text, title = _read_html(decode(data, path))
    text, headings, code = _structure(text)
    return Parsed(text, title, "html", locations=headings, code=code)


# Marks the scan leaves in the text, taken out again by ``_structure``: where a heading's line
# starts, and where a <pre> block starts and ends. Control characters of the document's own
# text are dropped first, so a document cannot forge them.
_HEADING, _PRE_START, _PRE_END = "\x01", "\x02", "\x03"
_MARKS = re.compile("[\x01-\x03]")
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def _structure(marked: str) -> tuple[str, tuple, tuple]:
    """The text without the scan's marks, each heading's (start, "§ heading"), and each
    <pre> block's (start, end): an extract is cited by its section, and code is quoted only
    for questions about code (``Document.code``)."""
    headings, code, lines, offset, opened = [], [], [], 0, None
    for line in marked.split("\n"):
        plain = _MARKS.sub("", line).strip(" ")  # a mark made a word of its own: no space
        if _PRE_START in line and opened is None:
            opened = offset
        if line.startswith(_HEADING) and plain:
            headings.append((offset, "§ " + clip_title(plain)))
        if plain:
            lines.append(plain)
            offset += len(plain) + 1
        if _PRE_END in line and opened is not None:  # the block ends with this line, or before
            if offset - 1 > opened:
                code.append((opened, offset - 1))
            opened = None
    text = "\n".join(lines)
    if opened is not None and len(text) > opened:  # a <pre> left open runs to the end
        code.append((opened, len(text)))
    return text, tuple(headings), tuple(code)


_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "header", "footer", "blockquote", "pre", "title", "dd", "dt",
}  # fmt: skip


_HIDDEN_TAGS = {"noscript", "template", "head"}  # their text is not shown


_RAW_TEXT_TAGS = {"script", "style"}  # their content is not markup, and not shown


_TAG_NAME = re.compile(r"[^\s/>]+")
_FURNITURE_TAGS = {"nav", "aside"}
_CONTAINERS = {"div", "ul", "ol", "table", "section", "header", "footer", "nav", "aside", "p", "td"}
_VOID_TAGS = {"br", "img", "hr", "input", "meta", "link", "area", "base", "col", "source", "wbr"}
_ATTRIBUTE = re.compile(r"""\b(class|id|role)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_FURNITURE_NAME = re.compile(
    r"(?:[\w]*[-_])?(?:nav\w*|menu\w*|sidebar|sphinxsidebar\w*|toc|breadcrumbs?|footer|header"
    r"|related|pagination|skip\w*|navigation|banner|contentinfo|complementary)(?:[-_][\w-]*)?",
    re.I,
)
# Left out as furniture, the rest must keep this share of the text, or nothing is left out.
CONTENT_SHARE = 0.2


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
    content, everything = _lines(html.parts), _lines(html.all_parts)
    if len(content) < CONTENT_SHARE * len(everything):  # a container left open, most likely
        content = everything
    return content, html.title()


def _lines(parts: list[str]) -> str:
    lines = (" ".join(line.split()) for line in "".join(parts).splitlines())
    return "\n".join(line for line in lines if line)


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
    html.start(name, self_closing=markup[gt - 1] == "/", furniture=_furniture(name, markup, lt, gt))
    if name in _RAW_TEXT_TAGS:
        close = re.compile(f"</{name}", re.IGNORECASE).search(markup, gt + 1)
        return len(markup) if close is None else close.start()
    return gt + 1


def _furniture(name: str, markup: str, lt: int, gt: int) -> bool:
    """Whether the element opened by ``markup[lt:gt]`` is page furniture (module docstring)."""
    if name in _FURNITURE_TAGS:
        return True
    if name not in _CONTAINERS:
        return False
    for match in _ATTRIBUTE.finditer(markup, lt, gt):
        value = match.group(2) or match.group(3) or match.group(4) or ""
        if any(_FURNITURE_NAME.fullmatch(token) for token in value.split()):
            return True
    return False


class _HtmlText:
    """What the scan of ``_read_html`` collects: shown text, and the title candidates (the
    text of the first ``<title>`` and of the first ``<h1>``)."""

    def __init__(self):
        self.parts: list[str] = []  # the text without page furniture
        self.all_parts: list[str] = []  # with it
        self.hidden = dict.fromkeys(_HIDDEN_TAGS, 0)
        self.open: dict[str, int] = {}  # elements open, by name
        self.depth_pre = 0  # inside <pre>: the source's line breaks are the text's
        self.furniture: list[tuple[str, int]] = []  # furniture open: its name and its level
        self.depth = {"title": 0, "h1": 0}
        self.found: dict[str, list[str]] = {"title": [], "h1": []}
        self.done: set[str] = set()

    def text(self, raw: str) -> None:
        if not raw:
            return
        text = _MARKS.sub("", unescape(raw))  # the scan's own marks: never the document's
        for tag, depth in self.depth.items():
            if depth and tag not in self.done:
                self.found[tag].append(text)
        if not self.depth_pre:  # in HTML a line break of the source is a space, but in <pre>
            text = text.replace("\r", " ").replace("\n", " ")
        if not any(self.hidden.values()):
            self.all_parts.append(text)
            if not self.furniture:
                self.parts.append(text)

    def start(self, name: str, self_closing: bool, furniture: bool = False) -> None:
        if name in _BLOCK_TAGS:
            self.parts.append("\n")
            self.all_parts.append("\n")
        if self_closing or name in _VOID_TAGS:
            return
        if name == "pre":
            self.depth_pre += 1
            if self.depth_pre == 1:
                self._mark(_PRE_START)
        if name in _HEADING_TAGS:
            self._mark(_HEADING)
        level = self.open.get(name, 0)
        if name in ("header", "footer") and not (self.open.get("article") or self.open.get("main")):
            furniture = True  # the page's own header or footer, not an article's
        if furniture:
            self.furniture.append((name, level))
        self.open[name] = level + 1
        if name == "body":
            self.hidden["head"] = 0  # an unclosed <head> ends where the body begins
        if name in self.hidden:
            self.hidden[name] += 1
        if name in self.depth:
            self.depth[name] += 1

    def end(self, name: str) -> None:
        if name in _BLOCK_TAGS:
            self.parts.append("\n")
            self.all_parts.append("\n")
        if name == "pre" and self.depth_pre:
            self.depth_pre -= 1
            if not self.depth_pre:
                self._mark(_PRE_END)
        if self.open.get(name):
            self.open[name] -= 1
            if self.furniture and self.furniture[-1] == (name, self.open[name]):
                self.furniture.pop()
        if self.hidden.get(name):
            self.hidden[name] -= 1
        if self.depth.get(name):
            self.depth[name] -= 1
            if not self.depth[name]:
                self.done.add(name)

    def _mark(self, mark: str) -> None:
        if not any(self.hidden.values()):
            self.all_parts.append(mark)
            if not self.furniture:
                self.parts.append(mark)

    def title(self) -> str | None:
        for tag in ("title", "h1"):
            text = " ".join("".join(self.found[tag]).split())
            if text:
                return clip_title(text)
        return None
