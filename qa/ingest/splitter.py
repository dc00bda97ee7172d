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
    text: str, max_chars: int = 1000, limit: int | None = None
) -> list[tuple[int, int]]:
    """Sentence spans of ``text``: whitespace-trimmed, non-empty, in order, never overlapping.

    Lines are split separately so that titles and list items do not run into the next
    sentence; a "sentence" longer than ``max_chars`` is cut at white space. With ``limit``,
    splitting stops once there are more than ``limit`` spans.
    """
    spans: list[tuple[int, int]] = []
    for line_match in re.finditer(r"[^\r\n]+", text):
        line = line_match.group()
        if not line.strip():
            continue
        base = line_match.start()
        for start, end in _line_sentences(line):
            for piece in _cut_long(line, start, end, max_chars):
                spans.append((base + piece[0], base + piece[1]))
        if limit is not None and len(spans) > limit:
            break
    return spans


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
        spans = split_sentences(text, self.settings.max_sentence_chars, SENTENCE_BUDGET)
        check_budget(document, spans)
        spans = [span for span in spans if not is_boilerplate(text[span[0] : span[1]])]
        sentences = [SentenceSpan(document.doc_id, start, end) for start, end in spans]
        return sentences, self._windows(document, sentences)

    def _windows(self, document: Document, sentences: list[SentenceSpan]) -> list[PassageSpan]:
        settings = self.settings
        text = document.text
        passages: list[PassageSpan] = []
        first = 0
        while first < len(sentences):
            last = first + 1
            while last < len(sentences):
                length = sentences[last].end - sentences[first].start
                if length > settings.max_chars:
                    break
                gap = text[sentences[last - 1].end : sentences[last].start]
                current = sentences[last - 1].end - sentences[first].start
                if "\n" in gap and current >= settings.min_paragraph_chars:
                    break
                last += 1
            passages.append(
                PassageSpan(
                    document.doc_id, sentences[first].start, sentences[last - 1].end, first, last
                )
            )
            if last >= len(sentences):
                break
            gap = text[sentences[last - 1].end : sentences[last].start]
            # Overlap only inside a paragraph: across a paragraph break it would only repeat.
            overlap = 0 if "\n" in gap else settings.overlap
            first = max(last - overlap, first + 1)
        return passages
