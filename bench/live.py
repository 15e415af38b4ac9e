"""Live-status benchmark: thousands of WebSocket subscribers while statuses change.

    python -m bench.live [--subscribers 2000] [--rate 50] [--seconds 60]
                         [--wait 300] [--scenarios steady,broadcast,scaled] [--memory]

On a fresh embedded database, on disk in a temporary directory as users run
it (`--memory`: in memory instead): 20 organizations with 10 connectors
each, made through the API; subscribers (in separate, cheap load-generator
processes, one per server) each watch one organization, and the run starts
once every server's /healthz counts all of its subscribers; statuses are
written straight into the database at a steady rate, journaled as
ChargeGraph's own writes are. After the last write the run waits for
stragglers until every expected event arrived, or until the servers are idle
(every server's hub has read every write from its change stream and nothing
arrived for 10 s), or at most `--wait` seconds. It counts events delivered
within 3 s of the last write, delivered later (with the latest arrival),
lost (never delivered, the servers idle) and, if the wait ran out while the
servers were still catching up, still pending then. Latency is from the
database's write time (`changedAt`) to arrival at the client, over every
delivered event. Each subscriber that missed events is examined: did the
server end it (SUBSCRIBER_TOO_SLOW or another error) or close its socket,
did it miss events before its first or after its last, or in between (two
events of a connector with the same status: the writes alternate). The
servers' /healthz figures (events read, deliveries queued, subscribers
dropped as too slow, stream restarts) are recorded around each phase.

Scenarios: one process, subscribers each watching one organization
(`steady`); the broadcast case, everyone watching everything, at rising
write rates (`broadcast`); two server processes sharing the subscribers
(`scaled`). Records the run (bench/record.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import MongoClient
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.record import (
    Start,
    Target,
    begin,
    bound,
    code_version,
    command_line,
    machine,
    record_run,
    uptime,
)
from graph.embedded import EmbeddedDatabase, free_port

ORGANIZATIONS = 20
CONNECTORS_PER_ORGANIZATION = 10
# The servers accept this admin key, to build the network through the API.
ADMIN_KEY = secrets.token_urlsafe(24)
# Events that arrive within this long after the last write are on time.
ON_TIME_SECONDS = 3.0
# Servers whose hubs read every write and sent nothing for this long are idle.
QUIET_SECONDS = 10.0
HUB_FIGURES = ("events", "deliveries", "dropped_slow", "stream_restarts")

# The load generator ---------------------------------------------------------

QUERY = (
    "subscription($org: ID) { connectorStatusChanged(organizationId: $org) "
    "{ status changedAt connector { id } } }"
)


@dataclass
class Watcher:
    """One subscriber, as the load generator sees it."""

    organization: str | None
    received: int = 0
    first_changed: float | None = None
    last_changed: float | None = None
    # An event of a connector with the same status as its previous one: the
    # writes alternate, so at least one event in between was missed.
    gaps: int = 0
    last_status: dict[str, str] = field(default_factory=dict)
    # How the server or the socket ended the subscription, if it did.
    ended: str | None = None

    def reset(self) -> None:
        self.received, self.first_changed, self.last_changed, self.gaps = 0, None, None, 0
        self.last_status.clear()


class Tally:
    def __init__(self, count: int) -> None:
        self.count = count
        self.started = 0
        self.all_started = asyncio.Event()
        self.watchers: list[Watcher] = []
        self.arrivals: list[float] = []
        self.latencies_ms: list[float] = []
        self.errors: list[str] = []

    def one_started(self) -> None:
        self.started += 1
        if self.started == self.count:
            self.all_started.set()


async def subscribe(url: str, watcher: Watcher, tally: Tally) -> None:
    try:
        async with connect(url, subprotocols=["graphql-transport-ws"], max_queue=None) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            await socket.recv()
            variables: dict[str, Any] = (
                {"org": watcher.organization} if watcher.organization else {}
            )
            await socket.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": QUERY, "variables": variables},
                    }
                )
            )
            tally.one_started()
            try:
                async for raw in socket:
                    arrived = time.time()
                    message = json.loads(raw)
                    kind = message["type"]
                    if kind == "ping":
                        await socket.send(json.dumps({"type": "pong"}))
                        continue
                    if kind == "next" and "errors" not in message["payload"]:
                        event = message["payload"]["data"]["connectorStatusChanged"]
                        written = datetime.fromisoformat(
                            event["changedAt"].replace("Z", "+00:00")
                        ).timestamp()
                        tally.arrivals.append(arrived)
                        tally.latencies_ms.append((arrived - written) * 1000)
                        watcher.received += 1
                        if watcher.first_changed is None:
                            watcher.first_changed = written
                        watcher.last_changed = written
                        connector = event["connector"]["id"]
                        if watcher.last_status.get(connector) == event["status"]:
                            watcher.gaps += 1
                        watcher.last_status[connector] = event["status"]
                        continue
                    tally.errors.append(str(message)[:300])
                    # An error (SUBSCRIBER_TOO_SLOW...) comes before the complete: keep the first.
                    if kind == "complete":
                        watcher.ended = watcher.ended or "complete"
                    else:
                        codes = [
                            (error.get("extensions") or {}).get("code", error.get("message"))
                            for error in (
                                message.get("payload", {}).get("errors")
                                if isinstance(message.get("payload"), dict)
                                else message.get("payload") or []
                            )
                        ]
                        watcher.ended = watcher.ended or f"{kind}: {', '.join(map(str, codes))}"
                watcher.ended = watcher.ended or (
                    f"socket closed: {socket.close_code} {socket.close_reason}"
                )
            except ConnectionClosed as closed:
                watcher.ended = watcher.ended or f"socket closed: {closed}"
    except Exception as failure:  # counted and reported, never silent
        if watcher.ended is None:
            watcher.ended = f"failed: {failure!r}"[:200]
        if tally.started < tally.count and not tally.all_started.is_set():
            tally.one_started()


async def load_generator(url: str, count: int, organizations: list[str]) -> None:
    """Hold `count` subscribers; answer `count`, `report <cutoff>` and `stop` lines on stdin."""
    tally = Tally(count)
    tasks = []
    for index in range(count):
        watcher = Watcher(organizations[index % len(organizations)] if organizations else None)
        tally.watchers.append(watcher)
        tasks.append(asyncio.create_task(subscribe(url, watcher, tally)))
        if index % 100 == 99:
            await asyncio.sleep(0.05)  # let the server accept in steps
    await tally.all_started.wait()
    print(json.dumps({"subscribed": tally.started}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "stop":
            break
        if line[0] == "count":
            print(json.dumps({"received": len(tally.arrivals)}), flush=True)
        elif line[0] == "report":
            cutoff = float(line[1])
            on_time = sum(1 for t in tally.arrivals if t <= cutoff)
            print(
                json.dumps(
                    {
                        "received": len(tally.arrivals),
                        "on_time": on_time,
                        "latest": max(tally.arrivals, default=None),
                        "errors": tally.errors[:5],
                        "error_count": len(tally.errors),
                        "latencies": sorted(round(v, 1) for v in tally.latencies_ms),
                        "subscribers": [
                            [
                                w.organization,
                                w.received,
                                w.first_changed,
                                w.last_changed,
                                w.gaps,
                                w.ended,
                            ]
                            for w in tally.watchers
                        ],
                    }
                ),
                flush=True,
            )
            tally.arrivals.clear()
            tally.latencies_ms.clear()
            tally.errors.clear()
            for watcher in tally.watchers:
                watcher.reset()
    for task in tasks:
        task.cancel()


# The benchmark -----------------------------------------------------------------


@dataclass
class Write:
    organization: str
    sent: float
    acknowledged: float


@dataclass
class Outcome:
    subscribers: int
    processes: int
    rate: float
    seconds: float
    writes: int
    write_seconds: float
    expected: int
    received: int
    on_time: int
    latest_after_last_write: float | None
    waited: float
    # How the wait ended: "all arrived", "idle" (the rest is lost) or "deadline".
    wait_ended: str
    p50_ms: float
    p99_ms: float
    errors: int
    hub: list[dict[str, int]]
    diagnosis: list[str]
    kb_per_subscriber: float = 0.0
    subscribe_seconds: float = 0.0

    @property
    def late(self) -> int:
        return self.received - self.on_time

    @property
    def missing(self) -> int:
        return self.expected - self.received

    @property
    def lost(self) -> int:
        """Never delivered: missing once the servers had read every write and gone quiet."""
        return self.missing if self.wait_ended != "deadline" else 0

    @property
    def pending(self) -> int:
        """Not delivered when the wait ran out, the servers still catching up: late or lost."""
        return self.missing if self.wait_ended == "deadline" else 0


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(share * len(values)))]


class Cluster:
    """Server processes on one fresh embedded database, and a network to watch."""

    def __init__(self, processes: int, logs: Path, memory: bool) -> None:
        self.data_dir = None if memory else Path(tempfile.mkdtemp(prefix="chargegraph-live-db-"))
        self.database = EmbeddedDatabase(self.data_dir or ":memory:")
        self.uri = self.database.start()
        self.ports = [free_port() for _ in range(processes)]
        env = {
            "MONGODB_URI": self.uri,
            "CHARGEGRAPH_DB": "live",
            "PATH": "/usr/bin:/bin",
            "CHARGEGRAPH_ADMIN_KEYS": ADMIN_KEY,
            # Thousands of subscribers come from the one load-generator address.
            "CHARGEGRAPH_SEARCHES_PER_MINUTE": "0",
            "CHARGEGRAPH_WRITES_PER_MINUTE": "0",
            "CHARGEGRAPH_WEBSOCKETS_PER_ADDRESS": "100000",
            "CHARGEGRAPH_SUBSCRIPTIONS_PER_CALLER": "100000",
            "CHARGEGRAPH_LOG_LEVEL": "warning",
        }
        self.servers = []
        for index, port in enumerate(self.ports):
            log = (logs / f"server-{index}.log").open("ab")
            self.servers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "graph.cli", "serve", "--port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for server, port in zip(self.servers, self.ports, strict=True):
            for _ in range(600):
                if server.poll() is not None:
                    raise RuntimeError(f"a server exited with {server.returncode}; see {logs}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError(f"a server did not get ready; see {logs}")
        self.organizations: list[str] = []
        self.connectors: dict[ObjectId, str] = {}
        url = f"http://127.0.0.1:{self.ports[0]}/graphql"
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        for index in range(ORGANIZATIONS):
            created = httpx.post(
                url,
                headers=admin,
                json={
                    "query": f'mutation {{ createOrganization(input: {{name: "Live {index}"}}) {{ id }} }}'
                },
            ).json()
            organization = created["data"]["createOrganization"]["id"]
            self.organizations.append(organization)
            for slot in range(CONNECTORS_PER_ORGANIZATION):
                endpoint = f"l{index:02d}{slot}"
                made = httpx.post(
                    url,
                    headers=admin,
                    json={
                        "query": (
                            f'mutation {{ createConnector(input: {{organizationId: "{organization}", endpoint: "{endpoint}", '
                            "ocppId: 1, type: TYPE2, format: SOCKET, powerType: AC_3_PHASE, power: 22}) { id } }"
                        )
                    },
                ).json()
                self.connectors[ObjectId(made["data"]["createConnector"]["id"])] = organization
        # Journaled, as ChargeGraph's own writes are (graph/database.py).
        self.client: MongoClient[dict[str, Any]] = MongoClient(self.uri, journal=True)
        self.status = dict.fromkeys(self.connectors, "Available")

    def rss_kb(self) -> int:
        return sum(rss_kb(server.pid) for server in self.servers)

    def health(self) -> list[dict[str, Any]]:
        return [
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).json() for port in self.ports
        ]

    def write(self, rate: float, seconds: float) -> list[Write]:
        """Change one connector's status `rate` times a second."""
        rng = random.Random(5)
        writes = []
        ids = list(self.connectors)
        started = time.monotonic()
        for index in range(int(rate * seconds)):
            due = started + index / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            connector = rng.choice(ids)
            self.status[connector] = (
                "Charging" if self.status[connector] == "Available" else "Available"
            )
            sent = time.time()
            self.client.live.connectors.update_one(
                {"_id": connector}, {"$set": {"status": self.status[connector]}}
            )
            writes.append(Write(self.connectors[connector], sent, time.time()))
        return writes

    def close(self) -> None:
        self.client.close()
        for server in self.servers:
            server.terminate()
            server.wait(30)
        self.database.stop()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class Clients:
    """One load-generator process per server, each holding its share of the subscribers."""

    def __init__(self, cluster: Cluster, subscribers: int, watch_all: bool) -> None:
        self.share = subscribers // len(cluster.ports)
        organizations = [] if watch_all else cluster.organizations
        self.processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.live",
                    "load-generator",
                    f"ws://127.0.0.1:{port}/graphql",
                    str(self.share),
                    json.dumps(organizations),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for port in cluster.ports
        ]
        for process in self.processes:
            assert process.stdout is not None
            json.loads(process.stdout.readline())
        # Who watches what, as the load generators assign it.
        self.watching: list[list[str | None]] = [
            [
                organizations[i % len(organizations)] if organizations else None
                for i in range(self.share)
            ]
            for _ in self.processes
        ]

    def ask(self, line: str) -> list[dict[str, Any]]:
        answers = []
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(line + "\n")
            process.stdin.flush()
        for process in self.processes:
            assert process.stdout is not None
            answers.append(json.loads(process.stdout.readline()))
        return answers

    def received(self) -> int:
        return sum(part["received"] for part in self.ask("count"))

    def close(self) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write("stop\n")
            process.stdin.flush()
            process.wait(30)


def wait_subscribed(cluster: Cluster, share: int, timeout: float = 120) -> float:
    """Until every server counts its share of subscribers in its hub; returns the seconds waited."""
    started = time.monotonic()
    while True:
        counts = [figures["subscribers"] for figures in cluster.health()]
        if all(count >= share for count in counts):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"subscribers in the servers' hubs: {counts}, expected {share} each")
        time.sleep(0.25)


def diagnose(
    parts: list[dict[str, Any]], writes: list[Write], clients: Clients
) -> tuple[int, list[str]]:
    """Expected deliveries, and what happened to subscribers that missed events."""
    by_organization: dict[str | None, list[Write]] = {}
    for write in writes:
        by_organization.setdefault(write.organization, []).append(write)
    by_organization[None] = writes
    expected = 0
    short: Counter[str] = Counter()
    missing_by_cause: Counter[str] = Counter()
    examples: list[str] = []
    for process_index, part in enumerate(parts):
        for index, (organization, received, first, last, gaps, ended) in enumerate(
            part["subscribers"]
        ):
            assert organization == clients.watching[process_index][index]
            own = by_organization.get(organization, [])
            expected += len(own)
            missing = len(own) - received
            if missing < 0:
                short[f"process {process_index + 1}: received more than written"] += 1
                continue
            if missing == 0 and gaps == 0:
                continue
            acknowledged = [w.acknowledged for w in own]
            sent = [w.sent for w in own]
            # Writes acknowledged before the first event it got was written: earlier events.
            before = bisect_left(acknowledged, first) if first is not None else len(own)
            # Writes sent after the last event it got was written: later events.
            after = len(own) - bisect_right(sent, last + 0.001) if last is not None else 0
            cause = ended or "still subscribed"
            short[f"process {process_index + 1}: {cause}"] += 1
            missing_by_cause["before its first event"] += min(before, missing)
            missing_by_cause["after its last event"] += min(after, max(0, missing - before))
            missing_by_cause["between (status repeated)"] += gaps
            if len(examples) < 3:
                examples.append(
                    f"process {process_index + 1} subscriber {index} ({cause}): {received} of "
                    f"{len(own)}, {before} written before its first event, {after} after its "
                    f"last, {gaps} repeated statuses"
                )
    notes = []
    if short:
        notes.append(
            "subscribers short of events when the wait ended: "
            + "; ".join(f"{count} ({what})" for what, count in short.most_common())
        )
        notes.append(
            "their missing events, by when they were written: "
            + ", ".join(f"{count} {what}" for what, count in missing_by_cause.items())
        )
        notes.append("examples: " + " | ".join(examples))
    return expected, notes


def run_phase(
    cluster: Cluster, clients: Clients, rate: float, seconds: float, wait: float
) -> Outcome:
    clients.ask("report 0")  # discard anything earlier
    before = cluster.health()
    started = time.monotonic()
    writes = cluster.write(rate, seconds)
    write_seconds = time.monotonic() - started
    last_write = writes[-1].acknowledged
    per_organization = Counter(w.organization for w in writes)
    wanted = sum(
        len(writes) if organization is None else per_organization[organization]
        for watching in clients.watching
        for organization in watching
    )
    # Stragglers: wait until everything arrived, or the servers are idle (their hubs
    # read every write and nothing arrives any more), or the deadline.
    received, progressed = -1, time.time()
    while True:
        now = time.time()
        count = clients.received()
        if count != received:
            received, progressed = count, now
        if count >= wanted:
            wait_ended = "all arrived"
            break
        read = [a["events"] - b["events"] for a, b in zip(cluster.health(), before, strict=True)]
        if min(read) >= len(writes) and now - progressed >= QUIET_SECONDS:
            wait_ended = "idle"
            break
        if now >= last_write + wait:
            wait_ended = "deadline"
            break
        time.sleep(0.5)
    waited = time.time() - last_write
    parts = clients.ask(f"report {last_write + ON_TIME_SECONDS}")
    after = cluster.health()
    expected, notes = diagnose(parts, writes, clients)
    assert expected == wanted
    latencies = sorted(v for part in parts for v in part["latencies"])
    latest = max((p["latest"] for p in parts if p["latest"] is not None), default=None)
    hub = [
        {**{k: a[k] - b[k] for k in HUB_FIGURES}, "subscribers": a["subscribers"]}
        for a, b in zip(after, before, strict=True)
    ]
    if sum(part["received"] for part in parts) < expected:
        # Where the missing events were: not yet read by a hub, queued, or gone after it.
        notes.append(
            "per server process: "
            + "; ".join(
                f"read {figures['events']:,} of {len(writes):,} writes, queued "
                f"{figures['deliveries']:,} deliveries, its clients received {part['received']:,}"
                for figures, part in zip(hub, parts, strict=True)
            )
        )
    errors = [e for part in parts for e in part["errors"]]
    if errors:
        notes.append(f"error samples: {errors[:3]}")
    return Outcome(
        subscribers=sum(len(w) for w in clients.watching),
        processes=len(cluster.ports),
        rate=rate,
        seconds=seconds,
        writes=len(writes),
        write_seconds=write_seconds,
        expected=expected,
        received=sum(part["received"] for part in parts),
        on_time=sum(part["on_time"] for part in parts),
        latest_after_last_write=None if latest is None else latest - last_write,
        waited=waited,
        wait_ended=wait_ended,
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
        errors=sum(part["error_count"] for part in parts),
        hub=hub,
        diagnosis=notes,
    )


def scenario(
    processes: int,
    subscribers: int,
    watch_all: bool,
    rates: list[float],
    seconds: float,
    wait: float,
    memory: bool,
) -> list[Outcome]:
    logs = Path(tempfile.mkdtemp(prefix="chargegraph-live-"))
    cluster = Cluster(processes, logs, memory)
    try:
        idle = cluster.rss_kb()
        clients = Clients(cluster, subscribers, watch_all)
        try:
            subscribe_seconds = wait_subscribed(cluster, clients.share)
            time.sleep(3)
            per_subscriber = (cluster.rss_kb() - idle) / subscribers
            outcomes = []
            for rate in rates:
                outcome = run_phase(cluster, clients, rate, seconds, wait)
                outcome.kb_per_subscriber = per_subscriber
                outcome.subscribe_seconds = subscribe_seconds
                outcomes.append(outcome)
                print(describe(outcome, watch_all), flush=True)
                for note in outcome.diagnosis:
                    print("  " + note, flush=True)
                if outcome.missing or outcome.late or outcome.p99_ms > 250:
                    break
        finally:
            clients.close()
        print(f"  server logs in {logs}")
        return outcomes
    finally:
        cluster.close()


def describe(o: Outcome, watch_all: bool) -> str:
    watching = "everything" if watch_all else "one organization each"
    latest = "—" if o.latest_after_last_write is None else f"{o.latest_after_last_write:.1f} s"
    return (
        f"{o.processes} process(es), {o.subscribers} subscribers watching {watching}, "
        f"{o.rate:g} writes/s for {o.seconds:g}s ({o.writes} writes in {o.write_seconds:.1f} s): "
        f"{o.received:,}/{o.expected:,} delivered, within {ON_TIME_SECONDS:g} s of the last write "
        f"{o.on_time:,}, late {o.late:,} (latest {latest} after the last write), lost {o.lost:,}, "
        f"pending when the wait ran out {o.pending:,} (waited {o.waited:.0f} s: "
        f"{o.wait_ended}); p50 {o.p50_ms:.0f} ms, p99 {o.p99_ms:.0f} ms, "
        f"{o.kb_per_subscriber:.1f} kB per idle subscriber (all in the hubs "
        f"{o.subscribe_seconds:.1f} s after the clients sent their subscriptions), "
        f"errors {o.errors}; hubs: "
        + "; ".join(", ".join(f"{k} {v:,}" for k, v in figures.items()) for figures in o.hub)
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "load-generator":
        asyncio.run(load_generator(sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--broadcast-rates", default="2,5,10,20,40", help="writes/s tried in turn")
    parser.add_argument("--broadcast-seconds", type=float, default=10)
    parser.add_argument(
        "--wait",
        type=float,
        default=300,
        help="longest wait for stragglers after the last write, in seconds",
    )
    parser.add_argument("--scenarios", default="steady,broadcast,scaled")
    parser.add_argument(
        "--memory", action="store_true", help="run the embedded database in memory, not on disk"
    )
    args = parser.parse_args()
    chosen = args.scenarios.split(",")

    started = begin()
    print(started.uptime, flush=True)
    results: list[tuple[list[Outcome], str]] = []
    try:
        if "steady" in chosen:
            outcomes = scenario(
                1, args.subscribers, False, [args.rate], args.seconds, args.wait, args.memory
            )
            results.append((outcomes, "one organization"))
        if "broadcast" in chosen:
            rates = [float(r) for r in args.broadcast_rates.split(",")]
            outcomes = scenario(
                1, args.subscribers, True, rates, args.broadcast_seconds, args.wait, args.memory
            )
            results.append((outcomes, "everything"))
        if "scaled" in chosen:
            outcomes = scenario(
                2, args.subscribers, False, [args.rate], args.seconds, args.wait, args.memory
            )
            results.append((outcomes, "one organization"))
    finally:
        load_after = uptime()
        print(load_after, flush=True)
        if results:
            report(results, args, started, load_after)


def report(
    results: list[tuple[list[Outcome], str]],
    args: argparse.Namespace,
    started: Start,
    load_after: str,
) -> None:
    where = (
        "in memory (`--memory`)"
        if args.memory
        else "on disk in a temporary directory (as users run it), statuses written journaled "
        "(`journal=True`, as ChargeGraph writes)"
    )
    lines = [
        f"Machine: {machine()}. `{command_line()}`. Embedded database {where}; statuses written "
        "straight into the database; subscribers in separate asyncio load-generator processes "
        "(one per server), writes started once every server's /healthz counted all its "
        "subscribers; all on the same machine. Latency is from the database's write time "
        "(`changedAt`) to arrival at the client, over every delivered event. After the last "
        "write the run waited until every expected event arrived, or the servers were idle "
        f"(each server's hub had read every write and nothing arrived for {QUIET_SECONDS:g} s), "
        f"or at most {args.wait:g} s: on time = arrived within {ON_TIME_SECONDS:g} s of the "
        "last write; late = arrived after that; lost = never arrived, the servers idle; "
        "pending = not arrived when the wait ran out while a server was still catching up "
        "(late or lost, unknown). Hub figures are the servers' /healthz counters over the "
        "phase (events read from the change stream, deliveries queued to subscribers, "
        "subscribers dropped as too slow, stream restarts).\n",
        f"Code: {code_version()}. Load before: `{started.uptime}`; after: `{load_after}`.\n",
        "| server processes | subscribers | watching | writes/s (writes, s taken) | expected | "
        f"delivered within {ON_TIME_SECONDS:g} s of the last write | late (latest, s after the "
        "last write) | lost | pending when the wait ran out (waited, s) | p50 (ms) | p99 (ms) | "
        "kB per idle subscriber | hub per process: events / deliveries / dropped_slow / stream "
        "restarts | client errors |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- "
        "| ---: |",
    ]
    notes = []
    for outcomes, watching in results:
        for o in outcomes:
            latest = (
                "—" if o.latest_after_last_write is None else f"{o.latest_after_last_write:.1f}"
            )
            hubs = "; ".join(
                " / ".join(f"{figures[k]:,}" for k in HUB_FIGURES) for figures in o.hub
            )
            lines.append(
                f"| {o.processes} | {o.subscribers:,} | {watching} | {o.rate:g} ({o.writes:,}, "
                f"{o.write_seconds:.1f}) | {o.expected:,} | {o.on_time:,} | {o.late:,} ({latest}) | "
                f"{o.lost:,} | {o.pending:,} ({o.waited:.0f}) | {o.p50_ms:.0f} | {o.p99_ms:.0f} | "
                f"{o.kb_per_subscriber:.1f} | "
                f"{hubs} | {o.errors} |"
            )
            for note in o.diagnosis:
                notes.append(
                    f"- {o.processes} process(es), {watching}, {o.rate:g} writes/s: {note}"
                )
    if notes:
        lines += ["", *notes]
    record_run("live", started, lines, targets(results))


def targets(results: list[tuple[list[Outcome], str]]) -> list[Target]:
    """p99 ≤ 250 ms in every scenario, no event lost, ≤ 50 kB per idle subscriber."""
    found = []
    for outcomes, watching in results:
        for o in outcomes:
            if watching == "everything":
                name = f"broadcast to {o.subscribers:,} subscribers at {o.rate:g} writes/s"
            elif o.processes == 1:
                name = f"1 process, {o.subscribers:,} subscribers, {o.rate:g} writes/s"
            else:
                each = o.subscribers // o.processes
                name = f"{o.processes} processes, {each:,} subscribers each, {o.rate:g} writes/s"
            found.append(bound(f"p99, {name}", o.p99_ms, 250, "ms", digits=0))
    every = [o for outcomes, _ in results for o in outcomes]
    lost, pending = sum(o.lost for o in every), sum(o.pending for o in every)
    expected = sum(o.expected for o in every)
    figure = f"{lost:,} of {expected:,}" + (
        f" ({pending:,} pending when the wait ran out)" if pending else ""
    )
    found.append(Target("events lost", "0", figure, lost == 0, lost, 0))
    found.append(bound("memory per idle subscriber", every[0].kb_per_subscriber, 50, "kB"))
    return found


if __name__ == "__main__":
    main()
