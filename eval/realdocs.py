"""The gold set on real documentation files: ``python -m eval.realdocs [--split dev|test|all]
[--no-reader]``.

``eval/realdocs/manifest.json`` names each document by the path of a real file on this machine
(checked by SHA-256) or by a LibreOffice recipe that makes a .docx/.odt/.epub/.pptx/.pdf from
one; ``eval/realdocs/questions.jsonl`` holds the questions (see eval/realdocs/README.md). The
corpus is assembled under ``<out>/cache/realdocs/corpus`` (generated files are kept under
``<out>/cache/realdocs/generated`` and remade only when their source or recipe changes); a
missing or changed source, a recipe without LibreOffice, and a format qa does not read yet
leave their documents out, with their questions counted by reason.

Every question is asked with the reader and (unless ``--no-reader`` asks for it alone) without
it, and per split and kind this reports hit@1 (the first extract covers the gold answer inside
the gold sentence), the bold phrase's EM/F1 against the answer, abstention recall on off-topic
and near-miss questions, false abstentions, and the fragment rate of the first extracts shown
(``is_whole``). Writes ``<out>/realdocs_<split>.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.sax.saxutils import escape

from qa import Answer, Assistant, Settings
from qa.ingest.documents import Document, file_sha256
from qa.ingest.formats import SUPPORTED_SUFFIXES
from qa.ingest.splitter import layout_of
from qa.models.embedder import Embedder
from qa.training.squad import exact_match, f1
from qa.values import Extract

from .cli import DEFAULT_OUT
from .configs import with_reader
from .corpus import progress_printer
from .report import write_json

HERE = Path(__file__).resolve().parent / "realdocs"
MANIFEST = HERE / "manifest.json"
QUESTIONS = HERE / "questions.jsonl"

FORMATS = ("text", "markdown", "html", "pdf", "docx", "pptx", "odt", "epub")
QUESTION_KINDS = ("answerable", "off_topic", "near_miss")
SPLITS = ("dev", "test")
DEV_SHARE = 0.4
# Formats whose text qa stores exactly as the file's bytes decode: their sentences match
# exactly. Others (HTML, PDF, office files) are matched with white space ignored.
EXACT_KINDS = ("text", "markdown")
# The filter LibreOffice opens a recipe's source with, by the source's suffix.
INPUT_FILTERS = {".html": "HTML (StarWriter)", ".htm": "HTML (StarWriter)", ".txt": "Text"}
CONVERT_TIMEOUT_S = 180


# ----- the gold files ---------------------------------------------------------------------


@dataclass(frozen=True)
class RealDocument:
    """One document of the set: a real file (``make`` None) or one LibreOffice makes from it."""

    id: str
    source: str
    sha256: str
    kind: str
    make: dict | None
    why: str

    @property
    def readable(self) -> bool:
        """Whether qa reads the document's format today."""
        return Path(self.id).suffix.lower() in SUPPORTED_SUFFIXES


@dataclass(frozen=True)
class RealQuestion:
    id: str
    split: str
    question: str
    kind: str
    doc: str | None = None
    answer: str | None = None
    sentence: str | None = None
    note: str | None = None


def load_manifest(path: Path = MANIFEST) -> list[RealDocument]:
    return [RealDocument(**entry) for entry in json.loads(path.read_text(encoding="utf-8"))]


def load_questions(path: Path = QUESTIONS) -> list[RealQuestion]:
    with open(path, encoding="utf-8") as handle:
        return [RealQuestion(**json.loads(line)) for line in handle if line.strip()]


def _hash_order(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def assign_splits(documents: Sequence[RealDocument], off_topic: Sequence[str]) -> dict[str, str]:
    """The split of every document id and off-topic question id (the rule of the README).

    Within each format, documents are ordered by the SHA-256 of their id and the first
    ``round(0.4 * n)`` go to dev (at least one when the format has two or more, so that
    every such format is in both splits); a format with one document goes to dev when the
    first hex digit of its hash is below 6 (0.375 of the digits). Off-topic questions (no
    document) are split the same way by their own ids.
    """
    groups: dict[str, list[str]] = {}
    for doc in documents:
        groups.setdefault(doc.kind, []).append(doc.id)
    groups["(off-topic)"] = list(off_topic)
    splits = {}
    for ids in groups.values():
        ordered = sorted(ids, key=_hash_order)
        if len(ordered) == 1:
            dev = 1 if int(_hash_order(ordered[0])[0], 16) < 6 else 0
        else:
            dev = max(1, round(DEV_SHARE * len(ordered)))
        for n, key in enumerate(ordered):
            splits[key] = "dev" if n < dev else "test"
    return splits


# ----- building the corpus ----------------------------------------------------------------


@dataclass
class CorpusBuild:
    """What ``build_corpus`` put in the folder and what it left out, by document id."""

    folder: Path
    present: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # id -> why (source absent/changed)
    not_made: dict[str, str] = field(default_factory=dict)  # id -> why (no soffice, failed)
    unreadable: list[str] = field(default_factory=list)  # made, but qa does not read it yet
    made: list[str] = field(default_factory=list)  # generated in this run

    def status(self, doc_id: str) -> str:
        if doc_id in self.missing:
            return "source missing or changed"
        if doc_id in self.not_made:
            return "not made"
        if doc_id in self.unreadable:
            return "not readable yet"
        return "present"


def build_corpus(
    cache: Path, documents: Sequence[RealDocument], soffice: str | None = None
) -> CorpusBuild:
    """Copy (or make) every document whose source is present and unchanged into
    ``cache/corpus`` under its id; files that are not documents of the set are removed."""
    folder = cache / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    build = CorpusBuild(folder)
    soffice = soffice if soffice is not None else shutil.which("soffice")
    for doc in documents:
        source = Path(doc.source)
        if not source.is_file():
            build.missing[doc.id] = f"source {source} not found"
            continue
        if file_sha256(source) != doc.sha256:
            build.missing[doc.id] = f"source {source} differs from the recorded SHA-256"
            continue
        made = source
        if doc.make:
            made = cache / "generated" / doc.id
            stamp = made.with_name(made.name + ".recipe")
            recipe = json.dumps({"sha256": doc.sha256, **doc.make}, sort_keys=True)
            fresh = made.is_file() and stamp.is_file() and stamp.read_text() == recipe
            if not fresh:
                if not soffice:
                    build.not_made[doc.id] = "LibreOffice (soffice) not found"
                    continue
                try:
                    make_document(doc, made, soffice, cache / "lo-profile")
                except (OSError, RuntimeError, subprocess.SubprocessError) as error:
                    build.not_made[doc.id] = f"LibreOffice failed: {error}"
                    continue
                stamp.write_text(recipe)
                build.made.append(doc.id)
        if not doc.readable:
            build.unreadable.append(doc.id)
            continue
        target = folder / doc.id
        if not target.is_file() or target.read_bytes() != made.read_bytes():
            shutil.copyfile(made, target)
        build.present.append(doc.id)
    keep = set(build.present)
    for path in folder.iterdir():
        if path.is_file() and path.name not in keep:
            path.unlink()
    return build


def make_document(doc: RealDocument, target: Path, soffice: str, profile: Path) -> None:
    """Run ``doc.make`` with LibreOffice: ``{"convert": "docx"|"odt"|"epub"|"pdf", "from":
    path}`` converts the source (HTML opened as a Writer document); ``{"convert": "pptx",
    "from": path.md, "via": "slides"}`` first writes the Markdown as a flat ODF presentation
    (``markdown_slides``), one slide per section, and converts that."""
    recipe = doc.make or {}
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="realdocs-") as work:
        work_dir = Path(work)
        source = Path(recipe["from"])
        if recipe.get("via") == "slides":
            slides = markdown_slides(source.read_text(encoding="utf-8"))
            source = work_dir / (Path(doc.id).stem + ".fodp")
            source.write_text(fodp(slides), encoding="utf-8")
            in_filter = None
        else:
            in_filter = INPUT_FILTERS.get(source.suffix.lower())
        out_dir = work_dir / "out"
        command = [soffice, f"-env:UserInstallation={profile.resolve().as_uri()}", "--headless"]
        if in_filter:
            command.append(f"--infilter={in_filter}")
        command += ["--convert-to", recipe["convert"], "--outdir", str(out_dir), str(source)]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S, check=False
        )
        made = out_dir / f"{source.stem}.{recipe['convert']}"
        if not made.is_file():
            raise RuntimeError(f"{' '.join(command)}: {(result.stderr or result.stdout)[-300:]}")
        shutil.move(made, target)


# ----- Markdown to slides (the .pptx recipe) ----------------------------------------------

_FENCE_OPEN = re.compile(r"^\s*(`{3,}|~{3,})\s*(\{([\w-]+)\}\s*(.*))?")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S")
_MYST_LABEL = re.compile(r"^\(\S+\)=\s*$")  # (target)=
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_INLINE = [
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # [text](url), images
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"\{[\w-]+\}`([^`]*)`"), r"\1"),  # MyST roles: {pypi}`keyring`
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"\1"),
]
SLIDE_CHARS = 600  # a section longer than this continues on another slide
PROSE_DIRECTIVES = {"note", "warning", "tip", "important", "admonition"}


def plain_inline(text: str) -> str:
    """Markdown inline markup dropped: links keep their text, code its content."""
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


def markdown_slides(markdown: str) -> list[tuple[str, list[str]]]:
    """A Markdown (or MyST) file as slides: (title, paragraphs) per section, headings as
    titles, each paragraph or list item one bullet with its lines joined, code blocks and
    link definitions left out (as a person making slides from a README would), the prose of
    note/warning directives kept, ``{versionadded} X`` as "New in version X."."""
    slides: list[tuple[str, list[str]]] = []
    title, bullets, lines = "", [], []
    fence: str | None = None
    prose_fence = False

    def flush_paragraph():
        if lines:
            bullets.append(plain_inline(" ".join(line.strip() for line in lines)))
            lines.clear()

    def flush_slide():
        flush_paragraph()
        if bullets or title:
            slides.append((title, bullets.copy()))
        bullets.clear()

    for line in markdown.splitlines():
        if fence:
            if line.strip().startswith(fence) and not line.strip()[len(fence) :].strip():
                fence = None
                if prose_fence:
                    flush_paragraph()
            elif prose_fence:
                if line.strip():
                    lines.append(line)
                else:
                    flush_paragraph()
            continue
        opened = _FENCE_OPEN.match(line)
        if opened:
            flush_paragraph()
            fence, directive, argument = opened.group(1), opened.group(3), opened.group(4)
            prose_fence = directive in PROSE_DIRECTIVES
            if directive in ("versionadded", "versionchanged") and argument:
                verb = "New" if directive == "versionadded" else "Changed"
                bullets.append(f"{verb} in version {argument.strip()}.")
            continue
        heading = _HEADING.match(line)
        if heading:
            flush_slide()
            title = plain_inline(heading.group(2))
            continue
        if not line.strip() or _LINK_DEF.match(line) or _MYST_LABEL.match(line):
            flush_paragraph()
            continue
        if _LIST_MARK.match(line):
            flush_paragraph()
            line = _LIST_MARK.sub("", line)
        lines.append(line)
    flush_slide()
    # Long sections continue on further slides, as people split them.
    result = []
    for title, paragraphs in slides:
        parts, part = [], []
        for paragraph in paragraphs:
            if part and sum(map(len, part)) + len(paragraph) > SLIDE_CHARS:
                parts.append(part)
                part = []
            part.append(paragraph)
        parts.append(part)
        for n, part in enumerate(parts):
            result.append((title if n == 0 else f"{title} (continued)", part))
    return result


def fodp(slides: Sequence[tuple[str, Sequence[str]]]) -> str:
    """A flat ODF presentation (.fodp) of ``slides``: a title and a bulleted outline each."""
    pages = []
    for n, (title, bullets) in enumerate(slides, 1):
        items = "".join(
            f"<text:list-item><text:p>{escape(b)}</text:p></text:list-item>" for b in bullets
        )
        outline = (
            '<draw:frame presentation:class="outline" svg:x="1.5cm" svg:y="4cm" '
            'svg:width="25cm" svg:height="13cm"><draw:text-box>'
            f"<text:list>{items}</text:list></draw:text-box></draw:frame>"
            if bullets
            else ""
        )
        pages.append(
            f'<draw:page draw:name="Slide {n}" draw:master-page-name="Default">'
            '<draw:frame presentation:class="title" svg:x="1.5cm" svg:y="0.8cm" '
            'svg:width="25cm" svg:height="2.6cm"><draw:text-box>'
            f"<text:p>{escape(title)}</text:p></draw:text-box></draw:frame>{outline}</draw:page>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
        'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
        'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
        'office:version="1.2" '
        'office:mimetype="application/vnd.oasis.opendocument.presentation">'
        "<office:styles/><office:automatic-styles>"
        '<style:page-layout style:name="PM1"><style:page-layout-properties '
        'fo:page-width="28cm" fo:page-height="21cm"/></style:page-layout>'
        "</office:automatic-styles><office:master-styles>"
        '<style:master-page style:name="Default" style:page-layout-name="PM1"/>'
        "</office:master-styles><office:body><office:presentation>"
        + "".join(pages)
        + "</office:presentation></office:body></office:document>\n"
    )


# ----- finding the gold sentence ----------------------------------------------------------


def locate(text: str, needle: str, start: int = 0, end: int | None = None, exact: bool = False):
    """The span ``(start, end)`` of the first occurrence of ``needle`` in ``text[start:end]``,
    exactly, else (unless ``exact``) with all white space ignored on both sides; None if absent."""
    end = len(text) if end is None else end
    found = text.find(needle, start, end)
    if found >= 0:
        return found, found + len(needle)
    if exact:
        return None
    compact_needle = "".join(needle.split())
    if not compact_needle:
        return None
    positions = [i for i in range(start, end) if not text[i].isspace()]
    compact = "".join(text[i] for i in positions)
    at = compact.find(compact_needle)
    if at < 0:
        return None
    return positions[at], positions[at + len(compact_needle) - 1] + 1


def gold_span(text: str, question: RealQuestion, exact: bool = False):
    """``(sentence_span, answer_span)`` of an answerable question in its document's text, the
    answer located inside the sentence's occurrence; None when the sentence is not found."""
    sentence = locate(text, question.sentence or "", exact=exact)
    if sentence is None:
        return None
    answer = locate(text, question.answer or "", sentence[0], sentence[1], exact=exact)
    return (sentence, answer) if answer else None


# ----- whole sentences and fragments ------------------------------------------------------

CLOSERS = "\"')]}”’»"
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_BLOCK_LINE = re.compile(
    r"[ \t]*(?:"
    r"#{1,6}[ \t]"  # Markdown heading
    r"|(?:[-*+•◦▪]|\d{1,3}[.)]|\(?[a-zA-Z]\))[ \t]+\S"  # list item
    r"|([=\-~^*_#])\1{2,}[ \t]*$"  # underline, rule
    r"|`{3,}|~{3,}"  # code fence
    r"|.*\*[^*\s]+\*[ \t]*$"  # a vim help heading ends with its *tag*
    r")"
)
# Lines that are a block by themselves: a Markdown heading, a table row.
_ATX_HEADING = re.compile(r"[ \t]{0,3}#{1,6}[ \t]")
# A table cell bar: at the line's start or end or with space before and after (vim's |tags|
# have neither); a row has two, or starts and ends with one.
_CELL_BAR = re.compile(r"(?:^|\s)\|(?=\s|$)")
_TABLE_RULE = re.compile(r"\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?")
_NUMBERED_HEADING = re.compile(r"\d{1,2}(?:\.\d{1,2})*\.?[ \t]+[A-Z]")  # 2.7 Thread Safety
_CONTINUATION = re.compile(r"(?m)^[ \t]*\+[ \t]*$")  # AsciiDoc: joins blocks like a blank line
_MARKER_ONLY = re.compile(r"[ \t]*(?:[-*+•◦▪]|\d{1,3}[.)]|\||#{1,6})[ \t]+")
_TERMINAL = ".!?"
HEADING_MAX_CHARS = 80
HEADING_MAX_WORDS = 12
NAV_ITEM_MAX_CHARS = 40


def _line_bounds(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def _previous_line(text: str, line_start: int) -> tuple[int, int] | None:
    if line_start == 0:
        return None
    return _line_bounds(text, line_start - 1)


def _ends_sentence(fragment: str, marks: str = _TERMINAL) -> bool:
    core = fragment.rstrip().rstrip(CLOSERS)
    return bool(core) and core[-1] in marks


def _is_block_line(line: str) -> bool:
    return bool(_BLOCK_LINE.match(line)) or _is_table_row(line)


def _is_table_row(line: str) -> bool:
    """A Markdown or plain table row (``| a | b |``, ``a | b | c``) or its rule line."""
    row = line.strip()
    if len(row) > 1 and row.startswith("|") and row.endswith("|"):
        return True
    return len(_CELL_BAR.findall(row)) >= 2 or bool(_TABLE_RULE.fullmatch(row))


def _heading_like(text: str, bounds: tuple[int, int]) -> bool:
    """A line that reads as a heading or a navigation item in extracted text (HTML, PDF, where
    markup is gone): short, with no sentence punctuation at its end, and either numbered
    ("2.7 Thread Safety"), or after a finished sentence, a blank line or a block line, or
    (capitalised) after another short capitalised line, as in a menu."""
    line = text[bounds[0] : bounds[1]].strip()
    if not line or len(line) > HEADING_MAX_CHARS or len(line.split()) > HEADING_MAX_WORDS:
        return False
    if line[-1] in ".,;:!?-":
        return False
    if _NUMBERED_HEADING.match(line):
        return True
    before = _previous_line(text, bounds[0])
    if before is None:
        return True
    previous = text[before[0] : before[1]].strip()
    if (
        not previous
        or _ends_sentence(previous, _TERMINAL + ":")
        or _is_block_line(text[before[0] : before[1]])
    ):
        return True
    return (
        _capitalised(line)
        and _capitalised(previous)
        and len(previous) <= NAV_ITEM_MAX_CHARS
        and previous[-1] not in ",;-"
    )


def _capitalised(line: str) -> bool:
    return line[0].isupper() or line[0].isdigit()


def _without_continuations(text: str) -> str:
    """``text`` with AsciiDoc continuation lines (a lone ``+``) blanked, offsets kept."""
    return _CONTINUATION.sub(lambda m: " " * len(m.group()), text) if "+" in text else text


def starts_sentence(text: str, start: int, lines: bool = False) -> bool:
    """Whether an extract starting at ``start`` starts a sentence of ``text``: at the document
    start; after ``.``, ``!`` or ``?`` (and closing quotes or brackets); after a blank line;
    after a list marker, a heading's ``#``s or a table bar alone on its line; or at the start
    of a line that is itself a block line (heading, list item, table row, fence) or follows a
    line ending in ``:``, a block line or a heading-like line (``_heading_like``). AsciiDoc
    continuation lines (a lone ``+``) count as blank lines. ``lines``: the text has one line
    per block (qa's text of HTML: ``qa.ingest.splitter.layout_of``), so every line starts one."""
    text = _without_continuations(text)
    i = start
    while i < len(text) and text[i].isspace():
        i += 1
    before = text[:i]
    stripped = before.rstrip()
    if not stripped or _ends_sentence(stripped):
        return True
    gap = before[len(stripped) :]
    if _BLANK_LINE.search(gap) or (lines and "\n" in gap):
        return True
    line_start, line_end = _line_bounds(text, i)
    prefix = text[line_start:i]
    if prefix.strip():
        return bool(_MARKER_ONLY.fullmatch(prefix))
    if _is_block_line(text[line_start:line_end]) or stripped.endswith(":"):
        return True
    previous = _previous_line(text, line_start)
    if previous is None:
        return True
    return _is_block_line(text[previous[0] : previous[1]]) or _heading_like(text, previous)


def ends_sentence(text: str, end: int, lines: bool = False) -> bool:
    """Whether an extract ending at ``end`` ends a sentence: its last character (closing quotes
    or brackets aside) is ``.``, ``!``, ``?`` or ``:``, or what follows starts a new block: the
    end of the document, a blank line, or a next line that is a block line (heading, list item,
    table row, rule, fence); or it ends a line that is a block by itself (a Markdown heading,
    a table row). AsciiDoc continuation lines (a lone ``+``) count as blank lines. ``lines``:
    the text has one line per block (see ``starts_sentence``), so every line ends one."""
    text = _without_continuations(text)
    j = end
    while j > 0 and text[j - 1].isspace():
        j -= 1
    if _ends_sentence(text[:j], _TERMINAL + ":"):
        return True
    after = text[j:]
    rest = after.lstrip()
    if not rest:
        return True
    gap = after[: len(after) - len(rest)]
    if _BLANK_LINE.search(gap) or (lines and "\n" in gap):
        return True
    if "\n" not in gap:
        return False
    own_start, own_end = _line_bounds(text, j - 1)
    own = text[own_start:own_end]
    if _ATX_HEADING.match(own) or _is_table_row(own):
        return True
    next_start = j + len(gap)
    line_start, line_end = _line_bounds(text, next_start)
    return _is_block_line(text[line_start:line_end])


def is_whole(text: str, start: int, end: int, lines: bool = False) -> bool:
    """Whether ``text[start:end]`` starts and ends at sentence boundaries (see
    ``starts_sentence`` and ``ends_sentence``): the opposite of a fragment."""
    return starts_sentence(text, start, lines) and ends_sentence(text, end, lines)


def fragment_reason(
    text: str,
    start: int,
    end: int,
    sentence: tuple[int, int] | None = None,
    lines: bool = False,
) -> str | None:
    """Why the extract ``text[start:end]`` is a fragment, or None when it is whole: it starts
    mid-sentence, ends mid-sentence, or (``sentence`` given: the gold sentence of an answerable
    question, in the same document) overlaps the gold sentence without containing it whole.
    ``lines``: the text has one line per block (see ``starts_sentence``)."""
    reasons = []
    if not starts_sentence(text, start, lines):
        reasons.append("starts mid-sentence")
    if not ends_sentence(text, end, lines):
        reasons.append("ends mid-sentence")
    if sentence is not None:
        overlaps = start < sentence[1] and sentence[0] < end
        if overlaps and not (start <= sentence[0] and sentence[1] <= end):
            reasons.append("cuts the gold sentence")
    return ", ".join(reasons) or None


# ----- scoring ----------------------------------------------------------------------------


def score(
    question: RealQuestion, answer: Answer, text_of, exact: bool, lines_of=lambda doc_id: False
) -> dict:
    """One record: what qa showed first and how it scores against ``question``.

    ``text_of(doc_id)`` is the document's text as qa read it; ``exact`` whether the gold
    sentence must match it exactly (text and Markdown) rather than with white space ignored;
    ``lines_of(doc_id)`` whether that text has one line per block (HTML), where a line break
    is a sentence boundary.
    """
    top: Extract | None = None if answer.abstained or not answer.extracts else answer.extracts[0]
    gold = None
    if question.kind == "answerable":
        gold = gold_span(text_of(question.doc), question, exact=exact)
    record = {
        "id": question.id,
        "split": question.split,
        "kind": question.kind,
        "doc": question.doc or "",
        "question": question.question,
        "answer": question.answer or "",
        "abstained": answer.abstained,
        "abstain_reason": answer.abstain_reason,
        "confidence": answer.confidence,
        "gold_found": gold is not None,
        "top_doc": top.doc_id if top else "",
        "top_start": top.start if top else None,
        "top_end": top.end if top else None,
        "top_extract": top.text if top else "",
        "phrase": "",
        "hit": False,
        "em": 0.0,
        "f1": 0.0,
        "fragment": None,
    }
    if top is None:
        return record
    text = text_of(top.doc_id)
    phrase = top.text
    if top.focus_start is not None and top.focus_end is not None:
        phrase = text[top.focus_start : top.focus_end]
    record["phrase"] = phrase
    same_doc = gold is not None and top.doc_id == question.doc
    sentence = gold[0] if same_doc else None
    record["fragment"] = fragment_reason(
        text, top.start, top.end, sentence, lines=lines_of(top.doc_id)
    )
    if question.kind == "answerable":
        wanted = " ".join((question.answer or "").split())
        shown = " ".join(phrase.split())
        record["em"] = exact_match(shown, [wanted])
        record["f1"] = f1(shown, [wanted])
        if same_doc:
            (_, _), (answer_start, answer_end) = gold
            record["hit"] = top.start <= answer_start and answer_end <= top.end
    return record


def summarize(records: Sequence[dict]) -> dict:
    """The headline figures over ``records``."""

    def share(rows, test):
        rows = list(rows)
        return sum(1 for r in rows if test(r)) / len(rows) if rows else float("nan")

    answerable = [r for r in records if r["kind"] == "answerable"]
    off_topic = [r for r in records if r["kind"] == "off_topic"]
    near_miss = [r for r in records if r["kind"] == "near_miss"]
    shown = [r for r in records if not r["abstained"] and r["top_extract"]]
    shown_answerable = [r for r in answerable if not r["abstained"]]
    fragments = [r for r in shown if r["fragment"]]
    return {
        "questions": len(records),
        "answerable": len(answerable),
        "off_topic": len(off_topic),
        "near_miss": len(near_miss),
        "hit@1": share(answerable, lambda r: r["hit"]),
        "phrase_em": share(answerable, lambda r: r["em"] == 1.0),
        "phrase_f1": sum(r["f1"] for r in answerable) / len(answerable)
        if answerable
        else float("nan"),
        "phrase_em_shown": share(shown_answerable, lambda r: r["em"] == 1.0),
        "phrase_f1_shown": sum(r["f1"] for r in shown_answerable) / len(shown_answerable)
        if shown_answerable
        else float("nan"),
        "abstain_recall_off_topic": share(off_topic, lambda r: r["abstained"]),
        "abstain_recall_near_miss": share(near_miss, lambda r: r["abstained"]),
        "abstain_recall": share(off_topic + near_miss, lambda r: r["abstained"]),
        "false_abstentions": share(answerable, lambda r: r["abstained"]),
        "shown": len(shown),
        "fragments": len(fragments),
        "fragment_rate": len(fragments) / len(shown) if shown else float("nan"),
    }


COLUMNS = [
    ("questions", "n"),
    ("hit@1", "hit@1"),
    ("phrase_em", "EM"),
    ("phrase_f1", "F1"),
    ("abstain_recall_off_topic", "absOff"),
    ("abstain_recall_near_miss", "absNear"),
    ("abstain_recall", "absR"),
    ("false_abstentions", "falseAbs"),
    ("fragment_rate", "frag"),
]


def format_table(rows: dict[str, dict]) -> str:
    """A fixed-width table, one row per label; the fragment rate with its counts."""
    width = max(len(label) for label in rows) + 2
    lines = ["".ljust(width) + "".join(f"{name:>9}" for _, name in COLUMNS)]
    for label, summary in rows.items():
        cells = []
        for key, _ in COLUMNS:
            value = summary[key]
            if key == "questions":
                cells.append(f"{value:9d}")
            elif isinstance(value, float) and value != value:
                cells.append(f"{'-':>9}")
            else:
                cells.append(f"{value:9.3f}")
        counts = f"  ({summary['fragments']}/{summary['shown']} shown)"
        lines.append(label.ljust(width) + "".join(cells) + counts)
    return "\n".join(lines)


# ----- running ----------------------------------------------------------------------------


@dataclass
class Prepared:
    """The questions that can be asked, and how many cannot, by reason."""

    asked: list[RealQuestion]
    left_out: dict[str, int]


def select_questions(questions: Iterable[RealQuestion], build: CorpusBuild, split: str) -> Prepared:
    asked, left_out = [], {}
    for question in questions:
        if split != "all" and question.split != split:
            continue
        status = build.status(question.doc) if question.doc else "present"
        if status == "present":
            asked.append(question)
        else:
            left_out[status] = left_out.get(status, 0) + 1
    return Prepared(asked, left_out)


def open_realdocs(cache: Path, build: CorpusBuild, embedder: Embedder, reader: bool = True):
    """The Assistant over the built corpus (index in ``cache/index``), shipped settings."""
    settings = Settings(model=embedder.model_name)
    settings = replace(settings, reader=replace(settings.reader, enabled=reader))
    assistant = Assistant.from_folder(
        build.folder,
        index_dir=cache / "index",
        embedder=embedder,
        settings=settings,
        progress=progress_printer("indexing"),
    )
    skipped = assistant.index.last_sync.skipped
    if skipped:
        print(f"warning: qa skipped corpus files: {skipped}")
    return assistant


def evaluate(assistant: Assistant, questions: Sequence[RealQuestion], kinds: dict) -> list[dict]:
    """Ask every question (one ``ask`` each) and score the answers; ``kinds`` maps document ids
    to their format, which decides how gold sentences are matched."""
    documents: dict[str, Document] = {}

    def document_of(doc_id: str) -> Document:
        if doc_id not in documents:
            documents[doc_id] = assistant.document(doc_id)
        return documents[doc_id]

    def text_of(doc_id: str) -> str:
        return document_of(doc_id).text

    def lines_of(doc_id: str) -> bool:
        # qa's text of HTML has one line per block and collapses white space inside a block,
        # so a line break there is where the markup ended a paragraph, item or cell.
        return layout_of(document_of(doc_id)) == "lines"

    records = []
    for question in questions:
        began = time.perf_counter()
        answer = assistant.ask(question.question)
        exact = kinds.get(question.doc) in EXACT_KINDS
        record = score(question, answer, text_of, exact, lines_of)
        record["latency_ms"] = 1000 * (time.perf_counter() - began)
        record["doubt"] = answer.doubt
        records.append(record)
    return records


def split_summaries(records: Sequence[dict], splits: Sequence[str]) -> dict:
    """Per split (and ``all`` when there are several): the summary of all its questions, of
    each question kind, and of each document format (``format:<kind>``)."""
    result = {}
    for split in list(splits) + (["all"] if len(splits) > 1 else []):
        rows = [r for r in records if split == "all" or r["split"] == split]
        groups = {"all": rows}
        groups |= {kind: [r for r in rows if r["kind"] == kind] for kind in QUESTION_KINDS}
        groups |= {f"format:{f}": [r for r in rows if r["format"] == f] for f in FORMATS}
        result[split] = {label: summarize(group) for label, group in groups.items() if group}
    return result


def print_fragments(records: Sequence[dict], label: str) -> None:
    fragments = [r for r in records if r["fragment"] and not r["abstained"]]
    print(f"\nfragments, {label} ({len(fragments)}):")
    for r in fragments:
        text = " ".join(r["top_extract"].split())
        print(f"  [{r['id']} {r['split']}] {r['top_doc']} ({r['fragment']}): {text[:300]}")


def run(
    out: Path,
    split: str = "dev",
    readers: Sequence[bool] = (True, False),
    embedder: Embedder | None = None,
    documents: Sequence[RealDocument] | None = None,
    questions: Sequence[RealQuestion] | None = None,
    verbose: bool = True,
) -> dict | None:
    """Build the corpus, ask the questions of ``split`` with each reader setting, print the
    report and write ``out/realdocs_<split>.json``. None when no document is present."""
    documents = list(documents if documents is not None else load_manifest())
    questions = list(questions if questions is not None else load_questions())
    cache = out / "cache" / "realdocs"
    build = build_corpus(cache, documents)
    for doc_id, why in {**build.missing, **build.not_made}.items():
        print(f"  left out {doc_id}: {why}")
    prepared = select_questions(questions, build, split)
    left = ", ".join(f"{n} {why}" for why, n in sorted(prepared.left_out.items())) or "none"
    print(f"real files: {len(build.present)} of {len(documents)} documents in the corpus "
          f"({len(build.unreadable)} not readable yet, {len(build.missing)} missing or changed, "
          f"{len(build.not_made)} not made); {len(prepared.asked)} questions asked, "
          f"left out: {left}")  # fmt: skip
    if not build.present:
        print("real files: no document of the set is on this machine; skipped")
        return None
    kinds = {doc.id: doc.kind for doc in documents}
    embedder = embedder or Embedder()
    assistant = open_realdocs(cache, build, embedder, reader=any(readers))
    report: dict = {
        "split": split,
        "documents": len(documents),
        "present": build.present,
        "missing": build.missing,
        "not_made": build.not_made,
        "not_readable_yet": build.unreadable,
        "left_out": prepared.left_out,
        "index": {"documents": len(assistant.documents), "passages": len(assistant.index)},
        "configs": {},
    }
    splits = list(SPLITS) if split == "all" else [split]
    for with_the_reader in readers:
        name = "reader" if with_the_reader else "no_reader"
        candidate = with_reader(assistant, enabled=with_the_reader)
        records = evaluate(candidate, prepared.asked, kinds)
        for record in records:
            record["format"] = kinds.get(record["doc"], "")
        not_found = [r["id"] for r in records if r["kind"] == "answerable" and not r["gold_found"]]
        if not_found:
            print(f"warning: gold sentence not found in qa's text for {not_found}")
        summaries = split_summaries(records, splits)
        report["configs"][name] = {"summaries": summaries, "records": records}
        if verbose:
            for label, rows in summaries.items():
                print(f"\n[{label}] real files, {name.replace('_', ' ')}")
                print(format_table(rows))
            print_fragments(records, name.replace("_", " "))
    write_json(out / f"realdocs_{split}.json", _jsonable(report))
    print(f"wrote {out / f'realdocs_{split}.json'}")
    return report


def section(out: Path, embedder: Embedder, reader: bool = True, split: str = "test") -> None:
    """The real-file lines of ``python -m eval``: one table for ``split``, after the gold set."""
    print(f"\n[{split}] real files (eval/realdocs/README.md)")
    try:
        report = run(out, split, (reader,), embedder=embedder, verbose=False)
    except (OSError, ValueError) as error:
        print(f"real files: skipped ({error})")
        return
    if report is None:
        return
    name = "reader" if reader else "no_reader"
    summary = report["configs"][name]["summaries"][split]["all"]
    print(format_table({name.replace("_", " "): summary}))


def _jsonable(value):
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(prog="python -m eval.realdocs", description=__doc__)
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--no-reader", action="store_true", help="answer without the reader only")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="results folder")
    args = parser.parse_args(argv)
    readers = (False,) if args.no_reader else (True, False)
    return run(Path(args.out).expanduser().resolve(), args.split, readers)


__all__ = [
    "RealDocument",
    "RealQuestion",
    "assign_splits",
    "build_corpus",
    "ends_sentence",
    "fragment_reason",
    "is_whole",
    "load_manifest",
    "load_questions",
    "locate",
    "main",
    "markdown_slides",
    "score",
    "section",
    "starts_sentence",
    "summarize",
]

if __name__ == "__main__":
    main()
    sys.exit(0)
