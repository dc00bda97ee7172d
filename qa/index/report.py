"""What an update of the index did (``SyncReport``), ``skip``, which records a file that
could not be indexed, and ``time_left``, the estimate an upload's progress bar shows."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

log = logging.getLogger("qa.index.sync")  # where skipped files were always reported


@dataclass
class SyncReport:
    """What an update did: documents embedded, reused, removed, skipped (with reasons)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    rebuilt_reason: str | None = None
    upgraded_from: int | None = None  # the older storage version rewritten (nothing embedded)
    # Documents whose passages were (re)written to, or removed from, a store that is not the
    # index folder's own (Milvus): only those of new, changed and deleted files.
    store_written: list[str] = field(default_factory=list)
    store_removed: list[str] = field(default_factory=list)
    # Documents of an interrupted Ray build taken from its saved parts, not embedded again
    # (qa.index.on_ray).
    resumed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def modified(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.rebuilt_reason)


def skip(report: SyncReport, doc_id: str, reason: str) -> None:
    """Record that ``doc_id`` could not be indexed, and why."""
    log.warning("Skipped %s: %s", doc_id, reason)
    report.skipped[doc_id] = reason
    for bucket in (report.added, report.changed):
        if doc_id in bucket:
            bucket.remove(doc_id)


def time_left(elapsed: float, done: int, total: int) -> str:
    """The words for the time left ("about 40 s left", "about 3 min left"), from the pace
    so far; "" until there is a pace worth extrapolating (a second and a batch done)."""
    if done <= 0 or done >= total or elapsed < 1.0:
        return ""
    seconds = elapsed * (total - done) / done
    if seconds < 60:
        return f"about {max(5, 5 * math.ceil(seconds / 5))} s left"
    return f"about {math.ceil(seconds / 60)} min left"
