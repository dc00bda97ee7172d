"""The folder watcher: files added, edited or deleted behind the web app's back are noticed
before a question and indexed in a background thread (``FolderWatch``)."""

from __future__ import annotations

import logging
import threading
import time

from qa.assistant import Assistant
from qa.ingest.documents import find_files

log = logging.getLogger(__name__)


class FolderWatch:
    """Notices changes to the corpus folder and refreshes the index in the background.

    The check is cheap (the names, sizes, mtimes and ctimes of the supported files) and made
    before a question at most every ``interval`` seconds. A question waits at most ``wait``
    seconds for a refresh it started, then is answered from what is indexed: the refresh
    swaps the new generation in when it is done.
    """

    def __init__(self, assistant: Assistant, interval: float = 2.0, wait: float = 2.0):
        self.assistant = assistant
        self.interval, self.wait = interval, wait
        self._seen = self._signature()
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._refreshing: threading.Thread | None = None

    def _signature(self) -> dict[str, tuple[int, int, int]]:
        signature = {}
        for doc_id, path in find_files(self.assistant.folder).items():
            try:
                stat = path.stat()
            except OSError:  # gone since it was listed: the next check sees it missing
                continue
            signature[doc_id] = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        return signature

    def check(self) -> None:
        """Refresh when the folder changed since the last refresh (see the class)."""
        with self._lock:
            running = self._refreshing is not None and self._refreshing.is_alive()
            if not running and time.monotonic() - self._checked >= self.interval:
                self._checked = time.monotonic()
                signature = self._signature()
                if signature != self._seen:
                    self._refreshing = threading.Thread(
                        target=self._refresh, args=(signature,), daemon=True
                    )
                    self._refreshing.start()
            thread = self._refreshing
        if thread is not None:
            thread.join(self.wait)

    def _refresh(self, signature: dict) -> None:
        try:
            report = self.assistant.refresh()
        except Exception:  # noqa: BLE001 (kept serving; tried again at the next check)
            log.exception("Could not refresh the index of %s", self.assistant.folder)
            return
        self._seen = signature  # taken before the refresh: later changes are seen next time
        if report.modified:
            log.warning("Refreshed the index: %s", _summary(report))


def _summary(report) -> str:
    parts = [(report.added, "added"), (report.changed, "changed"), (report.removed, "removed")]
    return ", ".join(f"{len(ids)} {what}" for ids, what in parts if ids)


__all__ = ["FolderWatch"]
