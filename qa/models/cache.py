"""qa's cache folder (``config.cache_dir``): files qa made once to start faster (the question
encoder's export, the word-frequency table) and will make again.

Whatever lies there is untrusted: another user, a damaged disk or a tampered file may have
changed it. So every such file is kept with a record beside it (``NAME.json``, its SHA-256
when qa wrote it) and used only when ``verified``; anything else is discarded and made again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

RECORD_MOST = 1 << 16  # bytes of a record or memo: a few hundred are written


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in blocks so large files cost little memory."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def record(path: Path, **facts) -> None:
    """Write ``path``'s record: its SHA-256 now, and ``facts``. Call it before the file takes
    its final name, so a file is never seen without its record (a record without its file is
    harmless)."""
    write_json(record_path(path), {"sha256": file_sha256(path)} | facts)


def record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def verified(path: Path, sha256: str | None = None) -> bool:
    """Whether ``path`` is the file qa wrote: its SHA-256 is ``sha256``, or else the one its
    record holds. Hashing the 90 MB encoder takes about 0.1 s, so a result is kept for as long
    as neither the file nor its record changes (size, times, inode)."""
    try:
        key = (str(path), sha256, stamp(path), stamp(record_path(path)) if not sha256 else ())
    except OSError:
        return False
    if key not in _VERIFIED:
        try:
            expected = sha256 or read_json(record_path(path)).get("sha256")
            _VERIFIED[key] = isinstance(expected, str) and file_sha256(path) == expected
        except (OSError, ValueError):
            return False
    return _VERIFIED[key]


_VERIFIED: dict[tuple, bool] = {}


def stamp(path: Path) -> tuple:
    """What changes when a file is replaced or edited: its size, times and inode (OSError when
    it is not there)."""
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def discard(path: Path) -> None:
    """Remove a cached file and its record (one that failed ``verified``)."""
    for each in (path, record_path(path)):
        try:
            each.unlink(missing_ok=True)
        except OSError as error:  # a read-only cache: it is simply not used
            log.debug("Could not remove %s: %s", each, error)


def read_json(path: Path, most: int = RECORD_MOST) -> dict:
    """A small JSON object from the cache; ValueError for anything else (too big, too deep,
    not an object)."""
    with open(path, "rb") as handle:
        data = handle.read(most + 1)
    if len(data) > most:
        raise ValueError(f"{path.name} is over {most} bytes")
    try:
        value = json.loads(data)
    except RecursionError as error:
        raise ValueError(f"{path.name} is nested too deeply") from error
    if not isinstance(value, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return value


def write_json(path: Path, value: dict) -> None:
    """Write atomically; a read-only cache only means the work is done again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(suffix=".json", dir=path.parent)
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(value, out)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError as error:
        log.debug("Not writing %s: %s", path, error)
