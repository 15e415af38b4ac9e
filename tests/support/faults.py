"""Helpers for fault tests: private databases with fail points, raw HTTP answers,
subscribers that resume with their cursor, and checks of what they received."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import MongoClient, ReturnDocument
from pymongo.errors import PyMongoError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect
from websockets.typing import Subprotocol

from graph.embedded import EmbeddedDatabase, free_port
from tests.support.live import RESUMABLE, receive, start_async
from tests.support.server import ADMIN_KEY, Server, server_env

PROTOCOL = Subprotocol("graphql-transport-ws")
# Statuses the writers cycle through, as the API names them and as they are stored.
CYCLE = ["CHARGING", "FAULTED", "AVAILABLE", "PREPARING", "FINISHING"]
STORED = {
    "CHARGING": "Charging",
    "FAULTED": "Faulted",
    "AVAILABLE": "Available",
    "PREPARING": "Preparing",
    "FINISHING": "Finishing",
    "UNAVAILABLE": "Unavailable",
}
# Written once per connector after everything else: a subscriber that has seen it has seen all.
MARKER = "UNAVAILABLE"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Deployment:
    """A private database (with fail points) and the servers on it."""

    database: EmbeddedDatabase
    servers: list[Server]

    @property
    def api(self) -> Server:
        return self.servers[0]


@contextmanager
def deployment(directory: Path, servers: int = 1, **env: str) -> Iterator[Deployment]:
    """A SecantusDB process of the test's own, with fail points enabled, and `servers`
    `chargegraph serve` processes on it (database "faults", extra environment `env`).

    The servers spend a couple of seconds importing before they connect (and then wait up
    to 3 s for the database), so they are started alongside the database, not after it.
    The database is started from this thread: it is told to stop when its starting thread ends.
    """
    database = EmbeddedDatabase(
        directory / "db", port=free_port(), options=("--enable-test-commands",)
    )
    settings = server_env(MONGODB_URI=database.uri, CHARGEGRAPH_DB="faults", **env)
    started = Deployment(database, [])
    for number in range(servers):
        (directory / f"server{number}").mkdir(parents=True, exist_ok=True)
        log_path = directory / f"server{number}" / "server.log"
        started.servers.append(Server(env=settings, args=[], log_path=log_path))
    try:
        with ThreadPoolExecutor(servers) as pool:
            starting = [pool.submit(server.start) for server in started.servers]
            database.start()
            for future in starting:
                future.result()
        yield started
    finally:
        for server in started.servers:
            if server.process is not None:
                server.stop()
        if database.running() and database.pid is not None:
            os.kill(database.pid, signal.SIGCONT)  # in case a test left it paused
        database.stop(timeout=10)


@contextmanager
def running_server(directory: Path, args: list[str] | None = None, **env: str) -> Iterator[Server]:
    """A `chargegraph serve` process with extra environment `env`, stopped (if alive) at the end."""
    directory.mkdir(parents=True, exist_ok=True)
    server = Server(env=server_env(**env), args=args or [], log_path=directory / "server.log")
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.stop()


def fail_point(uri: str, commands: list[str], code: int, mode: Any = None) -> None:
    """Arm MongoDB's `failCommand` fail point (mode: {"times": n}, "alwaysOn" or "off")."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        client.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": mode if mode is not None else {"times": 1},
                "data": {"failCommands": commands, "errorCode": code},
            }
        )
    finally:
        client.close()


def fail_point_off(uri: str) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    finally:
        client.close()


@dataclass
class Answer:
    """An HTTP answer to a GraphQL request, whatever its status."""

    status: int
    headers: httpx.Headers
    body: dict[str, Any]


def post(server: Server, query: str, variables: dict[str, Any] | None = None) -> Answer:
    """POST a GraphQL request as admin, without insisting on HTTP 200."""
    response = httpx.post(
        server.graphql_url,
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=60,
    )
    return Answer(response.status_code, response.headers, response.json())


def readiness(server: Server) -> int:
    """The HTTP status of /readyz."""
    return httpx.get(f"{server.base_url}/readyz", timeout=30).status_code


def rss_bytes(pid: int) -> int:
    """A process's resident memory (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


# ---------------------------------------------------------------- writers


@dataclass
class Write:
    """One status write: `changed` when it was acknowledged and changed the stored status,
    None when it raised (it may or may not have been applied)."""

    status: str
    changed: bool | None


@dataclass
class Writer:
    """Writes statuses straight into MongoDB (journaled) in a thread, recording every outcome."""

    uri: str
    database: str
    connector_ids: list[str]
    interval: float = 0.1
    written: dict[str, list[Write]] = field(default_factory=dict)
    acknowledged: int = 0
    failed: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.written = {connector_id: [] for connector_id in self.connector_ids}

    def start(self) -> Writer:
        self.thread = threading.Thread(target=self._run, name="status-writer", daemon=True)
        self.thread.start()
        return self

    def _client(self) -> MongoClient[dict[str, Any]]:
        return MongoClient(
            self.uri,
            journal=True,
            serverSelectionTimeoutMS=500,
            connectTimeoutMS=500,
            socketTimeoutMS=2000,
        )

    def write(self, client: MongoClient[dict[str, Any]], connector_id: str, status: str) -> None:
        try:
            before = client[self.database].connectors.find_one_and_update(
                {"_id": ObjectId(connector_id)},
                {"$set": {"status": STORED[status]}},
                return_document=ReturnDocument.BEFORE,
            )
        except PyMongoError:
            self.written[connector_id].append(Write(status, None))
            self.failed += 1
            return
        assert before is not None
        self.written[connector_id].append(Write(status, before["status"] != STORED[status]))
        self.acknowledged += 1

    def _run(self) -> None:
        client = self._client()
        step = 0
        try:
            while not self.stop.is_set():
                for connector_id in self.connector_ids:
                    self.write(client, connector_id, CYCLE[step % len(CYCLE)])
                step += 1
                self.stop.wait(self.interval)
        finally:
            client.close()

    def halt(self) -> None:
        """Stop writing (if it ever started)."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(30)

    def finish(self) -> None:
        """Stop writing, then write the marker on every connector (it must be acknowledged)."""
        self.halt()
        client = self._client()
        try:
            for connector_id in self.connector_ids:
                self.write(client, connector_id, MARKER)
                assert self.written[connector_id][-1].changed, "the marker was not written"
        finally:
            client.close()

    def certain(self) -> dict[str, list[str]]:
        """Per connector, the statuses of the acknowledged changes, in order."""
        return {
            connector_id: [write.status for write in writes if write.changed]
            for connector_id, writes in self.written.items()
        }


# ---------------------------------------------------------------- subscribers


@dataclass
class Event:
    connector: str
    status: str
    previous: str | None
    cursor: str


@dataclass
class Follower:
    """A dashboard: follows an organization, resuming with its last cursor whenever it is ended."""

    url: str
    organization_id: str
    connector_count: int
    events: list[Event] = field(default_factory=list)
    cursor: str | None = None
    # How each subscription ended (error codes, or the exception of a dropped connection).
    endings: list[str] = field(default_factory=list)
    failure: BaseException | None = None

    @property
    def done(self) -> bool:
        return (
            len({event.connector for event in self.events if event.status == MARKER})
            == self.connector_count
        )

    async def run(self, deadline: float, stop: threading.Event) -> None:
        try:
            while not self.done and not stop.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError("did not see every marker")
                try:
                    await self._subscription(deadline)
                except (ConnectionClosed, OSError, InvalidHandshake, TimeoutError) as error:
                    self.endings.append(type(error).__name__)
                    await asyncio.sleep(0.2)
        except BaseException as error:  # reported by the test (Followers.join)
            self.failure = error

    async def _subscription(self, deadline: float) -> None:
        """One connection and subscription: from a snapshot the first time, else after the cursor."""
        variables: dict[str, Any] = {"org": self.organization_id}
        if self.cursor is None:
            variables["current"] = True
        else:
            variables["after"] = self.cursor
        async with connect(
            self.url, subprotocols=[PROTOCOL], open_timeout=10, ping_interval=None
        ) as connection:
            await start_async(connection, RESUMABLE, variables)
            while not self.done:
                remaining = max(0.1, deadline - time.monotonic())
                message = json.loads(await asyncio.wait_for(connection.recv(), remaining))
                if message["type"] == "ping":
                    await connection.send(json.dumps({"type": "pong"}))
                    continue
                if message["type"] == "complete":
                    self.endings.append("complete")
                    return
                if message["type"] == "error" or message["payload"].get("errors"):
                    errors = message["payload"]
                    errors = errors if isinstance(errors, list) else errors["errors"]
                    self.endings.append(str(errors[0].get("extensions", {}).get("code")))
                    return
                event = message["payload"]["data"]["connectorStatusChanged"]
                self.cursor = event["cursor"]
                if not event["initial"]:
                    self.events.append(
                        Event(
                            event["connector"]["id"],
                            event["status"],
                            event["previousStatus"],
                            event["cursor"],
                        )
                    )

    def statuses(self) -> dict[str, list[tuple[str | None, str]]]:
        """Per connector, the (previousStatus, status) of each change received, in order."""
        received: dict[str, list[tuple[str | None, str]]] = {}
        for event in self.events:
            received.setdefault(event.connector, []).append((event.previous, event.status))
        return received


@dataclass
class Followers:
    """Many followers on one asyncio loop in a thread of their own."""

    followers: list[Follower]
    timeout: float
    thread: threading.Thread | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Followers:
        deadline = time.monotonic() + self.timeout

        async def everyone() -> None:
            await asyncio.gather(
                *(follower.run(deadline, self.stopping) for follower in self.followers)
            )

        self.thread = threading.Thread(
            target=asyncio.run, args=(everyone(),), name="followers", daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        """Give up (a test failed): followers stop at their next reconnection."""
        self.stopping.set()

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(self.timeout + 10)
        failures = [f.failure for f in self.followers if f.failure is not None]
        assert not failures, f"{len(failures)} followers failed; first: {failures[0]!r}"


def explained_by(received: list[str], written: list[Write]) -> bool:
    """Can `received` be what `written` produced? Every acknowledged change appears once, in
    order; a write that raised may appear (once, at its place) or not; no-op writes never do."""
    candidates = [write for write in written if write.changed is not False]
    # reachable[j]: the first j received statuses are explained by the writes read so far.
    reachable = [True] + [False] * len(received)
    for write in candidates:
        following = [False] * (len(received) + 1)
        for j, ok in enumerate(reachable):
            if not ok:
                continue
            if write.changed is None:
                following[j] = True  # not applied
            if j < len(received) and received[j] == write.status:
                following[j + 1] = True
        reachable = following
    return reachable[len(received)]


def chained(received: list[tuple[str | None, str]], initial: str) -> bool:
    """Each change's previousStatus is the status the one before it set."""
    before = initial
    for previous, status in received:
        if previous != before:
            return False
        before = status
    return True


def send_signal(pid: int | None, sig: int) -> None:
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@contextmanager
def handshaken(server: Server) -> Iterator[ClientConnection]:
    """A graphql-transport-ws connection, acknowledged, with no subscription yet."""
    with sync_connect(server.ws_url, subprotocols=[PROTOCOL]) as connection:
        connection.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert receive(connection)["type"] == "connection_ack"
        yield connection


# Each event of this subscription is about 15 kB, so a client that stops
# reading fills the sockets' buffers after a few hundred events.
_FIELDS = (
    "id endpoint status type format powerType power createdAt updatedAt "
    "ocppId organization { id name createdAt }"
)
BULKY = (
    "subscription($org: ID) { connectorStatusChanged(organizationId: $org) { status "
    + " ".join(f"c{index}: connector {{ {_FIELDS} }}" for index in range(40))
    + " } }"
)
# The same connectors as a query, to measure (about) the size of one bulky event.
BULKY_QUERY = (
    "query($id: ID!) { "
    + " ".join(f"c{index}: connector(id: $id) {{ {_FIELDS} }}" for index in range(40))
    + " }"
)
