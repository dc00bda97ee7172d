"""Files qa itself places in the corpus folder: an upload's hidden copy until it is indexed
(``upload_copy``), the name it then claims without replacing anyone's file (``claim_name``),
a removed document's flat name in the trash (``trash_name``), and the sweep of copies that
killed uploads left behind (``remove_stale_uploads``)."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import secrets
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)

UPLOAD_PREFIX = ".upload-"  # an upload's copy in the corpus until it is indexed (qa.web)
# mkstemp's eight random characters: only names qa made this way are ever removed
STALE_UPLOAD = re.compile(re.escape(UPLOAD_PREFIX) + r"[a-z0-9_]{8}\.[a-z]+")
STALE_UPLOAD_SECONDS = 3600  # older than any upload still copying or waiting for the lock


def remove_stale_uploads(folder: Path) -> None:
    """Delete the hidden copies that uploads killed mid-way left in the corpus folder.

    Only names of the form qa gives them, and only those untouched for an hour: a live
    upload's copy is younger (it is indexed, or waits at most 10 minutes for the lock).
    """
    cutoff = time.time() - STALE_UPLOAD_SECONDS
    for path in folder.glob(UPLOAD_PREFIX + "*"):
        try:
            if STALE_UPLOAD.fullmatch(path.name) and path.lstat().st_mtime < cutoff:
                path.unlink()
                log.warning("Removed %s, left by an upload that did not finish", path)
        except OSError as error:  # gone already, or not ours to remove: leave it
            log.warning("Could not remove %s: %s", path, error)


def names_for(target: Path):
    """``target``, then ``target-1``, ``target-2``...: the names ``claim_name`` tries, in order."""
    yield target
    for n in itertools.count(1):
        yield target.with_name(f"{target.stem}-{n}{target.suffix}")


def claim_name(source: Path, target: Path) -> Path:
    """Give ``source`` the name ``target``, or ``target-1``, ``target-2``... when taken: a
    hard link fails rather than replace an existing file, so two uploads of one name at the
    same moment both keep their file. Raises FileNotFoundError when ``source`` is gone (another
    process moved it first), leaving nothing behind."""
    for name in names_for(target):
        try:
            os.link(source, name)
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise
        except OSError:  # no hard links on this file system: create exclusively, then replace
            try:
                os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            try:
                os.replace(source, name)
            except OSError:
                name.unlink(missing_ok=True)  # not an empty file left in its place
                raise
            return name
        try:
            os.unlink(source)
        except FileNotFoundError:  # another process moved it meanwhile, and keeps its link
            name.unlink(missing_ok=True)
            raise
        return name


def trash_name(relative: str, limit: int = 255) -> str:
    """The flat name in the trash for the corpus file at ``relative`` (folders joined by
    ``__``), at most ``limit`` bytes less room for ``claim_name``'s ``-n``: a deep path's
    flattened name can exceed the file system's limit (255 bytes), which made such a file
    impossible to remove. A long one keeps a hash of the whole path and the end of its name."""
    flat = relative.replace("/", "__")
    room = limit - 8
    if len(flat.encode("utf-8", "surrogateescape")) <= room:
        return flat
    digest = hashlib.sha256(relative.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    stem, suffix = os.path.splitext(relative.rsplit("/", 1)[-1])
    suffix = suffix if len(suffix.encode("utf-8", "surrogateescape")) <= 16 else ""
    keep = room - len(digest) - 2 - len(suffix.encode("utf-8", "surrogateescape"))
    stem = stem.encode("utf-8", "surrogateescape")[:keep].decode("utf-8", "ignore")
    return f"{digest}__{stem}{suffix}"


def upload_copy(source: Path, target: Path) -> Path:
    """A hidden copy of ``source`` beside ``target``, named as the index's sweep of copies
    left by killed uploads expects (``UPLOAD_PREFIX``, 8 characters, ``target``'s suffix).
    Created with the mode open() gives under the umask: mkstemp's 0600 would hide the
    document, once it has its name, from other users."""
    while True:
        temporary = target.with_name(
            f"{UPLOAD_PREFIX}{secrets.token_hex(4)}{target.suffix.lower()}"
        )
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as copy, open(source, "rb") as original:
                shutil.copyfileobj(original, copy)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return temporary
