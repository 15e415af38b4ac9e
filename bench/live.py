"""Live-status benchmark: thousands of WebSocket subscribers while statuses change.

    python -m bench.live [--subscribers 2000] [--rate 50] [--seconds 60]

On a fresh embedded database: 20 organizations with 10 connectors each;
subscribers (in separate, cheap load-generator processes) each watch one
organization; statuses are written straight into the database at a steady
rate. Reports delivery latency from write to client (p50/p99), events lost,
server memory per idle subscriber; then the broadcast case (everyone watches
everything) at rising write rates; then two server processes sharing the
subscribers. Appends the figures to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import MongoClient

from bench.run import REPORT, machine
from graph.embedded import EmbeddedDatabase, free_port

ORGANIZATIONS = 20
CONNECTORS_PER_ORGANIZATION = 10
# The servers accept this admin key, to build the network through the API.
ADMIN_KEY = secrets.token_urlsafe(24)


@dataclass
class Outcome:
    subscribers: int
    processes: int
    rate: float
    seconds: float
    expected: int
    received: int
    p50_ms: float
    p99_ms: float
    errors: int
    kb_per_subscriber: float | None = None

    @property
    def lost(self) -> int:
        return self.expected - self.received


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

    def __init__(self, processes: int, logs: Path) -> None:
        self.database = EmbeddedDatabase(":memory:")
        self.uri = self.database.start()
        self.ports = [free_port() for _ in range(processes)]
        env = {
            "MONGODB_URI": self.uri,
            "CHARGEGRAPH_DB": "live",
            "PATH": "/usr/bin:/bin",
            "CHARGEGRAPH_ADMIN_KEYS": ADMIN_KEY,
            # Thousands of subscribers come from the one load-generator address.
            "CHARGEGRAPH_SEARCHES_PER_MINUTE": "0",
        }
        self.servers = []
        for index, port in enumerate(self.ports):
            log = (logs / f"server-{index}.log").open("ab")
            self.servers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "graph.cli",
                        "serve",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for port in self.ports:
            for _ in range(300):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
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
        self.client: MongoClient[dict[str, Any]] = MongoClient(self.uri)
        self.status = dict.fromkeys(self.connectors, "Available")

    def rss_kb(self) -> int:
        return sum(rss_kb(server.pid) for server in self.servers)

    def write(self, rate: float, seconds: float) -> Counter[str]:
        """Change one connector's status `rate` times a second; returns changes per organization."""
        rng = random.Random(5)
        written: Counter[str] = Counter()
        ids = list(self.connectors)
        started = time.monotonic()
        total = int(rate * seconds)
        for index in range(total):
            due = started + index / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            connector = rng.choice(ids)
            self.status[connector] = (
                "Charging" if self.status[connector] == "Available" else "Available"
            )
            self.client.live.connectors.update_one(
                {"_id": connector}, {"$set": {"status": self.status[connector]}}
            )
            written[self.connectors[connector]] += 1
        return written

    def close(self) -> None:
        self.client.close()
        for server in self.servers:
            server.terminate()
            server.wait(30)
        self.database.stop()


class Clients:
    """One load-generator process per server, each holding its share of the subscribers."""

    def __init__(self, cluster: Cluster, subscribers: int, watch_all: bool) -> None:
        share = subscribers // len(cluster.ports)
        organizations = [] if watch_all else cluster.organizations
        self.processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.live_clients",
                    f"ws://127.0.0.1:{port}/graphql",
                    str(share),
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

    def report(self) -> dict[str, Any]:
        merged: dict[str, Any] = {"received": 0, "error_count": 0, "latencies": []}
        for process in self.processes:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("report\n")
            process.stdin.flush()
            part = json.loads(process.stdout.readline())
            merged["received"] += part["received"]
            merged["error_count"] += part["error_count"]
            merged["latencies"] += part["latencies"]
        merged["latencies"].sort()
        return merged

    def close(self) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write("stop\n")
            process.stdin.flush()
            process.wait(30)


def run_phase(
    cluster: Cluster,
    clients: Clients,
    subscribers: int,
    watch_all: bool,
    rate: float,
    seconds: float,
) -> Outcome:
    clients.report()  # discard anything earlier
    written = cluster.write(rate, seconds)
    time.sleep(3)  # let the last events arrive
    tally = clients.report()
    per_organization = subscribers // len(cluster.organizations)
    expected = (
        sum(written.values()) * subscribers
        if watch_all
        else sum(written.values()) * per_organization
    )
    latencies = tally["latencies"]
    return Outcome(
        subscribers,
        len(cluster.ports),
        rate,
        seconds,
        expected,
        tally["received"],
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        tally["error_count"],
    )


def scenario(
    processes: int, subscribers: int, watch_all: bool, rates: list[float], seconds: float
) -> list[Outcome]:
    logs = Path(tempfile.mkdtemp(prefix="chargegraph-live-"))
    cluster = Cluster(processes, logs)
    try:
        idle = cluster.rss_kb()
        clients = Clients(cluster, subscribers, watch_all)
        time.sleep(3)
        per_subscriber = (cluster.rss_kb() - idle) / subscribers
        outcomes = []
        try:
            for rate in rates:
                outcome = run_phase(cluster, clients, subscribers, watch_all, rate, seconds)
                outcome.kb_per_subscriber = per_subscriber
                outcomes.append(outcome)
                print(describe(outcome, watch_all), flush=True)
                if outcome.lost or outcome.p99_ms > 250:
                    break
        finally:
            clients.close()
        return outcomes
    finally:
        cluster.close()


def describe(outcome: Outcome, watch_all: bool) -> str:
    watching = "everything" if watch_all else "one organization each"
    return (
        f"{outcome.processes} process(es), {outcome.subscribers} subscribers watching {watching}, "
        f"{outcome.rate:g} writes/s for {outcome.seconds:g}s: {outcome.received:,}/{outcome.expected:,} delivered "
        f"({outcome.received / outcome.seconds:,.0f}/s), not delivered 3 s after the last write {outcome.lost}, p50 {outcome.p50_ms:.0f} ms, "
        f"p99 {outcome.p99_ms:.0f} ms, {outcome.kb_per_subscriber:.1f} kB per idle subscriber, errors {outcome.errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--broadcast-rates", default="2,5,10,20,40", help="writes/s tried in turn")
    args = parser.parse_args()

    steady = scenario(1, args.subscribers, False, [args.rate], args.seconds)
    broadcast = scenario(
        1, args.subscribers, True, [float(r) for r in args.broadcast_rates.split(",")], 10
    )
    scaled = scenario(2, args.subscribers, False, [args.rate], args.seconds)

    lines = [
        f"\n## Live status, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n",
        f"Machine: {machine()}. `python -m bench.live`; embedded database; statuses written straight "
        "into the database; subscribers in separate asyncio load-generator processes on the same machine. "
        "Latency is from the database's write time (`changedAt`) to arrival at the client.\n",
        "| server processes | subscribers | watching | writes/s | delivered | not delivered 3 s after the last write | p50 (ms) | p99 (ms) | kB per idle subscriber |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for outcomes, watching in (
        (steady, "one organization"),
        (broadcast, "everything"),
        (scaled, "one organization"),
    ):
        for o in outcomes:
            lines.append(
                f"| {o.processes} | {o.subscribers:,} | {watching} | {o.rate:g} | {o.received:,} of {o.expected:,} "
                f"({o.received / o.seconds:,.0f}/s) | {o.lost} | {o.p50_ms:.0f} | {o.p99_ms:.0f} | {o.kb_per_subscriber:.1f} |"
            )
    with REPORT.open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    print(f"appended to {REPORT}")


if __name__ == "__main__":
    main()
