"""What hostile requests cost the server now: refused before they cost anything.

    python -m bench.hostile [--requests 200]

One `chargegraph serve` process on an embedded database of its own (empty:
every request here is refused or trivial before any data matters). Each
question is sent `--requests` times, every time as a text the server has not
seen (its names carry the request's number), so no parse or validation cache
helps:

- baseline: `query Qn { __typename }`, the cheapest operation there is;
- a 20-level fragment chain (each fragment spreads the next twice; 2**20 fields
  once expanded: 7.1 s of CPU per request before the size check);
- a 30-level fragment chain;
- three pages of 100 nested in each other (about three million possible objects).

While the chain requests are sent, a second client asks `/healthz` in a loop:
its latency shows whether the hostile requests hold the event loop. Prints the
time per request (p50, p99), the ratio to the baseline, and records the run
(bench/record.py).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median, quantiles

import httpx

from bench.record import Start, begin, code_version, command_line, machine, record_run
from graph.embedded import EmbeddedDatabase, free_port


def fragment_chain(levels: int, number: int) -> str:
    name = f"F{number}x"
    fragments = " ".join(
        f"fragment {name}{level} on Connector {{ ...{name}{level + 1} ...{name}{level + 1} }}"
        for level in range(levels)
    )
    return (
        f'query Q{number} {{ connector(id: "000000000000000000000000") {{ ...{name}0 }} }} '
        f"{fragments} fragment {name}{levels} on Connector {{ id }}"
    )


def nested_pages(number: int) -> str:
    selection = "id"
    for _ in range(3):
        selection = (
            f"connectors(first: 100) {{ edges {{ node {{ organization {{ {selection} }} }} }} }}"
        )
    return f"query Q{number} {{ {selection.replace('organization { id }', 'id', 1)} }}"


QUESTIONS = {
    "baseline: { __typename }": lambda n: f"query Q{n} {{ __typename }}",
    "fragment chain, 20 levels": lambda n: fragment_chain(20, n),
    "fragment chain, 30 levels": lambda n: fragment_chain(30, n),
    "three nested pages of 100": nested_pages,
}


@dataclass
class Figures:
    bytes: int
    codes: list[str]
    times: list[float]
    health: list[float]

    @property
    def p50(self) -> float:
        return median(self.times)

    @property
    def p99(self) -> float:
        return quantiles(self.times, n=100)[98] if len(self.times) > 1 else self.times[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    started = begin()
    with tempfile.TemporaryDirectory() as data:
        database = EmbeddedDatabase(Path(data) / "mongo")
        uri = database.start()
        port = free_port()
        env = {
            **os.environ,
            "MONGODB_URI": uri,
            "CHARGEGRAPH_DB": "hostile",
            "CHARGEGRAPH_ADMIN_KEYS": secrets.token_urlsafe(24),
            "CHARGEGRAPH_SEARCHES_PER_MINUTE": "0",
            "CHARGEGRAPH_LOG_LEVEL": "warning",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "graph.cli", "serve", "--port", str(port)], env=env
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            results = measure(base, args.requests)
        finally:
            server.terminate()
            server.wait(30)
            database.stop()
    report(results, args.requests, started)


def ask_health(base: str, health: list[float], stop: threading.Event) -> None:
    """Time `/healthz` in a loop until told to stop."""
    with httpx.Client(base_url=base, timeout=600) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get("/healthz")
            health.append((time.perf_counter() - started) * 1000)


def measure(base: str, requests: int) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    with httpx.Client(base_url=base, timeout=600) as client:
        for name, text_of in QUESTIONS.items():
            times: list[float] = []
            health: list[float] = []
            codes: set[str] = set()
            stop = threading.Event()
            watcher = threading.Thread(target=ask_health, args=(base, health, stop))
            watcher.start()
            for number in range(requests):
                started = time.perf_counter()
                body = client.post("/graphql", json={"query": text_of(number)}).json()
                times.append((time.perf_counter() - started) * 1000)
                errors = body.get("errors") or [{}]
                codes.add(str(errors[0].get("extensions", {}).get("code", "answered")))
            stop.set()
            watcher.join()
            results[name] = Figures(len(text_of(0).encode()), sorted(codes), times, health)
    return results


def report(results: dict[str, Figures], requests: int, started: Start) -> None:
    baseline = next(iter(results.values())).p50
    lines = [
        f"Command: `{command_line()}`. Machine: {machine()}. Code: {code_version()}.",
        f"Load before: `{started.uptime}`. {requests} requests per question, each text new "
        "to the server (no cache helps); `/healthz` asked in a loop meanwhile.",
        "",
        "| question | bytes | answer | p50 ms | p99 ms | p50 ÷ baseline | /healthz p50 / max ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, figures in results.items():
        lines.append(
            f"| {name} | {figures.bytes} | {', '.join(figures.codes)} | {figures.p50:.2f} "
            f"| {figures.p99:.2f} | {figures.p50 / baseline:.2f} "
            f"| {median(figures.health):.2f} / {max(figures.health):.2f} |"
        )
    print("\n".join(lines))
    record_run("hostile", started, lines)


if __name__ == "__main__":
    main()
