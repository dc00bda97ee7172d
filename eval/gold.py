"""Gold-set evaluation: run ``Assistant.ask`` on every item of ``eval/gold.jsonl`` and score it.

Measures, per split: document recall@1/3/5 and MRR (the documents of the ranked extracts),
answer hit@1/@3 (an extract from the right document contains a gold answer after
normalisation; an abstention is a miss), abstention precision/recall/F1 on the unanswerable
items, false abstentions, follow-up hit@1, and latency p50/p95.
"""

from __future__ import annotations

import json
import re
import statistics
import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from qa import Answer, Assistant
from qa.pipeline.policy import MISSING_TYPE, NO_READER_ANSWER, NOT_IN_SOURCES, lacks_demanded_type

from . import metrics

GOLD = Path(__file__).resolve().parent / "gold.jsonl"


@dataclass(frozen=True)
class GoldItem:
    """One gold question: ``answers`` empty and ``doc`` None mean "not in the sources"."""

    id: str
    question: str
    answers: list[str]
    doc: str | None
    history: list[str]
    split: str

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    @property
    def follow_up(self) -> bool:
        return bool(self.history)


def load_gold(path: str | Path = GOLD) -> list[GoldItem]:
    """The gold items in file order."""
    items = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                items.append(GoldItem(**json.loads(line)))
    return items


_PUNCTUATION = set(string.punctuation) | {"“", "”", "‘", "’", "–", "—", "«", "»"}


def normalize(text: str) -> str:
    """Case, punctuation and white space folded, for comparing answers with extracts."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if ch in _PUNCTUATION else ch for ch in text)
    return " ".join(text.split())


def contains_answer(extract_text: str, answers: list[str]) -> bool:
    """True when the extract holds any gold answer, after normalisation (whole words)."""
    haystack = f" {normalize(extract_text)} "
    return any(f" {normalize(a)} " in haystack for a in answers if normalize(a))


def evaluate(
    assistant: Assistant, items: list[GoldItem], k: int = 5, use_history: bool = True
) -> list[dict]:
    """One record per item: ranks, hits, abstention, the top extract and latency."""
    # One ``ask`` per item (not ``ask_many``) so that latency is a real single-question figure.
    answers = [
        assistant.ask(item.question, history=item.history if use_history else [], k=k)
        for item in items
    ]
    records = []
    for item, answer in zip(items, answers):
        ranked = answer.extracts or answer.related  # ranking quality, abstention aside
        doc_rank = _first_rank([e.doc_id == item.doc for e in ranked])
        hit_rank = _first_rank(
            [e.doc_id == item.doc and contains_answer(e.text, item.answers) for e in ranked]
        )
        top = ranked[0] if ranked else None
        phrase = ""
        if top is not None and top.focus_start is not None:
            phrase = assistant.document(top.doc_id).text[top.focus_start : top.focus_end]
        records.append(
            {
                "id": item.id,
                "split": item.split,
                "question": item.question,
                "history": " | ".join(item.history),
                "expected": " | ".join(item.answers),
                "doc": item.doc or "",
                "answerable": item.answerable,
                "follow_up": item.follow_up,
                "abstained": answer.abstained,
                "forced_abstention": forced_abstention(answer),
                "confidence": answer.confidence,
                "doc_rank": doc_rank if item.answerable else None,
                "hit_rank": hit_rank if item.answerable else None,
                "top_doc": top.doc_id if top else "",
                "top_extract": top.text if top else "",
                # The bold phrase equals a gold answer (after normalisation).
                "phrase": phrase,
                "phrase_em": bool(phrase)
                and any(normalize(phrase) == normalize(a) for a in item.answers),
                "latency_ms": 1000 * answer.timings.get("total", 0.0),
            }
        )
    return records


def forced_abstention(answer: Answer) -> bool:
    """Whether qa abstains on ``answer`` whatever the confidence threshold: the question names
    what no source mentions, asks for a year or a count that the best sentence lacks, or the
    reader finds no answer in the passages it read (its own threshold, chosen on SQuAD dev)."""
    if answer.abstain_reason in (NOT_IN_SOURCES, MISSING_TYPE, NO_READER_ANSWER):
        return True
    ranked = answer.extracts or answer.related
    return lacks_demanded_type(answer.question, ranked[0] if ranked else None)


def _first_rank(flags: list[bool]) -> int | None:
    return next((n for n, flag in enumerate(flags, 1) if flag), None)


def summarize(records: list[dict]) -> dict:
    """The headline measures over ``records`` (one split or all)."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    follow_ups = [r for r in answerable if r["follow_up"]]
    standalone = [r for r in answerable if not r["follow_up"]]

    def share(rows, test):
        return sum(1 for r in rows if test(r)) / len(rows) if rows else float("nan")

    def hit_at(n, rows=answerable, presented=True):
        return share(
            rows,
            lambda r: (
                r["hit_rank"] is not None
                and r["hit_rank"] <= n
                and not (presented and r["abstained"])
            ),
        )

    abstention = metrics.abstention_scores(
        [r["abstained"] for r in records], [not r["answerable"] for r in records]
    )
    latencies = sorted(r["latency_ms"] for r in records)
    return {
        "items": len(records),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "doc_recall@1": share(answerable, lambda r: (r["doc_rank"] or 99) <= 1),
        "doc_recall@3": share(answerable, lambda r: (r["doc_rank"] or 99) <= 3),
        "doc_recall@5": share(answerable, lambda r: (r["doc_rank"] or 99) <= 5),
        "doc_mrr": statistics.fmean(1 / r["doc_rank"] if r["doc_rank"] else 0 for r in answerable)
        if answerable
        else float("nan"),
        "hit@1": hit_at(1),
        "hit@3": hit_at(3),
        "ranked_hit@1": hit_at(1, presented=False),
        "standalone_hit@1": hit_at(1, standalone),
        "follow_up_hit@1": hit_at(1, follow_ups),
        # The bold phrase of the top extract equals a gold answer (answerable items, abstention
        # aside: what the phrase is worth when it is shown).
        "phrase_em": share(answerable, lambda r: r["phrase_em"]),
        **abstention,
        "latency_p50_ms": metrics.percentile(latencies, 50),
        "latency_p95_ms": metrics.percentile(latencies, 95),
    }


def calibrate(
    records: list[dict], max_false_abstentions: float = metrics.MAX_FALSE_ABSTENTIONS
) -> float:
    """The abstention threshold with the best abstention F1 on ``records``, false
    abstentions within ``max_false_abstentions`` (see ``metrics.best_threshold``)."""
    threshold, _ = metrics.best_threshold(
        [r["confidence"] for r in records],
        [r["forced_abstention"] for r in records],
        [not r["answerable"] for r in records],
        max_false_abstentions,
    )
    return threshold


def abstain_below(record: dict, threshold: float) -> dict:
    """``record`` as if answered with ``threshold``: abstentions for words no source has or
    a missing year or count do not depend on the threshold."""
    abstained = record["confidence"] < threshold or record["forced_abstention"]
    return {**record, "abstained": abstained}


def headline(summary: dict) -> str:
    """A one-line reading of a summary."""
    return (
        f"hit@1 {summary['hit@1']:.3f}, abstention F1 {summary['abstain_f1']:.3f}, "
        f"false abstentions {summary['false_abstentions']:.3f}"
    )


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(name: str) -> str:
    """A file-name-safe form of a configuration name."""
    return _SAFE.sub("_", name)
