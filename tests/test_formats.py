"""Word, PowerPoint, OpenDocument, EPUB and RTF: real files made by LibreOffice (committed in
tests/data/formats, made as its README says), files generated here with python-docx and
python-pptx, and damaged ones; read to text with locations, answered from with the right
location, and refused in plain words when they cannot be read."""

from __future__ import annotations

import io
import re
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from qa import Assistant
from qa.errors import DocumentError
from qa.ingest.documents import Document, read_document
from qa.ingest.formats import FORMATS, SUPPORTED_SUFFIXES
from qa.ingest.packaged import MAX_MARKUP_BYTES
from qa.ingest.splitter import PassageSplitter
from qa.web.callbacks import ChatApp

DATA = Path(__file__).parent / "data" / "formats"
REAL = ["lighthouse.docx", "beekeeping.odt", "sourdough.epub", "tides.rtf", "orbits.pptx"]


def read(path: Path) -> Document:
    return read_document(path, path.name)


def lines_of(document: Document) -> list[str]:
    return [line for line in document.text.splitlines() if line]


# ----- real files: text, title, kind, locations --------------------------------------------


def test_every_new_format_is_registered_and_offered_for_upload():
    for suffix in (".docx", ".pptx", ".odt", ".epub", ".rtf"):
        assert suffix in FORMATS and suffix in SUPPORTED_SUFFIXES


def test_word_document_made_by_libreoffice():
    document = read(DATA / "lighthouse.docx")
    assert (document.title, document.kind) == ("Keeping a Lighthouse", "docx")
    assert document.text == "\n\n".join(
        [
            "Lamp care",
            "The keeper trims the wick every evening before sunset. A clean lens throws the "
            "beam twenty nautical miles out to sea.",
            "Polish the brass fittings weekly",
            "Wind the clockwork rotation mechanism every four hours",
            "Record each lighting in the station log",
            "Fog signals",
            "When fog rolls in, the keeper starts the diaphone horn. The horn sounds two blasts "
            "every sixty seconds until the fog lifts.",
            "Signal | Pattern",
            "Diaphone horn | Two blasts a minute",
            "Fog bell | One stroke every fifteen seconds",
            "Passing ships answer with their own whistles.",
        ]
    )
    fog = document.text.index("Fog signals")
    assert document.locations == ((0, "§ Lamp care"), (fog, "§ Fog signals"))
    assert document.location_at(fog - 1) == "§ Lamp care"
    assert document.location_at(document.text.index("Fog bell")) == "§ Fog signals"


def test_opendocument_text_made_by_libreoffice():
    document = read(DATA / "beekeeping.odt")
    assert (document.title, document.kind) == ("A Beekeeping Primer", "odt")
    lines = lines_of(document)
    assert lines[:5] == [
        "Hive inspection",
        "Inspect each hive every nine days during the swarming season. A calm colony is best "
        "opened on a warm afternoon.",
        "Light the smoker with dry pine needles",
        "Lift the frames one at a time",
        "Look for eggs standing upright in the cells",
    ]
    assert lines[7:10] == [
        "Month | Task",
        "April | Add the first super",
        "August | Extract the honey",
    ]
    assert lines[-1] == "Leave enough stores for the bees to survive the winter."
    harvest = document.text.index("Honey harvest")
    assert document.locations == ((0, "§ Hive inspection"), (harvest, "§ Honey harvest"))


def test_epub_made_by_libreoffice_is_located_by_its_contents():
    document = read(DATA / "sourdough.epub")
    assert (document.title, document.kind) == ("Sourdough at Home", "epub")
    lines = lines_of(document)
    assert lines[:4] == [
        "The starter",
        "Feed the starter equal weights of flour and water once a day. A lively starter "
        "doubles in size within six hours of a feeding.",
        "Use unbleached rye flour for the first week",  # LibreOffice writes list items as <p>
        "Keep the jar loosely covered",
    ]
    assert lines[6:9] == [
        "Step | Time",
        "Bulk rise | Five hours",
        "Final proof | Overnight in the fridge",
    ]
    baking = document.text.index("Baking day")
    assert document.locations == ((0, "§ The starter"), (baking, "§ Baking day"))


def test_rtf_made_by_libreoffice():
    document = read(DATA / "tides.rtf")
    assert (document.title, document.kind) == ("Reading the Tides", "rtf")
    assert lines_of(document) == [
        "Spring and neap tides",
        "Spring tides come twice a month, at the new and the full moon. The tidal range is "
        "smallest at the neap tides, near the quarter moons.",
        "High water arrives about fifty minutes later each day",
        "A tide table lists the times for one harbour",
        "Crossing the causeway",
        "The causeway to the island is safe for two hours either side of low water. Check "
        "the table before crossing the causeway.",
        "Tide | Causeway",
        "Low water | Open to walkers",
        "High water | Under two metres of sea",
        "Café owners on the island sell tide tables for one euro.",  # \u233 and its \'e9
    ]
    crossing = document.text.index("Crossing the causeway")
    assert document.locations == (
        (0, "§ Spring and neap tides"),
        (crossing, "§ Crossing the causeway"),
    )


def test_presentation_made_by_libreoffice_is_located_by_slide():
    document = read(DATA / "orbits.pptx")
    assert (document.title, document.kind) == ("Orbits for Beginners", "pptx")
    assert document.text == "\n\n".join(
        [
            "Kepler's laws",
            "Planets move in ellipses with the Sun at one focus",
            "A planet sweeps equal areas in equal times",
            "Escape velocity",
            "A rocket needs 11.2 kilometres per second to escape the pull of the Earth. Escape "
            "velocity does not depend on the mass of the rocket.",
            "Geostationary orbit",
            "A geostationary satellite circles the Earth once a day at an altitude of 35,786 "
            "kilometres.",
            "It stays above the same point on the equator.",
        ]
    )
    starts = [document.text.index(t) for t in ("Kepler", "Escape velocity", "Geostationary")]
    assert document.locations == tuple(zip(starts, ("slide 1", "slide 2", "slide 3")))
    assert document.location_at(document.text.index("35,786")) == "slide 3"


@pytest.mark.parametrize("name", REAL)
def test_blocks_are_never_run_together(name):
    """Every block (paragraph, heading, list item, table row) is apart from the next by a
    blank line: no sentence the splitter finds spans two of them, whatever layout it reads."""
    document = read(DATA / name)
    assert "\n\n\n" not in document.text
    assert all(line == " ".join(line.split()) for line in document.text.split("\n\n"))
    sentences, _ = PassageSplitter().run(document)
    assert sentences
    for sentence in sentences:
        assert "\n" not in document.text[sentence.start : sentence.end], sentence


# ----- generated files: what real Office files hold beyond LibreOffice's simple ones ----------


def word_file(**extra) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = extra.get("title", "")
    document.add_paragraph("Field Guide", style="Title")
    document.add_paragraph("An introduction before any heading.")
    document.add_heading("Nesting", level=1)
    document.add_paragraph("Herons nest in colonies called heronries.")
    document.add_paragraph("Sticks", style="List Bullet")
    document.add_paragraph("Reeds", style="List Number")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([["Bird", "Eggs", "Weeks"], ["Heron", "4", "4"], ["Egret", "3", ""]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(2, 1).merge(table.cell(2, 2))  # a merged cell is read once
    document.add_heading("Feeding " + "and more " * 20, level=2)
    paragraph = document.add_paragraph("Herons stand still")
    paragraph.add_run().add_tab()
    paragraph.add_run("and strike fast.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_generated_word_document_headings_lists_tables_and_title(tmp_path):
    path = tmp_path / "guide.docx"
    path.write_bytes(word_file())
    document = read(path)
    assert document.title == "Field Guide"  # no metadata title: the first heading
    assert lines_of(document) == [
        "Field Guide",
        "An introduction before any heading.",
        "Nesting",
        "Herons nest in colonies called heronries.",
        "Sticks",
        "Reeds",
        "Bird | Eggs | Weeks",
        "Heron | 4 | 4",
        "Egret | 3",
        "Feeding " + " ".join(["and more"] * 20),
        "Herons stand still and strike fast.",
    ]
    labels = [label for _, label in document.locations]
    assert labels[:2] == ["§ Field Guide", "§ Nesting"]
    assert labels[2].startswith("§ Feeding and more") and labels[2].endswith("…")
    assert len(labels[2]) <= 82
    path.write_bytes(word_file(title="Herons of the Marsh"))
    assert read(path).title == "Herons of the Marsh"


def test_generated_presentation_notes_hidden_slides_and_tables(tmp_path):
    import pptx

    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Tea harvest"
    first.placeholders[1].text_frame.text = "Leaves are picked by hand\nTwo leaves and a bud"
    first.notes_slide.notes_text_frame.text = "Darjeeling picks four flushes a year."
    hidden = deck.slides.add_slide(deck.slide_layouts[5])
    hidden.shapes.title.text = "Draft numbers nobody should quote"
    hidden.element.set("show", "0")
    third = deck.slides.add_slide(deck.slide_layouts[5])
    third.shapes.title.text = "Grades"
    rows = [["Grade", "Leaf"], ["FTGFOP", "Whole leaf with tips"]]
    shape = third.shapes.add_table(2, 2, 0, 2_000_000, 6_000_000, 1_000_000)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    path = tmp_path / "tea.pptx"
    deck.save(path)
    document = read(path)
    assert "Draft numbers" not in document.text
    assert lines_of(document) == [
        "Tea harvest",
        "Leaves are picked by hand",
        "Two leaves and a bud",
        "Darjeeling picks four flushes a year.",
        "Grades",
        "Grade | Leaf",
        "FTGFOP | Whole leaf with tips",
    ]
    notes = document.text.index("Darjeeling")
    assert document.locations == (
        (0, "slide 1"),
        (notes, "slide 1, notes"),  # speaker notes, labelled as such
        (document.text.index("Grades"), "slide 3"),  # the hidden slide keeps its number
    )


def test_generated_epub_headings_anchors_and_entities(tmp_path):
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("id-1")
    book.set_title("Knots")
    one = epub.EpubHtml(title="Bends", file_name="text/one.xhtml")
    one.content = (
        "<html><body><h1>Bends</h1><p>A sheet bend joins two ropes.</p>"
        "<ul><li>Form a bight</li><li>Pass the end through<ul><li>Tuck it</li></ul></li></ul>"
        "</body></html>"
    )
    two = epub.EpubHtml(title="Hitches", file_name="text/two.xhtml")
    two.content = (
        "<html><body><p>Hitches tie a rope&#160;to a post.</p>"
        '<p id="clove">A clove hitch<br/>slips under load.</p>'
        "<table><tr><th>Knot</th><td>Use</td></tr><tr><td>Clove</td><td>Mooring</td></tr></table>"
        "<h2>Round turn</h2><p>A round turn holds better.</p></body></html>"
    )
    book.add_item(one)
    book.add_item(two)
    book.toc = [epub.Link("text/one.xhtml", "Bends", "one"),
                (epub.Section("Hitches", "text/two.xhtml"),
                 [epub.Link("text/two.xhtml#clove", "The clove hitch", "clove")])]  # fmt: skip
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", one, two]
    path = tmp_path / "knots.epub"
    epub.write_epub(str(path), book)
    document = read(path)
    assert document.title == "Knots"
    assert lines_of(document) == [
        "Bends",
        "A sheet bend joins two ropes.",
        "Form a bight",
        "Pass the end through",
        "Tuck it",
        "Hitches tie a rope to a post.",  # &#160; is white space
        "A clove hitch",  # a line break stays a newline
        "slips under load.",
        "Knot | Use",
        "Clove | Mooring",
        "Round turn",
        "A round turn holds better.",
    ]
    at = document.text.index
    assert document.locations == (
        (0, "§ Bends"),
        (at("Hitches tie"), "§ Hitches"),
        (at("A clove hitch"), "§ The clove hitch"),  # a contents entry inside a chapter
        (at("Round turn"), "§ Round turn"),
    )


def test_location_at_and_old_saved_documents():
    text = "intro\n\nHeading\n\nbody"
    document = Document("a.docx", "A", text, "0", "docx", (), ((7, "§ Heading"),))
    assert document.location_at(0) is None  # before the first heading
    assert document.location_at(7) == document.location_at(len(text)) == "§ Heading"
    assert Document.from_dict(document.to_dict()) == document
    old = document.to_dict()
    del old["locations"]  # saved before locations existed
    assert Document.from_dict(old).locations == ()
    pdf = Document("a.pdf", "A", "one\n\ntwo", "0", "pdf", (0, 5))
    assert (pdf.location_at(0), pdf.location_at(6)) == ("page 1", "page 2")  # from pages
    assert Document("a.txt", "A", "x", "0").location_at(0) is None


# ----- damaged files: a plain reason each, quickly --------------------------------------------


def zip_bomb() -> bytes:
    """A .docx of 66 KB whose document.xml unpacks to 60 MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        with zipfile.ZipFile(DATA / "lighthouse.docx") as real:
            for member in real.infolist():
                if member.filename != "word/document.xml":
                    package.writestr(member, real.read(member))
        with package.open("word/document.xml", "w", force_zip64=True) as part:
            chunk = b" " * 2**20
            for _ in range(MAX_MARKUP_BYTES // len(chunk) + 10):
                part.write(chunk)
    return buffer.getvalue()


def truncated(name: str) -> bytes:
    data = (DATA / name).read_bytes()
    return data[: len(data) // 2]


def not_a_zip(name: str) -> bytes:
    return b"Just some notes, saved with the wrong name.\n" * 20


def other_format(name: str) -> bytes:
    """A real zip of another format under this name: a pptx as .docx, a docx otherwise."""
    other = "orbits.pptx" if name.endswith(".docx") else "lighthouse.docx"
    return (DATA / other).read_bytes()


def drm_epub() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package, zipfile.ZipFile(DATA / "sourdough.epub") as real:
        for member in real.infolist():
            package.writestr(member, real.read(member))
        package.writestr(
            "META-INF/encryption.xml",
            '<encryption><EncryptedData><EncryptionMethod Algorithm="http://www.w3.org/2001/'
            '04/xmlenc#aes128-cbc"/><CipherData><CipherReference URI="OEBPS/sections/'
            'section0001.xhtml"/></CipherData></EncryptedData></encryption>',
        )
    return buffer.getvalue()


ZIPPED = ["lighthouse.docx", "orbits.pptx", "beekeeping.odt", "sourdough.epub"]
DAMAGED = (
    [(f"truncated-{n}", truncated(n), "could not be read") for n in ZIPPED]
    + [(f"notzip-{n}", not_a_zip(n), "could not be read") for n in ZIPPED]
    + [(f"other-{n}", other_format(n), "could not be read") for n in ZIPPED]
    + [(f"empty-{n}", b"", "the file is empty") for n in ZIPPED + ["tides.rtf"]]
    + [
        ("locked.docx", (DATA / "locked.docx").read_bytes(), "password-protected"),
        ("locked.odt", (DATA / "locked.odt").read_bytes(), "password-protected"),
        ("drm.epub", drm_epub(), "protected (DRM)"),
        ("notrtf.rtf", b"<html><body>A page, not RTF</body></html>", "not RTF"),
        ("notrtf2.rtf", b"Plain words in a file called .rtf", "not RTF"),
    ]
)
PLAIN = re.compile(r"^the [a-zA-Z -]+\b.*$")
LIBRARY_WORDS = re.compile(r"Error|Exception|zipfile|lxml|docx\.|pptx\.|odf|Traceback|<|>")


@pytest.mark.parametrize(("name", "data", "says"), DAMAGED, ids=[d[0] for d in DAMAGED])
def test_damaged_files_give_a_plain_reason(tmp_path, name, data, says):
    suffix = Path(name).suffix
    path = tmp_path / f"{Path(name).stem.split('-')[0]}{suffix}"
    path.write_bytes(data)
    with pytest.raises(DocumentError) as error:
        read(path)
    reason = error.value.reason
    assert says in reason and PLAIN.match(reason), reason
    assert not LIBRARY_WORDS.search(reason), reason


def test_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    bomb = zip_bomb()
    assert len(bomb) < 2**20  # tiny on disk
    path = tmp_path / "bomb.docx"
    path.write_bytes(bomb)
    began = time.perf_counter()
    with pytest.raises(DocumentError, match="unpacks to far more than its size"):
        read(path)
    assert time.perf_counter() - began < 1.0  # refused from the declared sizes


def test_crafted_rtf_reads_in_linear_time(tmp_path):
    """What made striprtf run for minutes (a font table without ";", hyperlink fields
    without an end) is read here in well under a second."""
    path = tmp_path / "crafted.rtf"
    path.write_bytes(
        b"{\\rtf1{\\fonttbl" + b"\\f1\\fcharset0 " * 20_000 + b"}Tail words here.\\par"
        + b'{\\field{\\*\\fldinst{HYPERLINK "a" ' * 20_000 + b"}"
    )  # fmt: skip
    began = time.perf_counter()
    document = read(path)
    assert time.perf_counter() - began < 2.0
    assert document.text == "Tail words here."


# ----- a folder of them: answers with locations, bad files skipped ----------------------------


@pytest.fixture(scope="module")
def formats_assistant(embedder, tmp_path_factory) -> Assistant:
    folder = tmp_path_factory.mktemp("formats")
    for name in REAL + ["locked.docx"]:
        shutil.copy(DATA / name, folder / name)
    (folder / "bomb.docx").write_bytes(zip_bomb())
    (folder / "broken.odt").write_bytes(truncated("beekeeping.odt"))
    (folder / "notes.txt").write_text("Otters hold hands while they sleep.\n")
    return Assistant.from_folder(folder, embedder=embedder)


def test_folder_indexes_the_good_files_and_skips_the_bad_ones(formats_assistant):
    assert sorted(formats_assistant.documents) == sorted(REAL + ["notes.txt"])
    skipped = formats_assistant.last_sync.skipped
    assert sorted(skipped) == ["bomb.docx", "broken.odt", "locked.docx"]
    assert "password-protected" in skipped["locked.docx"]
    assert all(not LIBRARY_WORDS.search(reason) for reason in skipped.values()), skipped


@pytest.mark.parametrize(
    ("question", "doc_id", "words", "location"),
    [
        ("How often does the fog horn sound?", "lighthouse.docx", "two blasts", "§ Fog signals"),
        ("How much honey does a strong colony give?", "beekeeping.odt", "twenty kilograms",
         "§ Honey harvest"),
        ("At what temperature is the sourdough loaf baked?", "sourdough.epub", "250 degrees",
         "§ Baking day"),
        ("What speed does a rocket need to escape the Earth?", "orbits.pptx", "11.2", "slide 2"),
        ("When is the causeway to the island safe?", "tides.rtf", "two hours",
         "§ Crossing the causeway"),
    ],
)  # fmt: skip
def test_answers_cite_the_location(formats_assistant, question, doc_id, words, location):
    from qa.cli import _cite
    from qa.web.render import cite, source_item

    answer = formats_assistant.ask(question)
    assert not answer.abstained, answer.message
    top = answer.extracts[0]
    assert (top.doc_id, top.location) == (doc_id, location)
    assert words in top.text
    assert top.page is None
    assert _cite(top).endswith(f", {location}]")
    shown = location.replace(".", "&#46;")  # the page escapes Markdown's characters
    assert f", {shown}" in cite(top) and f", {shown}" in source_item(1, top)


def test_upload_of_a_word_document_and_of_a_broken_one(embedder, tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "notes.txt").write_text("Otters hold hands while they sleep.\n")
    app = ChatApp(Assistant.from_folder(folder, embedder=embedder), watch=False)
    status = app._add_one(DATA / "lighthouse.docx")
    assert status.startswith("✓ lighthouse.docx: indexed"), status
    assert (folder / "lighthouse.docx").is_file()
    answer = app.assistant.ask("How often does the fog horn sound?")
    assert answer.extracts[0].location == "§ Fog signals"
    broken = tmp_path / "upload" / "report.docx"
    broken.parent.mkdir()
    broken.write_bytes(truncated("lighthouse.docx"))
    status = app._add_one(broken)
    assert status == (
        "✗ report.docx: the Word document could not be read (it may be damaged, or not a "
        ".docx file). Nothing was changed."
    )
    assert not (folder / "report.docx").exists()
