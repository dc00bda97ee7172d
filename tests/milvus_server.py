"""A real Milvus server for the tests: the PyPI package ``milvus``, a Milvus 2.3 standalone
server (its Go binary with embedded etcd, RocksMQ and local storage), run as a child process.

The newest release that installs here is 2.3.5 (2.3.6 to 2.3.9 have no wheel for this
platform). Each server gets a temporary data folder and free ports, and is stopped and its
folder deleted afterwards. The binaries (~380 MB unpacked) are unpacked once into a cache
folder and linked into each data folder.

As a script it serves until interrupted (Ctrl+C), printing the store description to use::

    python tests/milvus_server.py            # prints milvus://127.0.0.1:PORT, then serves

In the tests, the session fixture ``milvus_server`` (tests/conftest.py) starts one for the
slow tests that need it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from qa.search.lease import flock_held

START_SECONDS = 180  # it started in ~12 s on an idle 2-core machine; much slower under load
STOP_SECONDS = 20  # a graceful stop (SIGTERM) before it is killed
# Milvus 2.3 standalone locks this file whatever its data folder: one server per machine (a
# second one waits for the lock, silently).
PID_FILE = Path("/run/milvus/standalone.pid")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qa" / "milvus-server"


class MilvusServer:
    """One Milvus standalone server on a free port, with a data folder of its own."""

    def __init__(self, data_dir: str | os.PathLike | None = None, port: int | None = None):
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="qa-milvus-server-"))
        self.port = port or _free_port()
        self._server = None
        self._lock = threading.Lock()

    @property
    def uri(self) -> str:
        """The store description qa takes (``--store``)."""
        return f"milvus://127.0.0.1:{self.port}"

    @property
    def version(self) -> str:
        import milvus

        return milvus.__version__

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.server_proc.poll() is None

    def start(self) -> MilvusServer:
        """Start it (again, on the same port and data, after ``stop``) and wait until healthy."""
        try:
            from milvus import MilvusServer as Embedded
        except ImportError as error:
            raise RuntimeError(
                "The Milvus server needs the PyPI package milvus: pip install -e '.[milvus-server]'"
            ) from error
        with self._lock:
            if self.running:
                return self
            self._link_binaries()
            if flock_held(PID_FILE):
                raise RuntimeError(
                    f"Another Milvus standalone server runs on this machine (it holds "
                    f"{PID_FILE}); Milvus 2.3 runs one per machine. Stop it, or use it."
                )
            # The other ports are the package's defaults or the next free ones; only the
            # client port must stay the same across restarts.
            config = _Config(data_dir=str(self.data_dir), proxy_port=self.port)
            server = Embedded(config, wait_for_started=False)
            server.start()
            self._server = server
            try:
                server.wait_started(timeout=START_SECONDS * 1000)
                _wait_for_port(self.port, START_SECONDS)
            except Exception as error:
                self._halt()
                log = self.data_dir / "logs" / "milvus-stderr.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"Milvus did not start: {error}\n{tail}") from error
        return self

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after STOP_SECONDS); its data stays for ``start``."""
        with self._lock:
            self._halt()

    def kill(self) -> None:
        """Kill it at once (SIGKILL), as a crash would; its data stays for ``start``."""
        with self._lock:
            if self._server is not None:
                self._server.server_proc.kill()
            self._halt()

    def cleanup(self) -> None:
        """Stop it and delete its data folder (if this object made it)."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> MilvusServer:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def _halt(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        process = server.server_proc
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        server.server_proc = None
        for handle in server.proc_fds.values():
            handle.close()
        server.proc_fds.clear()

    def _link_binaries(self) -> None:
        """Point the data folder's ``bin`` at the shared cache: the package unpacks its
        binaries into ``<data>/bin`` and skips files whose checksum is already there."""
        bin_dir = self.data_dir / "bin"
        if bin_dir.exists() or bin_dir.is_symlink():
            return
        cache = CACHE / self.version / "bin"
        cache.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        bin_dir.symlink_to(cache, target_is_directory=True)


def _Config(**options):
    """The package's configuration, its port check made with SO_REUSEADDR as the server
    binds: without it a restart on the same port fails while the old connections linger
    in TIME_WAIT (about a minute)."""
    from milvus import MilvusServerConfig

    class Config(MilvusServerConfig):
        def try_bind_port(self, port):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen()
                return sock
            except OSError:
                sock.close()
                return None

    return Config(**options)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


def main() -> int:
    server = MilvusServer()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        server.start()
        print(f"Milvus {server.version} serving at {server.uri} (data in {server.data_dir})")
        print("Ctrl+C stops it and deletes its data.", flush=True)
        while not stopping.is_set() and server.running:
            stopping.wait(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
