"""HTML for answers and source documents. Every piece of document or user text is escaped.

Escaping covers HTML and Markdown: the chat renders Markdown, so characters such as ``*``,
``[`` or ``(`` in a document become numeric entities and show as themselves, never as links
or markup.
"""

from __future__ import annotations

import re
import time
from pathlib import PurePosixPath
from urllib.parse import urlencode

from qa.ingest.documents import Document
from qa.values import NO_ANSWER, Answer, Extract

_MARKDOWN = {ch: f"&#{ord(ch)};" for ch in "\\`*_{}[]()#+-.!|~>:=$<&\"'"}


def escape(text: str) -> str:
    """``text`` safe to put in HTML or Markdown: shows literally, never runs or links."""
    return "".join(_MARKDOWN.get(ch, ch) for ch in text)


def confidence_label(score: float) -> str:
    """A reading of an extract score: the bands are fixed points on the same scale."""
    if score >= 0.65:
        return "high"
    if score >= 0.5:
        return "medium"
    return "low"


def where(extract: Extract) -> str | None:
    """Where the extract is, as a person cites it ("page 3", "slide 2", "§ Heading"), or None."""
    return extract.location or (f"page {extract.page}" if extract.page else None)


def _page(extract: Extract) -> str:
    """ ", where" the extract is, or ""; not escaped."""
    place = where(extract)
    return f", {place}" if place else ""


def short_title(title: str, doc_id: str = "", limit: int = 48) -> str:
    """A chip's name for a document: its title up to a subtitle (": ", " — ", " | ") when
    what comes before says enough, cut at a word within ``limit``; the file without one."""
    head = re.split(r"\s*(?::|\s[—–|-])\s+", title.strip(), maxsplit=1)[0]
    return snippet(head if len(head) >= 12 else title.strip(), limit) or doc_id


def citation(extract: Extract) -> str:
    """The plain citation line: ``Title — file, characters a–b (page n)``, not escaped (the
    copied conversation's ``[n]`` lines)."""
    place = where(extract)
    return f"{extract.title} — {extract.doc_id}, characters {extract.start}–{extract.end}" + (
        f" ({place})" if place else ""
    )


def cite(extract: Extract) -> str:
    """``title — file, where`` (where: "page n", "slide n", "§ Heading"), escaped; the exact
    characters on hover, not in the text."""
    return (
        f'<span title="characters {extract.start}–{extract.end}"><i>{escape(extract.title)}'
        f"</i> — <code>{escape(extract.doc_id)}</code>{escape(_page(extract))}</span>"
    )


def quote(extract: Extract) -> str:
    """The extract's text, escaped, with its answering phrase (if any) in bold; white space
    collapsed (a sentence of hard-wrapped text keeps the source's line breaks)."""
    text = extract.text
    if extract.focus_start is not None and extract.focus_end is not None:
        a, b = extract.focus_start - extract.start, extract.focus_end - extract.start
        if 0 <= a < b <= len(text):
            return (
                escape(_flat(text[:a]))
                + f'<strong class="qa-focus">{escape(_flat(text[a:b]))}</strong>'
                + escape(_flat(text[b:]))
            )
    return escape(_flat(text))


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def clarify_html(pronoun: str) -> str:
    """The reply to a follow-up that opens a conversation: ask what its pronoun names."""
    return (
        f"<p><b>What does “{escape(pronoun)}” refer to?</b> This conversation has no earlier "
        "question it could refer to: please ask again, naming it.</p>"
    )


def answer_html(answer: Answer) -> str:
    """The chat message for an answer: the best extract quoted, its confidence in words, and
    the sources as chips (and its ``notice``, first, when there is one)."""
    html = _answer_html(answer)
    if answer.notice:
        html = f'<p class="qa-notice" role="note">⚠ {escape(answer.notice)}</p>{html}'
    return html


CONFIDENCE_WORDS = {
    "high": "High confidence",
    "medium": "Medium confidence",
    "low": "Low confidence: check the source",
}


def _answer_html(answer: Answer) -> str:
    if answer.abstained or not answer.extracts:
        parts = [f"<p><b>{NO_ANSWER}</b></p>"]
        if said := answer.explanation:  # it holds the question's words: escaped like documents
            parts.append(f"<p>{escape(said)}</p>")
        if answer.related:
            items = "".join(
                f"<li>{escape(e.text)}<br><small>{cite(e)}</small></li>" for e in answer.related
            )
            parts.append(
                "<details><summary>Closest passages — <i>not an answer</i></summary>"
                f"<ul>{items}</ul></details>"
            )
        return "".join(parts)
    best = answer.extracts[0]
    # The quote first (a plain marker: hovering it shows the citation), then how sure, then
    # the sources: one chip per document, each holding its extracts' markers.
    return (
        f'<blockquote class="qa-quote">“{quote(best)}” {marker(1, best, hover=True)}'
        f'</blockquote><p class="qa-confidence">{CONFIDENCE_WORDS[confidence_label(best.score)]}'
        f'</p><p class="qa-sources-head">Sources</p>{sources_html(answer.extracts)}'
    )


def sources_html(extracts: list[Extract]) -> str:
    """The source chips: one per document (in the order of its best extract), its short title
    (the whole one on hover) and the marker of each of its extracts."""
    documents: dict[str, list[tuple[int, Extract]]] = {}
    for n, extract in enumerate(extracts, 1):
        documents.setdefault(extract.doc_id, []).append((n, extract))
    chips = []
    for doc_id, numbered in documents.items():
        first = numbered[0][1]
        refs = "".join(source_item(n, e) for n, e in numbered)
        chips.append(
            f'<li class="qa-chip"><span class="qa-chip-title" title="{escape(first.title)} '
            f'({escape(doc_id)})">{escape(short_title(first.title, doc_id))}</span>{refs}</li>'
        )
    return f'<ul class="qa-sources">{"".join(chips)}</ul>'


def marker(n: int, extract: Extract, hover: bool = False) -> str:
    """The citation marker ``[n]``, named by where it goes ("Source 1: Title, page 3"): the
    page's script shows that span in the source panel when it is activated. ``hover``: a
    title with the citation (a chip's markers have their popover instead)."""
    name = f"Source {n}: {short_title(extract.title, extract.doc_id)}{_page(extract)}"
    title = f' title="{escape(citation(extract))}"' if hover else ""
    return f'<a class="qa-cite" href="#qa-source"{title}>[{n}]{accessible_name(name)}</a>'


def accessible_name(name: str) -> str:
    """``name`` for the element it is put in, as a hidden ``qa-name`` span: the chat's
    sanitizer drops ``aria-label``, so the page's script makes it the label."""
    return f'<span class="qa-name">{escape(name)}</span>'


def source_item(n: int, extract: Extract) -> str:
    """One extract in its document's chip: the marker, where it is, and a popover (on hover
    or focus) with the whole citation, the exact characters, the confidence in words, a
    snippet and a link to share the span. Extras below medium confidence are set back."""
    label = confidence_label(extract.score)
    secondary = " qa-secondary" if n > 1 and label == "low" else ""
    place = where(extract)
    shown = f' <small class="qa-where">{escape(place)}</small>' if place else ""
    return (
        f'<span class="qa-ref{secondary}">{marker(n, extract)}{shown}<span class="qa-pop">'
        f'<span class="qa-pop-cite">{escape(citation(extract))}</span>'
        f'<span class="qa-pop-conf">{CONFIDENCE_WORDS[label]}</span>'
        f'<span class="qa-snippet">“{escape(snippet(extract.text))}”</span>'
        f"{share_link(n, extract)}</span></span>"
    )


def snippet(text: str, limit: int = 160) -> str:
    """``text`` up to ``limit`` characters, cut at a word boundary (never mid-word)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return f"{cut}…"


def share_href(doc_id: str, start: int, end: int) -> str:
    """The app's address for one span (see ``qa.web.callbacks.ChatApp.open_shared``), relative."""
    return "?" + urlencode({"doc": doc_id, "start": start, "end": end})


def share_link(n: int, extract: Extract) -> str:
    """A link that opens the app on this span, saying so (the chat opens links in a new tab)."""
    href = share_href(extract.doc_id, extract.start, extract.end)
    name = f"Link to this extract: source {n}, {short_title(extract.title, extract.doc_id)}"
    return (
        f'<a class="qa-share" href="{escape(href)}">Link to this extract'
        f"{accessible_name(name + ' (opens in a new tab)')}</a>"
    )


# A document's format as the library names it, by its file's suffix (qa.ingest.formats).
FORMAT_NAMES = {
    ".txt": "Text",
    ".md": "Markdown",
    ".markdown": "Markdown",
    ".html": "Web page",
    ".htm": "Web page",
    ".pdf": "PDF",
    ".docx": "Word",
    ".pptx": "PowerPoint",
    ".odt": "OpenDocument",
    ".epub": "EPUB",
    ".rtf": "RTF",
}


def size_text(size: int) -> str:
    """``812 bytes``, ``12.4 kB``, ``3.1 MB``."""
    if size < 1000:
        return f"{size} byte{'' if size == 1 else 's'}"
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def picker_choices(sources: list) -> list[tuple[str, str]]:
    """The "Show a document" list: (label, doc_id) by title, each labelled by its short title
    and file name (a hash-like file name alone says nothing), so typing either finds it."""
    ordered = sorted(sources, key=lambda s: (s.title or s.doc_id).casefold())
    return [(f"{short_title(s.title, s.doc_id)} — {s.doc_id}", s.doc_id) for s in ordered]


LIBRARY_COLUMNS = ("Document", "Format", "Size", "Passages", "Indexed")


def utc(seconds: float, form: str = "%Y-%m-%d %H:%M") -> str | None:
    """A time of the index in UTC ("2026-12-06 13:40" as the library shows it; the REST API
    asks for ISO 8601), or None when unknown: 0 (an index from before it was recorded) or
    nonsense from a damaged manifest."""
    if not (0 < seconds < 1e11):  # also false for NaN
        return None
    return time.strftime(form, time.gmtime(seconds))


def library_html(sources: list) -> str:
    """The Sources tab's table of documents (``Assistant.sources()``), by title: each title a
    button that opens the document in the viewer (its ``value`` is the ``doc_id``, read by the
    page's script), the file name under it, then format, size, passages and when qa indexed it."""
    if not sources:
        return "<p class='qa-hint'>No documents yet: add some below.</p>"
    rows = []
    for s in sorted(sources, key=lambda s: (s.title or s.doc_id).casefold()):
        kind = FORMAT_NAMES.get(PurePosixPath(s.doc_id).suffix.lower(), "Other")
        title = s.title or s.doc_id
        when = utc(s.indexed) or "–"
        # data-sort: what each column sorts by in the page's script (text, or a number).
        rows.append(
            f'<tr><td data-sort="{escape(title.casefold())}"><button type="button" '
            f'class="qa-open" value="{escape(s.doc_id)}">{escape(title)}</button><br><small>'
            f'<code>{escape(s.doc_id)}</code><span class="qa-narrow"> · {kind}</span></small>'
            f'</td><td data-sort="{kind.casefold()}">{kind}</td>'
            f'<td data-sort="{s.size}">{size_text(s.size)}</td>'
            f'<td data-sort="{s.passages}">{s.passages:,}</td>'
            f'<td data-sort="{s.indexed if when != "–" else 0:.0f}">{when}</td></tr>'
        )
    head = "".join(
        f'<th scope="col" aria-sort="{"ascending" if n == 0 else "none"}"><button '
        f'type="button" class="qa-sort" value="{n}">{name}</button></th>'
        for n, name in enumerate(LIBRARY_COLUMNS)
    )
    search = (
        '<label class="qa-filter">Find a document <input type="search" id="qa-filter" '
        'placeholder="title or file name" autocomplete="off"></label>'
    )
    return (
        f'<div class="qa-library-wrap">{search}<table class="qa-library"><caption>The indexed '
        "documents (UTC times): choose one to read it below; a column's name sorts by it"
        f"</caption><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


# The most of a document the source panel shows: a citation into a 5 MB one-line document
# sent all 5 MB of HTML to the page. 40,000 characters is ten pages around the span.
SHOWN_CHARS = 40_000


def shown_window(length: int, cited: tuple[int, int] | None) -> tuple[int, int]:
    """The characters of a document of ``length`` that the panel shows: all of a short one,
    else ``SHOWN_CHARS`` centred on the ``cited`` span (from the start without one)."""
    if length <= SHOWN_CHARS:
        return 0, length
    if not cited:
        return 0, SHOWN_CHARS
    middle = (cited[0] + cited[1]) // 2
    first = min(max(0, middle - SHOWN_CHARS // 2), length - SHOWN_CHARS)
    first = min(first, cited[0])  # a span longer than the window starts it
    return first, min(length, first + SHOWN_CHARS)


def document_html(
    document: Document,
    cited: tuple[int, int] | None = None,
    others: list[tuple[int, int]] = (),
    label: str | None = None,
    question: str | None = None,
) -> str:
    """The whole document, escaped, with the ``cited`` span highlighted (``id="qa-cited"``)
    and ``others`` marked lightly. Overlaps resolve in favour of the cited span. ``label``
    ("Source 2", "Shared span") and ``question`` head the panel; with a label it has a
    "Back to the answer" button and a sentence for the page's live region (``qa-says``)."""
    text = document.text
    first, last = shown_window(len(text), cited)
    marks: list[tuple[int, int, str]] = []
    if cited:
        marks.append((cited[0], cited[1], "qa-cited"))
    for start, end in others:
        if cited and start < cited[1] and cited[0] < end:
            continue
        marks.append((start, end, "qa-other"))
    marks.sort()
    out, position = [], first
    for start, end, kind in marks:
        start, end = max(start, position), min(end, last)
        if start >= end:
            continue
        out.append(escape(text[position:start]))
        element_id = ' id="qa-cited"' if kind == "qa-cited" else ""
        out.append(f'<mark class="{kind}"{element_id}>{escape(text[start:end])}</mark>')
        position = end
    out.append(escape(text[position:last]))
    if (first, last) != (0, len(text)):
        out.insert(
            0, f'<p class="qa-hint">Showing characters {first:,}–{last:,} of {len(text):,}.</p>'
        )
    head, details = [], [f"<code>{escape(document.doc_id)}</code>"]
    if label:  # a citation (or shared span) is shown: the way back, and what it answers
        # Words only: an arrow glyph was a contrast check axe could not decide (issue 33).
        head.append('<button type="button" class="qa-back">Back to the answer</button>')
        asked = f" for “{escape(question)}”" if question else ""
        head.append(f'<p class="qa-panel-q">{escape(label)}{asked}</p>')
    where = document.location_at(cited[0]) if cited else None
    if where:
        details.append(escape(where))
    if cited:  # exact, but secondary: the highlight shows the span
        details.append(f"characters {cited[0]}–{cited[1]} of {len(text):,}")
    else:
        details.append(f"{len(text):,} characters")
    head.append(
        f'<p class="qa-doc-title"><span class="qa-doc-name">{escape(document.title)}</span><br>'
        f"<small>{' · '.join(details)}</small></p>"
    )
    if label and cited:
        says = f"{label}: {document.title}" + (f", {where}" if where else "")
        head.append(
            f'<p class="qa-sr-only" id="qa-says">{escape(says)}. The cited passage is '
            "highlighted; Escape goes back to the answer.</p>"
        )
    # Focusable and named: a scrolling region must be reachable and scrollable by keyboard.
    return (
        f'<div class="qa-doc-head">{"".join(head)}</div><div class="qa-doc" id="qa-doc" '
        f'tabindex="0" role="region" aria-label="Text of {escape(document.title)}">'
        f"{''.join(out)}</div>"
    )
