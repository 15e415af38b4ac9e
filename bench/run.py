"""Read-path benchmark: nearby search, connector by id, a page of 100 with organizations.

    python -m bench.run [--connectors 100000] [--duration 8]

Seeds the embedded database under bench/data once (reused by later runs),
starts ChargeGraph, the raw pymongo baseline and the naive Beanie `Near`
peer on that database, checks that ChargeGraph and the baseline give the same
answers, drives each with wrk (one connection for latency under light load,
16 for throughput), prints the figures and the ratios, and records the run (bench/record.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from bench.record import Start, Target, begin, bound, machine, record_run
from graph.embedded import EmbeddedDatabase, free_port
from graph.seed import CITIES, scatter

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / "data"

NEARBY_QUERY = (
    "query($lat: Float!, $lng: Float!) { nearbyConnectors(latitude: $lat, longitude: $lng, "
    "radiusMeters: 5000, first: 20) { edges { distanceMeters node { id endpoint status type power } } } }"
)
# The same with the total within the radius, which reads every match in it.
NEARBY_TOTAL_QUERY = NEARBY_QUERY.replace("{ edges", "{ totalCount edges")
BY_ID_QUERY = "query($id: ID!) { connector(id: $id) { id endpoint status type power updatedAt } }"
PAGE_QUERY = (
    "{ connectors(first: 100) { edges { node { endpoint status organization { name } } } } }"
)


@dataclass
class Result:
    p50_ms: float
    p99_ms: float
    rps: float


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=True, text=True, **kwargs)


def ensure_seeded(connectors: int) -> None:
    embedded = EmbeddedDatabase(DATA_DIR)
    client: MongoClient[dict[str, Any]] = MongoClient(embedded.start())
    present = client.chargegraph.connectors.estimated_document_count()
    client.close()
    embedded.stop()
    if present >= connectors:
        print(f"reusing {present:,} connectors in {DATA_DIR}")
        return
    run(
        [
            sys.executable,
            "-m",
            "graph.cli",
            "seed",
            "--connectors",
            str(connectors - present),
            "--organizations",
            "20" if present == 0 else "0",
            "--data-dir",
            str(DATA_DIR),
        ]
    )


def start(
    command: list[str],
    env: dict[str, str],
    ready_url: str,
    log: Path,
    method: str = "GET",
    wait_seconds: float = 120,
) -> subprocess.Popen[bytes]:
    """Start a server process and wait up to `wait_seconds` until `ready_url` answers."""
    with log.open("ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            httpx.request(method, ready_url, timeout=5)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command} did not start; see {log}")


def lua_script(paths: str | list[str], bodies: list[str], method: str = "POST") -> str:
    """A wrk script that cycles through request paths and bodies."""
    quoted = ",".join(json.dumps(body) for body in bodies)
    listed = ",".join(json.dumps(p) for p in ([paths] if isinstance(paths, str) else paths))
    return (
        f'wrk.method = "{method}"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"local bodies = {{{quoted}}}\nlocal paths = {{{listed}}}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        "  return wrk.format(nil, paths[(i % #paths) + 1], nil, bodies[(i % #bodies) + 1])\nend\n"
    )


def wrk(url: str, script: str, connections: int, duration: int) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    output = run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "20s",
            "--latency",
            "-s",
            handle.name,
            url,
        ],
        capture_output=True,
    ).stdout
    os.unlink(handle.name)
    if "Non-2xx" in output:
        raise RuntimeError(f"errors under load:\n{output}")

    if "requests in" not in output or re.search(r"\b0 requests in", output):
        raise RuntimeError(f"no request completed:\n{output}")

    def ms(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", output)
        assert match, output
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert rps, output
    return Result(ms("50%"), ms("99%"), float(rps.group(1)))


def sequential(url: str, bodies: list[str], method: str = "POST") -> Result:
    """Latency of requests sent one after another (for questions too slow for wrk)."""
    timings = []
    for body in bodies:
        started = time.monotonic()
        response = httpx.request(
            method,
            url,
            content=body or None,
            headers={"content-type": "application/json"},
            timeout=120,
        )
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        timings.append((time.monotonic() - started) * 1000)
    timings.sort()
    return Result(timings[len(timings) // 2], timings[-1], 1000 * len(timings) / sum(timings))


def points(rng: random.Random) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    city = [(lat, lng) for _, _, lat, lng in CITIES]
    rural = []
    for _, _, lat, lng in CITIES:
        rural.append(scatter(rng, lat, lng, 120.0, dense=False))
    return city, rural


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connectors", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    args = parser.parse_args()
    started = begin()

    ensure_seeded(args.connectors)
    embedded = EmbeddedDatabase(DATA_DIR)
    uri = embedded.start()
    # One load generator is one client address: rate limits off, so speed is what is measured.
    env = {
        **os.environ,
        "MONGODB_URI": uri,
        "CHARGEGRAPH_DB": "chargegraph",
        "CHARGEGRAPH_SEARCHES_PER_MINUTE": "0",
        "CHARGEGRAPH_WRITES_PER_MINUTE": "0",
    }
    ports = {name: free_port() for name in ("chargegraph", "baseline", "naive")}
    uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--host", "127.0.0.1"]
    logs = Path(tempfile.mkdtemp(prefix="chargegraph-bench-"))
    commands = {
        "chargegraph": (
            [
                sys.executable,
                "-m",
                "graph.cli",
                "serve",
                "--port",
                str(ports["chargegraph"]),
            ],
            "/healthz",
            "GET",
        ),
        "baseline": (
            [*uvicorn, "--port", str(ports["baseline"]), "bench.baseline:app"],
            # A lookup by id: a page would scan the whole collection on each poll.
            "/connector/000000000000000000000000",
            "GET",
        ),
        "naive": ([*uvicorn, "--port", str(ports["naive"]), "bench.naive:app"], "/graphql", "POST"),
    }
    processes = []
    try:
        for name, (command, path, method) in commands.items():
            url = f"http://127.0.0.1:{ports[name]}{path}"
            processes.append(start(command, env, url, logs / f"{name}.log", method))
        results = measure(ports, uri, args.duration)
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)
        embedded.stop()
    report(results, args.connectors, started)


def measure(
    ports: dict[str, int], uri: str, duration: int
) -> dict[str, dict[str, dict[str, Result]]]:
    graphql = f"http://127.0.0.1:{ports['chargegraph']}"
    baseline = f"http://127.0.0.1:{ports['baseline']}"
    naive = f"http://127.0.0.1:{ports['naive']}"
    city, rural = points(random.Random(11))
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    ids = [
        str(row["_id"])
        for row in client.chargegraph.connectors.aggregate([{"$sample": {"size": 200}}])
    ]
    client.close()

    def gql(at: list[tuple[float, float]], query: str = NEARBY_QUERY) -> list[str]:
        return [json.dumps({"query": query, "variables": {"lat": la, "lng": ln}}) for la, ln in at]

    def raw(at: list[tuple[float, float]], total: bool = False) -> list[str]:
        return [
            json.dumps(
                {"latitude": la, "longitude": ln, "radiusMeters": 5000, "first": 20, "total": total}
            )
            for la, ln in at
        ]

    # Same question, same answer: the ratio compares equal work.
    pairs = zip(
        gql(city[:3]) + gql(rural[:3]) + gql(city[:3], NEARBY_TOTAL_QUERY),
        raw(city[:3]) + raw(rural[:3]) + raw(city[:3], total=True),
        strict=True,
    )
    for body, raw_body in pairs:
        ours = httpx.post(
            f"{graphql}/graphql", content=body, headers={"content-type": "application/json"}
        ).json()
        theirs = httpx.post(f"{baseline}/nearby", content=raw_body).json()
        assert ours == theirs, (ours, theirs)
    # Unfiltered pages take seconds on the embedded server.
    ours = httpx.post(f"{graphql}/graphql", json={"query": PAGE_QUERY}, timeout=120).json()
    assert ours == httpx.get(f"{baseline}/page", timeout=120).json()
    print("ChargeGraph and the baseline give identical answers")

    def naive_bodies(at: list[tuple[float, float]]) -> list[str]:
        return [
            json.dumps({"query": NEARBY_QUERY, "variables": {"lat": la, "lng": ln}})
            for la, ln in at
        ]

    scenarios: dict[str, dict[str, tuple[str, str]]] = {
        "nearby, city (5 km, first 20)": {
            "chargegraph": (f"{graphql}/graphql", lua_script("/graphql", gql(city))),
            "baseline": (f"{baseline}/nearby", lua_script("/nearby", raw(city))),
        },
        "nearby, rural (5 km, first 20)": {
            "chargegraph": (f"{graphql}/graphql", lua_script("/graphql", gql(rural))),
            "baseline": (f"{baseline}/nearby", lua_script("/nearby", raw(rural))),
        },
        "nearby with totalCount, city": {
            "chargegraph": (
                f"{graphql}/graphql",
                lua_script("/graphql", gql(city, NEARBY_TOTAL_QUERY)),
            ),
            "baseline": (f"{baseline}/nearby", lua_script("/nearby", raw(city, total=True))),
        },
        "connector by id": {
            "chargegraph": (
                f"{graphql}/graphql",
                lua_script(
                    "/graphql",
                    [json.dumps({"query": BY_ID_QUERY, "variables": {"id": i}}) for i in ids],
                ),
            ),
            "baseline": (
                f"{baseline}/connector/{ids[0]}",
                lua_script([f"/connector/{i}" for i in ids], [""], method="GET"),
            ),
        },
        "page of 100 with organizations": {
            "chargegraph": (
                f"{graphql}/graphql",
                lua_script("/graphql", [json.dumps({"query": PAGE_QUERY})]),
            ),
            "baseline": (f"{baseline}/page", lua_script("/page", [""], method="GET")),
        },
        # Last: its $near queries keep the shared database busy for seconds.
        "nearby, city, naive Beanie Near peer": {
            "naive": (f"{naive}/graphql", lua_script("/graphql", naive_bodies(city))),
        },
    }
    results: dict[str, dict[str, dict[str, Result]]] = {}
    for scenario, targets in scenarios.items():
        results[scenario] = {}
        for target, (url, script) in targets.items():
            if target == "naive":
                # Seconds per query: wrk's runs would mostly time out; time a few in turn.
                light = loaded = sequential(url, naive_bodies(city)[:5])
            elif scenario.startswith("page"):
                # The embedded server reads a whole unfiltered collection before
                # applying the limit (seconds at 100,000): time a few in turn.
                page_body = json.dumps({"query": PAGE_QUERY}) if target == "chargegraph" else ""
                light = loaded = sequential(url, [page_body] * 5, "POST" if page_body else "GET")
            else:
                with contextlib.suppress(RuntimeError):
                    wrk(url, script, 1, 2)  # warm up
                light = wrk(url, script, 1, duration)
                # Slow queries would pile up past the run and burden the next one.
                loaded = wrk(url, script, 4 if "totalCount" in scenario else 16, duration)
                time.sleep(5)  # let the database finish what wrk left queued
            results[scenario][target] = {"light": light, "loaded": loaded}
            print(
                f"{scenario:34} {target:12} p50 {light.p50_ms:7.2f} ms  p99 {light.p99_ms:7.2f} ms  "
                f"loaded p50 {loaded.p50_ms:7.2f} ms  p99 {loaded.p99_ms:7.2f} ms  "
                f"{loaded.rps:8.1f} req/s",
                flush=True,
            )
    return results


def report(
    results: dict[str, dict[str, dict[str, Result]]], connectors: int, started: Start
) -> None:
    lines = [
        f"Machine: {machine()}. Embedded database, {connectors:,} connectors; one uvicorn worker each; "
        "wrk with 1 connection (light load) and 16 connections (throughput), all on this machine.\n",
        "| query | server | p50 light (ms) | p99 light (ms) | p50 at 16 conns (ms) | p99 at 16 conns (ms) | req/s at 16 conns | ÷ baseline |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    print()
    city_baseline = results["nearby, city (5 km, first 20)"]["baseline"]["loaded"].rps
    for scenario, targets in results.items():
        base = targets["baseline"]["loaded"].rps if "baseline" in targets else city_baseline
        for target, measured in targets.items():
            light, loaded = measured["light"], measured["loaded"]
            ratio = f"{loaded.rps / base:.0%}"
            if target == "naive" or scenario.startswith("page"):
                lines.append(
                    f"| {scenario} | {target} (5 requests in turn) | {light.p50_ms:.0f} | "
                    f"{light.p99_ms:.0f} (max) | — | — | {light.rps:.1f} (one at a time) | {ratio} |"
                )
            else:
                lines.append(
                    f"| {scenario} | {target} | {light.p50_ms:.2f} | {light.p99_ms:.2f} | "
                    f"{loaded.p50_ms:.2f} | {loaded.p99_ms:.2f} | {loaded.rps:,.0f} | {ratio} |"
                )
            print(f"{scenario:34} {target:12} throughput {ratio:>5} of baseline")
    record_run("run", started, lines, measured_targets(results))


def measured_targets(results: dict[str, dict[str, dict[str, Result]]]) -> list[Target]:
    """Nearby p50 ≤ 15 ms under light load; throughput against the baseline's."""

    def ours(scenario: str) -> Result:
        return results[scenario]["chargegraph"]["light"]

    def share(scenario: str) -> float:
        measured = results[scenario]
        return 100 * measured["chargegraph"]["loaded"].rps / measured["baseline"]["loaded"].rps

    city, rural = "nearby, city (5 km, first 20)", "nearby, rural (5 km, first 20)"
    shares = {
        "nearby city": (city, 80),
        "nearby rural": (rural, 80),
        "connector by id": ("connector by id", 50),
        "page of 100 with organizations": ("page of 100 with organizations", 50),
    }
    return [
        bound("nearby city p50 under light load", ours(city).p50_ms, 15, "ms"),
        bound("nearby rural p50 under light load", ours(rural).p50_ms, 15, "ms"),
    ] + [
        bound(
            f"{name} throughput ÷ the raw baseline's",
            share(scenario),
            limit,
            "%",
            at_least=True,
            digits=0,
        )
        for name, (scenario, limit) in shares.items()
    ]


if __name__ == "__main__":
    main()
