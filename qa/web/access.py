"""Who may use a served qa, and how much: the chat's users (``Users``, ``--auth FILE``: names
with salted scrypt password hashes), the REST API's keys (``ApiKeys``, ``--api-keys FILE``:
SHA-256 of random keys, each ``read`` or ``write``), the refusal to serve beyond loopback
without them (``check_exposure``), and what one client may do per minute (``Limits``,
``TokenBuckets``), applied to the REST API by ``Gate`` (ASGI middleware) before a request's
body is read.

``python -m qa.web.access add-user FILE NAME`` (asks for the password), ``add-key FILE NAME
--role read|write`` (prints the new key, once), ``remove FILE NAME`` and ``list FILE``.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from starlette.datastructures import Headers

from qa.errors import UsageError
from qa.web.callbacks import MAX_UPLOAD_BYTES

ROLES = ("read", "write")  # write: may also upload and remove documents
NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
# scrypt at 16 MiB and ~50 ms a check: a login is rare, a stolen file's guesses are slow.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
KEY_PREFIX = "qa_"  # makes a leaked key easy to find in a repository or a log
MIN_PASSWORD = 8
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """What one client (an API key, else a remote address) may do: every limit of a shared
    server in one place, with the defaults ``qa serve`` uses."""

    asks_per_minute: float = 60.0  # sustained; a question costs ~0.1-0.5 s of CPU
    ask_burst: int = 10  # asked at once before the rate applies
    uploads_per_minute: float = 6.0  # each upload is read and embedded at once
    upload_burst: int = 3
    concurrent_uploads: int = 2  # whole server: embedding one file takes the CPUs it has
    max_json_bytes: int = 64 * 1024  # a question is <= 2,000 characters; the history with it
    max_upload_bytes: int = MAX_UPLOAD_BYTES  # the file, as in the chat
    multipart_slack: int = 64 * 1024  # the form's own bytes around the file

    @classmethod
    def parse(cls, text: str | None) -> Limits:
        """``qa serve --limits asks_per_minute=120,ask_burst=20``: the defaults, changed."""
        changes = dict(part.partition("=")[::2] for part in (text or "").split(",") if part)
        fields = {name: type(getattr(cls(), name)) for name in cls.__dataclass_fields__}
        if unknown := set(changes) - set(fields):
            raise UsageError(f"--limits: no {', '.join(unknown)}; the limits: {', '.join(fields)}")
        try:
            return cls(**{name: fields[name](value) for name, value in changes.items()})
        except ValueError as error:
            raise UsageError(f"--limits: {error}") from None


class TokenBuckets:
    """A token bucket per client: ``burst`` tokens, refilled at ``per_minute``; thread-safe."""

    def __init__(self, per_minute: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = per_minute / 60.0, float(burst), clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when ``client`` may go on (a token is used), else the seconds until it may."""
        with self._lock:
            now = self.clock()
            tokens, when = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - when) * self.rate)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return (1 - tokens) / self.rate if self.rate > 0 else 60.0
            self._buckets[client] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # full buckets are the same as none: forget them
                rate, burst = self.rate, self.burst
                items = list(self._buckets.items())
                self._buckets = {c: tw for c, tw in items if tw[0] + (now - tw[1]) * rate < burst}
            return 0.0


# ----- credential files -------------------------------------------------------------------


class _CredentialFile:
    """A text file of ``NAME FIELD...`` lines (``#`` comments), read again when it changes, so
    a user or key added or removed takes effect without a restart."""

    kind = "credentials"

    def __init__(self, path: str | os.PathLike, must_exist: bool = True):
        self.path = Path(path)
        if must_exist and not self.path.is_file():
            raise UsageError(f"No such file: {self.path.name}; make it: python -m qa.web.access")
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._entries: dict[str, tuple[str, ...]] = {}

    def entries(self) -> dict[str, tuple[str, ...]]:
        with self._lock:
            try:
                stat = self.path.stat()
                stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            except OSError:
                stamp = None
            if stamp != self._stamp:
                self._entries = self._read() if stamp else {}
                self._stamp = stamp
            return self._entries

    def _read(self) -> dict[str, tuple[str, ...]]:
        entries = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 2 and not line.startswith("#"):
                entries[parts[0]] = tuple(parts[1:])
        return entries

    def write(self, entries: dict[str, tuple[str, ...]]) -> None:
        """Replace the file atomically, readable by its owner only (it holds hashes)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".access-")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(f"# qa credentials: edit with python -m qa.web.access ({self.kind})\n")
            file.writelines(f"{name} {' '.join(fields)}\n" for name, fields in entries.items())
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.path)

    def remove(self, name: str) -> bool:
        entries = dict(self.entries())
        if entries.pop(name, None) is None:
            return False
        self.write(entries)
        return True


class Users(_CredentialFile):
    """The chat's users: ``NAME scrypt$N$r$p$SALT$HASH`` lines (``--auth FILE``)."""

    kind = "users"

    def check(self, name: str, password: str) -> bool:
        """Gradio's ``auth`` callable: the password is ``name``'s. Takes as long for an unknown
        name, so a timing says nothing about which names exist."""
        stored = self.entries().get(name, ("",))[0]
        return verify_password(password, stored) and bool(stored)

    def add(self, name: str, password: str) -> None:
        _check_name(name)
        if len(password) < MIN_PASSWORD:
            raise UsageError(f"A password needs at least {MIN_PASSWORD} characters.")
        self.write({**self.entries(), name: (hash_password(password),)})


class Key(NamedTuple):
    """Who an API key belongs to (a name, never the key) and what it may do."""

    name: str
    role: str


class ApiKeys(_CredentialFile):
    """The REST API's keys: ``NAME ROLE sha256$HEX`` lines (``--api-keys FILE``). A key is 32
    random bytes, so one SHA-256 keeps it as safe as a slow hash would, at no cost per call."""

    kind = "API keys"

    def lookup(self, key: str) -> Key | None:
        digest = hash_key(key)
        for name, fields in self.entries().items():
            role, stored = fields[0], fields[-1]
            if hmac.compare_digest(stored, digest) and role in ROLES and len(fields) == 2:
                return Key(name, role)
        return None

    def add(self, name: str, role: str) -> str:
        """A new key for ``name`` (replacing its old one); returns the key, shown only now."""
        _check_name(name)
        if role not in ROLES:
            raise UsageError(f"A key's role is one of {', '.join(ROLES)}, not {role!r}.")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.write({**self.entries(), name: (role, hash_key(key))})
        return key


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    n, r, p = SCRYPT["n"], SCRYPT["r"], SCRYPT["p"]
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                  r=int(r), p=int(p), dklen=32)  # fmt: skip
        return scheme == "scrypt" and hmac.compare_digest(computed, base64.b64decode(digest))
    except ValueError:  # an unknown name or a damaged line: the same work, then no
        hashlib.scrypt(password.encode(), salt=b"0" * 16, dklen=32, **SCRYPT)
        return False


def hash_key(key: str) -> str:
    return "sha256$" + hashlib.sha256(key.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a name: use 1-64 letters, digits and _ . @ -")


# ----- exposure ---------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Only this machine can reach ``host`` (``localhost``, 127.x.x.x, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def check_exposure(host: str, authenticated: bool, insecure: bool) -> str | None:
    """Refuse (UsageError) to serve ``host`` beyond loopback without the chat's users; with
    ``insecure`` (``--insecure-no-auth``) return the warning to print instead."""
    if is_loopback(host) or authenticated:
        return None
    if not insecure:
        raise UsageError(
            f"Refusing to serve {host} without authentication: anyone who can reach it could "
            "read, add and remove documents. Give --auth FILE (the chat's users) and "
            "--api-keys FILE (the REST API's keys; python -m qa.web.access makes both), or "
            "serve 127.0.0.1, or accept the risk with --insecure-no-auth."
        )
    return (
        f"qa: WARNING: serving {host} without authentication (--insecure-no-auth): anyone "
        "who can reach it can ask, upload and remove documents."
    )


# ----- the REST API's gate ----------------------------------------------------------------

API_PREFIX = "/api/"


def rule(method: str, path: str) -> tuple[str | None, str | None]:
    """The role ``method path`` needs (None: anyone) and the rate bucket it draws on."""
    if path == "/api/health":
        return None, None
    if path == "/api/ask":
        return "read", "ask"
    if path.startswith("/api/documents") and method == "POST":
        return "write", "upload"
    return ("read" if method in ("GET", "HEAD") else "write"), None


class _TooLarge(Exception):
    pass


class Gate:
    """ASGI middleware in front of ``/api/``: the API key and its role (401/403), the body's
    size, from its header and as it arrives (413), the client's rate (429, per key, else per
    address) and the cap on uploads at once (429). ``keys`` None: with ``open_access`` every
    caller may write, else only health answers. Other paths pass untouched."""

    def __init__(self, app, keys: ApiKeys | None, open_access: bool, limits: Limits):
        self.app, self.keys, self.open_access, self.limits = app, keys, open_access, limits
        self.buckets = {
            "ask": TokenBuckets(limits.asks_per_minute, limits.ask_burst),
            "upload": TokenBuckets(limits.uploads_per_minute, limits.upload_burst),
        }
        self.upload_slots = threading.BoundedSemaphore(limits.concurrent_uploads)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        refusal, client, bucket = self._check(scope)
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        if bucket == "upload" and not self.upload_slots.acquire(blocking=False):
            n = self.limits.concurrent_uploads
            running = f"The server takes {n} upload{'s' * (n != 1)} at a time: try again soon."
            await _refuse(send, 429, running, {"Retry-After": "5"})
            return
        try:
            await self._pass(scope, receive, send, self._cap(bucket))
        finally:
            if bucket == "upload":
                self.upload_slots.release()

    def _check(self, scope) -> tuple[tuple | None, str, str | None]:
        """(status, message, headers) to refuse with, or None; the client; its bucket."""
        role, bucket = rule(scope["method"], scope["path"])
        headers = Headers(scope=scope)
        client = f"address {(scope.get('client') or ('unknown',))[0]}"
        if role is not None and not self.open_access:
            scheme, _, key = headers.get("authorization", "").partition(" ")
            if self.keys is None:
                closed = "This server takes no API keys (it was started without --api-keys)."
                return (401, closed, {"WWW-Authenticate": "Bearer"}), client, bucket
            if scheme.lower() != "bearer" or not key.strip():
                needed = "This API needs a key: Authorization: Bearer KEY."
                return (401, needed, {"WWW-Authenticate": "Bearer"}), client, bucket
            found = self.keys.lookup(key.strip())
            if found is None:
                invalid = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                return (401, "This API key is not valid.", invalid), client, bucket
            if role == "write" and found.role != "write":
                reader = f"The key of {found.name} may only read: adding and removing "
                return (403, reader + "documents needs a write key.", None), client, bucket
            client = f"key {found.name}"  # its name, never the key: it may be logged
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self._cap(bucket):
            return (413, _too_large(self._cap(bucket)), {"Connection": "close"}), client, bucket
        if bucket is not None and (wait := math.ceil(self.buckets[bucket].take(client))) > 0:
            what = "questions" if bucket == "ask" else "uploads"
            busy = f"Too many {what} from {client}: try again in {wait} s."
            return (429, busy, {"Retry-After": str(wait)}), client, bucket
        return None, client, bucket

    def _cap(self, bucket: str | None) -> int:
        if bucket == "upload":
            return self.limits.max_upload_bytes + self.limits.multipart_slack
        return self.limits.max_json_bytes

    async def _pass(self, scope, receive, send, cap: int) -> None:
        """The request, its body counted as it arrives: past ``cap`` it is 413, whatever the
        route was about to answer (FastAPI makes a broken body a 400)."""
        received, over, started = 0, False, False

        async def counted():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    over = True
                    raise _TooLarge
            return message

        async def checked(message):
            nonlocal started
            if over:
                if not started:
                    started = True
                    await _refuse(send, 413, _too_large(cap), {"Connection": "close"})
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, checked)
        except Exception:  # raised outside a route (the routes answer their own errors)
            if started:
                raise
            started = True
            if over:
                await _refuse(send, 413, _too_large(cap), {"Connection": "close"})
            else:
                log.exception("%s %s failed", scope["method"], scope["path"])
                await _refuse(send, 500, "Internal error: the server's log has the details.")


def _too_large(cap: int) -> str:
    return f"The request is over the {cap:,}-byte limit."


async def _refuse(send, status: int, message: str, headers: dict | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    extra = [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + extra})
    await send({"type": "http.response.body", "body": body})


# ----- python -m qa.web.access ------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qa.web.access", description="Manage qa's users and API keys."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    user = sub.add_parser("add-user", help="add or change a chat user (asks for the password)")
    user.add_argument("file", help="the users file (qa serve --auth FILE)")
    user.add_argument("name")
    key = sub.add_parser("add-key", help="make an API key (printed once, stored hashed)")
    key.add_argument("file", help="the keys file (qa serve --api-keys FILE)")
    key.add_argument("name", help="whose key: shown in logs instead of the key")
    key.add_argument("--role", choices=ROLES, default="read")
    remove = sub.add_parser("remove", help="remove a user or a key by name")
    remove.add_argument("file")
    remove.add_argument("name")
    sub.add_parser("list", help="the names (and roles) in a file").add_argument("file")
    args = parser.parse_args(argv)
    try:
        if args.command == "add-user":
            password = getpass.getpass(f"Password for {args.name}: ")
            if getpass.getpass("Again: ") != password:
                raise UsageError("The passwords differ; nothing was changed.")
            Users(args.file, must_exist=False).add(args.name, password)
            print(f"{args.name} can now sign in (file {args.file}).")
        elif args.command == "add-key":
            print(ApiKeys(args.file, must_exist=False).add(args.name, args.role))
            print(f"(the {args.role} key of {args.name}: shown only now)", file=sys.stderr)
        elif args.command == "remove":
            found = _CredentialFile(args.file).remove(args.name)
            print(f"{args.name}: {'removed' if found else 'not in the file'}.")
        else:
            for name, fields in _CredentialFile(args.file).entries().items():
                print(name, *[f for f in fields if "$" not in f])  # never a hash
    except UsageError as error:
        print(f"qa: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
