"""Reconnect storm: every station of a network connects again at once.

    python -m bench.ocpp_storm [--stations 1000] [--within 2]

One `chargegraph serve` on the embedded database it starts itself (as
bench/ocpp.py), a network of `--stations` stations with two connectors each
made through GraphQL. Then, as after an outage, every station opens its
WebSocket within `--within` seconds (start times spread evenly) and sends
what a rebooting station sends: BootNotification, a StatusNotification for
each connector (new statuses: Charging and Faulted) and a Heartbeat, each
after the previous answer. Measured: how many connected, how many messages
were answered and how many with a CALLERROR or refused at the handshake, the
CALLRESULT latency, and the time from the first connection until every
station reads online and every connector's status is the one reported (polled
in the database). The same storm then runs against the minimal central
system of bench/ocpp.py (the `ocpp` package, no database) for the ratio.
Records the run (bench/record.py).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from statistics import median
from tempfile import mkdtemp
from typing import Any

from ocpp.v16 import ChargePoint, call
from pymongo import MongoClient
from websockets.asyncio.client import connect

from bench.ocpp import Baseline, ChargeGraph, Network, cpu_ticks
from bench.record import Start, Target, begin, code_version, command_line, machine, record_run

TARGET_SECONDS = 30.0


class Storm:
    def __init__(self) -> None:
        # Stations stay connected until the storm is over (being online is measured).
        self.over = asyncio.Event()
        # Set once every station has sent its burst (or failed to connect).
        self.bursts_over = asyncio.Event()
        self.expected = 0
        self.finished = 0
        self.answered_at = 0.0
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.refused = 0
        self.connected = 0

    async def station(self, url: str, endpoint: str, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            async with connect(url + endpoint, subprotocols=["ocpp1.6"], open_timeout=120) as ws:  # type: ignore[list-item]
                self.connected += 1
                cp = ChargePoint(endpoint, ws, response_timeout=120)
                reader = asyncio.create_task(cp.start())
                try:
                    for payload in (
                        call.BootNotification(charge_point_vendor="V", charge_point_model="M"),
                        call.StatusNotification(1, "NoError", "Charging"),
                        call.StatusNotification(2, "NoError", "Faulted"),
                        call.Heartbeat(),
                    ):
                        started = time.perf_counter()
                        try:
                            await cp.call(payload, suppress=False)
                        except Exception as error:
                            self.errors.append(f"{endpoint}: {error!r}")
                            continue
                        self.latencies.append((time.perf_counter() - started) * 1000)
                    self._finished()
                    await self.over.wait()
                finally:
                    reader.cancel()
        except Exception as error:  # a refused or broken connection is a figure here
            self.refused += 1
            self.errors.append(f"{endpoint}: {error!r}"[:200])
            self._finished()

    def _finished(self) -> None:
        self.finished += 1
        if self.finished >= self.expected:
            self.bursts_over.set()

    async def run(
        self,
        url: str,
        endpoints: list[str],
        within: float,
        current: Callable[[], Awaitable[float | None]],
    ) -> float | None:
        """The storm; returns once every station is current (None: not within the limit)."""
        spread = within / max(1, len(endpoints))
        self.expected = len(endpoints)
        started = time.monotonic()
        stations = [
            asyncio.ensure_future(self.station(url, e, i * spread)) for i, e in enumerate(endpoints)
        ]
        done = asyncio.ensure_future(current())
        await self.bursts_over.wait()
        self.answered_at = time.monotonic() - started
        seconds = await done
        self.over.set()
        await asyncio.gather(*stations)
        return seconds


def current_after(uri: str | None, stations: int, started: float, limit: float) -> float | None:
    """Seconds from the storm's start until every station is online and every status current
    (None: not within `limit`; without a database, not measured)."""
    if uri is None:
        return None
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        db = client.ocppbench
        while time.monotonic() - started < limit:
            online = db.chargestations.count_documents({"online": True})
            charging = db.connectors.count_documents({"ocppId": 1, "status": "Charging"})
            faulted = db.connectors.count_documents({"ocppId": 2, "status": "Faulted"})
            if online == charging == faulted == stations:
                return time.monotonic() - started
            time.sleep(0.2)
    finally:
        client.close()
    return None


def storm(
    url: str, endpoints: list[str], within: float, uri: str | None
) -> tuple[Storm, float | None]:
    """Run a storm; the result and the seconds until every station was current."""
    result = Storm()

    async def everything() -> float | None:
        started = time.monotonic()
        return await result.run(
            url,
            endpoints,
            within,
            lambda: asyncio.to_thread(current_after, uri, len(endpoints), started, 600),
        )

    return result, asyncio.run(everything())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--within", type=float, default=2.0)
    args = parser.parse_args()
    started = begin()
    code = code_version()
    logs = Path(mkdtemp(prefix="chargegraph-storm-"))
    server = ChargeGraph(logs)
    try:
        network = Network()
        network.organize(server, 10)
        network.grow(server, args.stations)
        endpoints = network.endpoints[: args.stations]
        ticks = {
            "server": cpu_ticks(server.process.pid),
            "database": cpu_ticks(server.database_pid),
        }
        result, current = storm(server.ocpp_url, endpoints, args.within, server.uri)
        cpu = {
            name: (cpu_ticks(pid) - ticks[name])
            for name, pid in (("server", server.process.pid), ("database", server.database_pid))
        }
    finally:
        server.close()
    baseline = Baseline(logs)
    try:
        reference, _ = storm(baseline.ocpp_url, endpoints, args.within, None)
    finally:
        baseline.close()
    report(args, started, code, result, current, cpu, reference)


def report(
    args: argparse.Namespace,
    started: Start,
    code: str,
    result: Storm,
    current: float | None,
    cpu: dict[str, int],
    reference: Storm,
) -> None:
    expected = 4 * args.stations
    met = (
        len(result.latencies) == expected
        and not result.errors
        and current is not None
        and current <= TARGET_SECONDS
    )

    numbers: dict[str, float | int | str] = {}

    def figures(storm: Storm, server: str) -> str:
        ordered = sorted(storm.latencies) or [0.0]
        p50, p99 = median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        numbers.update(
            {
                f"{server}/connected": storm.connected,
                f"{server}/answered": len(storm.latencies),
                f"{server}/errors": len(storm.errors),
                f"{server}/handshakes refused": storm.refused,
                f"{server}/CALLRESULT p50 (ms)": round(p50, 1),
                f"{server}/CALLRESULT p99 (ms)": round(p99, 1),
                f"{server}/all answered after (s)": round(storm.answered_at, 1),
            }
        )
        return (
            f"{storm.connected:,} connected, {len(storm.latencies):,} of {expected:,} messages "
            f"answered, {len(storm.errors)} errors ({storm.refused} handshakes refused); "
            f"CALLRESULT p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )

    ticks_per_second = 100
    online = f"{current:.1f} s" if current is not None else "never"
    ratio = result.answered_at / max(reference.answered_at, 1e-9)
    lines = [
        f"Command: `{command_line()}`. Machine: {machine()}. Code: {code}. Load before: "
        f"`{started.uptime}`. The embedded database `chargegraph serve` starts itself; "
        f"{args.stations:,} stations (2 connectors each) connect within {args.within:g} s, each "
        "sending BootNotification, two StatusNotifications and a Heartbeat.",
        "",
        f"- ChargeGraph: {figures(result, 'chargegraph')}; all answered after {result.answered_at:.1f} s; every "
        "station online and every status current "
        + (f"{current:.1f} s after the first connection" if current is not None else "NEVER")
        + f" (target ≤ {TARGET_SECONDS:g} s, 0 errors: {'met' if met else 'MISSED'}); CPU "
        f"server {cpu['server'] / ticks_per_second:.1f} s, database "
        f"{cpu['database'] / ticks_per_second:.1f} s.",
        f"- Minimal `ocpp` central system, no database: {figures(reference, 'minimal')}; all "
        f"answered after {reference.answered_at:.1f} s (ChargeGraph ÷ minimal: {ratio:.1f}x).",
    ]
    if result.errors:
        lines.append(f"- First errors: {'; '.join(result.errors[:3])}")
    print("\n".join(lines), flush=True)
    if current is not None:
        numbers["chargegraph/online after (s)"] = round(current, 1)
    numbers["chargegraph ÷ minimal, all answered after"] = round(ratio, 1)
    numbers["chargegraph/CPU server (s)"] = cpu["server"] / ticks_per_second
    numbers["chargegraph/CPU database (s)"] = cpu["database"] / ticks_per_second
    target = Target(
        f"{args.stations:,} stations reconnecting within {args.within:g} s: every station online "
        "and every status current",
        f"≤ {TARGET_SECONDS:g} s, 0 errors",
        f"{online}, {len(result.errors)} errors",
        met,
        current,
        TARGET_SECONDS,
    )
    record_run("ocpp_storm", started, lines, [target], numbers)


if __name__ == "__main__":
    main()
