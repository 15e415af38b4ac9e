"""OCPP benchmark: simulated charge stations on one server process, GraphQL subscribers watching.

    python -m bench.ocpp [--stations 1000] [--subscribers 500] [--seconds 120]
                         [--steps 2000,3000,4000] [--step-seconds 60] [--generators 2]

On an embedded database in a temporary directory, one `chargegraph serve`
process (heartbeat interval left at its default of 60 s); organizations
(`--organizations`, default 50) with the stations spread over them, each
station with two connectors, all created through GraphQL (batches of aliased
mutations). Load-generator processes (bench/ocpp_clients.py) hold the
stations, `ocpp.v16.ChargePoint`s that each send a StatusNotification every
10 s (alternating connectors, every report a real change) and a Heartbeat
every 60 s; another holds the graphql-transport-ws subscribers of
`connectorStatusChanged(organizationId)`, spread over the organizations.

Measured: CALLRESULT latency (p50/p99, StatusNotification and Heartbeat),
report -> subscriber latency (from the station's send to the subscriber's
arrival, for every subscriber of the station's organization), errors, reports
that never reached a subscriber of their organization (lost) or only after
10 s (late), server memory per connected idle station (VmRSS), how late the
generators sent against their schedule and how much CPU everything took. The
same station load then runs against a minimal central system built with the
same `ocpp` package and no database (`--serve-baseline`, websockets + uvloop)
for the ratio. Then the station count is stepped (`--steps`, shorter runs)
until a target is missed or the generators cannot keep up. Every run is
recorded (bench/record.py).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.record import Start, Target, begin, bound, machine, record_run, uptime
from graph.embedded import EmbeddedDatabase, free_port

PERIOD = 10.0  # seconds between a station's StatusNotifications
HEARTBEAT = 60.0  # seconds between its Heartbeats (the server's default interval)
DEADLINE = 10.0  # a delivery later than this is late; none before the next same report: lost
CALL_P99_TARGET_MS = 100.0
DELIVERY_P99_TARGET_MS = 250.0
KB_PER_STATION_TARGET = 100.0
# A generator sending later than this (p99) against its schedule is not keeping up.
GENERATOR_LAG_LIMIT_MS = 100.0
BATCH = 40  # aliased mutations per request (the server allows 50 aliases)
ADMIN_KEY = secrets.token_urlsafe(24)
CONNECTOR_TYPES = "type: TYPE2, format: SOCKET, powerType: AC_3_PHASE, power: 22"


# --------------------------------------------------------------------------- measuring


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], total


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class CpuMeter:
    """CPU used by named processes, by the whole machine, and so by everything else."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.started = time.monotonic()
        self.ticks = {name: cpu_ticks(pid) for name, pid in pids.items()}
        self.machine = machine_ticks()

    def percent(self) -> dict[str, float]:
        """Percent of one core over the interval, per name, plus 'machine' and 'other'."""
        hz = os.sysconf("SC_CLK_TCK")
        elapsed = time.monotonic() - self.started
        used = {
            name: (cpu_ticks(pid) - self.ticks[name]) / hz / elapsed * 100
            for name, pid in self.pids.items()
        }
        busy, _ = machine_ticks()
        used["machine"] = (busy - self.machine[0]) / hz / elapsed * 100
        used["other"] = max(
            0.0, used["machine"] - sum(v for k, v in used.items() if k != "machine")
        )
        return used


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --------------------------------------------------------------------------- the baseline


def serve_baseline(port: int) -> None:
    """A minimal central system: the `ocpp` package's ChargePoint, no database, no GraphQL."""
    import contextlib
    import logging

    import uvloop
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result
    from ocpp.v16.enums import Action, RegistrationStatus
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    logging.getLogger("ocpp").setLevel(logging.WARNING)

    def moment() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    class CentralSystem(ChargePoint):
        @on(Action.boot_notification)
        async def on_boot_notification(self, **_: Any) -> Any:
            return call_result.BootNotification(
                current_time=moment(), interval=int(HEARTBEAT), status=RegistrationStatus.accepted
            )

        @on(Action.heartbeat)
        async def on_heartbeat(self, **_: Any) -> Any:
            return call_result.Heartbeat(current_time=moment())

        @on(Action.status_notification)
        async def on_status_notification(self, **_: Any) -> Any:
            return call_result.StatusNotification()

    async def station(connection: ServerConnection) -> None:
        assert connection.request is not None
        endpoint = connection.request.path.rsplit("/", 1)[-1]
        with contextlib.suppress(ConnectionClosed):
            await CentralSystem(endpoint, connection).start()

    async def main() -> None:
        async with serve(
            station,
            "127.0.0.1",
            port,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            compression=None,
            max_size=64_000,
        ) as server:
            await server.serve_forever()

    uvloop.run(main())


# --------------------------------------------------------------------------- servers


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    import socket

    for _ in range(600):
        if process.poll() is not None:
            break
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start; see {log}")


class ChargeGraph:
    """One `chargegraph serve` and its database, in a temporary directory.

    By default the server starts its own embedded database (`--data-dir`), as
    `chargegraph serve` does for a user; with `external_uri` the database is
    started here and given as MONGODB_URI, with the URI's defaults (retryable
    writes on).
    """

    def __init__(self, logs: Path, external_uri: bool = False) -> None:
        self.directory = tempfile.mkdtemp(prefix="chargegraph-ocpp-db-")
        self.database: EmbeddedDatabase | None = None
        self.port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CHARGEGRAPH_DB": "ocppbench",
            "CHARGEGRAPH_LOG_LEVEL": "warning",
            "CHARGEGRAPH_ADMIN_KEYS": ADMIN_KEY,
            # All subscribers and the setup come from the one load-generator address.
            "CHARGEGRAPH_SEARCHES_PER_MINUTE": "0",
            "CHARGEGRAPH_WRITES_PER_MINUTE": "0",
            "CHARGEGRAPH_WEBSOCKETS_PER_ADDRESS": "100000",
            "CHARGEGRAPH_SUBSCRIPTIONS_PER_CALLER": "100000",
            # The per-station OCPP limit (300 a minute) stays on: stations send 7 a minute.
        }
        command = [sys.executable, "-m", "graph.cli", "serve", "--port", str(self.port)]
        if external_uri:
            self.database = EmbeddedDatabase(self.directory)
            env["MONGODB_URI"] = self.database.start()
        else:
            command += ["--data-dir", self.directory]
        log = self.log = logs / "chargegraph.log"
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                command, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"chargegraph did not start; see {log}")
            time.sleep(0.1)
        self.uri = (
            env["MONGODB_URI"]
            if external_uri
            else f"mongodb://127.0.0.1:{self._embedded_port()}/?directConnection=true"
        )
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=300,
        )

    def _embedded_child(self) -> tuple[int, list[str]]:
        """The pid and command line of the database process the server started."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        for pid in children.read_text().split():
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            if "secantus" in command:
                return int(pid), command
        raise RuntimeError("the server started no embedded database")

    def _embedded_port(self) -> int:
        _, command = self._embedded_child()
        return int(command[command.index("--port") + 1])

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/"

    def log_problems(self) -> Any:
        """A callable counting ERROR and WARNING lines the server logs from now on."""
        offset = self.log.stat().st_size

        def count() -> dict[str, int]:
            with self.log.open("rb") as handle:
                handle.seek(offset)
                text = handle.read().decode(errors="replace")
            return {
                level: sum(1 for line in text.splitlines() if level in line)
                for level in ("ERROR", "WARNING")
            }

        return count

    @property
    def database_pid(self) -> int:
        if self.database is not None:
            return self.database.pid or 0
        return self._embedded_child()[0]

    def operations(self) -> dict[str, int]:
        """The embedded database's operation counters (serverStatus opcounters)."""
        from pymongo import MongoClient

        client: MongoClient[dict[str, Any]] = MongoClient(self.uri)
        try:
            counters: dict[str, int] = client.admin.command("serverStatus")["opcounters"]
        finally:
            client.close()
        return dict(counters)

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.http.get("/healthz").json()
        return result

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        body: dict[str, Any] = answer.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {json.dumps(body['errors'])[:1000]}")
        return body["data"]

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if self.database is not None:
            self.database.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class Baseline:
    def __init__(self, logs: Path) -> None:
        self.port = free_port()
        log = logs / "baseline.log"
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.ocpp", "--serve-baseline", str(self.port)],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, self.process, log)

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


# --------------------------------------------------------------------------- the network


@dataclass
class Network:
    """Organizations, stations (endpoint -> organization) and connectors, made through GraphQL."""

    organizations: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    organization_of: dict[str, str] = field(default_factory=dict)
    # (endpoint, OCPP connector id) -> connector id
    connector_of: dict[tuple[str, int], str] = field(default_factory=dict)
    seconds: float = 0.0

    def organize(self, server: ChargeGraph, count: int) -> None:
        for first in range(0, count, BATCH):
            fields = " ".join(
                f'o{i}: createOrganization(input: {{name: "OCPP bench {i}"}}) {{ id }}'
                for i in range(first, min(count, first + BATCH))
            )
            made = server.graphql(f"mutation {{ {fields} }}")
            self.organizations += [
                made[f"o{i}"]["id"] for i in range(first, min(count, first + BATCH))
            ]

    def grow(self, server: ChargeGraph, stations: int) -> None:
        """Create stations (and their two connectors each) until there are `stations`."""
        started = time.monotonic()
        new = [f"BENCH-{i:05d}" for i in range(len(self.endpoints), stations)]
        if not new:
            return
        for index, endpoint in enumerate(new, start=len(self.endpoints)):
            self.organization_of[endpoint] = self.organizations[index % len(self.organizations)]

        def create_stations(batch: list[str]) -> dict[str, str]:
            definitions = " ".join(f"$s{i}: CreateChargestationInput!" for i in range(len(batch)))
            fields = " ".join(
                f"s{i}: createChargestation(input: $s{i}) {{ id }}" for i in range(len(batch))
            )
            variables = {
                f"s{i}": {
                    "organizationId": self.organization_of[endpoint],
                    "endpoint": endpoint,
                    "coordinates": {
                        "latitude": 52.0 + int(endpoint[6:]) % 1000 / 1000,
                        "longitude": 4.5 + int(endpoint[6:]) % 997 / 1000,
                    },
                }
                for i, endpoint in enumerate(batch)
            }
            made = server.graphql(f"mutation({definitions}) {{ {fields} }}", variables)
            return {endpoint: made[f"s{i}"]["id"] for i, endpoint in enumerate(batch)}

        batches = [new[i : i + BATCH] for i in range(0, len(new), BATCH)]
        station_ids: dict[str, str] = {}
        with ThreadPoolExecutor(4) as pool:
            for made in pool.map(create_stations, batches):
                station_ids.update(made)

        pairs = [(endpoint, ocpp) for endpoint in new for ocpp in (1, 2)]

        def create_connectors(batch: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
            definitions = " ".join(f"$c{i}: CreateConnectorInput!" for i in range(len(batch)))
            fields = " ".join(
                f"c{i}: createConnector(input: $c{i}) {{ id }}" for i in range(len(batch))
            )
            variables = {
                f"c{i}": {
                    "organizationId": self.organization_of[endpoint],
                    "chargestationId": station_ids[endpoint],
                    "endpoint": connector_endpoint(2 * int(endpoint[6:]) + ocpp - 1),
                    "ocppId": ocpp,
                    "type": "TYPE2",
                    "format": "SOCKET",
                    "powerType": "AC_3_PHASE",
                    "power": 22,
                }
                for i, (endpoint, ocpp) in enumerate(batch)
            }
            made = server.graphql(f"mutation({definitions}) {{ {fields} }}", variables)
            return {pair: made[f"c{i}"]["id"] for i, pair in enumerate(batch)}

        with ThreadPoolExecutor(4) as pool:
            for made_connectors in pool.map(
                create_connectors, [pairs[i : i + BATCH] for i in range(0, len(pairs), BATCH)]
            ):
                self.connector_of.update(made_connectors)
        self.endpoints += new
        took = time.monotonic() - started
        self.seconds += took
        print(
            f"created {len(new):,} stations and {len(pairs):,} connectors through GraphQL "
            f"in {took:.1f} s",
            flush=True,
        )


def connector_endpoint(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    for _ in range(4):
        number, rest = divmod(number, 36)
        text = digits[rest] + text
    return text


def probe_status_write(uri: str, network: Network) -> str:
    """What one status report costs the database: the filter the connectors service uses
    (station and OCPP id) against the same write by _id, timed with pymongo, and its plan."""
    from bson import ObjectId
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        connectors = client.ocppbench.connectors
        sample = connectors.find_one(
            {"_id": ObjectId(network.connector_of[(network.endpoints[0], 1)])}
        )
        assert sample is not None
        by_station = {"chargestation": sample["chargestation"], "ocppId": 1}

        def timed(write: Any, times: int = 20) -> float:
            started = time.perf_counter()
            for _ in range(times):
                write()
            return (time.perf_counter() - started) / times * 1000

        # Matching nothing (the status is already that), as for a repeated report: no event.
        status = {"status": {"$ne": sample["status"]}}
        same = {"$set": {"status": sample["status"]}}
        station_ms = timed(lambda: connectors.update_one({**by_station, **status}, same))
        id_ms = timed(lambda: connectors.update_one({"_id": sample["_id"], **status}, same))
        plan = client.ocppbench.command(
            "explain", {"find": "connectors", "filter": by_station}, verbosity="executionStats"
        )
        stage = plan.get("queryPlanner", {}).get("winningPlan", {}).get("stage", "?")
        examined = plan.get("executionStats", {}).get("totalDocsExamined", "?")
    finally:
        client.close()
    return (
        f"A single status write filtered as station reports were before group commit ({{chargestation, ocppId}}) "
        f"took {station_ms:.1f} ms on the embedded database with "
        f"{len(network.connector_of):,} connectors (plan {stage}, {examined} documents "
        f"examined), the same write by _id {id_ms:.1f} ms."
    )


# --------------------------------------------------------------------------- load generators


class Stations:
    """Generator processes holding `endpoints`, interleaved so each sends evenly over time."""

    def __init__(self, url: str, endpoints: list[str], generators: int, seconds: float) -> None:
        self.processes = []
        for g in range(generators):
            mine = endpoints[g::generators]
            spec = {
                "url": url,
                "endpoints": mine,
                "indexes": list(range(g, len(endpoints), generators)),
                "total": len(endpoints),
                "period": PERIOD,
                "heartbeat": HEARTBEAT,
                "seconds": seconds,
            }
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.ocpp_clients", "stations", json.dumps(spec)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        self.connected = 0
        self.connect_errors: list[str] = []
        for process in self.processes:
            assert process.stdout is not None
            ready = json.loads(process.stdout.readline())
            self.connected += ready["connected"]
            self.connect_errors += ready["errors"]

    @property
    def pids(self) -> dict[str, int]:
        return {f"generator {i}": p.pid for i, p in enumerate(self.processes)}

    def tell(self, line: str) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(line + "\n")
            process.stdin.flush()

    def report(self) -> dict[str, Any]:
        self.tell("report")
        merged: dict[str, Any] = defaultdict(list)
        merged["error_count"] = 0
        merged["still_open"] = 0
        for process in self.processes:
            assert process.stdout is not None
            part = json.loads(process.stdout.readline())
            for key in (
                "reports",
                "heartbeats",
                "errors",
                "send_lag_ms",
                "own_lag_ms",
                "loop_lag_ms",
                "idle_errors",
            ):
                merged[key] += part[key]
            merged["error_count"] += part["error_count"]
            merged["skipped"] = merged.get("skipped", 0) + part["skipped"]
            merged["still_open"] += part["still_open"]
        return merged

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                try:
                    assert process.stdin is not None
                    process.stdin.write("stop\n")
                    process.stdin.flush()
                except (BrokenPipeError, ValueError):
                    pass
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


class Subscribers:
    def __init__(self, url: str, count: int, organizations: list[str]) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.ocpp_clients",
                "subscribers",
                url,
                str(count),
                json.dumps(organizations),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready = json.loads(self.process.stdout.readline())
        self.subscribed: int = ready["subscribed"]
        if ready["errors"]:
            print(f"subscriber errors: {ready['errors'][:3]}", flush=True)

    def report(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("report\n")
        self.process.stdin.flush()
        result: dict[str, Any] = json.loads(self.process.stdout.readline())
        return result

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        self.process.wait(30)


# --------------------------------------------------------------------------- one run


@dataclass
class Outcome:
    label: str
    server: str
    stations: int
    connected: int
    seconds: float
    generators: int
    reports: int = 0
    heartbeats: int = 0
    call_p50: float = float("nan")
    call_p99: float = float("nan")
    call_max: float = float("nan")
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    subscribers: int = 0
    expected: int = 0
    on_time: int = 0
    late: int = 0
    lost: int = 0
    lost_reports: int = 0
    stray: int = 0
    deliver_p50: float = float("nan")
    deliver_p99: float = float("nan")
    deliver_max: float = float("nan")
    rss_before_kb: int = 0
    rss_connected_kb: int = 0
    kb_per_station: float = float("nan")
    send_lag_p50: float = float("nan")
    send_lag_p99: float = float("nan")
    send_lag_max: float = float("nan")
    own_lag_p50: float = float("nan")
    own_lag_p99: float = float("nan")
    skipped: int = 0
    idle_errors: int = 0
    connectors_in_database: int = 0
    loop_lag_p99: float = float("nan")
    loop_lag_max: float = float("nan")
    connect_seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    load_before: str = ""
    load_after: str = ""
    hub: dict[str, int] = field(default_factory=dict)
    server_log: dict[str, int] = field(default_factory=dict)
    database_ops: dict[str, int] = field(default_factory=dict)

    @property
    def generator_kept_up(self) -> bool:
        # Its own lateness: after the schedule and after the previous CALLRESULT.
        return self.own_lag_p99 <= GENERATOR_LAG_LIMIT_MS

    @property
    def within_targets(self) -> bool:
        deliveries_ok = self.subscribers == 0 or (
            self.deliver_p99 <= DELIVERY_P99_TARGET_MS and self.lost == 0 and self.late == 0
        )
        return (
            self.call_p99 <= CALL_P99_TARGET_MS
            and deliveries_ok
            and self.errors == 0
            and self.connected == self.stations
        )


def match_deliveries(
    reports: list[list[Any]],
    subscribers: list[list[Any]],
    network: Network,
    outcome: Outcome,
) -> None:
    """Pair every report with its arrival at each subscriber of the station's organization.

    A subscriber's arrivals of (connector, status) are taken in order; a report's
    arrival is the first one at or after its send and before the next report of
    the same connector and status (40 s later), else the report is lost for that
    subscriber.
    """
    sent: dict[str, dict[tuple[str, str], list[float]]] = defaultdict(lambda: defaultdict(list))
    for endpoint, ocpp, status, left, _ in reports:
        key = (network.connector_of[(endpoint, ocpp)], status.upper())
        sent[network.organization_of[endpoint]][key].append(left)
    watched = {organization for organization, _ in subscribers}
    latencies: list[float] = []
    lost_reports: set[tuple[str, str, int]] = set()
    for organization, events in subscribers:
        arrivals: dict[tuple[str, str], list[float]] = defaultdict(list)
        for connector, status, arrived in events:
            arrivals[(connector, status)].append(arrived)
        for key, times in arrivals.items():
            if key not in sent[organization]:
                outcome.stray += len(times)
        for key, lefts in sent[organization].items():
            lefts.sort()
            got = sorted(arrivals.get(key, []))
            j = 0
            for i, left in enumerate(lefts):
                following = lefts[i + 1] if i + 1 < len(lefts) else float("inf")
                while j < len(got) and got[j] < left:
                    outcome.stray += 1
                    j += 1
                outcome.expected += 1
                if j < len(got) and got[j] < following:
                    latency = got[j] - left
                    j += 1
                    latencies.append(latency * 1000)
                    if latency <= DEADLINE:
                        outcome.on_time += 1
                    else:
                        outcome.late += 1
                else:
                    outcome.lost += 1
                    lost_reports.add((organization, key[0] + key[1], i))
            outcome.stray += len(got) - j
    outcome.lost_reports = len(lost_reports)
    unwatched = sum(
        len(lefts)
        for organization, keys in sent.items()
        if organization not in watched
        for lefts in keys.values()
    )
    if unwatched:
        print(f"{unwatched} reports came from organizations nobody watched", flush=True)
    if latencies:
        outcome.deliver_p50 = percentile(latencies, 0.5)
        outcome.deliver_p99 = percentile(latencies, 0.99)
        outcome.deliver_max = max(latencies)


def run_phase(
    label: str,
    server_name: str,
    url: str,
    server_pid: int,
    other_pids: dict[str, int],
    endpoints: list[str],
    generators: int,
    seconds: float,
    network: Network,
    subscribers: Subscribers | None,
    chargegraph: ChargeGraph | None = None,
    rss_reference_kb: int | None = None,
    profile: list[tuple[int, Path]] | None = None,
) -> Outcome:
    outcome = Outcome(label, server_name, len(endpoints), 0, seconds, generators)
    outcome.subscribers = subscribers.subscribed if subscribers else 0
    outcome.load_before = load_average()
    time.sleep(2)
    outcome.rss_before_kb = rss_kb(server_pid)
    problems = chargegraph.log_problems() if chargegraph else None
    started = time.monotonic()
    stations = Stations(url, endpoints, generators, seconds)
    outcome.connect_seconds = time.monotonic() - started
    outcome.connected = stations.connected
    if stations.connect_errors:
        print(f"connection errors: {stations.connect_errors[:3]}", flush=True)
    if stations.connected == 0:
        stations.close()
        raise RuntimeError(f"no station could connect to {url}: {stations.connect_errors[:3]}")
    try:
        time.sleep(5)  # connected, booted, idle
        outcome.rss_connected_kb = rss_kb(server_pid)
        reference = rss_reference_kb if rss_reference_kb is not None else outcome.rss_before_kb
        outcome.kb_per_station = (outcome.rss_connected_kb - reference) / max(1, stations.connected)
        print(
            f"{label}: {stations.connected:,} of {len(endpoints):,} stations connected in "
            f"{outcome.connect_seconds:.1f} s; server RSS {outcome.rss_before_kb / 1024:.0f} -> "
            f"{outcome.rss_connected_kb / 1024:.0f} MiB ({outcome.kb_per_station:.1f} kB a station)",
            flush=True,
        )
        if subscribers:
            subscribers.report()  # discard what boot reports caused
        hub_before = chargegraph.health() if chargegraph else {}
        ops_before = chargegraph.operations() if chargegraph else {}
        meter = CpuMeter({"server": server_pid, **other_pids, **stations.pids})
        start = time.time() + 1
        stations.tell(f"go {start}")
        spies = []
        if profile:
            time.sleep(min(10.0, seconds / 4))
            for pid, path in profile:
                spies.append(
                    subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "py-spy"),
                            "record",
                            "--nonblocking",
                            "--format",
                            "raw",
                            "--duration",
                            str(int(min(30, seconds / 2))),
                            "--pid",
                            str(pid),
                            "-o",
                            str(path),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        time.sleep(max(0.0, start + seconds - time.time()))
        tally = stations.report()  # returns once every scheduled CALL is answered
        outcome.cpu = meter.percent()
        for number, spy in enumerate(spies):
            # Its own CPU (the kernel's accounting of the ended child): profiling is not free.
            _, _, usage = os.wait4(spy.pid, 0)
            share = (usage.ru_utime + usage.ru_stime) / (time.monotonic() - meter.started) * 100
            outcome.cpu[f"py-spy {number}"] = share
            outcome.cpu["other"] = max(0.0, outcome.cpu["other"] - share)
        if subscribers:
            time.sleep(DEADLINE)
            delivered = subscribers.report()
            outcome.errors += delivered["error_count"]
            outcome.error_samples += delivered["errors"][:3]
            match_deliveries(tally["reports"], delivered["subscribers"], network, outcome)
        if chargegraph:
            ops_after = chargegraph.operations()
            outcome.database_ops = {
                key: ops_after[key] - ops_before.get(key, 0) for key in ops_after
            }
            after = chargegraph.health()
            outcome.hub = {
                key: after[key] - hub_before.get(key, 0)
                for key in ("events", "deliveries", "dropped_slow", "stream_restarts")
                if key in after
            }
        if problems:
            outcome.server_log = problems()
        outcome.load_after = load_average()
    finally:
        stations.close()
    calls = [r[4] for r in tally["reports"] if r[4] is not None] + tally["heartbeats"]
    outcome.reports = len(tally["reports"])
    outcome.heartbeats = len(tally["heartbeats"])
    outcome.call_p50 = percentile(calls, 0.5)
    outcome.call_p99 = percentile(calls, 0.99)
    outcome.call_max = max(calls) if calls else float("nan")
    outcome.errors += tally["error_count"] + (len(endpoints) - stations.connected)
    outcome.error_samples = tally["errors"][:3] + outcome.error_samples
    outcome.send_lag_p50 = percentile(tally["send_lag_ms"], 0.5)
    outcome.send_lag_p99 = percentile(tally["send_lag_ms"], 0.99)
    outcome.send_lag_max = max(tally["send_lag_ms"], default=float("nan"))
    outcome.own_lag_p50 = percentile(tally["own_lag_ms"], 0.5)
    outcome.own_lag_p99 = percentile(tally["own_lag_ms"], 0.99)
    outcome.skipped = tally["skipped"]
    outcome.idle_errors = len(tally["idle_errors"])
    outcome.connectors_in_database = len(network.connector_of)
    if tally["idle_errors"]:
        print(f"errors while waiting for the start: {tally['idle_errors'][:3]}", flush=True)
    outcome.loop_lag_p99 = percentile(tally["loop_lag_ms"], 0.99)
    outcome.loop_lag_max = max(tally["loop_lag_ms"], default=float("nan"))
    print(describe(outcome), flush=True)
    return outcome


def describe(o: Outcome) -> str:
    text = (
        f"{o.label} [{o.server}] {o.connected:,}/{o.stations:,} stations, {o.seconds:g} s: "
        f"{o.reports:,} status reports + {o.heartbeats:,} heartbeats, CALLRESULT p50 "
        f"{o.call_p50:.1f} ms p99 {o.call_p99:.1f} ms max {o.call_max:.0f} ms, errors {o.errors}"
    )
    if o.subscribers:
        text += (
            f"; {o.subscribers} subscribers: {o.on_time:,} of {o.expected:,} deliveries within "
            f"{DEADLINE:g} s, late {o.late}, lost {o.lost} ({o.lost_reports} reports), stray "
            f"{o.stray}; report->subscriber p50 {o.deliver_p50:.0f} ms p99 {o.deliver_p99:.0f} ms "
            f"max {o.deliver_max:.0f} ms"
        )
    cpu = ", ".join(f"{k} {v:.0f}%" for k, v in o.cpu.items())
    text += (
        f"; {o.kb_per_station:.1f} kB/station; send lag against the schedule p50 "
        f"{o.send_lag_p50:.1f} p99 {o.send_lag_p99:.1f} max {o.send_lag_max:.0f} ms, the "
        f"generators' own p50 {o.own_lag_p50:.1f} p99 {o.own_lag_p99:.1f} ms, not sent by the end "
        f"{o.skipped}, loop lag p99 {o.loop_lag_p99:.1f} ms; "
        f"CPU (% of one core) {cpu}; load {o.load_before} -> {o.load_after}"
    )
    if o.hub:
        text += f"; hub {o.hub}; server log lines {o.server_log}; database ops {o.database_ops}"
    if o.error_samples:
        text += f"; e.g. {o.error_samples[:2]}"
    return text


# --------------------------------------------------------------------------- profile


def summarize_profile(path: Path, top: int = 12) -> list[str]:
    """Top frames of a py-spy raw (collapsed) profile: by own time and including callees."""
    own: dict[str, int] = defaultdict(int)
    inclusive: dict[str, int] = defaultdict(int)
    total = 0
    if not path.exists():
        return ["(no profile written)"]
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        own[short(frames[-1])] += count
        for frame in {short(f) for f in frames}:
            inclusive[frame] += count
    if not total:
        return ["(empty profile)"]
    lines = [f"{total} samples"]
    lines.append(
        "own time: "
        + "; ".join(
            f"{name} {count / total:.0%}"
            for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]
        )
    )
    interesting = [
        (name, count)
        for name, count in sorted(inclusive.items(), key=lambda kv: -kv[1])
        if any(part in name for part in ("/graph/", "ocpp", "pymongo", "websockets", "secantus"))
        and "_bootstrap" not in name
    ]
    lines.append(
        "including callees (application, ocpp, pymongo, websockets, secantus frames): "
        + "; ".join(f"{name} {count / total:.0%}" for name, count in interesting[:top])
    )
    return lines


def short(frame: str) -> str:
    """`function (path:line)` -> `function (file/tail)` without line numbers."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--organizations", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument(
        "--steps", default="2000,3000,4000", help="station counts tried in turn after the main run"
    )
    parser.add_argument(
        "--down-steps",
        default="500,250,100",
        help="smaller station counts tried in turn when the main run misses a target",
    )
    parser.add_argument("--step-seconds", type=float, default=60)
    parser.add_argument(
        "--generators", type=int, default=2, help="station load-generator processes"
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--external-uri",
        action="store_true",
        help="start the database here and pass MONGODB_URI as given (retryable writes on), "
        "instead of the embedded database `chargegraph serve` starts itself",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the server during the main run (--nonblocking, raw) into this file",
    )
    parser.add_argument(
        "--profile-database",
        action="store_true",
        help="with --profile, also the embedded database (into NAME-database.EXT)",
    )
    parser.add_argument("--note", default="", help="a sentence added to the recorded run")
    parser.add_argument("--no-record", action="store_true", help="do not record the run")
    parser.add_argument("--serve-baseline", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline)
        return

    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    down_steps = [int(s) for s in args.down_steps.split(",") if s.strip()]
    logs = Path(tempfile.mkdtemp(prefix="chargegraph-ocpp-"))
    started = begin()  # the code now: others commit while it runs
    print(f"{started.uptime}\nlogs in {logs}", flush=True)
    outcomes: list[Outcome] = []
    baseline_outcome: Outcome | None = None
    profile_lines: list[str] = []
    probes: list[str] = []
    cluster = Cluster(
        logs,
        args.organizations,
        args.stations,
        args.subscribers,
        args.generators,
        args.external_uri,
    )
    network = cluster.network
    try:
        probes.append(cluster.probe)
        profiles = []
        if args.profile is not None:
            database_profile = args.profile.with_name(
                f"{args.profile.stem}-database{args.profile.suffix}"
            )
            profiles = [(cluster.server.process.pid, args.profile)]
            if args.profile_database:
                # py-spy on the many-threaded database costs about half a core itself.
                profiles.append((cluster.server.database_pid, database_profile))
        main_run = cluster.phase("main", args.stations, args.seconds, profiles, reference=False)
        outcomes.append(main_run)
        for name, (_, path) in zip(("server", "embedded database"), profiles, strict=False):
            profile_lines.append(f"{name}: " + " ".join(summarize_profile(path)))
            print(profile_lines[-1], flush=True)
        if not args.no_baseline:
            baseline = Baseline(logs)
            try:
                baseline_outcome = run_phase(
                    "baseline",
                    "minimal ocpp central system",
                    baseline.ocpp_url,
                    baseline.process.pid,
                    {},
                    network.endpoints[: args.stations],
                    args.generators,
                    args.seconds,
                    network,
                    None,
                )
            finally:
                baseline.close()
        last = main_run
        for count in steps:
            if not last.within_targets or not last.generator_kept_up:
                break
            cluster.network.grow(cluster.server, count)
            last = cluster.phase(f"step {count:,}", count, args.step_seconds)
            outcomes.append(last)
    finally:
        cluster.close()
    if not main_run.within_targets and main_run.generator_kept_up:
        # An overloaded server and database carry their backlog into the next phase: each
        # smaller count starts afresh (new database, server and subscribers).
        for count in down_steps:
            if count >= args.stations:
                continue
            fresh = Cluster(
                logs,
                args.organizations,
                count,
                args.subscribers,
                args.generators,
                args.external_uri,
            )
            try:
                probes.append(fresh.probe)
                last = fresh.phase(f"step {count:,} (fresh)", count, args.step_seconds)
            finally:
                fresh.close()
            network.seconds += fresh.network.seconds
            outcomes.append(last)
            if last.within_targets:
                break
    limit_note = capacity(outcomes)
    print(limit_note, flush=True)
    limit_note += " " + " ".join(dict.fromkeys(probes))
    uptime_after = uptime()
    print(uptime_after, flush=True)
    if args.no_record:
        return
    record(
        args,
        started,
        network,
        outcomes,
        baseline_outcome,
        uptime_after,
        limit_note,
        profile_lines,
    )


class Cluster:
    """A fresh database and server, the network built through GraphQL, and the subscribers."""

    def __init__(
        self,
        logs: Path,
        organizations: int,
        stations: int,
        subscribers: int,
        generators: int,
        external_uri: bool = False,
    ) -> None:
        self.generators = generators
        self.server = ChargeGraph(logs, external_uri)
        self.network = Network()
        self.subscribers: Subscribers | None = None
        try:
            self.network.organize(self.server, organizations)
            self.network.grow(self.server, stations)
            if subscribers:
                self.subscribers = Subscribers(
                    f"ws://127.0.0.1:{self.server.port}/graphql",
                    subscribers,
                    self.network.organizations,
                )
                print(f"{self.subscribers.subscribed} subscribers subscribed", flush=True)
            self.probe = probe_status_write(self.server.uri, self.network)
            print(self.probe, flush=True)
        except BaseException:
            self.close()
            raise
        self.others = {"database": self.server.database_pid}
        if self.subscribers:
            self.others["subscribers"] = self.subscribers.process.pid
        time.sleep(3)
        self.reference_kb = rss_kb(self.server.process.pid)

    def phase(
        self,
        label: str,
        count: int,
        seconds: float,
        profile: list[tuple[int, Path]] | None = None,
        reference: bool = True,
    ) -> Outcome:
        return run_phase(
            label,
            "chargegraph",
            self.server.ocpp_url,
            self.server.process.pid,
            self.others,
            self.network.endpoints[:count],
            self.generators,
            seconds,
            self.network,
            self.subscribers,
            self.server,
            rss_reference_kb=self.reference_kb if reference else None,
            profile=profile,
        )

    def close(self) -> None:
        if self.subscribers:
            self.subscribers.close()
        self.server.close()


def capacity(outcomes: list[Outcome]) -> str:
    """The most stations held within every target, and what stopped the steps."""
    held = [o for o in outcomes if o.within_targets and o.generator_kept_up]
    best = max((o.stations for o in held), default=0)
    above = sorted((o for o in outcomes if o.stations > best), key=lambda o: o.stations)
    behind = [o for o in outcomes if not o.generator_kept_up]
    note = ""
    if behind:
        note = (
            " The load generators fell behind (own send lag p99 over "
            f"{GENERATOR_LAG_LIMIT_MS:g} ms) at "
            + ", ".join(f"{o.stations:,} ({o.own_lag_p99:.0f} ms)" for o in behind)
            + ": the limit measured there is the generators', not the server's."
        )
    if not held:
        lowest = min(o.stations for o in outcomes)
        return f"No station count tried (down to {lowest:,}) was within every target.{note}"
    if not above:
        return f"Within every target up to {best:,} stations, the most tried: the limit is higher.{note}"
    return (
        f"Most stations with every target met: {best:,} (missed at {above[0].stations:,}; "
        f"counts between were not tried).{note}"
    )


def gap(value: float, target: float, unit: str) -> str:
    if value != value:  # nan
        return "not measured"
    if value <= target:
        return f"met ({value:.1f} {unit}, {target - value:.1f} {unit} to spare)"
    return f"MISSED by {value - target:.1f} {unit} ({value:.1f} {unit})"


def record(
    args: argparse.Namespace,
    started: Start,
    network: Network,
    outcomes: list[Outcome],
    baseline: Outcome | None,
    uptime_after: str,
    limit_note: str,
    profile_lines: list[str],
) -> None:
    main_run = outcomes[0]
    lines = [
        f"Machine: {machine()}. `python -m bench.ocpp --stations {args.stations} --subscribers "
        f"{args.subscribers} --seconds {args.seconds:g} --steps {args.steps or '-'} --down-steps {args.down_steps or '-'} --step-seconds "
        f"{args.step_seconds:g} --generators {args.generators} --organizations "
        f"{args.organizations}{' --external-uri' if args.external_uri else ''}`. "
        + (
            "Embedded database started by the benchmark and given as MONGODB_URI as is "
            "(retryable writes on), on disk (temp dir); "
            if args.external_uri
            else "The embedded database `chargegraph serve` starts itself (retryable writes "
            "off), on disk (temp dir); "
        )
        + f"one `chargegraph serve` process (heartbeat 60 s, per-station OCPP limit left on at "
        f"300/min, search and write limits off); {args.organizations} organizations; "
        f"{len(network.endpoints):,} stations with 2 connectors each created through GraphQL "
        f"(batches of {BATCH} aliased mutations, 4 at a time) in {network.seconds:.0f} s in all. "
        f"Stations: `ocpp.v16.ChargePoint` in {args.generators} load-generator processes, "
        f"StatusNotification every {PERIOD:g} s (alternating connectors, Available <-> Charging), "
        f"Heartbeat every {HEARTBEAT:g} s, phases spread evenly; CALL and CALLRESULT stamped at "
        "the socket. Subscribers: one graphql-transport-ws socket each, "
        "`connectorStatusChanged(organizationId)`, spread evenly over the organizations; "
        "report -> subscriber latency is from the station's send to the subscriber's arrival, "
        f"for every subscriber of the station's organization; later than {DEADLINE:g} s is late, "
        "never (before the same connector's same status 40 s later) is lost. Everything runs on "
        "this machine.\n",
        f"Code: commit {started.code}. Load before: `{started.uptime}`; after: `{uptime_after}`."
        + (f" {args.note}" if args.note else "")
        + "\n",
        "| run | server | stations connected | connectors in database | s | status reports + heartbeats | CALLRESULT p50 / p99 / max (ms) | errors | deliveries on time / expected | late | lost (reports) | report -> subscriber p50 / p99 / max (ms) | kB per station | send lag vs schedule p50 / p99 (ms) | generators' own lag p99 (ms), CALLs not sent by the end | CPU % of a core: server / database / generators / subscribers / other | load avg before -> after |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    rows = [main_run] + ([baseline] if baseline else []) + outcomes[1:]
    for o in rows:
        generators = sum(v for k, v in o.cpu.items() if k.startswith("generator"))
        delivery = (
            (
                f"{o.on_time:,} / {o.expected:,}",
                str(o.late),
                f"{o.lost} ({o.lost_reports})",
                f"{o.deliver_p50:.0f} / {o.deliver_p99:.0f} / {o.deliver_max:.0f}",
            )
            if o.subscribers
            else ("—", "—", "—", "—")
        )
        lines.append(
            f"| {o.label} | {o.server} | {o.connected:,} of {o.stations:,} | "
            f"{o.connectors_in_database:,} | {o.seconds:g} | "
            f"{o.reports:,} + {o.heartbeats:,} | {o.call_p50:.1f} / {o.call_p99:.1f} / "
            f"{o.call_max:.0f} | {o.errors} | {' | '.join(delivery)} | {o.kb_per_station:.1f} | "
            f"{o.send_lag_p50:.1f} / {o.send_lag_p99:.1f} | {o.own_lag_p99:.1f}, {o.skipped} | "
            f"{o.cpu.get('server', 0):.0f} / "
            f"{o.cpu.get('database', 0):.0f} / {generators:.0f} / {o.cpu.get('subscribers', 0):.0f} "
            f"/ {o.cpu.get('other', 0):.0f} | {o.load_before} -> {o.load_after} |"
        )
    lines.append("")
    ratio = ""
    if baseline:
        ratio = (
            f" Baseline (same package, no database, same station load, no subscribers): CALLRESULT "
            f"p50 {baseline.call_p50:.1f} ms, p99 {baseline.call_p99:.1f} ms; ChargeGraph / "
            f"baseline: p50 {main_run.call_p50 / baseline.call_p50:.1f}x, p99 "
            f"{main_run.call_p99 / baseline.call_p99:.1f}x."
        )
    lines.append(
        f"Targets, main run ({main_run.stations:,} stations, {main_run.subscribers} subscribers, "
        f"{main_run.seconds:g} s): CALLRESULT p99 ≤ {CALL_P99_TARGET_MS:g} ms "
        f"{gap(main_run.call_p99, CALL_P99_TARGET_MS, 'ms')}; report -> subscriber p99 ≤ "
        f"{DELIVERY_P99_TARGET_MS:g} ms {gap(main_run.deliver_p99, DELIVERY_P99_TARGET_MS, 'ms')}; "
        f"errors {main_run.errors} ({'met' if main_run.errors == 0 else 'MISSED'}); lost reports "
        f"{main_run.lost_reports} ({'met' if main_run.lost_reports == 0 else 'MISSED'}; late "
        f"deliveries {main_run.late}); memory ≤ {KB_PER_STATION_TARGET:g} kB per station "
        f"{gap(main_run.kb_per_station, KB_PER_STATION_TARGET, 'kB')}.{ratio} {limit_note} "
        f"Steps ran {args.step_seconds:g} s each; their kB per station is measured against the "
        "server's RSS before any station ever connected. Generator event-loop lag p99 / max (ms): "
        + ", ".join(f"{o.label} {o.loop_lag_p99:.0f} / {o.loop_lag_max:.0f}" for o in rows)
        + ". Change-stream events / deliveries counted by the server's hub: "
        + ", ".join(
            f"{o.label} {o.hub.get('events', 0):,} / {o.hub.get('deliveries', 0):,}"
            for o in rows
            if o.hub
        )
        + ". Database operations (serverStatus opcounters) per status report sent: "
        + ", ".join(
            f"{o.label} "
            + " ".join(
                f"{key} {count / max(1, o.reports):.1f}"
                for key, count in o.database_ops.items()
                if count
            )
            for o in rows
            if o.database_ops
        )
        + "."
    )
    if any(o.error_samples for o in rows):
        lines.append(
            "\nError samples: "
            + "; ".join(f"{o.label}: {o.error_samples[:2]}" for o in rows if o.error_samples)
        )
    if profile_lines:
        lines.append(
            "\npy-spy (--nonblocking) on the server during the main run: " + " ".join(profile_lines)
        )
    record_run("ocpp", started, lines, targets(main_run))


def targets(main_run: Outcome) -> list[Target]:
    """The main run's targets, named with its size (as its "Targets, main run" sentence)."""
    size = f"({main_run.stations:,} stations, {main_run.subscribers} subscribers)"
    lost = f"{main_run.lost_reports} (late deliveries {main_run.late})"
    return [
        bound(f"CALLRESULT p99 {size}", main_run.call_p99, CALL_P99_TARGET_MS, "ms"),
        bound(
            f"report -> subscriber p99 {size}",
            main_run.deliver_p99,
            DELIVERY_P99_TARGET_MS,
            "ms",
        ),
        Target(f"errors {size}", "0", str(main_run.errors), main_run.errors == 0),
        Target(f"lost reports {size}", "0", lost, main_run.lost_reports == 0),
        bound(f"memory {size}", main_run.kb_per_station, KB_PER_STATION_TARGET, "kB"),
    ]


if __name__ == "__main__":
    main()
