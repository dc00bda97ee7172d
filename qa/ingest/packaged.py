"""What the formats packed in a zip (.docx, .pptx, .odt, .epub) share: the zip checked before
any parser opens it (damaged, password-protected, or a zip bomb: a plain reason each), the
text built from blocks with the start offset of each location (slide, heading), and library
errors turned into plain words.

The text every offset refers to: blocks (paragraphs, headings, list items, table rows, the
paragraphs of a slide's shapes) joined by a blank line, so no layout the sentence splitter
reads (a hard-wrapped paragraph is one block) runs two of them together. A line break inside
a paragraph stays a newline; other white space is collapsed to single spaces.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qa.errors import DocumentError
from qa.ingest.plain import Parsed, clip_title

log = logging.getLogger(__name__)

# A zip bomb is refused from the sizes the zip declares, before anything is unpacked
# (Python's zipfile never unpacks more than an entry declares, and checks its CRC). Markup is
# mostly tags: 50 MB of it holds thousands of pages of text. Images and fonts count only in
# the total, since the libraries unpack every part when they open a file.
MAX_MARKUP_BYTES = 50 * 2**20  # the XML/XHTML parts qa parses, all together
MAX_PACKAGE_BYTES = 512 * 2**20  # everything the libraries unpack (they load images too)
MAX_MEMBERS = 20_000
_MARKUP = (".xml", ".rels", ".xhtml", ".html", ".htm", ".opf", ".ncx", ".rdf", ".svg")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted Office files, and old .doc/.ppt
MAX_LABEL_CHARS = 80  # a heading as a location


class Kind:
    """A packaged format in words, for its reasons: ``Kind("Word document", ".docx")``."""

    def __init__(self, name: str, suffix: str):
        self.name = name
        self.suffix = suffix

    @property
    def unreadable(self) -> str:
        return f"the {self.name} could not be read (it may be damaged, or not a {self.suffix} file)"


def open_package(path: Path, data: bytes, kind: Kind) -> zipfile.ZipFile:
    """The file as a zip whose declared sizes are within the limits, or a DocumentError."""
    if not data.strip():
        raise DocumentError(str(path), "the file is empty: there is no text to index")
    if data.startswith(OLE_MAGIC):
        reason = (
            f"the {kind.name} is password-protected, or saved in an older format: "
            f"save it without a password as {kind.suffix}"
        )
        raise DocumentError(str(path), reason)
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
        members = package.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        log.warning("%s is not a readable zip: %s", path, error)
        raise DocumentError(str(path), kind.unreadable) from error
    if len(members) > MAX_MEMBERS:
        reason = f"the {kind.name} has over {MAX_MEMBERS:,} parts: qa does not unpack it"
        raise DocumentError(str(path), reason)
    markup = sum(m.file_size for m in members if m.filename.lower().endswith(_MARKUP))
    total = sum(m.file_size for m in members)
    if markup > MAX_MARKUP_BYTES or total > MAX_PACKAGE_BYTES:
        log.warning("%s unpacks to %d bytes (%d of markup) in %d parts", path, total, markup,
                    len(members))  # fmt: skip
        reason = (
            f"the {kind.name} unpacks to far more than its size "
            f"(over {MAX_MARKUP_BYTES // 2**20} MB of text): qa does not unpack it"
        )
        raise DocumentError(str(path), reason)
    return package


def read_member(package: zipfile.ZipFile, name: str) -> bytes | None:
    """One part of a checked package, or None when there is no such part."""
    try:
        return package.read(name)
    except KeyError:
        return None


@contextmanager
def plain_errors(path: Path, reason: str) -> Iterator[None]:
    """Whatever a library raises on a damaged file becomes a DocumentError with ``reason``;
    the library's own words go to the log, not to the user."""
    try:
        yield
    except DocumentError:
        raise
    except Exception as error:  # the libraries raise many types on damaged files
        log.warning("%s: %s (%s: %s)", path, reason, type(error).__name__, error)
        raise DocumentError(str(path), reason) from error


def tidy(text: str) -> str:
    """``text`` as lines with single spaces, without empty lines."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


class TextBuilder:
    """The text of a document built block by block, with its locations: ``location(label)``
    starts at the next block added; ``heading(text)`` is a block that is its own location."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._pending: str | None = None
        self.locations: list[tuple[int, str]] = []
        self.first_heading: str | None = None

    def location(self, label: str) -> None:
        self._pending = label

    def block(self, text: str) -> None:
        text = tidy(text)
        if not text:
            return
        if self._parts:
            self._parts.append("\n\n")
            self._size += 2
        if self._pending is not None:
            if self.locations and self.locations[-1][0] == self._size:
                self.locations.pop()
            self.locations.append((self._size, self._pending))
            self._pending = None
        self._parts.append(text)
        self._size += len(text)

    def heading(self, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        if self.first_heading is None:
            self.first_heading = clip_title(text)
        label = clip_title(text)
        if len(label) > MAX_LABEL_CHARS:
            label = label[: MAX_LABEL_CHARS - 1].rstrip() + "…"
        self.location(f"§ {label}")
        self.block(text)

    def parsed(self, title: str | None, kind: str) -> Parsed:
        """The document read: ``title`` from its metadata, else its first heading."""
        title = " ".join((title or "").split())
        title = clip_title(title) if title else self.first_heading
        return Parsed("".join(self._parts), title, kind, locations=tuple(self.locations))
