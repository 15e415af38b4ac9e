"""Worker processes: `chargegraph serve --workers 1` against `--workers 2`, on one database.

    python -m bench.workers [--connectors 100000] [--duration 8] [--rounds 2]

On the network `python -m bench.run` seeds under bench/data (seeded first if
missing; reused otherwise), with the embedded database started once and
shared, each server is started alone in turn: the raw pymongo baseline of
bench/run.py (one uvicorn process), ChargeGraph with one worker and with two
workers (`chargegraph serve --workers N`, N processes accepting on one port).
Each is checked to answer as the baseline does, then driven by wrk for
`connector(id)` (200 random ids) and `nearbyConnectors` (city points, 5 km,
first 20, as bench/run.py picks them): one connection (light load), then 16
(throughput). The CPU time of the server processes, the database and wrk is
read from /proc around each 16-connection run. Rounds alternate the order of
the servers. Prints the ratios (2 workers ÷ 1 worker, each ÷ baseline) and
records the run (bench/record.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

import httpx
from pymongo import MongoClient

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
from bench.run import (
    BY_ID_QUERY,
    DATA_DIR,
    NEARBY_QUERY,
    Result,
    ensure_seeded,
    lua_script,
    points,
    wrk,
)
from graph.embedded import EmbeddedDatabase, free_port

TICKS = os.sysconf("SC_CLK_TCK")


# CPU time of processes, from /proc --------------------------------------------


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(parents.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    return 0.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# The benchmark -----------------------------------------------------------------

TARGETS = ("baseline", "workers 1", "workers 2")
QUERIES = ("connector by id", "nearby, city (5 km, first 20)")


@dataclass
class Measured:
    light: Result
    loaded: Result
    # CPU, in % of one core, during the 16-connection run.
    server_cpu: list[float]  # per server process (the workers; the parent has its own entry)
    database_cpu: float
    wrk_cpu: float


class Server:
    """One server under test, started alone on the shared database."""

    def __init__(self, target: str, uri: str, logs: Path) -> None:
        self.target = target
        self.port = free_port()
        env = {
            **os.environ,
            "MONGODB_URI": uri,
            "CHARGEGRAPH_DB": "chargegraph",
            "CHARGEGRAPH_ADMIN_KEYS": secrets.token_urlsafe(24),
            # One load generator is one client address: limits off, speed is what is measured.
            "CHARGEGRAPH_SEARCHES_PER_MINUTE": "0",
            "CHARGEGRAPH_WRITES_PER_MINUTE": "0",
            # Unfiltered pages of the embedded database take seconds at 100,000 connectors.
            "CHARGEGRAPH_DB_TIMEOUT_SECONDS": "60",
            "CHARGEGRAPH_LOG_LEVEL": "warning",
        }
        if target == "baseline":
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                "--log-level",
                "warning",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "bench.baseline:app",
            ]
            ready = f"http://127.0.0.1:{self.port}/connector/000000000000000000000000"
        else:
            workers = target.split()[-1]
            command = [
                sys.executable,
                "-m",
                "graph.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                workers,
            ]
            ready = f"http://127.0.0.1:{self.port}/readyz"
        self.workers = 1 if target == "baseline" else int(target.split()[-1])
        log = (logs / f"{target.replace(' ', '-')}.log").open("ab")
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_ready(ready, logs)
        except BaseException:
            self.stop()
            raise
        self.url = f"http://127.0.0.1:{self.port}"

    def _wait_until_ready(self, ready: str, logs: Path) -> None:
        target = self.target
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{target} exited with {self.process.returncode}; see {logs}")
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(ready, timeout=5)
                # The baseline answers an unknown id with an error: it is up.
                if answer.status_code == 200 or target == "baseline":
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target} did not start; see {logs}")
            time.sleep(0.2)
        if self.workers > 1:
            # /readyz answers once one worker is up: wait until every worker has answered.
            pids: set[int] = set()
            while len(pids) < self.workers:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {len(pids)} workers answered; see {logs}")
                with httpx.Client() as client:  # a new connection each time
                    pids.add(client.get(f"http://127.0.0.1:{self.port}/healthz").json()["pid"])
                time.sleep(0.05)
            # ... and is ready (its change stream open).
            time.sleep(2)

    def pids(self) -> list[int]:
        return descendants(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            self.process.wait()


def scripts(
    server: Server, city: list[tuple[float, float]], ids: list[str]
) -> dict[str, tuple[str, str]]:
    if server.target == "baseline":
        raw = [
            json.dumps(
                {"latitude": la, "longitude": ln, "radiusMeters": 5000, "first": 20, "total": False}
            )
            for la, ln in city
        ]
        return {
            "connector by id": (
                f"{server.url}/connector/{ids[0]}",
                lua_script([f"/connector/{i}" for i in ids], [""], method="GET"),
            ),
            "nearby, city (5 km, first 20)": (f"{server.url}/nearby", lua_script("/nearby", raw)),
        }
    by_id = [json.dumps({"query": BY_ID_QUERY, "variables": {"id": i}}) for i in ids]
    nearby = [
        json.dumps({"query": NEARBY_QUERY, "variables": {"lat": la, "lng": ln}}) for la, ln in city
    ]
    return {
        "connector by id": (f"{server.url}/graphql", lua_script("/graphql", by_id)),
        "nearby, city (5 km, first 20)": (f"{server.url}/graphql", lua_script("/graphql", nearby)),
    }


def check_answers(
    server: Server, expected: list[Any], city: list[tuple[float, float]], ids: list[str]
) -> list[Any]:
    """The server's answers to three nearby questions and three ids (equal to `expected` if given)."""
    answers: list[Any] = []
    body: dict[str, Any]
    for la, ln in city[:3]:
        if server.target == "baseline":
            body = {"latitude": la, "longitude": ln, "radiusMeters": 5000, "first": 20}
            answers.append(httpx.post(f"{server.url}/nearby", json=body, timeout=60).json())
        else:
            body = {"query": NEARBY_QUERY, "variables": {"lat": la, "lng": ln}}
            answers.append(httpx.post(f"{server.url}/graphql", json=body, timeout=60).json())
    for i in ids[:3]:
        if server.target == "baseline":
            answer = httpx.get(f"{server.url}/connector/{i}", timeout=60).json()
            answers.append(answer["data"]["connector"]["id"])
        else:
            body = {"query": BY_ID_QUERY, "variables": {"id": i}}
            answer = httpx.post(f"{server.url}/graphql", json=body, timeout=60).json()
            answers.append(answer["data"]["connector"]["id"])
    if expected:
        assert answers == expected, (server.target, answers, expected)
    return answers


def measure_one(
    server: Server, url: str, script: str, database_pid: int, duration: int
) -> Measured:
    with contextlib.suppress(RuntimeError):
        wrk(url, script, 1, 2)  # warm up
    light = wrk(url, script, 1, duration)
    pids = server.pids()
    before = {pid: cpu_seconds(pid) for pid in pids}
    database_before = cpu_seconds(database_pid)
    wrk_before = children_cpu()
    started = time.monotonic()
    loaded = wrk(url, script, 16, duration)
    elapsed = time.monotonic() - started
    share = {pid: 100 * (cpu_seconds(pid) - before[pid]) / elapsed for pid in pids}
    # The parent of several workers (uvicorn's supervisor) only watches them: listed first.
    server_cpu = [share[pid] for pid in pids]
    database_cpu = 100 * (cpu_seconds(database_pid) - database_before) / elapsed
    wrk_cpu = 100 * (children_cpu() - wrk_before) / elapsed
    time.sleep(5)  # let the database finish what wrk left queued
    return Measured(light, loaded, server_cpu, database_cpu, wrk_cpu)


def rounds_arguments(description: str | None) -> argparse.Namespace:
    """The options of a benchmark that alternates its variants over rounds."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connectors", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating the order")
    args = parser.parse_args()
    return args


def main() -> None:
    args = rounds_arguments(__doc__)

    started = begin()
    print(started.uptime, flush=True)
    ensure_seeded(args.connectors)
    embedded = EmbeddedDatabase(DATA_DIR)
    uri = embedded.start()
    assert embedded.pid is not None
    logs = Path(tempfile.mkdtemp(prefix="chargegraph-workers-"))
    city, _ = points(random.Random(11))
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    present = client.chargegraph.connectors.estimated_document_count()
    ids = [
        str(row["_id"])
        for row in client.chargegraph.connectors.aggregate([{"$sample": {"size": 200}}])
    ]
    client.close()
    results: list[dict[str, dict[str, Measured]]] = []
    expected: list[Any] = []
    try:
        for round_index in range(args.rounds):
            order = TARGETS if round_index % 2 == 0 else tuple(reversed(TARGETS))
            results.append({})
            for target in order:
                server = Server(target, uri, logs)
                try:
                    answers = check_answers(server, expected, city, ids)
                    expected = expected or answers
                    results[-1][target] = {}
                    for query, (url, script) in scripts(server, city, ids).items():
                        measured = measure_one(server, url, script, embedded.pid, args.duration)
                        results[-1][target][query] = measured
                        print(
                            f"round {round_index + 1} {target:10} {query:30} "
                            f"light p50 {measured.light.p50_ms:7.2f} ms  "
                            f"16 conns {measured.loaded.rps:8.1f} req/s  "
                            f"p50 {measured.loaded.p50_ms:7.2f} ms  p99 {measured.loaded.p99_ms:7.2f} ms  "
                            f"CPU % server {'+'.join(f'{c:.0f}' for c in measured.server_cpu)} "
                            f"db {measured.database_cpu:.0f} wrk {measured.wrk_cpu:.0f}",
                            flush=True,
                        )
                finally:
                    server.stop()
    finally:
        embedded.stop()
    load_after = uptime()
    print(load_after)
    report(results, args, present, started, load_after)


def report(
    results: list[dict[str, dict[str, Measured]]],
    args: argparse.Namespace,
    present: int,
    started: Start,
    load_after: str,
) -> None:
    lines = [
        f"Machine: {machine()}. `{command_line()}`. Embedded database on bench/data "
        f"({present:,} connectors, seeded by bench/run.py), started once and shared; each server "
        "started alone in turn: the raw pymongo baseline of bench/run.py (one uvicorn process), "
        "`chargegraph serve --workers 1` and `--workers 2` (search and write limits off, "
        "database timeout 60 s). wrk on the same machine: 1 connection (light), then 16 "
        f"(throughput), {args.duration} s each; {args.rounds} round(s), the order reversed every "
        "other round. CPU in % of one core during the 16-connection run, from /proc (server: "
        "each process of the server; with --workers the first is uvicorn's supervisor).\n",
        f"Code: {code_version()}. Load before: `{started.uptime}`; after: `{load_after}`.\n",
        "| round | query | server | p50 light (ms) | p99 light (ms) | req/s at 16 conns | "
        "p50 at 16 (ms) | p99 at 16 (ms) | CPU %: server processes / database / wrk |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for index, measured_round in enumerate(results, 1):
        for query in QUERIES:
            for target in TARGETS:
                m = measured_round[target][query]
                cpu = " + ".join(f"{c:.0f}" for c in m.server_cpu)
                lines.append(
                    f"| {index} | {query} | {target if target == 'baseline' else 'chargegraph ' + target} | "
                    f"{m.light.p50_ms:.2f} | {m.light.p99_ms:.2f} | {m.loaded.rps:,.0f} | "
                    f"{m.loaded.p50_ms:.2f} | {m.loaded.p99_ms:.2f} | {cpu} / {m.database_cpu:.0f} / "
                    f"{m.wrk_cpu:.0f} |"
                )
    lines += [
        "",
        "| query | workers 2 ÷ workers 1 | workers 1 ÷ baseline | workers 2 ÷ baseline | "
        "(per round) |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    print()
    targets: list[Target] = []
    for query in QUERIES:
        two_one, one_base, two_base = [], [], []
        for measured_round in results:
            rps = {t: measured_round[t][query].loaded.rps for t in TARGETS}
            two_one.append(rps["workers 2"] / rps["workers 1"])
            one_base.append(rps["workers 1"] / rps["baseline"])
            two_base.append(rps["workers 2"] / rps["baseline"])
        rounds = "; ".join(
            f"{a:.2f}x, {b:.0%}, {c:.0%}"
            for a, b, c in zip(two_one, one_base, two_base, strict=True)
        )
        line = (
            f"| {query} | {mean(two_one):.2f}x | {mean(one_base):.0%} | {mean(two_base):.0%} | "
            f"{rounds} |"
        )
        lines.append(line)
        if query == "connector by id":
            targets += [
                bound(
                    f"connector by id throughput ÷ the raw baseline's, {workers}",
                    100 * mean(ratios),
                    50,
                    "%",
                    at_least=True,
                    digits=0,
                )
                for workers, ratios in (("1 worker", one_base), ("2 workers", two_base))
            ]
        print(
            f"{query:30} 2 workers / 1 worker {mean(two_one):.2f}x; 1 worker / baseline "
            f"{mean(one_base):.0%}; 2 workers / baseline {mean(two_base):.0%} (rounds: {rounds})"
        )
    lines.append(
        "\nRatios are of req/s at 16 connections, mean of the rounds (each round's in the "
        "last column)."
    )
    record_run("workers", started, lines, targets)


if __name__ == "__main__":
    main()
