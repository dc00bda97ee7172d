"""HTML for answers and source documents. Every piece of document or user text is escaped.

Escaping covers HTML and Markdown: the chat renders Markdown, so characters such as ``*``,
``[`` or ``(`` in a document become numeric entities and show as themselves, never as links
or markup.
"""

from __future__ import annotations

import re
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


def cite(extract: Extract) -> str:
    """``title — file, characters a–b, where`` (where: "page n", "slide n", "§ Heading"),
    escaped."""
    return (
        f"<i>{escape(extract.title)}</i> — <code>{escape(extract.doc_id)}</code>, "
        f"characters {extract.start}–{extract.end}{escape(_page(extract))}"
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
    """The chat message for an answer: the best extract quoted, citations, and sources
    (and its ``notice``, first, when there is one)."""
    html = _answer_html(answer)
    if answer.notice:
        html = f'<p class="qa-notice" role="note">⚠ {escape(answer.notice)}</p>{html}'
    return html


def _answer_html(answer: Answer) -> str:
    if answer.abstained or not answer.extracts:
        parts = [f"<p><b>{NO_ANSWER}</b></p>"]
        if answer.unknown:  # words of the question: escaped like document text
            parts.append(f"<p>No source mentions {escape(', '.join(answer.unknown))}.</p>")
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
    parts = [f"<blockquote>“{quote(best)}” {marker(1, best)}</blockquote>"]
    items = "".join(source_item(n, e) for n, e in enumerate(answer.extracts, 1))
    parts.append(f'<p><small>Sources:</small></p><ol class="qa-sources">{items}</ol>')
    return "".join(parts)


def marker(n: int, extract: Extract) -> str:
    """The citation marker ``[n]``: the page's script shows the source when it is clicked;
    hovering shows where it is from."""
    hint = f"{extract.title} ({extract.doc_id}{_page(extract)}): {snippet(extract.text, 120)}"
    return f'<a class="qa-cite" href="#qa-source" title="{escape(hint)}">[{n}]</a>'


def source_item(n: int, extract: Extract) -> str:
    """A source list entry: marker, whole title, file and page, confidence, a snippet and a
    link to share the span. Extracts below medium confidence are set back visibly."""
    label = confidence_label(extract.score)
    secondary = ' class="qa-secondary"' if n > 1 and label == "low" else ""
    return (
        f"<li{secondary}>{marker(n, extract)} "
        f'<span class="qa-src-title">{escape(extract.title)}</span> — '
        f"<code>{escape(extract.doc_id)}</code>{escape(_page(extract))} · {label} confidence "
        f"({extract.score:.2f}) · {share_link(extract)}"
        f'<span class="qa-snippet">“{escape(snippet(extract.text))}”</span></li>'
    )


def _page(extract: Extract) -> str:
    """ ", where" the extract is (its location, else its PDF page), or ""; not escaped."""
    where = extract.location or (f"page {extract.page}" if extract.page else None)
    return f", {where}" if where else ""


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


def share_link(extract: Extract) -> str:
    href = share_href(extract.doc_id, extract.start, extract.end)
    return (
        f'<a class="qa-share" href="{escape(href)}" '
        f'title="A link that opens this span (characters {extract.start}–{extract.end})">link</a>'
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
) -> str:
    """The whole document, escaped, with the ``cited`` span highlighted (``id="qa-cited"``)
    and ``others`` marked lightly. Overlaps resolve in favour of the cited span."""
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
    where = ""
    if cited:
        location = document.location_at(cited[0])
        where = f" · {label + ' ' if label else ''}characters {cited[0]}–{cited[1]}" + (
            f", {escape(location)}" if location else ""
        )
    back = (  # shown on narrow screens only (CSS), where the panel is below the chat
        '<button type="button" class="qa-back">↑ Back to the answer</button>' if label else ""
    )
    header = (
        f'<div class="qa-doc-head">{back}<b>{escape(document.title)}</b><br>'
        f"<code>{escape(document.doc_id)}</code> · {len(text):,} characters{where}</div>"
    )
    # Focusable and named: a scrolling region must be reachable and scrollable by keyboard.
    return (
        f'{header}<div class="qa-doc" id="qa-doc" tabindex="0" role="region" '
        f'aria-label="Text of {escape(document.title)}">{"".join(out)}</div>'
    )
