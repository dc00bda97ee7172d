"""Answer feedback: a thumbs up or down from the chat, one JSON line per mark.

The file (``feedback.jsonl`` in the index folder) keeps what is needed to judge the mark later
and to make it a gold item (``python -m eval --feedback FILE``): the question and the
conversation before it, the answer's spans, and the settings that produced it.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from pathlib import Path

FEEDBACK_NAME = "feedback.jsonl"
_SPAN_KEYS = (
    "doc_id",
    "title",
    "start",
    "end",
    "text",
    "focus_start",
    "focus_end",
    "page",
    "score",
)
_lock = threading.Lock()  # one line at a time from this process's callbacks


def record(answer: dict, rating: str, history: list[str], settings: dict) -> dict:
    """The line for ``answer`` (``Answer.to_dict()``) marked ``rating`` ("up" or "down")."""
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rating": rating,
        "question": answer.get("question", ""),
        "history": list(history),
        "query": answer.get("query"),
        "abstained": bool(answer.get("abstained", not answer.get("extracts"))),
        # A bare follow-up asked back (``Answer.clarify``) has its own: ``policy.NO_REFERENT``.
        "abstain_reason": answer.get("abstain_reason"),
        "message": answer.get("message"),
        "extracts": [{k: e.get(k) for k in _SPAN_KEYS} for e in answer.get("extracts", [])],
        "settings": settings,
    }


def append(path: Path, line: dict) -> None:
    """Append ``line`` to the JSONL file ``path`` as one whole line (created when missing).

    A write cut short (a full disk) is taken back, so the file never ends in part of a line,
    and raises OSError; a line left in part by a process killed mid-write is ended first, so
    the new line is not glued to it (and lost with it when read back)."""
    data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
    with _lock:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            written = os.write(fd, data)
            if written != len(data):
                os.ftruncate(fd, size)
                raise OSError(errno.ENOSPC, f"wrote {written} of {len(data)} bytes")
        finally:
            os.close(fd)


def read(path: str | os.PathLike) -> list[dict]:
    """The marks in ``path``, in order; a line that is not a JSON object is skipped."""
    marks = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                mark = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a crash mid-write
                continue
            if isinstance(mark, dict) and mark.get("rating") in ("up", "down"):
                marks.append(mark)
    return marks
