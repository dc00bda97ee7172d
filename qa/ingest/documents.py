"""Documents: find the supported files under a folder and read each into text with a title.

A document's ``text`` is the reference for every character offset qa reports. Plain text and
Markdown are kept exactly as stored (decoded); HTML is reduced to its visible text; PDF pages
are joined with blank lines and the start offset of each page is kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import DocumentError, FolderError
from qa.ingest.formats import SUPPORTED_SUFFIXES, reader_for
from qa.ingest.plain import clip_title, over_budget, text_budget
from qa.models.cache import file_sha256  # noqa: F401 (qa's one file hash, named here too)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Document:
    """One source file as text. ``pages`` holds the start offset of each PDF page;
    ``locations`` the sorted ``(start offset, label)`` pairs a citation names ("page 3",
    "slide 2", "§ Installation")."""

    doc_id: str
    title: str
    text: str
    sha256: str
    kind: str = "text"
    pages: tuple[int, ...] = field(default=())
    locations: tuple[tuple[int, str], ...] = field(default=())
    # The (start, end) of each code block (Markdown fences and indented code): indexed and
    # searchable, but an answer only to a question about code.
    code: tuple[tuple[int, int], ...] = field(default=())

    def page_at(self, offset: int) -> int | None:
        """The 1-based PDF page holding ``offset``, or None for documents without pages."""
        if not self.pages:
            return None
        return max(1, bisect_right(self.pages, offset))

    def location_at(self, offset: int) -> str | None:
        """Where ``offset`` is, as a person would cite it: the label of the last location
        starting at or before it ("slide 3", "§ Installation"), "page n" for a PDF saved
        without locations, or None (plain text, or text before the first heading)."""
        if self.locations:
            index = bisect_right(self.locations, offset, key=lambda location: location[0])
            return self.locations[index - 1][1] if index else None
        page = self.page_at(offset)
        return f"page {page}" if page else None

    def in_code(self, start: int, end: int) -> bool:
        """Whether the characters ``start:end`` lie inside one code block."""
        index = bisect_right(self.code, start, key=lambda span: span[0])
        return bool(index) and self.code[index - 1][0] <= start and end <= self.code[index - 1][1]

    def to_dict(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "text": self.text,
            "sha256": self.sha256,
            "kind": self.kind,
            "pages": list(self.pages),
            "locations": [list(location) for location in self.locations],
            "code": [list(span) for span in self.code],
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
            locations=tuple((int(start), str(label)) for start, label in data.get("locations", ())),
            code=tuple((int(start), int(end)) for start, end in data.get("code", ())),
        )


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
        # The library's words (which may name server paths) go to the log, not the asker.
        log.warning("%s could not be parsed: %s: %s", path, type(error).__name__, error)
        reason = f"the file could not be read (it may be damaged; {type(error).__name__})"
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
                raise DocumentError(str(path), "it links outside the corpus folder: not read")
        return handle.read()


def _same_file(handle, path: Path) -> bool:
    opened = os.fstat(handle.fileno())
    try:
        there = os.stat(path)
    except OSError:
        return False
    return (there.st_dev, there.st_ino) == (opened.st_dev, opened.st_ino)


def _parse(path: Path, doc_id: str, data: bytes, sha256: str) -> Document:
    parsed = reader_for(path, data)(path, data)
    if len(parsed.text) > text_budget(len(data)):  # a zip or Office bomb: before splitting
        raise DocumentError(str(path), over_budget(len(parsed.text), len(data)))
    if not parsed.text.strip():
        raise DocumentError(str(path), "the file is empty: there is no text to index")
    title = parsed.title or _fallback_title(parsed.text, doc_id)
    return Document(
        doc_id, title, parsed.text, sha256, parsed.kind, parsed.pages, parsed.locations, parsed.code
    )


def _fallback_title(text: str, doc_id: str) -> str:
    for line in text.splitlines():
        line = " ".join(line.split())
        if line and any(ch.isalnum() for ch in line):
            return clip_title(line)
    return Path(doc_id).stem  # the name as stored, never undecodable bytes
