"""Query: a question worked out once, then handed to every stage.

It holds the question as asked and as resolved with the conversation (``text``, what retrieval
searches), their vectors, and what the stages read off the words: the terms, the kind of phrase
asked for, whether a sentence without one cannot answer, and the attribution lines it asks
about. Each is computed the first time a stage asks for it, then kept. Before all that,
``clean_question`` takes the question as typed, or refuses it in qa's own words.
"""

from __future__ import annotations

import re
import unicodedata

from qa.config import MAX_QUESTION_CHARS
from qa.errors import QuestionError
from qa.ingest.text import is_meaningful, terms, zipf

# The question's target is the text's author ("Who wrote...") or its source ("Which newspaper...").
_AUTHOR_QUESTION = re.compile(
    r"\bwho\s+(?:\w+\s+)?(?:wrote|authored|penned)\b|\bwritten\s+by\b"
    r"|\b(?:which|what|who)\s+(?:\w+\s+){0,2}(?:author|writer)\b",
    re.IGNORECASE,
)
_SOURCE_QUESTION = re.compile(
    r"\bwho\s+(?:\w+\s+)?(?:published|reported|supplied)\b"
    r"|\b(?:which|what)\s+(?:\w+\s+){0,2}(?:newspaper|agency|outlet|publication|publisher"
    r"|source|paper)\b",
    re.IGNORECASE,
)
# "By" starts many sentences ("By 1900, ...", "By August the city..."): as a byline it is
# followed by a name alone, maybe a comma or a bracket ("By Jane Doe, Reuters").
AUTHOR_LINE = re.compile(
    r"^\W*(?:(?i:author|written by|words by)\b\s*:?"
    r"|(?i:by)\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3}\s*(?:[,|(]|$))"
)
SOURCE_LINE = re.compile(r"^\W*(?:source|sources|via|published (?:in|by))\b\s*:?", re.IGNORECASE)


def attribution(question: str) -> re.Pattern | None:
    """The pattern of the attribution lines ``question`` asks about, if it asks about one."""
    if _AUTHOR_QUESTION.search(question):
        return AUTHOR_LINE
    if _SOURCE_QUESTION.search(question):
        return SOURCE_LINE
    return None


# A question a code block may answer: about code, commands or how to do something with a
# program, or naming code itself (`x`, --flag, f(), a_name, a.b). Other questions ("What port
# does the server use?") are not answered from a code sample: it shows, it does not state.
_CODE_QUESTION = re.compile(
    r"\b(?:code|commands?|snippet|syntax|examples?|functions?|methods?|calls?|flags?|options?"
    r"|arguments?|parameters?|scripts?|shell|terminal|run|type|typed?|invoke|install|installs?"
    r"|configure|config|configuration|api|import|print|output|usage|how\s+(?:do|can|should|to))\b"
    r"|`|(?<![\w-])--?\w|\w\(|\w_\w|\w\.\w",
    re.IGNORECASE,
)


def about_code(question: str) -> bool:
    """Whether ``question`` is one a code block may answer (``_CODE_QUESTION``)."""
    return _CODE_QUESTION.search(question) is not None


# A number as written: digits with "," or "." inside ("2007", "60,000", "3.12"), not part of a
# word or identifier ("E824", "x86_64", "v2").
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?!\w)")


def conditions(question: str) -> list[str]:
    """The numbers ``question`` names as conditions: years, versions, amounts ("in 2007",
    "Python 3.12", "over 60,000"), written as digits. One-digit numbers are left out: people
    write "3 layers" for the source's "three layers"."""
    found = [n.replace(",", "") for n in _NUMBER.findall(question)]
    return [n for n in found if "." in n or len(n) >= 2]


# A token as documentation writes names: letters, digits and "_", maybe joined by "-", ".", "/"
# or "+" ("xslt-config", "setup.py", "g++").
_TOKEN = re.compile(r"[A-Za-z0-9][\w.+/'’-]*[\w+]")
# Not a name: an ordinal, a decade, a range or a share ("17th", "1970s", "2012-13", "4-5%").
_NUMERIC = re.compile(r"\d+(?:st|nd|rd|th|s)?(?:[-–]\d+)*%?", re.IGNORECASE)
# A lowercase word this rare in English (wordfreq's Zipf frequency) is a name ("rustup" 0,
# "valgrind" 1.25), not a word ("meritocratic" 2.16, "gazettes" 1.84). Chosen on dev data with
# MISSING_NAME (docs/reader.md): 1.5 and 2.0 gave the same, 2.5 caught rare English words.
RARE_IN_ENGLISH = 1.5


def identifiers(question: str) -> list[str]:
    """The names of programs, packages, files or settings that ``question`` names, as
    documentation writes them: letters with digits ("libxml2", "x86_64"), an underscore
    ("PYENV_ROOT"), or a lowercase word English does not use ("rustup", "pyenv"; its stem is
    itself, so no form of an English word: "smalled" is a typing error), alone or in a joined
    token ("xslt-config"). Ordinals, decades and ranges are numbers, not names."""
    found = []
    for token in _TOKEN.findall(question):
        token = token.rstrip(".")
        if len(token) >= 3 and is_identifier(token):
            found.append(token)
    return list(dict.fromkeys(found))


def is_identifier(token: str) -> bool:
    """Whether ``token`` is a name as documentation writes it (see ``identifiers``)."""
    if "'" in token or "’" in token or _NUMERIC.fullmatch(token):
        return False
    if "_" in token or (re.search(r"[A-Za-z]", token) and re.search(r"\d", token)):
        return True
    return any(_foreign(part) for part in re.split(r"[-./+]", token))


def _foreign(word: str) -> bool:
    """A lowercase word of 3 letters or more that English does not use (``RARE_IN_ENGLISH``)."""
    return (
        len(word) >= 3
        and word.isalpha()
        and word.islower()
        and zipf(word) < RARE_IN_ENGLISH
        and terms(word) == [word]
    )


# A question negated ("What did the Netherlands not let America use?"), but not by "whether or
# not", "not only", "no longer" or "if not", which ask no negated fact; nor in a clause of its
# own ("... pick when I don't annotate one?", "... get if none is given?"), or by "without"
# ("a project I started without Cargo"): those set a condition, the fact asked is not negated.
_NEGATION = re.compile(r"\b(?:not|never|no|none|cannot|neither|nor)\b|n't\b", re.I)
_NOT_NEGATION = re.compile(r"\b(?:whether or not|or not|not only|no longer|if not)\b", re.I)
_CLAUSE = re.compile(
    r"\b(?:if|when|whenever|unless|once|until|after|before|because|since|while|although"
    r"|though|where|that|who|which)\b",
    re.I,
)
# What negates in a passage: the words above, and the other ways text says no ("refused",
# "denied", "unable", "excluding", "instead", "only"...). Chosen on the gold answer sentences
# of the reader's training articles (SQuAD v1.1 and SQuAD 2.0; docs/reader.md): with the
# plain words alone, 59 of 6,870 answerable questions would have been refused, with these 32.
_NEGATES = re.compile(
    r"\b(?:not|never|no|none|nothing|nobody|nowhere|cannot|without|neither|nor"
    r"|refus\w*|den(?:y|ie[sd]|ial)\w*|declin\w*|fail\w*|reject\w*|lack\w*|unable"
    r"|exclud\w*|except\w*|absen\w*|prevent\w*|prohibit\w*|forb[ai]d\w*|bann?\w*|avoid\w*"
    r"|instead|rather|only|ceas\w*|stopp?\w*|resist\w*|oppos\w*|disagre\w*|dislik\w*"
    r"|disapprov\w*|ignor\w*|neglect\w*|against|free of|little|few|hardly|rarely|seldom"
    r"|less|least)\b|n't\b",
    re.I,
)


def negated(question: str) -> bool:
    """Whether ``question`` asks about something that is not so ("Which country was not hit
    by the embargo?"): SQuAD 2.0's writers negate an answerable question to make a decoy. Only
    a negation of the main clause counts: none after a word that opens a clause of its own
    (``_CLAUSE``; the question's first word aside, "Which country ...")."""
    question = _NOT_NEGATION.sub(" ", question)
    for found in _NEGATION.finditer(question):
        if not _CLAUSE.search(question, question.find(" ") + 1, found.start()):
            return True
    return False


def negates(text: str) -> bool:
    """Whether ``text`` negates anything, in any of the ways text says no (``_NEGATES``)."""
    return bool(_NEGATES.search(text))


def reader_question(question: str, query: str) -> str:
    """What the reader reads with: the question as asked, then (for a follow-up) the earlier
    question it leans on, so that "it" has something to point at while the question word
    that decides the answer's kind comes first."""
    if query == question or not query.endswith(question):
        return query
    earlier = query[: -len(question)].strip()
    return f"{question} {earlier}"


def clean_question(question: object) -> str:
    """The question with control characters removed, or QuestionError saying what is wrong."""
    if not isinstance(question, str):
        raise QuestionError(f"The question must be text, not {type(question).__name__}.")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"The question is too long ({len(question):,} characters); "
            f"please keep it under {MAX_QUESTION_CHARS:,}."
        )
    cleaned = "".join(
        " " if unicodedata.category(ch)[0] == "C" or ch.isspace() else ch for ch in question
    )
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError("The question is empty: please type a question.")
    if not is_meaningful(cleaned):
        raise QuestionError("The question has no words in it: please type a question.")
    return cleaned


def clean_history(history: object) -> list[str]:
    """The earlier questions, cleaned; QuestionError, saying it is about the history, when
    ``history`` is not a list of text (a string or dict would be taken apart into questions)."""
    if history is None:
        return []
    if not isinstance(history, (list, tuple)):
        raise QuestionError(
            f"The history must be a list of earlier questions, not {type(history).__name__}."
        )
    cleaned = []
    for n, earlier in enumerate(history, 1):
        if isinstance(earlier, str) and not earlier.strip():
            continue  # an empty turn says nothing; skipping it is harmless
        try:
            cleaned.append(clean_question(earlier))
        except QuestionError as error:
            raise QuestionError(f"Earlier question {n} of the history: {error}") from None
    return cleaned


__all__ = [
    "about_code",
    "attribution",
    "clean_history",
    "clean_question",
    "conditions",
    "identifiers",
    "is_identifier",
    "negated",
    "negates",
    "reader_question",
]
