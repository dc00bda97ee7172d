"""Documents: reading each supported kind, titles, offsets, and refusing broken files."""

from __future__ import annotations

import pytest

from qa.errors import DocumentError
from qa.ingest.documents import find_files, read_document

from .conftest import SEEDS
from .pdf import make_pdf


def test_seed_text_is_the_file_exactly():
    for doc_id, path in find_files(SEEDS).items():
        document = read_document(path, doc_id)
        assert document.text == path.read_text(encoding="utf-8")
        assert document.doc_id == path.name
        assert document.title.startswith("Shanghai Cooperation Organization")


def test_find_files_recurses_and_skips_hidden_and_unsupported(corpus):
    (corpus / "sub" / "deeper").mkdir(parents=True)
    (corpus / "a.txt").write_text("A")
    (corpus / "sub" / "b.md").write_text("# B")
    (corpus / "sub" / "deeper" / "c.HTML").write_text("<p>C</p>")
    (corpus / "image.png").write_bytes(b"\x89PNG")
    (corpus / ".qa-index").mkdir()
    (corpus / ".qa-index" / "x.txt").write_text("index internals")
    (corpus / ".hidden.txt").write_text("hidden")
    assert sorted(find_files(corpus)) == ["a.txt", "sub/b.md", "sub/deeper/c.HTML"]


def test_markdown_title_is_first_heading(corpus):
    path = corpus / "notes.md"
    path.write_text("Intro line\n\n## The Real Title ##\n\nBody text here.")
    assert read_document(path, "notes.md").title == "The Real Title"
    # A setext heading counts too (PyYAML's README was titled by its second heading).
    path.write_text("PyYAML\n======\n\nInstallation\n------------\n\nRun pip.\n")
    assert read_document(path, "notes.md").title == "PyYAML"
    # Code is not a heading; a file without one is titled by its first line, as before.
    path.write_text("    # not a title\n\nFirst words here.\n")
    assert read_document(path, "notes.md").title == "# not a title"


def test_html_visible_text_and_title(corpus):
    path = corpus / "page.html"
    path.write_text(
        "<html><head><title> Page  Title </title><style>p{color:red}</style></head>"
        "<body><h1>Heading</h1><p>First <b>bold</b> paragraph.</p>"
        "<script>alert('x')</script><p>Second paragraph.</p></body></html>"
    )
    document = read_document(path, "page.html")
    assert document.title == "Page Title"
    assert document.text == "Heading\nFirst bold paragraph.\nSecond paragraph."
    assert "alert" not in document.text and "color" not in document.text


def test_pdf_pages_and_metadata_title(corpus):
    path = corpus / "report.pdf"
    path.write_bytes(make_pdf([["Page one says hello."], ["Page two says goodbye."]], "Report X"))
    document = read_document(path, "report.pdf")
    assert document.title == "Report X"
    assert document.kind == "pdf"
    second = document.text.index("Page two")
    assert document.page_at(0) == 1
    assert document.page_at(second) == 2
    assert document.page_at(len(document.text) - 1) == 2


def test_text_file_holding_a_pdf_is_read_as_pdf(corpus):
    path = corpus / "disguised.txt"
    path.write_bytes(make_pdf([["Hidden PDF text."]]))
    assert read_document(path, "disguised.txt").text == "Hidden PDF text."


def _encrypted_pdf() -> bytes:
    from io import BytesIO

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(BytesIO(make_pdf([["Secret text."]]))))
    writer.encrypt("a password")
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("binary.txt", bytes(range(256)) * 4, "binary"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "PDF"),
        ("empty.pdf", make_pdf([[]]), "no extractable text"),
        ("encrypted.pdf", _encrypted_pdf(), "encrypted"),
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\r\n\t ", "empty"),
        ("blank.html", b"<html><body><script>x()</script></body></html>", "empty"),
    ],
)
def test_unreadable_files_raise_document_error(corpus, name, data, reason):
    path = corpus / name
    path.write_bytes(data)
    with pytest.raises(DocumentError, match=reason) as caught:
        read_document(path, name)
    assert caught.value.path == str(path)


def test_non_utf8_text_is_decoded_not_dropped(corpus):
    path = corpus / "latin1.txt"
    path.write_bytes("Café au lait costs 3 €.".encode("cp1252"))
    assert read_document(path, "latin1.txt").text == "Café au lait costs 3 €."


def test_utf16_with_bom_is_decoded(corpus):
    path = corpus / "wide.txt"
    path.write_bytes("Wide text.".encode("utf-16"))
    assert read_document(path, "wide.txt").text == "Wide text."


def test_formats_are_chosen_by_one_registry(corpus):
    """A suffix outside the registry is refused in plain words; a PDF under another name is
    still read as one (by its magic bytes), as before the registry."""
    from qa.errors import DocumentError
    from qa.ingest.formats import FORMATS, SUPPORTED_SUFFIXES, reader_for

    assert frozenset(FORMATS) == SUPPORTED_SUFFIXES and ".txt" in FORMATS
    odd = corpus / "notes.xyz"
    odd.write_text("Some text.")
    with pytest.raises(DocumentError, match="not of a format qa reads"):
        read_document(odd, "notes.xyz")
    assert reader_for(corpus / "scan.txt", b"%PDF-1.4 ...") is FORMATS[".pdf"]


@pytest.mark.parametrize(
    ("markup", "kept", "dropped"),
    [
        (  # Texinfo's navigation line, above and below the node
            '<div class="nav-panel"><p>Next: <a href="a">Usage</a>, Previous: <a>Top</a> '
            "[<a>Contents</a>][<a>Index</a>]</p></div><h1>Invoking grep</h1>"
            '<p>Run grep with a pattern.</p><div class="nav-panel"><p>Next: x</p></div>',
            "Run grep with a pattern.",
            "Next:",
        ),
        (  # DocBook's navheader / navfooter tables
            '<div class="navheader"><table><tr><td>Prev</td><td>Next</td></tr></table></div>'
            '<div class="chapter"><h2>Setup</h2><p>Edit the file.</p></div>'
            '<div class="navfooter"><table><tr><td>Home</td></tr></table></div>',
            "Edit the file.",
            "Prev",
        ),
        (  # HTML5: the page's header, nav, aside, footer; an article's footer (byline) stays
            "<header><nav><ul><li>Home</li></ul></nav></header><main><article><h1>Guide</h1>"
            "<p>The guide text.</p><footer>By Ann Lee</footer></article></main>"
            "<aside>Related links</aside><footer>Copyright 2024</footer>",
            "By Ann Lee",
            "Copyright",
        ),
        (  # Sphinx: related links bar and sidebar by role and class
            '<div class="related" role="navigation"><ul><li>index</li></ul></div>'
            '<div class="body"><p>Call open() first.</p></div>'
            '<div class="sphinxsidebar" role="navigation"><h3>Table of Contents</h3></div>',
            "Call open() first.",
            "Table of Contents",
        ),
    ],
)
def test_html_page_furniture_is_left_out(corpus, markup, kept, dropped):
    path = corpus / "manual.html"
    path.write_text(f"<html><body>{markup}</body></html>")
    text = read_document(path, "manual.html").text
    assert kept in text and dropped not in text


def test_an_unclosed_furniture_container_does_not_swallow_the_page(corpus):
    path = corpus / "page.html"
    path.write_text(
        '<html><body><div class="sidebar"><p>Menu</p>'
        "<p>The whole manual text follows, long enough to matter for the reader.</p>"
    )
    assert "The whole manual text follows" in read_document(path, "page.html").text


def test_html_source_line_breaks_inside_a_paragraph_are_spaces_but_not_in_pre(corpus):
    """A manual's HTML source wrapped at 80 columns: "...(eg. 20 to 30 times) than" / "normal"
    was read as two lines, so the sentence was cut at the source's line break."""
    path = corpus / "manual.html"
    path.write_text(
        "<html><body><p>Your program will run much slower (eg. 20 to 30 times) than\n"
        "normal, and use a lot more memory.</p><pre>make\nmake install</pre></body></html>"
    )
    text = read_document(path, "manual.html").text
    assert "than normal, and use a lot more memory." in text
    assert "make\nmake install" in text


def test_pdf_running_headers_page_numbers_and_line_end_hyphens_are_mended(tmp_path):
    """Issue #31: a printed page's running header and footer and its number are not text of
    the document (they were quoted, and cut sentences in two); a word hyphenated at a line's
    end is one word again ("man-" "agement"), a compound keeps its hyphen."""
    from .pdf import make_pdf

    titles = ["Springs", "Care", "Ports", "Thanks"]
    pages = [
        ["Acme Widget Manual", titles[n - 1], body, f"Page {n} of 4"]
        for n, body in enumerate(
            [
                "The widget needs careful man-",
                "Widgets are well-",
                "The default port is 8080.",
                "Thank you for reading.",
            ],
            1,
        )
    ]
    pages[0].insert(3, "agement of its springs.")
    pages[1].insert(3, "known for their springs.")
    path = tmp_path / "manual.pdf"
    path.write_bytes(make_pdf(pages))
    document = read_document(path, "manual.pdf")
    text = document.text
    assert "Acme Widget Manual" not in text and "Page 2 of 4" not in text
    assert "careful management of its springs" in " ".join(text.split())
    assert "well-known for their springs" in " ".join(text.split())
    third = document.pages[2]  # a line that changes from page to page is kept
    assert text[third:].startswith("Ports\nThe default") and document.location_at(third) == "page 3"


def test_markdown_extracts_are_located_by_their_section(tmp_path):
    """Issue #31: an extract of a README is cited by its heading ("§ Installation"), ATX and
    setext alike, as Office files are by slide or heading."""
    path = tmp_path / "README.md"
    path.write_text(
        "Widget\n======\n\nA widget maker.\n\n## Installation ##\n\nRun `make install` as root.\n\n"
        "Usage\n-----\n\n- Start it with `widget --serve`.\n"
    )
    document = read_document(path, "README.md")
    text = document.text
    assert [label for _, label in document.locations] == [
        "§ Widget",
        "§ Installation",
        "§ Usage",
    ]
    assert document.location_at(text.index("make install")) == "§ Installation"
    assert document.location_at(text.index("--serve")) == "§ Usage"
    assert document.location_at(text.index("A widget maker")) == "§ Widget"


def test_html_headings_are_locations_and_pre_blocks_are_code(tmp_path):
    """Issue #31: an HTML manual's extracts are cited by their section, and its <pre> blocks
    are code (quoted only for questions about code); marks the document itself holds cannot
    forge either."""
    path = tmp_path / "manual.html"
    path.write_text(
        "<html><head><title>Manual</title></head><body><h1>Otter manual</h1>"
        "<p>Otters swim.</p><h2>Running \\x01it</h2><p>Start the server first.</p>"
        "<pre>otter --serve\n  --port 8080</pre><p>Then \\x02ask it.</p></body></html>".replace(
            "\\x01", "\x01"
        ).replace("\\x02", "\x02")
    )
    document = read_document(path, "manual.html")
    text = document.text
    assert "\x01" not in text and "\x02" not in text
    assert [label for _, label in document.locations] == ["§ Otter manual", "§ Running it"]
    assert document.location_at(text.index("Start the server")) == "§ Running it"
    ((start, end),) = document.code
    assert text[start:end] == "otter --serve\n--port 8080"
    assert not document.in_code(text.index("Then"), text.index("Then") + 4)
