"""Answer focus: what kind of phrase a question wants, and where that phrase is in a sentence.

Rule-based, no model: a question is typed from its wh-word and head noun ("when", "what year"
-> DATE; "how many", "what share" -> NUMBER; "who", "which leader" -> PERSON; "where",
"which city" -> PLACE; "which newspaper" -> NAME). Candidate phrases of each type are found
with patterns (dates, numbers and percentages, runs of capitalised words). The focus is the
candidate nearest to the question's words in the sentence that the question does not already
contain. Spans are character offsets into the sentence as given: nothing is rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from qa.ingest.text import STOPWORDS, fold, terms
from qa.pipeline.query import identifiers, is_identifier

DATE, NUMBER, PERSON, PLACE, NAME = "DATE", "NUMBER", "PERSON", "PLACE", "NAME"
# Documentation's own kinds: a setting, option, command or other name as code writes it, and
# a file system path ("Which variable sets ...?" -> PYENV_VIRTUALENV_CACHE_PATH).
SYMBOL, PATH = "SYMBOL", "PATH"

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:1[0-9]{3}|20[0-9]{2})"
_DATE_PATTERNS = [
    rf"\b{_DAY}(?:\s*(?:-|–|to|and)\s*{_DAY})?\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b",
    rf"\b{_MONTH}\s+{_DAY}(?:\s*(?:-|–|to|and)\s*{_DAY})?(?:,?\s+{_YEAR})?\b",
    rf"\b{_MONTH},?\s+{_YEAR}\b",
    rf"\b{_YEAR}s?(?:\s*(?:-|–|to)\s*{_YEAR})?\b",
    r"\b(?:each|every)\s+(?:year|month|week|day|decade)\b|\b(?:annually|yearly|monthly|weekly)\b",
    rf"\b{_MONTH}\b(?=\s|[,.;]|$)",
    r"\b(?:\d{1,2}(?:st|nd|rd|th)\s+)?century\b",
]
# Quantities written as words; the scales count in the plural too ("thousands of years").
_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety half single once twice thrice several"
).split()
_SCALE_WORDS = "hundred thousand million billion dozen".split()
_NUMBER_WORD = (
    "(?:"
    + "|".join([*_NUMBER_WORDS, *(f"{w}s?" for w in _SCALE_WORDS), r"a\s+third", r"a\s+quarter"])
    + ")"
)
_SCALE = r"(?:\s+(?:hundred|thousand|million|billion|trillion))?"
# The word after a number, when it is what is counted ("three astronauts"), not "of", "the"...
_COUNTED = (
    r"(?:\s+(?!(?:of|the|a|an|and|or|to|in|on|at|for|from|by|with|is|are|was|were)\b)[a-z]+)?"
)
_NUMBER_PATTERNS = [
    r"(?:[$€£¥]\s?)?\b\d+(?:[.,]\d+)*\s?(?:%|percent\b|per\s+cent\b)",
    rf"(?:[$€£¥]\s?)?\b\d+(?:[.,]\d+)*(?:st|nd|rd|th)?{_SCALE}{_COUNTED}\b",
    rf"(?i:\b{_NUMBER_WORD}(?:[\s-]+{_NUMBER_WORD})*){_COUNTED}\b",
]
_CAPITAL = r"(?:[A-Z][\w’'.\-]*|[A-Z]{2,})"
_CONNECTOR = r"(?:of|and|for|the|de|du|del|da|van|von|al|bin|on)"
_NAME_PATTERN = re.compile(rf"{_CAPITAL}(?:\s+(?:{_CONNECTOR}\s+)*{_CAPITAL})*")
_NOT_PERSON = set(
    """university organization organisation council agency institute state states news daily
    convention agreement summit union republic ministry committee law science world list heritage
    cooperation spirit association company corporation bank party school college department
    office court army forces federation league times post journal media group centre center
    foundation program programme project river mountain city sea ocean island""".split()
)
_LOCATIVE = re.compile(r"\b(?:in|at|from|to|near|across|into|throughout|within|between)\s+$", re.I)

# Head nouns after "which/what" that fix the expected type.
_HEADS = {
    DATE: "year years month date day decade century time period era season",
    NUMBER: "percentage percent share proportion number amount fraction rate cost price "
    "size population",
    PERSON: "person people leader president author writer student man woman king queen "
    "minister chairman founder scientist player actor artist official officials",
    # Places named by a head noun ("which country") are names; only "where" wants a location.
    NAME: "city country countries region place capital continent town state province "
    "location nation village newspaper agency university institute organization "
    "organisation convention document treaty agreement company team party book film name "
    "title",
}
_VAGUE_HEADS = set(
    "group groups kind kinds type types sort sorts form forms field fields area areas aspect "
    "aspects part parts way ways".split()
)
# Words after "how many" that end the counted noun phrase ("how many students attend").
_VERBS = set(
    "are were is was do does did have has had can could will would should may might must "
    "live work took take make made".split()
)
_NUMBER_TERMS = set(terms(" ".join([*_NUMBER_WORDS, *_SCALE_WORDS, "third", "quarter"])))
_HEAD_TYPES = {noun: kind for kind, nouns in _HEADS.items() for noun in nouns.split()}
# Head nouns of documentation questions. English uses most of them too ("What function does
# ozone perform?", "which mission's flag", 27 of SQuAD v1.1 dev's 10,570 questions), so they
# type a question only when it is about software: it names something as code writes it.
_CODE_HEADS = {
    SYMBOL: "variable option flag setting command script function method parameter argument "
    "switch macro",
    PATH: "directory folder path",
}
_CODE_HEAD_TYPES = {noun: kind for kind, nouns in _CODE_HEADS.items() for noun in nouns.split()}
# "setup.py" is a file name, "U.S." and "e.g." are not.
_CODE_IN_QUESTION = re.compile(
    r"environment variable|`|(?<![\w-])--?[a-z]|\w_\w|\w{2}\.[a-z]{1,5}\b"
)


@dataclass(frozen=True)
class Phrase:
    """A phrase of a given type at ``[start, end)`` in the text it was found in."""

    start: int
    end: int
    kind: str


_TYPED_PHRASES = [
    (NUMBER, r"\bhow (?:many|much)\b|\bwhat (?:percentage|share|proportion|number|fraction)\b"),
    (NUMBER, r"\bhow (?:long|old|far|big|large|tall|high)\b"),
    (DATE, r"\bhow (?:often|frequently)\b"),
    (DATE, r"\bwhen\b|\bwhat (?:year|date|day|month|time)\b"),
    (PERSON, r"\b(?:who|whom|whose)\b"),
    (PLACE, r"\bwhere\b"),
]


@lru_cache(maxsize=4096)  # asked again by demands_type, and per sentence by type_match
def question_type(question: str) -> str | None:
    """The kind of phrase ``question`` asks for, or None when it is not a typed question.

    The earliest question phrase decides: in "What does it build when conditions allow?" the
    question is "what", and "when" only joins two clauses.
    """
    q = " ".join(fold(question).replace("’", "'").split())
    found = []
    for kind, pattern in _TYPED_PHRASES:
        match = re.search(pattern, q)
        if match:
            found.append((match.start(), kind))
    head = re.search(r"\b(?:which|what)((?:\s+[a-z'-]+){1,3})", q)
    if head and _VAGUE_HEADS & set(head.group(1).split()):
        found.append((head.start(), None))  # "which age group", "what kind of ...": untyped
    elif head:
        for word in head.group(1).split():
            kind = _HEAD_TYPES.get(word) or _HEAD_TYPES.get(word.rstrip("s"))
            code = _CODE_HEAD_TYPES.get(word) or _CODE_HEAD_TYPES.get(word.rstrip("s"))
            if code and _about_software(question):
                kind = code
            if kind:
                found.append((head.start(), kind))
                break
        else:
            found.append((head.start(), None))
    return min(found, key=lambda item: item[0])[1] if found else None


def _about_software(question: str) -> bool:
    """Whether ``question`` names something as code or documentation writes it: a program,
    package or setting name (``qa.pipeline.query.identifiers``), an option, a file name."""
    return bool(_CODE_IN_QUESTION.search(question.lower()) or identifiers(question))


# Questions whose answer is, nearly always, a phrase of their type: a year, a count. For
# "who / when / where" SQuAD's answers are often plain noun phrases ("contractors", "after an
# injury", "in the country"), which no pattern here finds (python -m eval.abstention).
_DEMANDING = re.compile(r"\b(?:what|which)\s+year\b|\bhow many\b")
# A setting or a directory is named as code writes it: a sentence that names none does not
# answer "Which variable ...?" or "What directory ...?" (another package's variable for the
# directory asked: the real-file dev near-miss it was chosen on; docs/reader.md).
_DEMANDING_KINDS = {SYMBOL: "a variable, option or command name", PATH: "a path or directory"}


def demands_type(question: str) -> bool:
    """Whether a sentence without a phrase of ``question``'s type cannot answer it: true for
    "what / which year" and "how many" questions, and for the settings and directories of
    documentation questions (``SYMBOL``, ``PATH``)."""
    return demanded_kind(question) is not None


def demanded_kind(question: str) -> str | None:
    """What a demanding question asks for, in words for the asker: "a year", "a number", "a
    variable, option or command name", "a path or directory"; None for other questions."""
    if found := _DEMANDING.search(" ".join(fold(question).split())):
        return "a year" if "year" in found.group() else "a number"
    return _DEMANDING_KINDS.get(question_type(question))


def quantity_unit(question: str) -> str | None:
    """The stemmed noun a "how many X" question counts: in the words after "how many" up to
    a verb, the last plural one ("princ" in "how many rival princes were ..."), else the
    first ("soldier" in "how many soldiers held ...", "people" in "how many people were")."""
    match = re.search(r"\bhow many((?:\s+[a-z'-]+){1,4})", fold(question))
    if not match:
        return None
    phrase = []
    for word in match.group(1).split():
        if word in STOPWORDS or word in _VERBS or (phrase and word.endswith("ed")):
            break
        phrase.append(word)
    plural = [word for word in phrase if word.endswith("s") and not word.endswith("ss")]
    unit = terms(plural[-1] if plural else " ".join(phrase[:1]))
    return unit[0] if unit else None


def candidates(text: str, kind: str) -> list[Phrase]:
    """Phrases of ``kind`` in ``text``, longest first where they overlap."""
    found: list[Phrase] = []
    if kind == DATE:
        patterns = _DATE_PATTERNS
    elif kind == NUMBER:
        patterns = _NUMBER_PATTERNS
    elif kind in (SYMBOL, PATH):
        return _symbols(text, kind)
    else:
        return _names(text, kind)
    for pattern in patterns:
        for match in re.finditer(pattern, text, flags=re.IGNORECASE if kind == DATE else 0):
            found.append(Phrase(match.start(), match.end(), kind))
    if kind == NUMBER:
        found = [c for c in found if _is_number(text[c.start : c.end])]
    return _longest(found)


def _is_number(phrase: str) -> bool:
    # "one of the ..." and similar idioms are not quantities.
    return not re.fullmatch(r"one(\s+of|\s+another|\s+[a-z]+)?", phrase.lower())


def _names(text: str, kind: str) -> list[Phrase]:
    found = []
    for match in _NAME_PATTERN.finditer(text):
        start = match.start()
        words = match.group().split()
        # A lone capitalised word opening a sentence is usually an ordinary word.
        sentence_start = not text[:start].strip() or text[:start].rstrip()[-1:] in '.!?:("“'
        if sentence_start and len(words) == 1:
            continue
        if sentence_start and words[0].lower() in STOPWORDS:
            start += len(words[0]) + 1
            words = words[1:]
            if not words:
                continue
        if kind in (PERSON, PLACE) and _inside_quotes(text, start):
            continue  # a quoted title, not a person or place
        lowered = {w.lower().strip(".’'") for w in words}
        if kind == PERSON and (lowered & _NOT_PERSON or all(w.isupper() for w in words)):
            continue
        if kind == PLACE and not (_LOCATIVE.search(text[max(0, start - 12) : start])):
            continue
        found.append(Phrase(start, start + len(" ".join(words)), kind))
    return found


# A token as text writes it, without the punctuation around it; a Markdown code span whole.
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_BARE_TOKEN = re.compile(r"[^\s`'\"“”‘’()\[\]{}<>,;]+")
_PATH_SHAPE = re.compile(r"[~.]?/|^~|^\$\w|^%\w+%|^[A-Za-z]:\\")
_SYMBOL_SHAPE = re.compile(
    r"_|^--?[A-Za-z]|[/~$=]|::|\w\(\)|^[A-Z][A-Z0-9]{2,}$|^[\w-]{2,}\.[a-z][a-z0-9]{0,4}$"
)


def _symbols(text: str, kind: str) -> list[Phrase]:
    """Code-shaped tokens of ``text`` (``SYMBOL``): a Markdown code span, or a token with an
    underscore, a leading dash, path characters, ALL CAPS, a file name's extension, or a
    program name (``qa.pipeline.query.is_identifier``); for ``PATH`` only path-shaped ones."""
    found = []
    spans = [(m.start(1), m.end(1)) for m in _CODE_SPAN.finditer(text)]
    tokens = [(m.start(), m.end()) for m in _BARE_TOKEN.finditer(text)]
    for start, end in spans + [t for t in tokens if not any(a <= t[0] < b for a, b in spans)]:
        while end > start and text[end - 1] in ".:!?":
            end -= 1
        token = text[start:end]
        if not token or not any(c.isalnum() for c in token):
            continue
        path = bool(_PATH_SHAPE.search(token))
        if kind == PATH and not path:
            continue
        code = (start, end) in spans or path or bool(_SYMBOL_SHAPE.search(token))
        if code or is_identifier(token):
            found.append(Phrase(start, end, kind))
    return found


def _counts(text: str, candidate: Phrase, unit: str) -> bool:
    """Whether a number can answer "how many <unit>": the first few words after it (up to a
    punctuation mark) name the unit, or it stands alone and is no percentage."""
    phrase = text[candidate.start : candidate.end]
    if unit == "time" and re.match(r"(?i)(?:once|twice|thrice)\b", phrase):
        return True
    number = re.match(rf"(?i:[$€£¥\s\d.,]+|{_NUMBER_WORD}|[\s-])+", phrase)
    rest = phrase[number.end() if number else 0 :] + text[candidate.end :]
    clause = re.split(r"[.,;:!?()–—]", rest, maxsplit=1)[0]
    following = [t for t in terms(clause) if t not in _NUMBER_TERMS and not t[0].isdigit()]
    if unit in following[:4]:
        return True
    percentage = "%" in phrase or re.search(r"per\s*cent", phrase, re.IGNORECASE)
    return not following and not percentage


def _inside_quotes(text: str, position: int) -> bool:
    before = text[:position]
    return before.count("“") > before.count("”") or before.count('"') % 2 == 1


def _longest(found: list[Phrase]) -> list[Phrase]:
    kept: list[Phrase] = []
    for c in sorted(found, key=lambda c: (-(c.end - c.start), c.start)):
        if all(c.end <= k.start or k.end <= c.start for k in kept):
            kept.append(c)
    return sorted(kept, key=lambda c: c.start)


# Characters that join a token such as an identifier, a path, an e-mail or web address, a
# version or a number: an answer phrase is never cut between two of them.
_JOINS = frozenset("_@./-+#%~:")


def _joined(text: str, left: int, right: int) -> bool:
    """Whether ``text[left]`` and ``text[right]`` (adjacent) belong to one token."""
    a, b = text[left], text[right]
    if a == ",":  # 10,000: a thousands separator between digits
        return b.isdigit() and left > 0 and text[left - 1].isdigit()
    if b == ",":
        return a.isdigit() and right + 1 < len(text) and text[right + 1].isdigit()
    if a.isalnum() and b.isalnum():
        return True
    joins = (a.isalnum() or a in _JOINS) and (b.isalnum() or b in _JOINS)
    return joins and (a.isalnum() or b.isalnum())


def whole_tokens(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole tokens: ``ORT`` of ``ORT_DISABLE_TELEMETRY`` becomes
    the whole name, ``freelists.org`` of ``list@freelists.org`` the whole address, ``000`` of
    ``10,000`` the number. A full stop or colon the widening took at the end (the sentence's
    own) is left out again."""
    if not 0 <= start < end <= len(text):
        return start, end
    a, b = start, end
    while a > 0 and _joined(text, a - 1, a):
        a -= 1
    while b < len(text) and _joined(text, b - 1, b):
        b += 1
    while b > end and text[b - 1] in ".:-":
        b -= 1
    while a < start and text[a] == ":":
        a += 1
    return a, b


def type_match(question: str, text: str, kind: str | None = None) -> float:
    """1.0 when ``text`` holds a phrase of the type ``question`` asks for, 0.5 when it holds
    only a looser one (any name, for a person or a place), 0.0 when none; 1.0 when untyped."""
    kind = kind or question_type(question)
    if kind is None:
        return 1.0
    focus = find_focus(question, text, kind)
    if focus is None:
        return 0.0
    return 1.0 if focus.kind == kind else 0.5


@lru_cache(maxsize=1 << 16)
def _first_term(word: str) -> str | None:
    """The stemmed term of one word, None for a stopword: every word of every candidate
    sentence is looked up, most of them many times (about 900 lookups a question at 1M
    passages; docs/speed.md)."""
    found = terms(word)
    return found[0] if found else None


def find_focus(question: str, text: str, kind: str | None = None) -> Phrase | None:
    """The phrase of ``text`` that answers ``question``, or None when none fits its type.

    Candidates whose terms all occur in the question are ignored (they restate it); among
    the rest, the one closest to the question's words in ``text`` wins.
    """
    kind = kind or question_type(question)
    if kind is None:
        return None
    kinds = [kind, NAME] if kind in (PERSON, PLACE) else [kind]
    question_terms = set(terms(question))
    unit = quantity_unit(question) if kind == NUMBER else None
    anchors = [
        m.start() for m in re.finditer(r"[^\W_]+", text) if _first_term(m.group()) in question_terms
    ]
    best, best_key = None, None
    for rank, k in enumerate(kinds):
        for c in candidates(text, k):
            if k == NAME and kind in (PERSON, PLACE) and _inside_quotes(text, c.start):
                continue  # a quoted title does not name a person or a place
            phrase_terms = set(terms(text[c.start : c.end]))
            if phrase_terms and phrase_terms <= question_terms:
                continue
            if not phrase_terms and k != NUMBER:
                continue
            if unit and not _counts(text, c, unit):
                continue
            distance = min((abs(a - c.start) for a in anchors), default=len(text))
            key = (rank, distance)
            if best_key is None or key < best_key:
                best, best_key = c, key
        if best is not None:
            break
    return best
