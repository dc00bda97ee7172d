"""Files that could not be read, remembered by their content so they are not read again.

A 13 kB PDF that takes 50 s to fail was read again at every ``qa index``, ``qa ask`` and
refresh of the app, each time under the index lock. Its failure is now kept in the index
folder (``unreadable.json``) with the file's size, times and SHA-256: the file is tried again
only once it changes. The memo is untrusted like every file qa reads back: a damaged one is
ignored (the files are simply tried again).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from qa.models.cache import read_json

log = logging.getLogger(__name__)

MEMO_NAME = "unreadable.json"
_MEMO_MOST = 4 << 20  # bytes: thousands of entries; a larger file is not one qa wrote


class UnreadableFiles:
    """doc_id -> (size, mtime_ns, ctime_ns, sha256, reason) of the files that failed."""

    def __init__(self, entries: dict[str, dict] | None = None):
        self.entries = dict(entries or {})
        self.changed = False

    @classmethod
    def load(cls, index_dir: Path) -> UnreadableFiles:
        try:
            data = read_json(index_dir / MEMO_NAME, most=_MEMO_MOST)
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as error:
            log.warning("Ignoring the memo of unreadable files: %s", error)
            return cls()
        return cls({k: v for k, v in data.items() if isinstance(k, str) and _valid(v)})

    def reason(self, doc_id: str, stat: os.stat_result, sha256: str | None = None) -> str | None:
        """Why ``doc_id`` failed, when it is the file that failed: the same size and times,
        or (``sha256`` given) the same content. None when it must be read."""
        entry = self.entries.get(doc_id)
        if entry is None:
            return None
        if sha256 is None:
            same = [entry["size"], entry["mtime_ns"], entry["ctime_ns"]] == [
                stat.st_size,
                stat.st_mtime_ns,
                stat.st_ctime_ns,
            ]
        else:
            same = entry["sha256"] == sha256
        return entry["reason"] if same else None

    def remember(self, doc_id: str, stat: os.stat_result, sha256: str, reason: str) -> None:
        entry = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "ctime_ns": stat.st_ctime_ns,
            "sha256": sha256,
            "reason": reason,
        }
        if self.entries.get(doc_id) != entry:
            self.entries[doc_id] = entry
            self.changed = True

    def keep_only(self, doc_ids) -> None:
        """Forget the files no longer in the folder, and those read since."""
        gone = set(self.entries) - set(doc_ids)
        for doc_id in gone:
            del self.entries[doc_id]
        self.changed |= bool(gone)

    def save(self, index_dir: Path) -> None:
        """Write the memo when it changed (atomically); a failure only costs a re-read."""
        from qa.index.generations import replace_text

        if not self.changed:
            return
        try:
            replace_text(index_dir / MEMO_NAME, json.dumps(self.entries, ensure_ascii=False))
            self.changed = False
        except OSError as error:
            log.warning("Could not keep the memo of unreadable files: %s", error)


def _valid(entry) -> bool:
    return (
        isinstance(entry, dict)
        and all(isinstance(entry.get(k), int) for k in ("size", "mtime_ns", "ctime_ns"))
        and all(isinstance(entry.get(k), str) for k in ("sha256", "reason"))
    )
