"""The embedded database: a SecantusDB server in a child process.

A child process (rather than a thread) keeps the database's work off the API's
interpreter lock, so both of the machine's cores are used. The child is told
to stop when the parent dies, so a crashed server never leaves an orphan
holding the data directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM it when the parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host`."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedDatabase:
    """Starts and stops a SecantusDB server on loopback, storing under `data_dir`."""

    def __init__(
        self,
        data_dir: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        options: Sequence[str] = (),
    ) -> None:
        self.data_dir = str(data_dir)
        self.host = host
        # 0: a free port is chosen at the first start; later starts reuse it,
        # so clients find a restarted server where they left it.
        self.fixed_port = port
        self.port = port
        # More command-line options for the server (e.g. --enable-test-commands).
        self.options = tuple(options)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        """Is the server process alive (it may still be paused or busy)?"""
        return self._process is not None and self._process.poll() is None

    @property
    def uri(self) -> str:
        """Connection string for the running server."""
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and wait until it answers a ping; returns its URI."""
        if self.data_dir != ":memory:":
            Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        # A previous server on the same directory may still be releasing it
        # (for instance after its parent crashed): retry until the deadline.
        while True:
            self.launch()
            if self.wait_until_ready(deadline):
                return self.uri
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(f"the embedded database did not start within {timeout:.0f}s")

    def launch(self) -> None:
        """Start the server process, without waiting for it (see `wait_until_ready`).

        Call it from a thread that lives as long as the server should: Linux
        stops the child when the thread that started it ends.
        """
        self.port = self.fixed_port or free_port(self.host)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--storage-path",
                self.data_dir,
                "--log-level",
                "WARNING",
                *self.options,
            ],
            preexec_fn=_stop_with_parent,
        )

    def wait_until_ready(self, deadline: float) -> bool:
        """Wait until the launched server answers a ping (False: it died or the deadline came)."""
        if not self._ready_before(deadline):
            return False
        log.info("embedded database on %s, data in %s", self.uri, self.data_dir)
        self.fixed_port = self.port
        return True

    def _ready_before(self, deadline: float) -> bool:
        assert self._process is not None
        client: MongoClient[dict[str, object]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=200, connectTimeoutMS=200
        )
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    time.sleep(0.2)
                    return False
                try:
                    client.admin.command("ping")
                    return True
                except PyMongoError:
                    time.sleep(0.05)
            return False
        finally:
            client.close()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server cleanly (SIGTERM lets it checkpoint), killing it only if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("the embedded database did not stop in %.0fs; killing it", timeout)
            process.kill()
            process.wait()
