"""Policy: answer, abstain (and say why) or ask back. One rule for every caller: the web chat,
the ``/ask`` API, the command line and Python all get it through ``Assistant.ask``.

- Ask back (``clarify``): a question that opens a conversation and leans on an earlier one
  that does not exist ("And when was it signed?") is not searched: any answer would guess what
  "it" is. The reply asks what the pronoun names.
- Abstain, most telling reason first: the question names what no source mentions
  (``NOT_IN_SOURCES``); the reader finds no answer in the passages it read
  (``NO_READER_ANSWER``); the best extract scores under the threshold (``LOW_CONFIDENCE``);
  a year or count was asked for and the best extract has none (``MISSING_TYPE``), unless
  the reader points inside it and is all but certain of its span (``vouched``); the question
  names a number (a year, a version, an amount) that the best extract does not hold
  (``MISSING_NUMBER``: "What did the price of oil rise to in 1979?" quoted a sentence about
  1974, the decoy people write by changing a date). No reader vouches for that: its
  certainty is about a span, not about the question's condition. Likewise a program,
  package or setting the question names, that the corpus mentions but not the best passage
  nor its context (``MISSING_NAME``: "Which script prints the compiler flags for libxml2?"
  quoted libxslt's script, another package's value). A negated question whose best extract
  negates nothing (``NEGATION_UNMATCHED``: "What did the Netherlands not let America use?"
  quoting a sentence of what it did), the decoy people write by adding "not".

The thresholds live in ``qa.settings`` with the measurements that chose them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from qa.pipeline.conversation import missing_antecedent
from qa.pipeline.focus import demanded_kind, demands_type
from qa.pipeline.query import negates
from qa.settings import Settings
from qa.values import Extract, PassageReading, Query

LOW_CONFIDENCE = "low confidence"
MISSING_TYPE = "no phrase of the kind asked for"
MISSING_NUMBER = "the best passage lacks a number the question names"
MISSING_NAME = "the best passage lacks a name the question names"
NEGATION_UNMATCHED = "the question is negated and the best passage negates nothing"
NOT_IN_SOURCES = "asks about what the sources never mention"
DOUBTFUL = "the best passage looks like the answer to a question near this one, not this one"
NO_READER_ANSWER = "the reader finds no answer in the best passages"
# What the asker is told, beside "The sources do not answer this.", where a reason needs saying
# and no field of the answer says it (unknown words, missing numbers and names do).
WHY = {
    NEGATION_UNMATCHED: "The question asks about what is not so, and the closest passage "
    "negates nothing.",
    LOW_CONFIDENCE: "No passage matches the question closely enough to quote as its answer.",
    NO_READER_ANSWER: "The reader finds no answer to the question in the closest passages.",
    MISSING_TYPE: "The question asks for {}, and the closest passage gives none.",
    DOUBTFUL: "The closest passage answers a question like this one, but not quite this one.",
}
NO_REFERENT = "leans on an earlier question that was not asked"


def clarification(question: str, history: Sequence[str]) -> str | None:
    """The pronoun to ask about when ``question`` cannot be searched without an earlier
    question that the conversation does not have; None when it can be answered."""
    return missing_antecedent(question, list(history))


def lacks_demanded_type(question: str | Query, extract: Extract | None) -> bool:
    """Whether ``extract`` cannot answer ``question`` for want of the year or count it asks
    for (see README, Abstention; for other types, missing one only lowers the score)."""
    if extract is None or extract.signals.get("untyped", 0.0) < 1.0:
        return False
    return question.demands_type if isinstance(question, Query) else demands_type(question)


def missing_numbers(query: Query, extract: Extract | None) -> list[str]:
    """The numbers ``query`` names (``Query.conditions``) that ``extract`` does not hold,
    written with or without thousands separators. Its document's title and its section count
    as held: a sentence of "What's New in Python 3.12" need not repeat "3.12"."""
    if extract is None or not query.conditions:
        return []
    text = " ".join((extract.text, extract.title, extract.location or "")).replace(",", "")
    return [n for n in query.conditions if n not in text]


def missing_names(names: Sequence[str], extract: Extract | None) -> list[str]:
    """The ``names`` (the question's identifiers that the corpus holds) that neither
    ``extract`` nor its context, title or section mention, case ignored."""
    if extract is None or not names:
        return []
    held = " ".join((extract.context, extract.text, extract.title, extract.location or ""))
    held = held.lower()
    return [name for name in names if name.lower() not in held]


def negation_unmatched(query: Query, extract: Extract | None) -> bool:
    """Whether ``query`` is negated and ``extract`` negates nothing in any way
    (``qa.pipeline.query.negates``): it states what is so, not what is not."""
    return extract is not None and query.negated and not negates(extract.text)


def vouched(extract: Extract, settings: Settings) -> bool:
    """Whether the reader points inside ``extract`` and is all but certain of its span
    (``ReaderSettings.vouches_above``)."""
    return extract.signals.get("reader", 0.0) > settings.reader.vouches_above


def attributed(query: Query, extract: Extract | None) -> bool:
    """Whether ``extract`` is the author or source line a "Who wrote...?" or "Which
    newspaper...?" question asks for (``extract.attribution_first``): the reader, trained on
    sentences that state facts, does not vouch for such lines, so its silence is no reason."""
    return (
        query.attribution is not None
        and extract is not None
        and extract.signals.get("byline", 0.0) == 1.0
    )


def threshold(settings: Settings, reader_on: bool) -> float:
    """The confidence under which qa abstains: calibrated with the reader, or without."""
    return settings.abstain_below if reader_on else settings.abstain_below_without_reader


@dataclass(frozen=True)
class Decision:
    """Why qa abstains (None: it answers), and the extracts it offers."""

    reason: str | None
    extracts: list[Extract]
    # MISSING_NUMBER's numbers, MISSING_NAME's names, MISSING_TYPE's kind ('a year')
    missing: list[str] = field(default_factory=list)

    @property
    def abstained(self) -> bool:
        return self.reason is not None

    @property
    def why(self) -> str | None:
        """The sentence that tells the asker why qa abstained, where one is needed (``WHY``)."""
        if self.reason == MISSING_TYPE:  # names the kind asked for (``missing``)
            return WHY[MISSING_TYPE].format(self.missing[0])
        return WHY.get(self.reason) if self.reason else None


def decide(
    query: Query,
    extracts: list[Extract],
    readings: list[PassageReading] | None,
    unknown: list[str],
    settings: Settings,
    names: Sequence[str] = (),
    doubt: float | None = None,
) -> Decision:
    """Answer or abstain; when answering, further extracts only if they too clear the bar.
    ``names``: the question's identifiers that the corpus holds (``Scope.holds``); ``doubt``:
    the verifier's (``qa.pipeline.verify``), None when it did not judge."""
    bar = threshold(settings, readings is not None)
    confidence = extracts[0].score if extracts else 0.0
    if unknown:  # the most telling reason first: the user learns what is missing
        reason = NOT_IN_SOURCES
    elif (
        readings is not None
        and not any(r.has_answer >= settings.reader.no_answer_below for r in readings)
        and not attributed(query, extracts[0] if extracts else None)
    ):
        reason = NO_READER_ANSWER
    elif confidence < bar:
        reason = LOW_CONFIDENCE
    elif lacks_demanded_type(query, extracts[0] if extracts else None) and not (
        readings is not None and vouched(extracts[0], settings)
    ):
        # a demanding question always names its kind (focus.demands_type)
        return Decision(MISSING_TYPE, extracts, [demanded_kind(query.question)])
    elif missing := missing_numbers(query, extracts[0] if extracts else None):
        return Decision(MISSING_NUMBER, extracts, missing)
    elif missing := missing_names(names, extracts[0] if extracts else None):
        return Decision(MISSING_NAME, extracts, missing)
    elif negation_unmatched(query, extracts[0] if extracts else None):
        reason = NEGATION_UNMATCHED
    elif doubt is not None and doubt > settings.reader.doubt_above:
        reason = DOUBTFUL
    else:
        reason = None
    if reason is None:
        extracts = [extracts[0]] + [e for e in extracts[1:] if e.score >= bar]
    return Decision(reason, extracts)


__all__ = [
    "DOUBTFUL",
    "LOW_CONFIDENCE",
    "MISSING_NAME",
    "MISSING_NUMBER",
    "MISSING_TYPE",
    "NEGATION_UNMATCHED",
    "NOT_IN_SOURCES",
    "NO_READER_ANSWER",
    "NO_REFERENT",
    "WHY",
    "Decision",
    "clarification",
    "decide",
    "lacks_demanded_type",
    "missing_names",
    "missing_numbers",
    "negation_unmatched",
    "threshold",
]
