"""``python -m eval --feedback FILE``: the chat's marked answers as gold candidates to review.

Each candidate has the fields of ``eval/gold.jsonl`` (split ``review``) and a ``note`` saying
what to check; a reviewer fixes ``answers``/``doc``, drops ``note``, sets the split and adds
the line to the gold file. The last mark of a question (with the same history) wins.
"""

from __future__ import annotations

import json
from pathlib import Path

from qa.web.feedback import read


def phrase(extract: dict) -> str:
    """The answering phrase of an extract: its bold focus when it has one, else its text."""
    start, end = extract.get("focus_start"), extract.get("focus_end")
    if start is not None and end is not None and extract["start"] <= start < end:
        a, b = start - extract["start"], end - extract["start"]
        return extract["text"][a:b]
    return extract["text"]


def candidate(mark: dict, n: int) -> dict:
    """The gold candidate for one mark (see the module)."""
    best = mark["extracts"][0] if mark["extracts"] else None
    item = {
        "id": f"fb{n:03d}",
        "question": mark["question"],
        "answers": [],
        "doc": None,
        "history": mark.get("history", []),
        "split": "review",
    }
    if mark["rating"] == "up" and best:
        item.update(answers=[phrase(best)], doc=best["doc_id"])
        item["note"] = "marked right: check that the answer phrase is the whole answer"
    elif mark["rating"] == "up":
        item["note"] = "the abstention was marked right: an item the sources do not answer"
    elif best:
        item["note"] = (
            f"marked wrong: qa answered {best['text'][:80]!r} from {best['doc_id']}; "
            "write the right answers and doc, or leave them empty if the sources do not answer"
        )
    else:
        item["note"] = "qa abstained and this was marked wrong: write the answers and doc"
    return item


def candidates(path: str | Path) -> list[dict]:
    """The gold candidates of the feedback file ``path``, in the order first marked."""
    latest: dict[tuple, dict] = {}
    for mark in read(path):
        latest[(mark["question"], tuple(mark.get("history", [])))] = mark
    return [candidate(mark, n) for n, mark in enumerate(latest.values(), 1)]


def main(path: str | Path, out: Path) -> Path:
    """Write the candidates of ``path`` to ``out/feedback_candidates.jsonl``; returns it."""
    items = candidates(path)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "feedback_candidates.jsonl"
    target.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    up = sum(1 for i in items if "marked right" in i["note"] or "abstention was" in i["note"])
    print(f"{len(items)} gold candidate(s) ({up} marked right, {len(items) - up} wrong) "
          f"from {path}: wrote {target}")  # fmt: skip
    return target
