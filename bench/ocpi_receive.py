"""OCPI as eMSP: partners' EVSE status PATCHes, applied and streamed to subscribers.

    python -m bench.ocpi_receive [--locations 500] [--rate 166.7] [--seconds 60] [--senders 2]

One `chargegraph serve` on the embedded database it starts itself; a partner
(bench.ocpi's, written from the specification) registered through the
credentials handshake, which PUTs `--locations` Locations of two EVSEs each to
ChargeGraph's Locations receiver. A `connectorStatusChanged` subscriber
follows the partner's organization. Then the partner PATCHes EVSE statuses
(`{status, last_updated}`, each a change) at `--rate` a second for `--seconds`
(166.7 a second is 10,000 a minute), from `--senders` processes of their own
(each EVSE's changes from one), up to 64 in flight in all; each is timed from
the moment it was due to be sent to its answer (applied) and to the
subscriber's event for it (seen).

Baseline, in the same run: the same status changes written straight into
MongoDB with pymongo (one `update_many` of the EVSE's connectors, as the
receiver does), from the same sender processes at the same rate, timed from
the write to the same subscriber's event.

Target (issue 21): 10,000 received PATCHes a minute, each applied and seen by
subscribers, p99 ≤ 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from websockets.asyncio.client import ClientConnection, connect

from bench.ocpi import Partner, register
from bench.ocpp import ADMIN_KEY, ChargeGraph, percentile
from bench.record import Start, Target, begin, bound, record_run
from graph.ocpi.locations import ocpi_time
from graph.ocpi.protocol import authorization

RECEIVER = "/ocpi/emsp/2.2.1/locations/DE/BEN"
IN_FLIGHT = 64
DATABASE = "ocppbench"
# How long each sender process holds its warm-up job.
WARM_UP_SECONDS = 3.0
# Each change flips an EVSE between these two, so every one is a change.
FLIP = {"AVAILABLE": "CHARGING", "CHARGING": "AVAILABLE"}
# The ConnectorStatus a subscriber sees for each EVSE status sent.
SEEN_AS = {"CHARGING": "CHARGING", "AVAILABLE": "AVAILABLE"}
SUBSCRIPTION = """
subscription($org: ID!) {
  connectorStatusChanged(organizationId: $org) { status connector { id } }
}
"""


def location(number: int) -> dict[str, Any]:
    """A Location of the partner's party (DE/BEN) with two EVSEs, around Berlin."""
    latitude = 52.3 + (number % 50) * 0.01
    longitude = 13.2 + (number // 50) * 0.01
    stamp = "2026-06-01T00:00:00Z"
    return {
        "country_code": "DE",
        "party_id": "BEN",
        "id": f"BENCH-{number:05d}",
        "publish": True,
        "address": "Bench Street 1",
        "city": "Berlin",
        "country": "DEU",
        "coordinates": {"latitude": f"{latitude:.6f}", "longitude": f"{longitude:.6f}"},
        "evses": [
            {
                "uid": f"BENCH-{number:05d}-{side}",
                "status": "AVAILABLE",
                "connectors": [
                    {
                        "id": "1",
                        "standard": "IEC_62196_T2_COMBO",
                        "format": "CABLE",
                        "power_type": "DC",
                        "max_voltage": 920,
                        "max_amperage": 400,
                        "max_electric_power": 150000,
                        "last_updated": stamp,
                    }
                ],
                "last_updated": stamp,
            }
            for side in (1, 2)
        ],
        "time_zone": "Europe/Berlin",
        "last_updated": stamp,
    }


class Subscriber:
    """One graphql-transport-ws subscription; when each (connector, status) event arrived."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], list[float]] = {}
        self.events = 0

    async def follow(self, port: int, organization: str, ready: asyncio.Event) -> None:
        url = f"ws://127.0.0.1:{port}/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as connection:  # type: ignore[list-item]
            await connection.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {ADMIN_KEY}"}}
                )
            )
            assert json.loads(await connection.recv())["type"] == "connection_ack"
            payload = {"query": SUBSCRIPTION, "variables": {"org": organization}}
            await connection.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            ready.set()
            await self._read(connection)

    async def _read(self, connection: ClientConnection) -> None:
        async for raw in connection:
            arrived = time.perf_counter()
            message = json.loads(raw)
            if message["type"] == "ping":
                await connection.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] != "next":
                continue
            event = message["payload"]["data"]["connectorStatusChanged"]
            self.events += 1
            key = (event["connector"]["id"], event["status"])
            self.seen.setdefault(key, []).append(arrived)


async def paced(
    rate: float,
    seconds: float,
    send: Callable[[int, float], Awaitable[None]],
    *,
    start: float | None = None,
    mine: Callable[[int], bool] = lambda number: True,
    in_flight: int = IN_FLIGHT,
) -> None:
    """Call `send(n, due)` for n = 0, 1, … (those `mine` picks) at `rate` a second for
    `seconds` from `start`, at most `in_flight` at once (a send that cannot start on time
    starts late, and its time counts from when it was due)."""
    gate = asyncio.Semaphore(in_flight)
    tasks = []
    start = time.perf_counter() if start is None else start
    total = int(rate * seconds)

    async def one(number: int, due: float) -> None:
        async with gate:
            await send(number, due)

    for number in range(total):
        if not mine(number):
            continue
        due = start + number / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(number, due)))
    await asyncio.gather(*tasks)


Row = tuple[str, str, float, float, bool]  # (evse, status, due, done, ok)


@dataclass(frozen=True)
class Share:
    """One sender process's part of the changes: the EVSEs `n % len(evses) % senders ==
    part` (so each EVSE's changes leave one process, in order). PATCHes to ChargeGraph, or
    for the baseline (`uri` set) the same changes written straight into MongoDB."""

    base: str
    headers: dict[str, str]
    evses: list[str]
    part: int
    senders: int
    rate: float
    seconds: float
    start: float
    # Each EVSE's status before the first change.
    current: dict[str, str]
    # The baseline's database and each EVSE's station; None: PATCH ChargeGraph.
    uri: str | None = None
    stations: dict[str, Any] | None = None


def send_share(share: Share) -> list[Row]:
    """A sender process: make its share of the changes at their times."""
    return asyncio.run(_send_share(share))


async def _send_share(share: Share) -> list[Row]:
    evses = share.evses
    current = dict(share.current)
    rows: list[Row] = []
    in_flight = max(1, IN_FLIGHT // share.senders)

    async def pace(change: Callable[[int, float], Awaitable[None]]) -> None:
        await paced(
            share.rate,
            share.seconds,
            change,
            start=share.start,
            mine=lambda number: number % len(evses) % share.senders == share.part,
            in_flight=in_flight,
        )

    if share.uri is not None:
        assert share.stations is not None
        stations = share.stations
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(share.uri, tz_aware=True)
        connectors = mongo[DATABASE].connectors
        moment = datetime(2026, 7, 2, tzinfo=UTC)

        async def write(number: int, due: float) -> None:
            evse = evses[number % len(evses)]
            status = current[evse] = FLIP[current[evse]]
            await connectors.update_many(
                {"chargestation": stations[evse], "receivedFrom.evse": evse},
                {
                    "$set": {
                        "status": status.title(),
                        "receivedFrom.status": status,
                        "receivedFrom.lastUpdated": moment + timedelta(milliseconds=number),
                        "updatedAt": datetime.now(UTC),
                    }
                },
            )
            rows.append((evse, status, due, time.perf_counter(), True))

        await pace(write)
        await mongo.close()
        return rows

    moment = datetime(2026, 7, 1, tzinfo=UTC)
    # Idle connections are dropped before the server's keep-alive (5 s) closes them: a
    # request sent on one the server is closing fails with ReadError.
    limits = httpx.Limits(
        max_connections=in_flight, max_keepalive_connections=in_flight, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(headers=share.headers, timeout=60, limits=limits) as client:

        async def patch(number: int, due: float) -> None:
            evse = evses[number % len(evses)]
            status = current[evse] = FLIP[current[evse]]
            stamp = ocpi_time(moment + timedelta(milliseconds=number))
            station_location = evse.rsplit("-", 1)[0]
            answer = await client.patch(
                f"{share.base}/{station_location}/{evse}",
                json={"status": status, "last_updated": stamp},
            )
            ok = answer.status_code == 200 and answer.json().get("status_code") == 1000
            rows.append((evse, status, due, time.perf_counter(), ok))

        await pace(patch)
    return rows


async def run(args: argparse.Namespace, chargegraph: ChargeGraph) -> dict[str, Any]:
    partner = Partner()
    partner.serve()
    token = register(chargegraph, partner)
    headers = {"Authorization": authorization(token)}
    base = f"http://127.0.0.1:{chargegraph.port}{RECEIVER}"
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        put_started = time.perf_counter()
        for number in range(args.locations):
            answer = await client.put(f"{base}/BENCH-{number:05d}", json=location(number))
            assert answer.json()["status_code"] == 1000, answer.text
        put_seconds = time.perf_counter() - put_started
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(chargegraph.uri, tz_aware=True)
        db = mongo[DATABASE]
        organization = await db.organizations.find_one({"receivedFrom.partyId": "BEN"})
        assert organization is not None
        connector_of: dict[str, tuple[str, Any]] = {}
        async for connector in db.connectors.find({"organization": organization["_id"]}):
            connector_of[connector["receivedFrom"]["evse"]] = (
                str(connector["_id"]),
                connector["chargestation"],
            )
        evses = sorted(connector_of)
        subscriber = Subscriber()
        ready = asyncio.Event()
        following = asyncio.create_task(
            subscriber.follow(chargegraph.port, str(organization["_id"]), ready)
        )
        await ready.wait()
        await asyncio.sleep(1)
        # The PATCHes leave `--senders` processes of their own: one Python process cannot
        # send 10,000 a minute with httpx and read the subscriber's events in time.
        loop = asyncio.get_running_loop()
        spawn = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=args.senders, mp_context=spawn)
        # Every sender started (and its imports done) before the first PATCH is due: each
        # holds a warm-up job long enough that no other sender takes a second one.
        await asyncio.gather(
            *(loop.run_in_executor(pool, time.sleep, WARM_UP_SECONDS) for _ in range(args.senders))
        )

        async def in_senders(current: dict[str, str], **baseline: Any) -> list[Row]:
            start = time.perf_counter() + 1.0
            shares = [
                Share(
                    base,
                    headers,
                    evses,
                    part,
                    args.senders,
                    args.rate,
                    args.seconds,
                    start,
                    current,
                    **baseline,
                )
                for part in range(args.senders)
            ]
            sent = await asyncio.gather(
                *(loop.run_in_executor(pool, send_share, share) for share in shares)
            )
            return [row for rows in sent for row in rows]

        with pool:
            patches = await in_senders(dict.fromkeys(evses, "AVAILABLE"))
            await asyncio.sleep(5)  # the last events on their way
            # Baseline: the same changes written straight into MongoDB, one update each,
            # from the same sender processes, starting where the PATCHes left each EVSE.
            current = dict.fromkeys(evses, "AVAILABLE")
            for evse, status, *_ in sorted(patches, key=lambda row: row[2]):
                current[evse] = status
            events_before = subscriber.events
            stations = {evse: station for evse, (_, station) in connector_of.items()}
            baseline = await in_senders(current, uri=chargegraph.uri, stations=stations)
            await asyncio.sleep(5)
        following.cancel()
        await mongo.close()
    return {
        "put_seconds": put_seconds,
        "patches": patches,
        "baseline": baseline,
        "subscriber": subscriber,
        "events_before_baseline": events_before,
        "connector_of": connector_of,
    }


def seen_delays(
    rows: list[tuple[Any, ...]], subscriber: Subscriber, connector_of: dict[str, tuple[str, Any]]
) -> tuple[list[float], int]:
    """From each change's send to the first event for it after the send (ms); and how many
    changes no event showed."""
    delays = []
    missing = 0
    for row in rows:
        evse, status, sent = row[0], row[1], row[2]
        arrivals = subscriber.seen.get((connector_of[evse][0], SEEN_AS[status]), [])
        later = [moment for moment in arrivals if moment >= sent]
        if later:
            delays.append((min(later) - sent) * 1000)
        else:
            missing += 1
    return delays, missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10_000 / 60)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--senders", type=int, default=2, help="processes sending the PATCHes (each EVSE in one)"
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    started = begin()
    logs = Path(tempfile.mkdtemp(prefix="chargegraph-ocpi-receive-bench-"))
    chargegraph = ChargeGraph(logs)
    try:
        results = asyncio.run(run(args, chargegraph))
    finally:
        chargegraph.process.terminate()
        chargegraph.process.wait(60)
    report(started, args, results)


def report(started: Start, args: argparse.Namespace, results: dict[str, Any]) -> None:
    patches = results["patches"]
    subscriber: Subscriber = results["subscriber"]
    connector_of = results["connector_of"]
    applied = [(answered - sent) * 1000 for _, _, sent, answered, ok in patches if ok]
    refused = sum(1 for *_, ok in patches if not ok)
    seen, unseen = seen_delays(patches, subscriber, connector_of)
    written = [(done - sent) * 1000 for _, _, sent, done, _ in results["baseline"]]
    base_seen, base_unseen = seen_delays(results["baseline"], subscriber, connector_of)
    seen_p99 = percentile(seen, 0.99) if seen else float("inf")
    lines = [
        f"Machine: see the record. Code: {started.code}. Load before: `{started.uptime}`. "
        f"One `chargegraph serve` on the embedded database it starts itself; a partner "
        f"registered through the credentials handshake PUT {args.locations:,} Locations of "
        f"2 EVSEs each ({results['put_seconds']:.1f} s), then PATCHed EVSE statuses at "
        f"{args.rate:.1f} a second ({args.rate * 60:,.0f} a minute) for {args.seconds:g} s "
        f"from {args.senders} processes, up to {IN_FLIGHT} in flight in all; one `connectorStatusChanged` subscriber follows the "
        f"partner's organization.",
        "",
        "| what | changes | p50 (ms) | p99 (ms) | max (ms) | not seen |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| PATCH sent → answered (applied) | {len(applied)} | {percentile(applied, 0.5):.1f} | "
        f"{percentile(applied, 0.99):.1f} | {max(applied, default=0):.1f} | |",
        f"| PATCH sent → subscriber's event | {len(seen)} | {percentile(seen, 0.5):.1f} | "
        f"{seen_p99:.1f} | {max(seen, default=0):.1f} | {unseen} |",
        f"| baseline: pymongo update written → acknowledged | {len(written)} | "
        f"{percentile(written, 0.5):.1f} | {percentile(written, 0.99):.1f} | "
        f"{max(written, default=0):.1f} | |",
        f"| baseline: pymongo update written → subscriber's event | {len(base_seen)} | "
        f"{percentile(base_seen, 0.5):.1f} | {percentile(base_seen, 0.99):.1f} | "
        f"{max(base_seen, default=0):.1f} | {base_unseen} |",
        "",
        f"PATCHes sent: {len(patches)}; refused or failed: {refused}; events received in all: "
        f"{subscriber.events}. PATCH → event ÷ baseline write → event at p99: "
        f"{seen_p99 / max(percentile(base_seen, 0.99), 0.001):.1f} times.",
    ]
    print("\n".join(lines), flush=True)
    applied_p99 = percentile(applied, 0.99) if applied else float("inf")
    per_minute = f"{args.rate * 60:,.0f}/min"
    targets: list[Target] = [
        bound(f"received PATCH → applied (answered) p99 ({per_minute})", applied_p99, 250, "ms"),
        bound(f"received PATCH → seen by a subscriber p99 ({per_minute})", seen_p99, 250, "ms"),
        bound("received PATCHes not applied or not seen", refused + unseen, 0, "", digits=0),
    ]
    if not args.no_record:
        record_run("ocpi_receive", started, lines, targets, title="OCPI received PATCHes")


if __name__ == "__main__":
    main()
