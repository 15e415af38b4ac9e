"""Automatic persisted queries: bytes sent per request, and throughput.

    python -m bench.apq [--connectors 100000] [--duration 8] [--rounds 2]

On the network `python -m bench.run` seeds under bench/data, one
`chargegraph serve` process is asked the nearby question of bench/run.py
(city points, 5 km, first 20, latitude and longitude as variables) three ways:

- POST with the query text: `{"query": …, "variables": …}`;
- POST with only the hash: `{"variables": …, "extensions": {"persistedQuery":
  {"version": 1, "sha256Hash": …}}}`, after one registration (a POST with both);
- GET with the hash: `/graphql?extensions=…&variables=…` (JSON without spaces,
  escaped as JavaScript's encodeURIComponent does), `Accept: application/json`.

Bytes sent are those of the requests wrk itself sends (request line, headers,
body): wrk is pointed at a local socket that records them, for one full cycle
of the points; each recorded request is then sent as is, over a raw socket, to
ChargeGraph, which must answer it with the same data for all three. Then wrk
drives each (1 connection, then 16), rounds alternating the order. Records
the run (bench/record.py).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any
from urllib.parse import quote

from bench.record import Start, begin, code_version, command_line, machine, record_run, uptime
from bench.run import DATA_DIR, NEARBY_QUERY, Result, ensure_seeded, points, wrk
from bench.workers import Server, cpu_seconds, rounds_arguments
from graph.embedded import EmbeddedDatabase

DIGEST = hashlib.sha256(NEARBY_QUERY.encode()).hexdigest()
PERSISTED = {"persistedQuery": {"version": 1, "sha256Hash": DIGEST}}
VARIANTS = ("POST, query text", "POST, hash only", "GET, hash")


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def component(text: str) -> str:
    """As JavaScript's encodeURIComponent (what Apollo's clients use for GET)."""
    return quote(text, safe="!~*'()")


@dataclass
class Variant:
    method: str
    headers: dict[str, str]
    requests: list[tuple[str, str | None]]  # (path, body)

    def lua(self) -> str:
        headers = "".join(
            f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in self.headers.items()
        )
        paths = ",".join(json.dumps(path) for path, _ in self.requests)
        if self.method == "GET":
            call = "wrk.format(nil, paths[k], nil, nil)"
            bodies = ""
        else:
            bodies = "local bodies = {" + ",".join(json.dumps(b) for _, b in self.requests) + "}\n"
            call = "wrk.format(nil, paths[k], nil, bodies[k])"
        return (
            f'wrk.method = "{self.method}"\n{headers}local paths = {{{paths}}}\n{bodies}'
            "local i = 0\nrequest = function()\n  i = i + 1\n  local k = (i % #paths) + 1\n"
            f"  return {call}\nend\n"
        )


def variants(city: list[tuple[float, float]]) -> dict[str, Variant]:
    variables = [{"lat": la, "lng": ln} for la, ln in city]
    json_type = {"Content-Type": "application/json"}
    return {
        "POST, query text": Variant(
            "POST",
            json_type,
            [("/graphql", compact({"query": NEARBY_QUERY, "variables": v})) for v in variables],
        ),
        "POST, hash only": Variant(
            "POST",
            json_type,
            [("/graphql", compact({"variables": v, "extensions": PERSISTED})) for v in variables],
        ),
        "GET, hash": Variant(
            "GET",
            {"Accept": "application/json"},
            [
                (
                    f"/graphql?extensions={component(compact(PERSISTED))}"
                    f"&variables={component(compact(v))}",
                    None,
                )
                for v in variables
            ],
        ),
    }


def read_request(connection: socket.socket, pending: bytearray) -> bytes | None:
    """One HTTP/1.1 request as received (head and body), or None when the peer closed."""
    while b"\r\n\r\n" not in pending:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        pending += chunk
    head_end = pending.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(pending[:head_end]).split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(pending) < head_end + length:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        pending += chunk
    request = bytes(pending[: head_end + length])
    del pending[: head_end + length]
    return request


def wrk_requests(variant: Variant, count: int) -> list[bytes]:
    """The first `count` requests wrk sends for `variant`, byte for byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    captured: list[bytes] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                with connection:
                    pending = bytearray()
                    while (request := read_request(connection, pending)) is not None:
                        captured.append(request)
                        connection.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            b"Content-Length: 2\r\n\r\n{}"
                        )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(variant.lua())
        script.flush()
        subprocess.run(
            ["wrk", "-t1", "-c1", "-d1s", "-s", script.name, f"http://127.0.0.1:{port}"],
            check=True,
            capture_output=True,
        )
    listener.close()
    thread.join(5)
    assert len(captured) >= count, f"wrk sent {len(captured)} requests, not {count}"
    return captured[:count]


def send_raw(port: int, request: bytes) -> tuple[int, bytes, int]:
    """Send a recorded request as is; returns (status, body, bytes received)."""
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(request)
        received = bytearray()
        while b"\r\n\r\n" not in received:
            received += connection.recv(65536)
        head_end = received.index(b"\r\n\r\n") + 4
        head = bytes(received[:head_end]).decode()
        length = int(
            next(
                line.split(":", 1)[1]
                for line in head.split("\r\n")
                if line.lower().startswith("content-length:")
            )
        )
        while len(received) < head_end + length:
            received += connection.recv(65536)
        status = int(head.split(" ", 2)[1])
        return status, bytes(received[head_end : head_end + length]), head_end + length


@dataclass
class Measured:
    light: Result
    loaded: Result
    server_cpu: float  # % of one core during the 16-connection run


def main() -> None:
    args = rounds_arguments(__doc__)

    began = begin()
    print(began.uptime, flush=True)
    ensure_seeded(args.connectors)
    city, _ = points(random.Random(11))
    chosen = variants(city)
    recorded = {name: wrk_requests(variant, len(city)) for name, variant in chosen.items()}
    sizes = {name: [len(r) for r in requests] for name, requests in recorded.items()}
    for name, requests in recorded.items():
        print(f"{name:18} {mean(sizes[name]):7.1f} bytes a request; first:\n{requests[0]!r}")

    embedded = EmbeddedDatabase(DATA_DIR)
    uri = embedded.start()
    logs = Path(tempfile.mkdtemp(prefix="chargegraph-apq-"))
    server = Server("workers 1", uri, logs)
    answers: dict[str, list[bytes]] = {}
    response_sizes: dict[str, list[int]] = {}
    results: list[dict[str, Measured]] = []
    try:
        # Unknown hash first: the answer a client gets before registering.
        status, body, _ = send_raw(server.port, recorded["POST, hash only"][0])
        unknown = json.loads(body)
        assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND", unknown
        registration = compact(
            {"query": NEARBY_QUERY, "variables": {"lat": city[0][0], "lng": city[0][1]}}
            | {"extensions": PERSISTED}
        )
        registered = send_raw(
            server.port,
            (
                f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(registration)}\r\n\r\n"
                f"{registration}"
            ).encode(),
        )
        assert registered[0] == 200 and b'"errors"' not in registered[1], registered
        print(f"unknown hash: HTTP {status}, {unknown['errors'][0]['extensions']['code']}")
        for name, requests in recorded.items():
            answers[name], response_sizes[name] = [], []
            for request in requests:
                status, body, size = send_raw(server.port, request)
                assert status == 200 and b'"errors"' not in body, (name, status, body[:300])
                answers[name].append(body)
                response_sizes[name].append(size)
        first = answers[VARIANTS[0]]
        for name in VARIANTS[1:]:
            assert [json.loads(a) for a in answers[name]] == [json.loads(a) for a in first], name
        print("the three ways give the same answers")

        url = f"http://127.0.0.1:{server.port}"
        pid = server.process.pid
        for round_index in range(args.rounds):
            order = VARIANTS if round_index % 2 == 0 else tuple(reversed(VARIANTS))
            results.append({})
            for name in order:
                script = chosen[name].lua()
                with contextlib.suppress(RuntimeError):
                    wrk(url, script, 1, 2)  # warm up
                light = wrk(url, script, 1, args.duration)
                before, started = cpu_seconds(pid), time.monotonic()
                loaded = wrk(url, script, 16, args.duration)
                cpu = 100 * (cpu_seconds(pid) - before) / (time.monotonic() - started)
                results[-1][name] = Measured(light, loaded, cpu)
                print(
                    f"round {round_index + 1} {name:18} light p50 {light.p50_ms:6.2f} ms "
                    f"p99 {light.p99_ms:6.2f} ms; 16 conns {loaded.rps:7.1f} req/s "
                    f"p50 {loaded.p50_ms:7.2f} ms p99 {loaded.p99_ms:7.2f} ms; server CPU {cpu:.0f} %",
                    flush=True,
                )
                time.sleep(5)  # let the database finish what wrk left queued
    finally:
        server.stop()
        embedded.stop()
    load_after = uptime()
    print(load_after)
    report(args, began, load_after, recorded, sizes, response_sizes, results)


def report(
    args: argparse.Namespace,
    started: Start,
    load_after: str,
    recorded: dict[str, list[bytes]],
    sizes: dict[str, list[int]],
    response_sizes: dict[str, list[int]],
    results: list[dict[str, Measured]],
) -> None:
    text = mean(sizes["POST, query text"])
    lines = [
        f"Machine: {machine()}. `{command_line()}`. Embedded database on bench/data (seeded by "
        "bench/run.py); one `chargegraph serve` process (search and write limits off, database "
        "timeout 60 s). The nearby question of bench/run.py (city points, 5 km, first 20; "
        "`$lat`/`$lng` as variables), compact JSON. Bytes sent: the requests wrk sends, "
        "recorded at a local socket (request line + headers + body; wrk adds `Host: "
        "127.0.0.1:<port>` and, with a body, `Content-Length`), mean over one cycle of the "
        f"{len(sizes['POST, query text'])} points; each recorded request was then sent as is to "
        "ChargeGraph, and all three ways gave the same data. Bytes received: the whole HTTP "
        "response.\n",
        f"Code: {code_version()}. Load before: `{started.uptime}`; after: `{load_after}`.\n",
        "| request | bytes sent (mean, min to max) | ÷ POST with text | bytes received (mean) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in VARIANTS:
        lines.append(
            f"| {name} | {mean(sizes[name]):.0f} ({min(sizes[name])} to {max(sizes[name])}) | "
            f"{mean(sizes[name]) / text:.0%} | {mean(response_sizes[name]):.0f} |"
        )
    lines.append("\nFirst request of each, as sent:\n")
    for name in VARIANTS:
        lines.append(f"- {name}: `{recorded[name][0].decode()!r}`")
    lines += [
        "",
        f"wrk, {args.duration} s a run, 1 connection (light), then 16; {args.rounds} round(s), "
        "order reversed every other round; server CPU in % of one core during the 16-connection "
        "run.\n",
        "| round | request | p50 light (ms) | p99 light (ms) | req/s at 16 conns | p50 at 16 (ms) | "
        "p99 at 16 (ms) | server CPU % | ÷ POST with text |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ratios: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for index, measured in enumerate(results, 1):
        base = measured["POST, query text"].loaded.rps
        for name in VARIANTS:
            m = measured[name]
            ratios[name].append(m.loaded.rps / base)
            lines.append(
                f"| {index} | {name} | {m.light.p50_ms:.2f} | {m.light.p99_ms:.2f} | "
                f"{m.loaded.rps:,.1f} | {m.loaded.p50_ms:.2f} | {m.loaded.p99_ms:.2f} | "
                f"{m.server_cpu:.0f} | {m.loaded.rps / base:.0%} |"
            )
    summary = "; ".join(
        f"{name} {mean(ratios[name]):.0%} of POST with text" for name in VARIANTS[1:]
    )
    lines.append(f"\nThroughput at 16 connections, mean of the rounds: {summary}.")
    print(summary)
    record_run("apq", started, lines)


if __name__ == "__main__":
    main()
