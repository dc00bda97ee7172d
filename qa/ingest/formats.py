"""The formats qa reads: a registry from file suffix to reader. A reader takes the file's path
and bytes and returns ``Parsed`` (text, title, kind, pages, locations), or raises
``DocumentError``. The zip formats (.docx, .pptx, .odt, .epub) are known by their suffix: a zip
that is not the format its name says is refused with a plain reason.

To add a format: write its reader in a module of this package, then add one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qa.errors import DocumentError
from qa.ingest.epub import read_epub
from qa.ingest.html import read_html
from qa.ingest.office import read_docx, read_pptx
from qa.ingest.opendocument import read_odt
from qa.ingest.pdf import read_pdf
from qa.ingest.plain import Parsed, read_markdown, read_plain
from qa.ingest.rtf import read_rtf

Reader = Callable[[Path, bytes], Parsed]

FORMATS: dict[str, Reader] = {
    ".txt": read_plain,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".pptx": read_pptx,
    ".odt": read_odt,
    ".epub": read_epub,
    ".rtf": read_rtf,
}
SUPPORTED_SUFFIXES = frozenset(FORMATS)
PDF_MAGIC = b"%PDF-"  # a PDF under another name is still read as one


def reader_for(path: Path, data: bytes) -> Reader:
    """The reader of a file: by its content's magic for PDF, else by its suffix."""
    if data.startswith(PDF_MAGIC):
        return read_pdf
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise DocumentError(str(path), "it is not of a format qa reads") from None


__all__ = ["FORMATS", "SUPPORTED_SUFFIXES", "Parsed", "Reader", "reader_for"]
