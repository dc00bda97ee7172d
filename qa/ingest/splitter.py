"""Passages: split a document into sentences and sentence-aligned overlapping windows.

Every sentence and passage is a ``(start, end)`` span into ``Document.text``. A passage never
starts or ends inside a sentence; consecutive passages share ``overlap`` sentences. Lines are
hard boundaries for sentences (titles and headings stay on their own), and a new paragraph
starts a new passage once the current one is long enough. Page boilerplate (cookie banners,
"Comments are closed.") is left out of passages, so it is never retrieved or quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import blingfire

from qa.errors import DocumentError
from qa.ingest.documents import Document
from qa.ingest.plain import markdown_parser
from qa.settings import PassageSettings

# Budgets of one document, so that a crafted file cannot hold the index for hours (20 MB of
# one-character lines are ten million sentences, about 13 hours of embedding here). Prose
# averages ~170 characters a sentence: the 50 MB test file is 292,214 sentences.
SENTENCE_BUDGET = 400_000  # sentences of one document (each is embedded)
SHORT_SENTENCE_CHARS = 8  # a document of more sentences than SHORT_BUDGET must average more
SHORT_BUDGET = 10_000
_CONTENT_LINE = re.compile(r"[ \t\f\v]*\S")  # a line with content: at least one sentence
_NEXT_CONTENT_LINE = re.compile(r"\n[ \t\f\v]*\S")  # "\n" first: the engine skips to it fast


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence span in a document."""

    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class PassageSpan:
    """A window of whole sentences: ``sentences`` are their indices in the document's list."""

    doc_id: str
    start: int
    end: int
    first_sentence: int
    last_sentence: int  # exclusive


# Sentences that are page furniture, not content. Matched against the whole sentence.
BOILERPLATE = re.compile(
    r"""(?ix)
    ^(?:comments\ are\ closed\.?
       |get\ real\ time\ updates\b.*
       |.*\bthis\ website\ uses\ cookies\b.*
       |.*\bwe'll\ assume\ you're\ ok\ with\ this\b.*
       |accept\ read\ more\b.*
       |(?:all\ rights\ reserved|share\ this\ article|subscribe\ now|click\ here\ to\ subscribe)\.?
       |.*\bopt-out\ if\ you\ wish\b.*)$
    """
)


def split_sentences(
    text: str, max_chars: int = 1000, limit: int | None = None, layout: str = "lines"
) -> list[tuple[int, int]]:
    """Sentence spans of ``text``: whitespace-trimmed, non-empty, in order, never overlapping
    (``split_blocks`` without the blocks)."""
    return split_blocks(text, max_chars, limit, layout)[0]


def split_blocks(
    text: str, max_chars: int = 1000, limit: int | None = None, layout: str = "lines"
) -> tuple[list[tuple[int, int]], list[int]]:
    """Sentence spans of ``text`` and the block each lies in.

    A sentence never crosses a block (``layout_blocks``: paragraphs, headings, list items,
    table rows, code lines), so titles and list items do not run into the next sentence, but
    a line break inside a paragraph of wrapped text is no boundary: the sentence keeps the
    source's line breaks. A "sentence" longer than ``max_chars`` is cut at white space. With
    ``limit``, splitting stops once there are more than ``limit`` spans.
    """
    spans: list[tuple[int, int]] = []
    owners: list[int] = []
    for number, (start, end, role) in enumerate(layout_blocks(text, layout)):
        if role == "prose" and (marker := _MARKER.match(text, start, end)):
            start = marker.end()  # a list item is quoted from its first word, not its bullet
        elif role == "heading" and (marker := _HEADING_MARK.match(text, start, end)):
            start = marker.end()  # "## Install" is quoted as "Install"
            end = start + len(_without_closing_hashes(text[start:end]))  # "## A ##"
        block = text[start:end]
        if role == "prose":
            pieces = _line_sentences(block.replace("\r", " ").replace("\n", " "))
        else:  # a heading, table row or code line is one "sentence"
            pieces = [_trim(block, 0, len(block))]
        for a, b in pieces:
            for piece in _cut_long(block, a, b, max_chars):
                spans.append((start + piece[0], start + piece[1]))
                owners.append(number)
            if limit is not None and len(spans) > limit:
                return spans, owners  # over the budget: the caller refuses the document
    return spans, owners


# ----- layout: which lines belong together ------------------------------------------------------

LAYOUTS = ("lines", "wrapped", "markdown")  # how a format's text is laid out (see layout_blocks)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")
_ITEM = re.compile(r"[ \t]*(?:[-*+\u2022\u25aa\u2013]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])[ \t]+\S")
_MARKER = re.compile(r"[ \t]*(?:[-*+\u2022\u25aa\u2013]|\(?\d{1,3}[.)])[ \t]+(?=\S)")
_HEADING_MARK = re.compile(r"[ \t]{0,3}#{1,6}(?:[ \t]|$)")
_RULE = re.compile(r"[ \t]*([=\-*_~])(?:[ \t]*\1){2,}[ \t]*$")  # ===, ---, ***: no content
_COLUMNS = re.compile(r"\S(?:\t|   )\s*\S")  # a tab or 3+ spaces between words: aligned columns
_FIELD = re.compile(r"[ \t]*[A-Z][\w .()/-]{0,30}:[ \t]")  # "Version: 1.2": a form's field
# A term, tabs, then its description ("*E824*<TAB>The version number ..."): Vim's help, man
# pages and option lists; its next line indented to where the description starts goes on it.
_HANGING = re.compile(r"[ \t]*\S[^\t]{0,40}?\t+(?=\S)")
TAB_WIDTH = 8
WRAPPED_WIDTH = 50  # a run of lines this wide or wider is wrapped prose, if nothing says else
WRAP_MAX = 120  # a longer line is a paragraph of its own (news and web text: one a line)
SHORT_LINE = 0.6  # a line this much shorter than its run's width ends on purpose (a title)


def layout_blocks(text: str, layout: str = "lines") -> list[tuple[int, int, str]]:
    """The blocks of ``text``: (start, end, role), role "prose", "heading", "row" or "code".

    - ``lines`` (HTML's text, which qa writes one block a line): every line is a block.
    - ``wrapped`` (plain text, PDF): a paragraph hard-wrapped over several lines is one block.
      Lines are joined unless a blank line, a list item, a heading mark, aligned columns, a
      form field, a change of indentation by 4 or more, or a line ending well short of its
      run's width (a title, an address line) says the break is meant; runs narrower than
      ``WRAPPED_WIDTH`` keep their lines apart, and so does a line longer than ``WRAP_MAX``
      (text written a paragraph a line, as news and web pages are).
    - ``markdown``: CommonMark's own blocks (markdown-it-py): paragraphs and list items are
      prose, ATX and setext headings are headings (the underline is no content), table rows
      are rows, and each line of a code block is code.
    """
    if layout == "markdown":
        return _markdown_blocks(text)
    lines = [(m.start(), m.start() + len(m.group().rstrip("\r\n"))) for m in _LINE.finditer(text)]
    lines = [(a, b) for a, b in lines if text[a:b].strip()]
    if layout != "wrapped":
        return [(a, b, "prose") for a, b in lines]
    blocks: list[tuple[int, int, str]] = []
    run: list[tuple[int, int]] = []
    for a, b in lines:
        if run and text[run[-1][1] : a].count("\n") + text[run[-1][1] : a].count("\r") > 1:
            blocks += _wrapped_run(text, run)  # a blank line between them
            run = []
        run.append((a, b))
    if run:
        blocks += _wrapped_run(text, run)
    return blocks


def _wrapped_run(text: str, run: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """The blocks of a run of lines with no blank line between them (``layout_blocks``)."""
    width = max((b - a for a, b in run if b - a <= WRAP_MAX), default=0)
    blocks, start = [], run[0][0]
    for (a, b), (c, d) in zip(run, run[1:]):
        if not _joins(text[start:b], text[a:b], text[c:d], width):
            blocks.append((start, b, "prose"))
            start = c
    blocks.append((start, run[-1][1], "prose"))
    return blocks


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _hangs(line: str, following: str) -> bool:
    """Whether ``following`` goes on ``line``'s description, ``line`` being a term, tabs and
    the description (``_HANGING``): it is indented to the description's column (tabs every
    ``TAB_WIDTH``), and neither holds further aligned columns (a table's rows do)."""
    term = _HANGING.match(line)
    if term is None or _COLUMNS.search(line[term.end() :]) or _COLUMNS.search(following.strip()):
        return False
    lead = following[: _indent(following)]
    return len(lead.expandtabs(TAB_WIDTH)) == len(line[: term.end()].expandtabs(TAB_WIDTH))


def _joins(block: str, line: str, following: str, width: int) -> bool:
    """Whether ``following`` goes on the block that ``line`` ends (``layout_blocks``)."""
    if (
        _ITEM.match(following)
        or _HEADING_MARK.match(following)
        or _RULE.match(following)
        or _FIELD.match(following)
    ):
        return False
    if _hangs(line, following):
        return True  # a description's next line, though the term's tab looks like columns
    if (
        _HEADING_MARK.match(line)
        or _RULE.match(line)
        or _COLUMNS.search(line.strip())
        or _COLUMNS.search(following.strip())
    ):
        return False
    if len(line.rstrip()) > WRAP_MAX:
        return False  # nobody wraps by hand this wide: a paragraph a line, as web text is
    if _ITEM.match(block) and _indent(following) > _indent(block):
        return True  # a list item's hanging indent: its next line
    return (
        width >= WRAPPED_WIDTH
        and abs(_indent(following) - _indent(line)) < 4
        and len(line.strip()) >= SHORT_LINE * width
    )


def _markdown_blocks(text: str, depth: int = 0) -> list[tuple[int, int, str]]:
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def span(first: int, last: int) -> tuple[int, int]:  # lines [first, last) as characters
        start, end = starts[first], starts[last] if last < len(starts) else len(text)
        while end > start and text[end - 1] in "\r\n":
            end -= 1
        return start, end

    blocks: list[tuple[int, int, str]] = []
    heading = False
    for token in markdown_parser().parse(text):
        if token.type == "heading_open":
            heading = True
        elif token.type == "heading_close":
            heading = False
        if token.map is None:
            continue
        first, last = token.map
        if token.type == "inline" and token.level > 0 and not _in_table(token):
            blocks.append((*span(first, last), "heading" if heading else "prose"))
        elif token.type == "tr_open":
            blocks.append((*span(first, last), "row"))
        elif token.type == "fence" and token.info.strip().startswith("{") and depth < 3:
            # A MyST directive (```{note}): prose written in a fence, read as Markdown.
            start, end = span(first + 1, _fence_end(text, span, token))
            inner = _markdown_blocks(text[start:end], depth + 1)
            blocks += [(a + start, b + start, role) for a, b, role in inner]
        elif token.type in ("fence", "code_block", "html_block"):
            role = "prose" if token.type == "html_block" else "code"
            inner = (
                range(first + 1, _fence_end(text, span, token))
                if token.type == "fence"
                else range(first, last)
            )
            blocks += [(*span(n, n + 1), role) for n in inner]
    blocks = [(a, b, role) for a, b, role in blocks if text[a:b].strip()]
    return sorted(set(blocks))


def _without_closing_hashes(heading: str) -> str:
    """An ATX heading's text without its closing run of #s (which follows white space), by
    string methods: a regex for it backtracked quadratically on a line of many spaces."""
    body = heading.rstrip(" \t")
    hashes = len(body) - len(body.rstrip("#"))
    if hashes and (hashes == len(body) or body[-hashes - 1] in " \t"):
        return body[:-hashes].rstrip(" \t")
    return heading


def _fence_end(text: str, span, token) -> int:
    """The line after a fence's content: its closing line, or its end when left unclosed."""
    first, last = token.map
    if last - 1 > first:
        closing = text[slice(*span(last - 1, last))].strip()
        if closing and set(closing) == {token.markup[0]} and len(closing) >= len(token.markup):
            return last - 1
    return last


def _in_table(token) -> bool:
    return token.level >= 4  # a cell's inline: table > thead/tbody > tr > th/td > inline


def check_budget(document: Document, spans: list[tuple[int, int]] | None = None) -> None:
    """Raise DocumentError when ``document`` is over the budgets of one document.

    Without ``spans`` it checks what its lines alone show (each line with content is at least
    one sentence), in time linear in the text and before any splitting.
    """
    if spans is None:
        count = _content_lines(document.text, SENTENCE_BUDGET)
        chars, what = len(document.text), "lines"
    else:
        count = len(spans)
        chars, what = sum(end - start for start, end in spans), "sentences"
    if count > SENTENCE_BUDGET:
        raise DocumentError(
            document.doc_id,
            f"at least {count:,} sentences, over the budget "
            f"of {SENTENCE_BUDGET:,} for one document (hours of embedding); split it into "
            "smaller files",
        )
    if count > SHORT_BUDGET and chars / count < SHORT_SENTENCE_CHARS:
        raise DocumentError(
            document.doc_id,
            f"{count:,} {what} of {chars / count:.1f} characters on average; a document of "
            f"over {SHORT_BUDGET:,} sentences must average {SHORT_SENTENCE_CHARS} or more "
            "(not one word or character a line)",
        )


def _content_lines(text: str, stop: int) -> int:
    """Lines of ``text`` with content, counted up to ``stop + 1``: bounded time on any text."""
    count = 1 if _CONTENT_LINE.match(text) else 0
    for _ in _NEXT_CONTENT_LINE.finditer(text):
        count += 1
        if count > stop:
            break
    return count


def _line_sentences(line: str) -> list[tuple[int, int]]:
    try:
        _, offsets = blingfire.text_to_sentences_and_offsets(line)
    except Exception:  # blingfire fails on some control characters; fall back to the whole line
        offsets = []
    spans = []
    position = 0
    for start, end in offsets or [(0, len(line))]:
        start, end = max(start, position), min(end, len(line))
        start, end = _trim(line, start, end)
        if start < end:
            spans.append((start, end))
            position = end
    if not spans or not _covers_content(line, spans):
        # Offsets that skip content mean the splitter disagreed with the line: keep it whole.
        start, end = _trim(line, 0, len(line))
        return [(start, end)] if start < end else []
    return spans


def _covers_content(line: str, spans: list[tuple[int, int]]) -> bool:
    covered = bytearray(len(line))
    for start, end in spans:
        covered[start:end] = b"\x01" * (end - start)
    return all(covered[i] or line[i].isspace() for i in range(len(line)))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    pieces = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        piece = _trim(text, start, cut)
        if piece[0] < piece[1]:
            pieces.append(piece)
        start = _trim(text, cut, end)[0]
    if start < end:
        pieces.append((start, end))
    return pieces


# CommonMark's block parser takes ~2.7 s a MB here, 4 times the rest of splitting: past this,
# a Markdown file is split as wrapped text (its blank lines, list items and # headings).
MARKDOWN_PARSE_LIMIT = 4_000_000


def layout_of(document: Document) -> str:
    """How ``document``'s text is laid out (``layout_blocks``): Markdown by its name, HTML's
    text one block a line, anything else (plain text, PDF) possibly hard-wrapped."""
    if document.doc_id.lower().endswith((".md", ".markdown")):
        return "markdown" if len(document.text) <= MARKDOWN_PARSE_LIMIT else "wrapped"
    return "lines" if document.kind == "html" else "wrapped"


def is_boilerplate(sentence: str) -> bool:
    """True for page furniture such as cookie banners and "Comments are closed."."""
    return BOILERPLATE.match(" ".join(sentence.split())) is not None


class PassageSplitter:
    """Cuts documents into sentences and passages according to ``PassageSettings``."""

    def __init__(self, settings: PassageSettings | None = None):
        self.settings = settings or PassageSettings()

    def run(self, document: Document) -> tuple[list[SentenceSpan], list[PassageSpan]]:
        """Sentences (content only) and passages of one document; DocumentError when it is
        over the budgets of one document (see ``check_budget``)."""
        text = document.text
        check_budget(document)  # before splitting: 20 MB of short lines take minutes to split
        spans, owners = split_blocks(
            text, self.settings.max_sentence_chars, SENTENCE_BUDGET, layout_of(document)
        )
        check_budget(document, spans)
        kept = [n for n, (a, b) in enumerate(spans) if not is_boilerplate(text[a:b])]
        sentences = [SentenceSpan(document.doc_id, *spans[n]) for n in kept]
        return sentences, self._windows(document, sentences, [owners[n] for n in kept])

    def _windows(
        self, document: Document, sentences: list[SentenceSpan], blocks: list[int]
    ) -> list[PassageSpan]:
        settings = self.settings
        passages: list[PassageSpan] = []
        first = 0
        while first < len(sentences):
            last = first + 1
            while last < len(sentences):
                length = sentences[last].end - sentences[first].start
                if length > settings.max_chars:
                    break
                current = sentences[last - 1].end - sentences[first].start
                if blocks[last] != blocks[last - 1] and current >= settings.min_paragraph_chars:
                    break
                last += 1
            passages.append(
                PassageSpan(
                    document.doc_id, sentences[first].start, sentences[last - 1].end, first, last
                )
            )
            if last >= len(sentences):
                break
            # Overlap only inside a paragraph: across a paragraph break it would only repeat.
            overlap = 0 if blocks[last] != blocks[last - 1] else settings.overlap
            first = max(last - overlap, first + 1)
        return passages
