"""Rich Text Format (.rtf), read by a small tokenizer of qa's own in linear time.

striprtf, the library at hand, was measured cubic on crafted input: its hyperlink and font
table patterns backtrack (an 8 KB font table without ";" ran for over 5 minutes, 13 KB of
unclosed hyperlink fields 1.6 s), so one file could hold the indexing for hours. This reader
takes one token at a time with a pattern that cannot backtrack, and skips ``\\bin`` data by
its declared length.

The text: each paragraph, list item and table row (cells joined by " | ") a block; headings
(a "heading" style, or an outline level) are locations ("§ Heading"). Kept out: the font,
colour and style tables, document information (but the title is read from it), pictures,
objects, headers, footers, footnotes, comments, field instructions (their shown result is
kept) and the list numbers written for old readers. ``\\'xx`` bytes are decoded by the code
page of their font (``\\fcharset``, ``\\cpg``) or of the document (``\\ansicpg``);
``\\uN`` is a Unicode character.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, replace
from pathlib import Path

from qa.errors import DocumentError
from qa.ingest.packaged import TextBuilder, plain_errors
from qa.ingest.plain import Parsed

CELL_SEPARATOR = " | "
_TOKEN = re.compile(
    r"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|[\r\n]+|([^\\{}\r\n]+)",
    re.DOTALL,
)
# Destinations whose text is not the document's (``{\*\anything`` is skipped too).
_SKIPPED = set(
    "fonttbl colortbl stylesheet info pict object header headerl headerr headerf footer "
    "footerl footerr footerf footnote annotation atnid atnauthor atndate atnref fldinst xe "
    "tc tcn themedata colorschememapping datastore latentstyles listtable listoverridetable "
    "rsidtbl generator xmlnstbl mmathPr pgdsctbl pntext pntxta pntxtb listtext filetbl "
    "revtbl nonshppict shpinst sp sn sv bkmkstart bkmkend author operator keywords subject "
    "comment doccomm company category manager hlinkbase".split()
)
_SYMBOLS = {
    "par": "\n", "line": "\n", "sect": "\n", "page": "\n", "tab": "\t", "bullet": "•",
    "lquote": "‘", "rquote": "’", "ldblquote": "“", "rdblquote": "”", "endash": "–",
    "emdash": "—", "enspace": " ", "emspace": " ", "qmspace": " ", "~": "\xa0", "_": "-",
    "{": "{", "}": "}", "\\": "\\", "\t": "\t",
}  # fmt: skip
_CHARSETS = {
    128: "cp932", 129: "cp949", 130: "johab", 134: "gbk", 136: "cp950", 161: "cp1253",
    162: "cp1254", 163: "cp1258", 177: "cp1255", 178: "cp1256", 186: "cp1257", 204: "cp1251",
    222: "cp874", 238: "cp1250", 77: "mac_roman", 255: "cp437",
}  # fmt: skip


@dataclass(frozen=True)
class _State:
    """What a group carries and restores when it closes: RTF scopes formatting by group."""

    skip: bool = False  # a destination that is not the document's text
    destination: str | None = None  # fonttbl, stylesheet, title: read for what they say
    uc: int = 1  # characters to skip after \uN
    font: str | None = None
    style: int = 0
    in_table: bool = False
    outline: bool = False


_TABLES = ("fonttbl", "stylesheet")
_SURROGATE = re.compile("[\ud800-\udfff]")


def read_rtf(path: Path, data: bytes) -> Parsed:
    if not data.strip():
        raise DocumentError(str(path), "the file is empty: there is no text to index")
    if not data.lstrip().startswith(b"{\\rtf"):
        reason = "the file is not RTF (it does not start as one: damaged, or another format)"
        raise DocumentError(str(path), reason)
    reader = _Reader(data.decode("latin-1"))  # RTF is 7-bit; 8-bit bytes are decoded later
    with plain_errors(path, "the RTF file could not be read (it may be damaged)"):
        reader.run()
    return reader.out.parsed(reader.title(), "rtf")


class _Reader:
    def __init__(self, source: str):
        self.source = source
        self.out = TextBuilder()
        self.state = _State()
        self.stack: list[_State] = []
        self.encoding = "cp1252"
        self.fonts: dict[str, str] = {}  # font number -> encoding
        self.styles: dict[int, str] = {}  # style number -> name
        self.headings: set[int] = set()  # style numbers with an outline level
        self.bytes = bytearray()  # \'xx bytes waiting to be decoded together
        self.skip_chars = 0  # left to skip after \uN
        self.paragraph: list[str] = []
        self.cells: list[str] = []
        self.table_depth = -1  # the depth of the font table or style sheet being read
        self.entry: list[str] = []  # the text of a font or style entry being read
        self.entry_number: int | None = None
        self.title_parts: list[str] = []

    def run(self) -> None:
        source, position, end = self.source, 0, len(self.source)
        while position < end:
            match = _TOKEN.match(source, position)
            if match is None:  # a lone backslash at the end
                break
            position = match.end()
            word, argument, hexbyte, symbol, brace, text = match.groups()
            if hexbyte is not None:
                self.hex(int(hexbyte, 16))
                continue
            self.decode_bytes()
            if word is not None:
                if word == "bin" and argument and argument.isdigit():
                    position += int(argument)  # binary data: skipped, never read as text
                    continue
                self.control(word, int(argument) if argument else None)
            elif symbol is not None:
                self.control(symbol, None)
            elif brace == "{":
                self.begin_group()
            elif brace == "}":
                self.end_group()
            elif text is not None:
                self.text(text)
        self.decode_bytes()
        self.end_paragraph()
        if self.cells:
            self.end_row()

    def begin_group(self) -> None:
        if self.state.destination in _TABLES and len(self.stack) == self.table_depth:
            self.entry, self.entry_number = [], None  # a new entry of the table
        self.stack.append(self.state)
        self.skip_chars = 0

    def end_group(self) -> None:
        if self.state.destination in _TABLES and len(self.stack) == self.table_depth + 1:
            self.end_entry()
        self.skip_chars = 0
        if self.stack:
            self.state = self.stack.pop()

    def hex(self, value: int) -> None:
        if self.skip_chars:
            self.skip_chars -= 1
        else:
            self.bytes.append(value)

    def decode_bytes(self) -> None:
        if self.bytes:
            encoding = self.fonts.get(self.state.font or "", self.encoding)
            self.emit(bytes(self.bytes).decode(encoding, errors="replace"))
            self.bytes.clear()

    def text(self, text: str) -> None:
        if self.skip_chars:
            cut = min(self.skip_chars, len(text))
            text, self.skip_chars = text[cut:], self.skip_chars - cut
        if text:
            encoding = self.fonts.get(self.state.font or "", self.encoding)
            self.emit(text.encode("latin-1").decode(encoding, errors="replace"))

    def emit(self, text: str) -> None:
        destination = self.state.destination
        if destination in _TABLES:
            self.entry.append(text)
        elif destination == "title":
            self.title_parts.append(text)
        elif not self.state.skip:
            self.paragraph.append(text)

    def control(self, word: str, argument: int | None) -> None:
        state = self.state
        if state.destination in _TABLES:
            self.table_word(word, argument)
        elif word in _TABLES or word == "title" and state.destination is None:
            self.state = replace(state, skip=True, destination=word)
            if word in _TABLES:
                self.table_depth = len(self.stack)
        elif word == "*" or word in _SKIPPED:
            self.state = replace(state, skip=True)
        elif state.skip:
            return  # a footnote's or header's formatting is not the text's
        elif word == "ansicpg" and argument:
            self.encoding = _codec(f"cp{argument}", self.encoding)
        elif word == "uc" and argument is not None:
            self.state = replace(state, uc=max(0, argument))
        elif word == "u" and argument is not None:
            self.emit(chr(argument % 65536 if argument < 0 else min(argument, 0x10FFFF)))
            self.skip_chars = state.uc
        elif word == "f" and argument is not None:
            self.state = replace(state, font=str(argument))
        elif word == "pard":
            self.state = replace(state, style=0, in_table=False, outline=False)
        elif word == "s" and argument is not None:
            self.state = replace(state, style=argument)
        elif word == "outlinelevel" and argument is not None:
            self.state = replace(state, outline=0 <= argument < 9)
        elif word == "intbl":
            self.state = replace(state, in_table=True)
        elif word in ("cell", "nestcell"):
            self.cells.append(" ".join(_text(self.paragraph).split()))
            self.paragraph = []
        elif word == "row":
            self.end_row()
        elif word in ("par", "sect", "page", "\n", "\r"):
            self.end_paragraph()
        elif word in _SYMBOLS:
            self.emit(_SYMBOLS[word])

    def end_paragraph(self) -> None:
        if self.state.in_table:  # a paragraph inside a cell: the cell goes on
            self.paragraph.append(" ")
            return
        text, self.paragraph = _text(self.paragraph), []
        state = self.state
        name = self.styles.get(state.style, "").lower()
        if state.outline or state.style in self.headings or name.startswith("heading"):
            self.out.heading(text)
        else:
            self.out.block(text)

    def end_row(self) -> None:
        self.out.block(CELL_SEPARATOR.join(c for c in self.cells if c))
        self.cells, self.paragraph = [], []

    def table_word(self, word: str, argument: int | None) -> None:
        """A control word inside the font table or the style sheet."""
        if word in ("f", "s") and argument is not None:
            if self.entry_number is not None:
                self.end_entry()  # entries not in groups of their own: "\f0 A;\f1 B;"
            self.entry_number = argument
        elif self.entry_number is None:
            return
        elif word == "fcharset" and argument in _CHARSETS:
            self.fonts[str(self.entry_number)] = _codec(_CHARSETS[argument], self.encoding)
        elif word == "cpg" and argument:
            self.fonts[str(self.entry_number)] = _codec(f"cp{argument}", self.encoding)
        elif word == "outlinelevel" and argument is not None and 0 <= argument < 9:
            self.headings.add(self.entry_number)  # a style's (a font has none)

    def end_entry(self) -> None:
        if self.state.destination == "stylesheet" and self.entry_number is not None:
            name = _text(self.entry).split(";", 1)[0]
            self.styles.setdefault(self.entry_number, " ".join(name.split()))
        self.entry, self.entry_number = [], None

    def title(self) -> str | None:
        return _text(self.title_parts).strip() or None


def _text(parts: list[str]) -> str:
    """Parts joined, a surrogate pair from two \\uN made one character, a lone one U+FFFD."""
    text = "".join(parts)
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _codec(name: str, fallback: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return fallback
