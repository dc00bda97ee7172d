"""Lease: one writer at a time on a Milvus collection, across processes and machines.

Milvus has no transactions and no compare-and-set on rows, but creating an alias is atomic
and fails when the alias exists. So a writer makes a small collection of its own (its
*holder*, whose properties say who it is and until when it holds the lease) and points the
collection's lease alias at it. Whoever creates the alias holds the lease; the others wait.

- The holder renews the lease (its expiry) as it writes, and checks before every write
  request that the alias still points at it: a writer that lost the lease stops with a
  StoreError instead of writing on.
- A writer that died leaves its lease to expire: after ``LEASE_SECONDS`` without renewal,
  the next writer drops the stale alias and holder and takes over. Expiry is read on the
  clocks of different machines, so their clocks must agree to within seconds (NTP).
- Taking over an expired lease is the one non-atomic step (check the alias, then drop it):
  two writers taking over the same expired lease at the same moment could both drop it, and
  the first would then stop at its next check, after at most one request of its own.

Readers never take the lease: they search the collection as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from pathlib import Path

from qa.errors import StoreError

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0  # how long a writer that died blocks the others; renewed as it writes
RENEW_AFTER = LEASE_SECONDS / 3  # renew once a third of the lease has passed
WAIT_SECONDS = 600.0  # how long to wait for another writer, as qa's file lock does
POLL_SECONDS = 1.0
PROPERTY = "qa_lease"


def lease_alias(collection: str) -> str:
    """The alias whose target holds the lease on ``collection`` (a fixed-length name)."""
    return "qa_lease_" + hashlib.blake2b(collection.encode(), digest_size=8).hexdigest()


class Lease:
    """The exclusive right to write one Milvus collection, held in a ``with`` block."""

    def __init__(self, store, seconds: float = LEASE_SECONDS, wait: float | None = None):
        self.store = store
        self.seconds = seconds
        self.wait = WAIT_SECONDS if wait is None else wait
        self.alias = lease_alias(store.collection)
        self.holder = f"{self.alias}_{uuid.uuid4().hex[:12]}"
        self.owner = f"{socket.gethostname()} pid {os.getpid()}"
        self._renewed = 0.0
        self.held = False

    def __enter__(self) -> Lease:
        self.store.call(self._acquire)
        self.store.held = self
        return self

    def __exit__(self, *exc) -> None:
        self.store.held = None
        try:
            self.store.call(self._release)
        except StoreError as error:  # it expires by itself; do not hide the real failure
            log.warning("Could not release the lease on %s: %s", self.store.collection, error)

    def check(self) -> None:
        """Before a write: raise StoreError unless the lease is still ours; renew it."""
        client = self.store.client
        target = _target(client, self.alias)
        if target != self.holder:
            self.held = False
            raise StoreError(
                f"Lost the write lease on the Milvus collection {self.store.collection} at "
                f"{self.store.uri} (it expired, and another writer took it); stopped writing. "
                "Run the update again."
            )
        if time.monotonic() - self._renewed > RENEW_AFTER:
            client.alter_collection_properties(self.holder, properties=self._facts())
            self._renewed = time.monotonic()

    # -----------------------------------------------------------------------------------

    def _facts(self) -> dict:
        facts = {"owner": self.owner, "expires": time.time() + self.seconds}
        return {PROPERTY: json.dumps(facts)}

    def _acquire(self) -> None:
        from pymilvus import DataType

        client = self.store.client
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # Milvus 2.3 needs one
        client.create_collection(self.holder, schema=schema, properties=self._facts())
        self._renewed = time.monotonic()
        deadline = time.monotonic() + self.wait
        while True:
            try:
                client.create_alias(self.holder, self.alias)
                self.held = True
                return
            except Exception as error:
                if not _exists(error):
                    raise
            other = _target(client, self.alias)
            if other is None:
                continue  # released just now
            facts = _holder_facts(client, other)
            if facts is None or facts.get("expires", 0) < time.time():
                self._take_over(client, other, facts)
                continue
            if time.monotonic() > deadline:
                client.drop_collection(self.holder)
                until = time.strftime("%H:%M:%S", time.localtime(facts["expires"]))
                raise StoreError(
                    f"Another writer ({facts.get('owner', 'unknown')}) has been updating the "
                    f"Milvus collection {self.store.collection} at {self.store.uri} for "
                    f"{self.wait:.0f} s (its lease runs until {until}, renewed as it writes); "
                    "gave up."
                )
            time.sleep(POLL_SECONDS)

    def _take_over(self, client, other: str, facts: dict | None) -> None:
        """Drop an expired lease (its writer died): the alias, then its holder."""
        if _target(client, self.alias) != other:
            return  # someone else took it over meanwhile
        log.warning(
            "Taking over the expired write lease of %s on %s",
            (facts or {}).get("owner", "a writer"),
            self.store.collection,
        )
        with contextlib.suppress(Exception):
            client.drop_alias(self.alias)
        with contextlib.suppress(Exception):
            client.drop_collection(other)

    def _release(self) -> None:
        client = self.store.client
        if self.held and _target(client, self.alias) == self.holder:
            client.drop_alias(self.alias)
        self.held = False
        client.drop_collection(self.holder)


def _target(client, alias: str) -> str | None:
    """The collection ``alias`` points at, None when there is no such alias."""
    try:
        return client.describe_alias(alias)["collection_name"]
    except Exception as error:
        if _missing(error):
            return None
        raise


def _holder_facts(client, holder: str) -> dict | None:
    """A holder's lease facts; None when it is gone or unreadable (a stale lease)."""
    try:
        properties = client.describe_collection(holder).get("properties") or {}
        facts = json.loads(properties.get(PROPERTY) or "")
    except Exception as error:
        if _missing(error) or isinstance(error, ValueError):
            return None
        raise
    return facts if isinstance(facts, dict) else None


def _message(error: Exception) -> str:
    return str(getattr(error, "message", "") or error).lower()


def _exists(error: Exception) -> bool:
    """Whether ``error`` says the alias exists (milvus-lite and servers word it differently)."""
    return "already exist" in _message(error)


def _missing(error: Exception) -> bool:
    message = _message(error)
    return "not found" in message or "not exist" in message


def lite_locked(uri: str) -> bool:
    """Whether another process holds milvus-lite's lock on its data folder ``uri``.

    milvus-lite finds that in its server process and pymilvus says only "Open local milvus
    failed", so after a failure qa tries the same lock (an flock of ``uri/LOCK``) itself.
    """
    try:
        from milvus_lite.db import LOCK_FILENAME
    except ImportError:  # no milvus-lite: cannot tell
        return False
    return flock_held(Path(uri) / LOCK_FILENAME)


def flock_held(path: Path) -> bool:
    """Whether another process holds an flock on ``path`` (False when it cannot tell: no such
    file, or not a Unix system)."""
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)  # flock needs no write access
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases the lock when it was taken
    return False
