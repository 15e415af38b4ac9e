"""The in-memory connector index: ChargeGraph against aced071 (before it) and the raw index.

    python -m bench.index [--data-dir bench/data/100k] [--duration 8]

In one run on one database (the embedded server on `--data-dir`, which no
other process may have open), three servers, one uvicorn process each:

- ChargeGraph at the working tree's code (`python -m graph.cli serve`), measured
  once /readyz answers 200 (its connector index loaded): load time and bytes per
  connector from /healthz, the process's RSS;
- ChargeGraph at commit aced071, the code before the index, from a git worktree
  (`/tmp/chargegraph-aced071`), same venv and database;
- `bench/raw_index.py`: the same index, loaded with IndexBuilder, answering the
  same questions as plain JSON, without GraphQL.

For each question (nearby city and rural, with and without totalCount; a
city viewport; the list unfiltered and filtered; an organization's status
counts) the three are first checked to give the same ids in the same order
(and the same totals). ChargeGraph and the raw endpoint share `ConnectorIndex`,
so their agreement alone proves little: the independent answer is aced071's,
another engine altogether (MongoDB queries on grid cells stored in each
document, its own distance code, aggregations for counts). Then each is
driven with wrk: one connection (p50/p99 under
light load), then 16 (throughput). A question too slow for wrk on a server
(over a second a request) is timed a few requests in turn instead, and said
so. Then freshness: statuses written straight into MongoDB at 50 a second
while ChargeGraph's `nearbyConnectors(filter: {availableOnly: true})` is
polled, timing each write until a search shows it. py-spy profiles
ChargeGraph under the throughput load of every question whose target is
missed. Prints the figures, the ratios and the targets, and records the run
(bench/results/index.jsonl, regenerating docs/benchmarks.md).

At 1,000,000 connectors aced071 takes minutes a list: `--before-duration`
shortens its wrk runs. `--only TEXT` keeps the questions whose name holds
TEXT (none: freshness alone); `--no-record` prints without appending;
`--executor` runs ChargeGraph with its compiled plans off (graphql-core
executes every operation), to compare the two in the same conditions. The run
stops if the database grows past `--db-rss-limit` GB while the servers start
(the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import AsyncMongoClient, MongoClient, WriteConcern

from bench.ocpp import CpuMeter, percentile, rss_kb, summarize_profile
from bench.record import Start, Target, code_version, command_line, record_run, uptime
from bench.report import split_target
from bench.run import (
    NEARBY_QUERY,
    NEARBY_TOTAL_QUERY,
    ROOT,
    Result,
    lua_script,
    machine,
    points,
    start,
    wrk,
)
from bench.workers import cpu_seconds
from graph.embedded import EmbeddedDatabase, free_port
from graph.seed import CITIES

BEFORE_INDEX = "aced071"
WORKTREE = Path(f"/tmp/chargegraph-{BEFORE_INDEX}")
SERVERS = ("chargegraph", BEFORE_INDEX, "raw")
# Slower than this a request, wrk's few samples would say little: time requests in turn.
SLOW_MS = 1000.0
IN_TURN_MAX = 20  # at most this many requests in turn
FRESH_TIMEOUT_S = 5.0
# Connectors written in the freshness test: all fit one search page of 100.
POOL = 90

NODE = "node { id endpoint status type power }"
BOUNDS_QUERY = (
    "query($s: Float!, $w: Float!, $n: Float!, $e: Float!) { connectorsInBounds(south: $s, "
    f"west: $w, north: $n, east: $e, first: 100) {{ totalCount edges {{ {NODE} }} }} }}"
)
LIST_QUERY = f"{{ connectors(first: 100) {{ totalCount edges {{ {NODE} }} }} }}"
LIST_FILTERED_QUERY = (
    "{ connectors(first: 100, filter: {statuses: [AVAILABLE], minPowerKw: 50}) "
    f"{{ totalCount edges {{ {NODE} }} }} }}"
)
ONE_QUERY = (
    "query($id: ID!) { connector(id: $id) { id endpoint status type power "
    "organization { id name } } }"
)
# Raw throughput share each kind of question should reach (issue 22).
RAW_SHARE = {"nearby": 0.5, "nearby total": 0.5, "page total": 0.4, "counts": 0.5, "one": 0.5}
COUNTS_QUERY = (
    "query($id: ID!) { organization(id: $id) { connectorCountsByStatus { status count } } }"
)
# Freshness: the available connectors among the ones written, around their centre.
FRESH_QUERY = (
    "query($lat: Float!, $lng: Float!, $r: Float!) { nearbyConnectors(latitude: $lat, "
    "longitude: $lng, radiusMeters: $r, first: 100, filter: {availableOnly: true}) "
    "{ edges { node { id } } } }"
)
POOL_QUERY = (
    "query($lat: Float!, $lng: Float!) { nearbyConnectors(latitude: $lat, longitude: $lng, "
    f"radiusMeters: 5000, first: {POOL + 1}) {{ edges {{ distanceMeters node {{ id }} }} }} }}"
)


@dataclass
class Question:
    name: str
    kind: str  # "nearby", "nearby total", "page total", "counts": which targets apply
    graphql: list[str]  # bodies for ChargeGraph and aced071 (the same schema here)
    raw_paths: list[str]
    raw_bodies: list[str]  # "" for a GET
    raw_method: str = "POST"

    def requests(self, server: str) -> tuple[str, list[str], list[str], str]:
        """(first path, paths, bodies, method) of this question for a server."""
        if server == "raw":
            return self.raw_paths[0], self.raw_paths, self.raw_bodies, self.raw_method
        return "/graphql", ["/graphql"], self.graphql, "POST"


@dataclass
class Measured:
    light: Result
    loaded: Result
    in_turn: bool  # timed requests one after another instead of wrk
    load_before: str
    cpu: dict[str, float] = field(default_factory=dict)
    requests: int = 0  # when in turn: how many


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    ready_s: float = math.nan  # start to ready (/readyz 200, or first answer)
    rss_started_kb: int = 0  # when it first answered (before its index was loaded)
    rss_ready_kb: int = 0
    health: dict[str, Any] = field(default_factory=dict)
    health_after: dict[str, Any] = field(default_factory=dict)  # after the questions

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Freshness:
    writes: int = 0
    skipped: int = 0  # ticks with every pooled connector still waiting to be seen
    seconds: float = 0.0
    pool: int = 0
    radius_m: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # seen within the timeout
    after_ack_ms: list[float] = field(default_factory=list)  # the same, from the acknowledgement
    late: int = 0  # seen, but after the timeout
    never: int = 0  # not seen at all by the end
    polls: int = 0
    poll_ms: list[float] = field(default_factory=list)
    write_ms: list[float] = field(default_factory=list)
    regressions: int = 0  # a search showed a connector's older state again
    start_mismatch: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class Run:
    data_dir: Path
    connectors: int = 0
    organizations: int = 0
    largest: tuple[str, int] = ("", 0)
    sample: list[str] = field(default_factory=list)  # active connectors asked for by id
    started: str = ""
    started_uptime: str = ""
    finished_uptime: str = ""
    fresh_load: str = ""
    code: str = ""
    servers: dict[str, Server] = field(default_factory=dict)
    answers: list[str] = field(default_factory=list)  # mismatches and errors found
    results: dict[str, dict[str, Measured]] = field(default_factory=dict)
    freshness: Freshness | None = None
    profiles: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    checked: bool = False  # the answers were compared


# --------------------------------------------------------------------------- setup


def holders(data_dir: Path) -> list[str]:
    """Command lines of secantus processes that have `data_dir` open (by their arguments)."""
    found = []
    wanted = str(data_dir.resolve())
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit():
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
                words = [a.decode(errors="replace") for a in arguments]
                paths = {str(Path(w).resolve()) for w in words if w.startswith(("/", "."))}
                if any("secantus" in w for w in words) and wanted in paths:
                    found.append(" ".join(words))
    return found


def ensure_worktree() -> None:
    """The code before the index, checked out beside the repository (not in it)."""
    if not (WORKTREE / "graph").exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(WORKTREE), BEFORE_INDEX],
            cwd=ROOT,
            check=True,
        )
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=WORKTREE, capture_output=True, text=True
    ).stdout.strip()
    assert head.startswith(BEFORE_INDEX), f"{WORKTREE} is at {head}, not {BEFORE_INDEX}"


def worktree_state() -> str:
    """The commit, "working tree" when graph/ differs from it, and a digest of that difference.

    Another engineer edits graph/ meanwhile: the digest tells runs on different code apart.
    """
    version = code_version()
    if "uncommitted" not in version:
        return version
    diff = subprocess.run(
        ["git", "diff", "HEAD", "--", "graph"], cwd=ROOT, capture_output=True
    ).stdout
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "--", "graph"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    digest = hashlib.sha256(diff)
    for name in sorted(untracked):
        digest.update((ROOT / name).read_bytes())
    return f"{version} (working tree; digest of the difference {digest.hexdigest()[:10]})"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_ok(
    url: str,
    process: subprocess.Popen[bytes],
    db_pid: int,
    rss_limit_gb: float,
    timeout: float = 1800,
) -> None:
    """Wait until `url` answers 200 (the server has loaded what it needs).

    The machine is shared: a database growing past `rss_limit_gb` meanwhile (it did at
    1,000,000 connectors, to 23 GB) ends the wait rather than the machine's memory.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        database_gb = rss_kb(db_pid) / 2**20
        if database_gb > rss_limit_gb:
            raise RuntimeError(
                f"{url}: the database's RSS reached {database_gb:.1f} GB (limit {rss_limit_gb:g}) "
                "while this server started"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def index_health(answer: dict[str, Any]) -> dict[str, Any]:
    """ChargeGraph's `connector_index` figures, wherever /healthz nests them."""
    if "connector_index" in answer:
        figures: dict[str, Any] = answer["connector_index"]
        return figures
    for value in answer.values():
        if isinstance(value, dict) and (found := index_health(value)):
            return found
    return {}


def start_servers(uri: str, logs: Path, run: Run, db_pid: int, rss_limit_gb: float) -> None:
    # One load generator is one client address: rate limits off, so speed is what is measured.
    env = {
        **os.environ,
        "MONGODB_URI": uri,
        "CHARGEGRAPH_DB": "chargegraph",
        "CHARGEGRAPH_SEARCHES_PER_MINUTE": "0",
        "CHARGEGRAPH_WRITES_PER_MINUTE": "0",
        # aced071's unindexed questions take seconds on a large database.
        "CHARGEGRAPH_DB_TIMEOUT_SECONDS": "600",
    }
    env.pop("PYTHONPATH", None)
    # `python -m` puts the working directory first on sys.path: aced071's graph/ wins there.
    before_env = {**env, "PYTHONPATH": str(WORKTREE)}
    check = subprocess.run(
        [sys.executable, "-c", "import graph; print(graph.__file__)"],
        cwd=WORKTREE,
        env=before_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert check.startswith(str(WORKTREE)), f"aced071 would import {check}"
    uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--host", "127.0.0.1"]
    serve = [sys.executable, "-m", "graph.cli", "serve"]
    plans: list[tuple[str, list[str], dict[str, str], str, str]] = [
        ("chargegraph", serve, env, "/readyz", "/readyz"),
        ("raw", [*uvicorn, "bench.raw_index:app"], env, "/readyz", "/readyz"),
        # `env -C`: bench.run.start takes no working directory.
        (BEFORE_INDEX, ["env", "-C", str(WORKTREE), *serve], before_env, "/healthz", "/healthz"),
    ]
    # One at a time, so each load is timed alone.
    for name, command, environment, first_answer, ready in plans:
        port = free_port()
        began = time.monotonic()
        base = f"http://127.0.0.1:{port}"
        process = start(
            [*command, "--port", str(port)],
            environment,
            base + first_answer,
            logs / f"{name}.log",
            # Each version creates the indexes it declares and drops those it does not (aced071
            # the geo index, the current code a few more): minutes at 1,000,000.
            wait_seconds=1800,
        )
        server = Server(name, port, process, rss_started_kb=rss_kb(process.pid))
        run.servers[name] = server
        wait_ok(base + ready, process, db_pid, rss_limit_gb)
        server.ready_s = time.monotonic() - began
        server.rss_ready_kb = rss_kb(process.pid)
        server.health = httpx.get(base + "/healthz").json()
        print(
            f"{name}: ready in {server.ready_s:.1f}s, RSS {server.rss_ready_kb / 1024:.0f} MiB "
            f"(at first answer {server.rss_started_kb / 1024:.0f} MiB)",
            flush=True,
        )


# --------------------------------------------------------------------------- questions


def dataset(uri: str, run: Run) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    db = client.chargegraph
    run.connectors = db.connectors.count_documents({})
    run.organizations = db.organizations.count_documents({})
    groups = db.connectors.aggregate(
        [
            {"$group": {"_id": "$organization", "n": {"$sum": 1}}},
            {"$sort": {"n": -1}},
            {"$limit": 1},
        ]
    ).to_list()
    run.largest = (str(groups[0]["_id"]), int(groups[0]["n"]))
    run.sample = [
        str(row["_id"])
        for row in db.connectors.find({"active": True}, {"_id": 1}).skip(1000).limit(30)
    ]
    client.close()


def viewport(lat: float, lng: float, km: float = 10.0) -> dict[str, float]:
    """A km x km box centred on a point."""
    dlat = km / 2 / 111.32
    dlng = km / 2 / (111.32 * math.cos(math.radians(lat)))
    return {"s": lat - dlat, "w": lng - dlng, "n": lat + dlat, "e": lng + dlng}


def questions(organization: str, sample: list[str]) -> list[Question]:
    city, rural = points(random.Random(11))  # bench/run.py's points

    def gql(query: str, variables: list[dict[str, Any]]) -> list[str]:
        return [json.dumps({"query": query, "variables": v}) for v in variables]

    def near(at: list[tuple[float, float]], total: bool) -> tuple[list[str], list[str]]:
        query = NEARBY_TOTAL_QUERY if total else NEARBY_QUERY
        raw = [
            json.dumps(
                {"latitude": la, "longitude": ln, "radiusMeters": 5000, "first": 20, "total": total}
            )
            for la, ln in at
        ]
        return gql(query, [{"lat": la, "lng": ln} for la, ln in at]), raw

    found = []
    for label, at in (("city", city), ("rural", rural)):
        for total in (False, True):
            graphql, raw = near(at, total)
            found.append(
                Question(
                    f"nearby {label}, 5 km, first 20{', totalCount' if total else ''}",
                    "nearby total" if total else "nearby",
                    graphql,
                    ["/nearby"],
                    raw,
                )
            )
    boxes = [viewport(la, ln) for la, ln in city]
    found.append(
        Question(
            "bounds, city 10 km x 10 km, first 100, totalCount",
            "page total",
            gql(BOUNDS_QUERY, boxes),
            ["/bounds"],
            [
                json.dumps(
                    {"south": b["s"], "west": b["w"], "north": b["n"], "east": b["e"], "first": 100}
                )
                for b in boxes
            ],
        )
    )
    found.append(
        Question(
            "connectors(first: 100), totalCount",
            "page total",
            gql(LIST_QUERY, [{}]),
            ["/list"],
            [json.dumps({"first": 100})],
        )
    )
    found.append(
        Question(
            "connectors(first: 100, AVAILABLE, minPowerKw 50), totalCount",
            "page total",
            gql(LIST_FILTERED_QUERY, [{}]),
            ["/list"],
            [json.dumps({"first": 100, "statuses": ["AVAILABLE"], "minPowerKw": 50})],
        )
    )
    found.append(
        Question(
            "organization connectorCountsByStatus (largest)",
            "counts",
            gql(COUNTS_QUERY, [{"id": organization}]),
            [f"/counts/{organization}"],
            [""],
            "GET",
        )
    )
    found.append(
        Question(
            "connector(id) with its organization",
            "one",
            gql(ONE_QUERY, [{"id": id} for id in sample]),
            [f"/connector/{id}" for id in sample],
            [""] * len(sample),
            "GET",
        )
    )
    return found


def ask(client: httpx.Client, url: str, body: str, method: str) -> dict[str, Any]:
    response = client.request(
        method, url, content=body or None, headers={"content-type": "application/json"}
    )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def gist(answer: dict[str, Any]) -> tuple[Any, ...]:
    """What must agree between servers: ids in order and totals (or the status counts)."""
    if answer.get("errors"):
        raise ValueError(f"errors: {answer['errors']}")
    (name, value), *_ = answer["data"].items()
    if name == "organization":
        return tuple((row["status"], row["count"]) for row in value["connectorCountsByStatus"])
    if name == "connector":
        return (
            value["id"],
            value["status"],
            value["organization"]["id"],
            value["organization"]["name"],
        )
    return (value.get("totalCount"), tuple(edge["node"]["id"] for edge in value["edges"]))


def distances(answer: dict[str, Any]) -> list[float]:
    (value,) = answer["data"].values()
    return [edge.get("distanceMeters", 0.0) for edge in value.get("edges", [])]


def check_answers(run: Run, qs: list[Question]) -> None:
    """Same ids in the same order, same totals, for every request of every question."""
    with httpx.Client(timeout=900) as client:
        for question in qs:
            agreed = 0
            worst = 0.0
            for number in range(len(question.graphql)):
                gists: dict[str, Any] = {}
                answers: dict[str, dict[str, Any]] = {}
                for name in SERVERS:
                    _, paths, bodies, method = question.requests(name)
                    url = run.servers[name].url + paths[number % len(paths)]
                    try:
                        answers[name] = ask(client, url, bodies[number], method)
                        gists[name] = gist(answers[name])
                    except (httpx.HTTPError, ValueError, KeyError) as error:
                        gists[name] = f"failed: {error!r}"[:500]
                if len({json.dumps(g) for g in gists.values()}) == 1:
                    agreed += 1
                    if len(answers) == len(SERVERS):
                        pairs = zip(*(distances(answers[n]) for n in SERVERS), strict=True)
                        worst = max([worst, *(max(d) - min(d) for d in pairs)])
                else:
                    detail = "; ".join(f"{name}: {str(g)[:300]}" for name, g in gists.items())
                    run.answers.append(f"{question.name}, request {number + 1}: {detail}")
            line = f"{question.name}: {agreed} of {len(question.graphql)} requests agree"
            if question.kind.startswith("nearby"):
                line += f" (largest distance difference {worst:.2g} m)"
            print(line, flush=True)


# --------------------------------------------------------------------------- measuring


def wait_idle(pids: list[int], limit: float = 300) -> float:
    """Wait until these processes are idle (queued work done); returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        before = [cpu_seconds(pid) for pid in pids]
        time.sleep(0.5)
        if all(cpu_seconds(pid) - b < 0.05 for pid, b in zip(pids, before, strict=True)):
            break
    return time.monotonic() - began


def in_turn(url: str, bodies: list[str], method: str, first_ms: float, count: int) -> Result:
    """Requests one after another, the probe's included (each can take minutes at 1M)."""
    timings = [first_ms]
    with httpx.Client(timeout=900) as client:
        for number in range(1, count):
            began = time.perf_counter()
            gist(ask(client, url, bodies[number % len(bodies)], method))
            timings.append((time.perf_counter() - began) * 1000)
    return Result(percentile(timings, 0.5), max(timings), 1000 * len(timings) / sum(timings))


def measure(run: Run, question: Question, name: str, db_pid: int, duration: int) -> Measured:
    server = run.servers[name]
    first, paths, bodies, method = question.requests(name)
    url = server.url + first
    script = lua_script(paths if len(paths) > 1 else paths[0], bodies, method)
    pids = [server.process.pid, db_pid]
    wait_idle(pids)
    load = load_average()
    meter = CpuMeter({"server": server.process.pid, "database": db_pid})
    with httpx.Client(timeout=900) as client:
        began = time.perf_counter()
        gist(ask(client, url, bodies[0], method))  # an error is no answer to time
        probe_ms = (time.perf_counter() - began) * 1000
    if probe_ms > SLOW_MS:
        count = max(3, min(IN_TURN_MAX, int(duration * 1000 / probe_ms)))
        timed = in_turn(url, bodies, method, probe_ms, count)
        return Measured(timed, timed, True, load, meter.percent(), count)
    with contextlib.suppress(RuntimeError):
        wrk(url, script, 1, 2)  # warm up
    wait_idle(pids)
    load = load_average()
    light = wrk(url, script, 1, duration)
    wait_idle(pids)
    meter = CpuMeter({"server": server.process.pid, "database": db_pid})
    loaded = wrk(url, script, 16, duration)
    cpu = meter.percent()
    return Measured(light, loaded, False, load, cpu)


def measure_all(run: Run, qs: list[Question], db_pid: int, args: argparse.Namespace) -> None:
    for question in qs:
        run.results[question.name] = {}
        for name in SERVERS:
            duration = args.before_duration if name == BEFORE_INDEX else args.duration
            try:
                measured = measure(run, question, name, db_pid, duration)
            except (RuntimeError, AssertionError, httpx.HTTPError) as error:
                # wrk saw errors, or a request failed: recorded, and the run goes on.
                run.answers.append(f"{question.name} on {name}, while measuring: {error!r}"[:1500])
                print(f"{question.name} on {name}: {error!r}", file=sys.stderr)
                if run.servers[name].process.poll() is not None:
                    raise
                continue
            run.results[question.name][name] = measured
            light, loaded = measured.light, measured.loaded
            how = "in turn" if measured.in_turn else "wrk"
            print(
                f"{question.name:58} {name:11} [{how}] p50 {light.p50_ms:8.2f} ms  "
                f"p99 {light.p99_ms:8.2f} ms  {loaded.rps:9.1f} req/s  "
                f"(16 conns p50 {loaded.p50_ms:.1f} p99 {loaded.p99_ms:.1f}; load {measured.load_before})",
                flush=True,
            )
            # wrk sees only HTTP status: a GraphQL error would pass unnoticed under load.
            _, paths, bodies, method = question.requests(name)
            with httpx.Client(timeout=900) as client:
                try:
                    gist(ask(client, run.servers[name].url + paths[0], bodies[0], method))
                except (httpx.HTTPError, ValueError, KeyError) as error:
                    run.answers.append(f"{question.name} on {name} after its load: {error!r}"[:600])
            if run.servers[name].process.poll() is not None:
                raise RuntimeError(f"{name} exited during {question.name}")


# --------------------------------------------------------------------------- targets


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool
    by: str
    question: str | None  # the question to profile when missed


def verdicts(run: Run, qs: list[Question]) -> list[Verdict]:
    found = []
    for question in qs:
        measured = run.results.get(question.name, {})
        if "chargegraph" not in measured:
            continue
        ours = measured["chargegraph"]
        p50 = ours.light.p50_ms
        limit = {"nearby": 3.0, "nearby total": 5.0, "page total": 15.0, "counts": 5.0, "one": 3.0}[
            question.kind
        ]
        found.append(
            Verdict(
                f"{question.name}: p50 ≤ {limit:g} ms",
                f"{p50:.2f} ms",
                p50 <= limit,
                f"{abs(p50 - limit):.2f} ms",
                question.name,
            )
        )
        if question.kind.startswith("nearby") and {BEFORE_INDEX, "raw"} <= measured.keys():
            before = measured[BEFORE_INDEX].loaded.rps
            times = ours.loaded.rps / before if before else math.inf
            found.append(
                Verdict(
                    f"{question.name}: throughput ≥ 10x aced071's",
                    f"{times:.1f}x ({ours.loaded.rps:,.0f} vs {before:,.1f} req/s)",
                    times >= 10,
                    f"{abs(times - 10):.1f}x",
                    question.name,
                )
            )
        if "raw" in measured:
            share = ours.loaded.rps / measured["raw"].loaded.rps
            wanted = RAW_SHARE[question.kind]
            found.append(
                Verdict(
                    f"{question.name}: throughput ≥ {wanted:.0%} of raw's",
                    f"{share:.0%} ({ours.loaded.rps:,.0f} vs {measured['raw'].loaded.rps:,.0f} req/s)",
                    share >= wanted,
                    f"{abs(share - wanted) * 100:.0f} points",
                    question.name,
                )
            )
    fresh = run.freshness
    if fresh is not None and fresh.latencies_ms:
        p99 = percentile(fresh.latencies_ms + [math.inf] * (fresh.late + fresh.never), 0.99)
        found.append(
            Verdict(
                "freshness: p99 ≤ 1 s (write sent → search shows it)",
                f"{p99:.0f} ms" if math.isfinite(p99) else "over 5 s (writes not seen in time)",
                p99 <= 1000,
                f"{abs(p99 - 1000):.0f} ms" if math.isfinite(p99) else "—",
                None,
            )
        )
    return found


# --------------------------------------------------------------------------- profile


# Layers a sample is charged to: the one of its innermost frame that belongs to one.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("connector index and numpy", ("connectors/index.py", "numpy/")),
    ("resolvers and domain models", ("graph/connectors/", "graph/organizations/", "bson/")),
    ("JSON encoding", ("json/", "core/encoding.py")),
    ("compiled plans", ("core/plans.py",)),
    ("rate limit and cost", ("core/rate_limit.py", "core/cost.py")),
    (
        "parse and validation caches",
        ("core/limits.py", "parser_cache", "graphql/language/", "graphql/validation/"),
    ),
    (
        "operation log and metrics",
        (
            "logging/",
            "pythonjsonlogger",
            "prometheus_client/",
            "core/observability.py",
            "core/logs.py",
        ),
    ),
    ("database client", ("pymongo/",)),
    ("HTTP: Strawberry's view", ("strawberry/http/", "strawberry/asgi/", "graph/app.py")),
    ("graphql-core", ("graphql/",)),
    ("strawberry", ("strawberry/",)),
    ("graph/ (ChargeGraph's own code, its graphql-core hooks included)", ("graph/",)),
    ("HTTP: starlette", ("starlette/",)),
    ("HTTP: uvicorn and httptools", ("uvicorn/", "httptools")),
    ("asyncio", ("asyncio/",)),
]


def layers(path: Path) -> str:
    """Samples by layer, each charged to its innermost frame in a known layer (sums to 100 %)."""
    counts: dict[str, int] = defaultdict(int)
    total = 0
    for line in path.read_text().splitlines() if path.exists() else []:
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        total += int(number)
        layer = "other"
        for frame in reversed(stack.split(";")):
            where = frame.rpartition(" (")[2]
            found = next((name for name, marks in LAYERS if any(m in where for m in marks)), None)
            if found is not None:
                layer = found
                break
        counts[layer] += int(number)
    if not total:
        return "(no samples)"
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return "; ".join(f"{layer} {count / total:.0%}" for layer, count in ranked)


def profile(run: Run, question: Question, seconds: int = 10) -> list[str]:
    """py-spy on ChargeGraph while wrk drives this question with 16 connections."""
    server = run.servers["chargegraph"]
    _, _, bodies, _ = question.requests("chargegraph")
    script = lua_script("/graphql", bodies)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    output = Path(tempfile.gettempdir()) / f"chargegraph-index-profile-{len(run.profiles)}.txt"
    load = subprocess.Popen(
        ["wrk", "-t1", "-c16", f"-d{seconds + 4}s", "-s", handle.name, server.url + "/graphql"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(2)  # into the steady state
    subprocess.run(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--nonblocking",
            "--format",
            "raw",
            "-d",
            str(seconds),
            "-o",
            str(output),
            "--pid",
            str(server.process.pid),
        ],
        check=True,
        capture_output=True,
    )
    load.wait()
    os.unlink(handle.name)
    # Its first two lines: samples, and own time by frame.
    lines = summarize_profile(output)[:2]
    lines.append("by layer (innermost known frame): " + layers(output))
    lines.append(f"raw profile: {output}")
    return lines


# --------------------------------------------------------------------------- freshness


@dataclass
class Write:
    connector: str
    available: bool  # the new status is AVAILABLE (else CHARGING)
    sent: float
    acked: float = math.nan
    seen: float | None = None  # when the first search showing it was received


async def freshness(
    run: Run, uri: str, point: tuple[float, float], seconds: float, rate: float
) -> Freshness:
    """Write statuses at `rate` and time each until ChargeGraph's search shows it.

    Pool: the POOL active connectors nearest to `point`; the search is the
    available ones within a radius between the last of them and the next, first 100,
    so its answer is exactly the pool's available connectors. A connector is
    written again only after its last write was seen (or never, if it was
    not): each write is then seen unambiguously. Statuses flip between
    AVAILABLE and CHARGING, so every write changes the answer.
    """
    result = Freshness()
    url = run.servers["chargegraph"].url + "/graphql"
    lat, lng = point
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    # Journaled, as ChargeGraph writes.
    collection = client.chargegraph.get_collection(
        "connectors", write_concern=WriteConcern(w=1, j=True)
    )
    async with httpx.AsyncClient(timeout=30) as http:
        found = (
            await http.post(url, json={"query": POOL_QUERY, "variables": {"lat": lat, "lng": lng}})
        ).json()["data"]["nearbyConnectors"]["edges"]
        assert len(found) == POOL + 1, f"only {len(found)} connectors within 5 km of {point}"
        pool = [edge["node"]["id"] for edge in found[:POOL]]
        radius = (found[POOL - 1]["distanceMeters"] + found[POOL]["distanceMeters"]) / 2
        result.pool, result.radius_m = len(pool), radius
        body = {"query": FRESH_QUERY, "variables": {"lat": lat, "lng": lng, "r": radius}}
        original = {
            str(row["_id"]): (row["status"], row["updatedAt"])
            async for row in collection.find({"_id": {"$in": [ObjectId(c) for c in pool]}})
        }
        state = {c: original[c][0] == "Available" for c in pool}  # shown by the search?
        pending: dict[str, Write] = {}
        writes: list[Write] = []
        stop = asyncio.Event()
        settled = asyncio.Event()  # every write made and seen

        async def search() -> tuple[float, float, set[str]]:
            sent = time.perf_counter()
            answer = (await http.post(url, json=body)).json()
            received = time.perf_counter()
            if answer.get("errors"):
                raise RuntimeError(f"search failed: {answer['errors']}")
            edges = answer["data"]["nearbyConnectors"]["edges"]
            return sent, received, {edge["node"]["id"] for edge in edges}

        _, _, shown = await search()
        expected = {c for c in pool if state[c]}
        if shown != expected:
            result.start_mismatch = (
                f"before any write the search showed {len(shown)} connectors, "
                f"the database has {len(expected)} of the pool available "
                f"({len(shown - expected)} extra, {len(expected - shown)} missing)"
            )

        async def poll() -> None:
            while not stop.is_set():
                sent, received, ids = await search()
                result.polls += 1
                result.poll_ms.append((received - sent) * 1000)
                for connector in pool:
                    write = pending.get(connector)
                    if write is not None:
                        if received > write.sent and (connector in ids) == write.available:
                            write.seen = received
                            del pending[connector]
                    elif (connector in ids) != state[connector]:
                        # Seen already, now shown in its older state again.
                        result.regressions += 1
                if result.seconds and not pending:
                    settled.set()

        async def send(connector: str, change: Write) -> None:
            await collection.update_one(
                {"_id": ObjectId(connector)},
                {
                    "$set": {
                        "status": "Available" if change.available else "Charging",
                        "updatedAt": datetime.now(UTC),
                    }
                },
            )
            change.acked = time.perf_counter()

        async def write_all() -> None:
            rng = random.Random(7)
            began = time.perf_counter()
            sending = []
            for number in range(int(seconds * rate)):
                await asyncio.sleep(max(0.0, began + number / rate - time.perf_counter()))
                free = [c for c in pool if c not in pending]
                if not free:
                    result.skipped += 1
                    continue
                connector = rng.choice(free)
                change = Write(connector, not state[connector], time.perf_counter())
                # From here the search may show either state until it shows the new one.
                pending[connector] = change
                state[connector] = change.available
                writes.append(change)
                # Not awaited here: a slow acknowledgement must not slow the rate.
                sending.append(asyncio.create_task(send(connector, change)))
            result.seconds = time.perf_counter() - began
            await asyncio.gather(*sending)

        poller = asyncio.create_task(poll())
        try:
            await write_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), FRESH_TIMEOUT_S)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await poller
            if poller.done() and poller.exception() is not None:
                result.errors.append(repr(poller.exception()))
            # Leave the shared benchmark data as it was.
            for connector, (status, updated) in original.items():
                await collection.update_one(
                    {"_id": ObjectId(connector)}, {"$set": {"status": status, "updatedAt": updated}}
                )
            await client.close()
    result.writes = len(writes)
    for write in writes:
        result.write_ms.append((write.acked - write.sent) * 1000)
        if write.seen is None:
            result.never += 1
        elif write.seen - write.sent > FRESH_TIMEOUT_S:
            result.late += 1
        else:
            result.latencies_ms.append((write.seen - write.sent) * 1000)
            result.after_ack_ms.append((write.seen - write.acked) * 1000)
    return result


# --------------------------------------------------------------------------- report


def fmt_ms(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def question_table(run: Run, qs: list[Question]) -> list[str]:
    lines = [
        "| question | server | load avg before | p50 light (ms) | p99 light (ms) | req/s at 16 conns | "
        "p50 at 16 (ms) | p99 at 16 (ms) | CPU % server / database / other | ChargeGraph ÷ aced071 | ChargeGraph ÷ raw |"
    ]
    lines.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for question in qs:
        measured = run.results.get(question.name, {})
        for name, m in measured.items():
            ratio_before = ratio_raw = ""
            if name == "chargegraph":
                if BEFORE_INDEX in measured:
                    ratio_before = f"{m.loaded.rps / measured[BEFORE_INDEX].loaded.rps:,.1f}x"
                if "raw" in measured:
                    ratio_raw = f"{m.loaded.rps / measured['raw'].loaded.rps:.0%}"
            cpu = " / ".join(f"{m.cpu.get(k, 0):.0f}" for k in ("server", "database", "other"))
            if m.in_turn:
                lines.append(
                    f"| {question.name} | {name} ({m.requests} in turn) | "
                    f"{m.load_before} | {fmt_ms(m.light.p50_ms)} | {fmt_ms(m.light.p99_ms)} (max) | "
                    f"{m.loaded.rps:,.2f} (one at a time) | — | — | {cpu} | {ratio_before} | {ratio_raw} |"
                )
            else:
                lines.append(
                    f"| {question.name} | {name} | {m.load_before} | {fmt_ms(m.light.p50_ms)} | "
                    f"{fmt_ms(m.light.p99_ms)} | {m.loaded.rps:,.0f} | {fmt_ms(m.loaded.p50_ms)} | "
                    f"{fmt_ms(m.loaded.p99_ms)} | {cpu} | {ratio_before} | {ratio_raw} |"
                )
    lines.append("")
    return lines


def report(
    run: Run, qs: list[Question], args: argparse.Namespace, verdict: list[Verdict]
) -> list[str]:
    uname = platform.uname()
    lines = [
        f"\n## Connector index (python -m bench.index), {run.started} UTC\n",
        f"Machine: {machine()}; `{uname.system} {uname.node} {uname.release} {uname.version} {uname.machine}`. "
        f"`{command_line()}`. Embedded database on {run.data_dir.relative_to(ROOT) if run.data_dir.is_relative_to(ROOT) else run.data_dir}: "
        f"{run.connectors:,} connectors, {run.organizations:,} organizations (largest: {run.largest[1]:,} connectors). "
        "One uvicorn process per server, all on this machine with the database and wrk: "
        f"ChargeGraph at the working tree, ChargeGraph at {BEFORE_INDEX} (before the index; git worktree), "
        "and bench/raw_index.py (the same ConnectorIndex, loaded with IndexBuilder, answering as JSON without GraphQL). "
        "Anonymous callers (active connectors only), rate limits off. wrk: 1 connection (light load) "
        f"for {args.duration} s, then 16 connections (throughput) for {args.duration} s"
        + (
            f" ({args.before_duration} s for {BEFORE_INDEX})"
            if args.before_duration != args.duration
            else ""
        )
        + f"; a question over {SLOW_MS:.0f} ms a request on a server is timed with up to {IN_TURN_MAX} requests "
        "in turn instead (marked: its p50/p99 are of those few, its req/s is one at a time). Before each wrk "
        "run the server and the database are left to finish queued work (idle for 0.5 s). Points: "
        "bench/run.py's 30 city centres and 30 rural points (uniform within 120 km of a city), cycled; "
        "viewports 10 km x 10 km around the city centres. CPU: % of one core during the 16-connection "
        "run, of the server process and the database; other = the rest of the machine (wrk, this "
        "script, and whatever else runs on it). Logs as shipped: ChargeGraph writes two JSON lines per "
        "request (uvicorn's access line and its operation line), aced071 uvicorn's plain access line, "
        "the raw app none (uvicorn at warning level).\n",
        f"Code: {run.code}. Load before: `{run.started_uptime}`; after: `{run.finished_uptime}`.\n",
    ]
    lines.append(
        "| server | ready after start (s) | index load (s, its own figure) | bytes per connector "
        "(ready / after the questions) | RSS at first answer (MiB) | RSS ready (MiB) |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in SERVERS:
        server = run.servers.get(name)
        if server is None:
            continue
        load = per = "—"
        if name != BEFORE_INDEX:
            pick = index_health if name == "chargegraph" else dict
            ready, after = pick(server.health), pick(server.health_after)
            load = str(ready.get("load_seconds", "—"))
            per = (
                f"{ready.get('bytes_per_connector', '—')} / {after.get('bytes_per_connector', '—')}"
            )
        ready_s = f"{server.ready_s:.1f}" if math.isfinite(server.ready_s) else "never ready"
        rss_ready = f"{server.rss_ready_kb / 1024:.0f}" if server.rss_ready_kb else "—"
        lines.append(
            f"| {name} | {ready_s} | {load} | {per} | {server.rss_started_kb / 1024:.0f} | {rss_ready} |"
        )
    lines.append("")
    if run.answers:
        lines.append(f"Answers that differed or failed ({len(run.answers)}):\n")
        lines.extend(f"- {line}" for line in run.answers[:20])
        lines.append("")
    elif run.checked and qs:
        lines.append(
            "Every request of every question was first asked of all three servers: the same ids in "
            "the same order and the same totals (counts) everywhere. ChargeGraph and the raw "
            "endpoint share ConnectorIndex; aced071, which answers from MongoDB queries with "
            "code of its own, is the independent check.\n"
        )
    if run.results:
        lines.extend(question_table(run, qs))
    fresh = run.freshness
    if fresh is not None:
        all_ms = fresh.latencies_ms + [math.inf] * (fresh.late + fresh.never)
        lines.append(
            f"Freshness (load before: {run.fresh_load}): {fresh.writes} status writes in {fresh.seconds:.1f} s "
            f"({fresh.writes / fresh.seconds if fresh.seconds else 0:.1f}/s asked {args.rate:g}/s; "
            f"{fresh.skipped} ticks skipped with every pooled connector awaiting its last write's sighting), "
            f"straight into MongoDB with pymongo (journaled), each flipping one of the {fresh.pool} active "
            f"connectors nearest to {CITIES[0][0]}'s centre between AVAILABLE and CHARGING with a new updatedAt. "
            f"Meanwhile one client polled ChargeGraph back to back (keep-alive, {fresh.polls:,} searches, "
            f"round trip p50 {percentile(fresh.poll_ms, 0.5):.1f} ms, p99 {percentile(fresh.poll_ms, 0.99):.1f} ms: "
            "the resolution) with `nearbyConnectors(radiusMeters: "
            f"{fresh.radius_m:.0f}, first: 100, filter: {{availableOnly: true}})`, whose answer is exactly "
            "the pool's available connectors. Timed for each write: from just before `update_one` was sent "
            "until the first search response received after that which shows the new state (present when "
            "set to AVAILABLE, absent when set to CHARGING) — an upper bound that includes the write itself "
            f"(ack p50 {percentile(fresh.write_ms, 0.5):.1f} ms, p99 {percentile(fresh.write_ms, 0.99):.1f} ms) "
            "and up to one poll round trip. A connector is written again only once its last write was seen, "
            "so each sighting is unambiguous.\n"
        )
        lines.append(
            f"Seen within {FRESH_TIMEOUT_S:.0f} s: {len(fresh.latencies_ms)} of {fresh.writes}; "
            f"p50 {percentile(all_ms, 0.5):.1f} ms, p99 {percentile(all_ms, 0.99):.1f} ms, "
            f"max {max(fresh.latencies_ms, default=math.nan):.1f} ms (of those seen in time); "
            f"seen later than {FRESH_TIMEOUT_S:.0f} s: {fresh.late}; never seen: {fresh.never}; "
            f"searches showing a connector's older state again after its newer one: {fresh.regressions}."
            + f" The same, from the write's acknowledgement (what ChargeGraph adds after the database "
            f"committed; negative: shown before the acknowledgement reached the writer): p50 "
            f"{percentile(fresh.after_ack_ms, 0.5):.1f} ms, p99 {percentile(fresh.after_ack_ms, 0.99):.1f} ms."
            + (f" {fresh.start_mismatch}." if fresh.start_mismatch else "")
            + (f" Errors: {'; '.join(fresh.errors)}." if fresh.errors else "")
            + "\n"
        )
    if verdict:
        lines.append("| target | measured | met? |")
        lines.append("| --- | --- | --- |")
        for v in verdict:
            lines.append(
                f"| {v.target} | {v.measured} | {'met' if v.met else 'MISSED'} by {v.by} |"
            )
        lines.append("")
    for name, summary in run.profiles.items():
        lines.append(
            f"py-spy (--nonblocking, 10 s) on ChargeGraph under wrk with 16 connections, {name}: "
            + "; ".join(summary)
            + "\n"
        )
    lines.extend(run.notes)
    return lines


def record(run: Run, lines: list[str], verdict: list[Verdict]) -> None:
    """Record the run (bench/record.py): its report without its heading, its targets."""
    at = datetime.strptime(run.started, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    code = run.code.split()[0] + ("-dirty" if "uncommitted" in run.code else "")
    targets = []
    for v in verdict:
        name, limit = split_target(v.target)
        targets.append(Target(f"{name} ({run.connectors:,} connectors)", limit, v.measured, v.met))
    record_run("index", Start(at, run.started_uptime, code), lines[1:], targets)


# --------------------------------------------------------------------------- main


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "data" / "100k")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument(
        "--before-duration",
        type=int,
        default=None,
        help=f"seconds per wrk run on {BEFORE_INDEX} (default: --duration); it can be very slow",
    )
    parser.add_argument("--fresh-seconds", type=float, default=30.0, help="seconds of writes")
    parser.add_argument("--rate", type=float, default=50.0, help="status writes per second")
    parser.add_argument("--no-profile", action="store_true", help="no py-spy on missed targets")
    parser.add_argument(
        "--db-rss-limit",
        type=float,
        default=8.0,
        help="GB: stop if the database grows past this while the servers start",
    )
    parser.add_argument(
        "--only", default="", help="only the questions whose name contains this text"
    )
    parser.add_argument(
        "--no-record", action="store_true", help="print only (trying the script out)"
    )
    parser.add_argument(
        "--executor",
        action="store_true",
        help="ChargeGraph with CHARGEGRAPH_COMPILED_EXECUTION=false (graphql-core executes all)",
    )
    args = parser.parse_args()
    # The servers' environment starts from this process's.
    os.environ["CHARGEGRAPH_COMPILED_EXECUTION"] = "false" if args.executor else "true"
    args.before_duration = args.before_duration or args.duration
    data_dir: Path = args.data_dir.resolve()
    if busy := holders(data_dir):
        raise SystemExit(f"{data_dir} is open in another process: {busy}")
    if not (data_dir / "WiredTiger").exists():
        raise SystemExit(f"no database in {data_dir}")
    ensure_worktree()
    run = Run(
        data_dir,
        started=f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        started_uptime=uptime(),
        code=worktree_state(),
    )
    print(f"code: {run.code}\nload: {run.started_uptime}", flush=True)
    embedded = EmbeddedDatabase(data_dir)
    uri = embedded.start(timeout=300)
    assert embedded.pid is not None
    logs = Path(tempfile.mkdtemp(prefix="chargegraph-index-"))
    qs: list[Question] = []
    try:
        dataset(uri, run)
        print(
            f"{run.connectors:,} connectors, {run.organizations} organizations, "
            f"largest {run.largest[1]:,}",
            flush=True,
        )
        qs = [q for q in questions(run.largest[0], run.sample) if args.only in q.name]
        start_servers(uri, logs, run, embedded.pid, args.db_rss_limit)
        check_answers(run, qs)
        run.checked = True
        measure_all(run, qs, embedded.pid, args)
        for name in ("chargegraph", "raw"):
            server = run.servers[name]
            server.health_after = httpx.get(server.url + "/healthz").json()
        missed = {v.question for v in verdicts(run, qs) if not v.met and v.question}
        for question in qs if not args.no_profile else []:
            if question.name in missed:
                wait_idle([run.servers["chargegraph"].process.pid, embedded.pid])
                run.profiles[question.name] = profile(run, question)
                print(f"profile, {question.name}:", *run.profiles[question.name], sep="\n  ")
        wait_idle([run.servers["chargegraph"].process.pid, embedded.pid])
        run.fresh_load = load_average()
        _, _, lat, lng = CITIES[0]
        run.freshness = asyncio.run(freshness(run, uri, (lat, lng), args.fresh_seconds, args.rate))
    except Exception as error:  # the figures so far are still worth recording
        run.notes.append(f"The run stopped early: {error!r}\n")
        print(f"stopped early: {error!r}", file=sys.stderr)
    finally:
        for server in run.servers.values():
            if server.process.poll() is not None:
                run.notes.append(
                    f"{server.name} had exited (status {server.process.returncode}); "
                    f"its log: {logs / (server.name + '.log')}\n"
                )
            stop(server.process)
        embedded.stop()
    run.finished_uptime = uptime()
    lines = report(run, qs, args, verdicts(run, qs))
    print("\n".join(lines))
    if not args.no_record:
        record(run, lines, verdicts(run, qs))


if __name__ == "__main__":
    main()
