"""OCPI Locations: what a partner pulls, and how fast pushed changes reach it.

    python -m bench.ocpi [--stations 10000] [--pull-rounds 3] [--rate 100] [--seconds 30]
                         [--outage 60]

One `chargegraph serve` on the embedded database it starts itself; published
stations (two connectors each, with addresses and time zones) written
straight into MongoDB; a partner written here from the specification (its
versions, and a Locations receiver recording when each PUT and PATCH
arrives), registered through the credentials handshake.

- Pull: a registered partner walks every page of `GET /ocpi/cpo/2.2.1/locations`
  (limit 100) following `Link`, `--pull-rounds` times, timing each page.
  Baseline, in the same run: a plain Starlette endpoint reading the same page
  of stations and their connectors from the same database with pymongo and
  answering them as JSON, without mapping them to OCPI.
- Push: statuses written straight into MongoDB at `--rate` a second for
  `--seconds`, each timed from its write to its PATCH at the partner; then
  the partner answers 503 for `--outage` seconds while the writes go on at a
  tenth of the rate, comes back, and every write must arrive, in order per
  EVSE. Baseline: the same writes' database acknowledgements.

Targets (issue): a page ≤ 20 ms at p50 at 10,000 stations; write → PATCH
p99 ≤ 1 s at 100 changes a second; nothing lost over a 60 s outage.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from bson import ObjectId
from pymongo import MongoClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.ocpp import ChargeGraph, percentile
from bench.record import Start, Target, begin, bound, record_run
from graph.core.geo import location_fields
from graph.core.timestamps import now
from graph.embedded import free_port
from graph.ocpi.locations import ocpi_time
from graph.ocpi.protocol import authorization
from graph.seed import CITIES, connector_documents

PAGE = 100
STATUSES = ("Available", "Charging", "Faulted", "Reserved")


def envelope(data: Any = None, status_code: int = 1000, http_status: int = 200) -> JSONResponse:
    body: dict[str, Any] = {"status_code": status_code, "timestamp": "2026-01-01T00:00:00Z"}
    if data is not None:
        body["data"] = data
    return JSONResponse(body, status_code=http_status)


class Partner:
    """A roaming partner: versions, details with a Locations receiver, arrivals recorded."""

    def __init__(self) -> None:
        self.port = free_port()
        self.token = "bench-partner-token-B"
        self.down = False
        # (evse uid, status, last_updated, arrival time.time()) of every PATCH.
        self.patches: list[tuple[str, str, str, float]] = []
        self.puts = 0
        self.refused_while_down = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _allowed(self, request: Request) -> bool:
        return request.headers.get("Authorization") == authorization(self.token)

    async def versions(self, request: Request) -> JSONResponse:
        if not self._allowed(request):
            return envelope(None, 2000, 401)
        return envelope([{"version": "2.2.1", "url": f"{self.url}/ocpi/2.2.1"}])

    async def details(self, request: Request) -> JSONResponse:
        if not self._allowed(request):
            return envelope(None, 2000, 401)
        endpoints = [
            {"identifier": "credentials", "role": "RECEIVER", "url": f"{self.url}/credentials"},
            {"identifier": "locations", "role": "RECEIVER", "url": f"{self.url}/locations"},
        ]
        return envelope({"version": "2.2.1", "endpoints": endpoints})

    async def locations(self, request: Request) -> JSONResponse:
        arrived = time.time()
        if self.down:
            self.refused_while_down += 1
            return JSONResponse({}, status_code=503)
        body = await request.json()
        if request.method == "PATCH":
            uid = request.url.path.rsplit("/", 1)[1]
            self.patches.append((uid, body["status"], body["last_updated"], arrived))
        else:
            self.puts += 1
        return envelope()

    def serve(self) -> uvicorn.Server:
        app = Starlette(
            routes=[
                Route("/versions", self.versions),
                Route("/ocpi/2.2.1", self.details),
                Route("/locations/{rest:path}", self.locations, methods=["PUT", "PATCH"]),
            ]
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.02)
        return server


def raw_pages(uri: str, database: str) -> uvicorn.Server:
    """The baseline: a page of stations and their connectors, read with pymongo, as JSON."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    db = client[database]

    def page(request: Request) -> JSONResponse:
        offset = int(request.query_params.get("offset", 0))
        stations = list(
            db.chargestations.find({"active": True}).sort("_id").skip(offset).limit(PAGE)
        )
        ids = [station["_id"] for station in stations]
        attached: dict[ObjectId, list[dict[str, Any]]] = defaultdict(list)
        for connector in db.connectors.find({"chargestation": {"$in": ids}}):
            attached[connector["chargestation"]].append(
                {"uid": str(connector["_id"]), "status": connector["status"]}
            )
        shown = [
            {"id": str(station["_id"]), "evses": attached[station["_id"]]} for station in stations
        ]
        return JSONResponse(shown)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/locations", page)]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server


def seed(uri: str, database: str, stations: int) -> list[tuple[ObjectId, ObjectId]]:
    """Published organizations, stations and their connectors; returns (connector, station)."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    db = client[database]
    rng = random.Random(21)
    moment = datetime.now(UTC)
    organizations = [ObjectId() for _ in range(10)]
    db.organizations.insert_many(
        [
            {
                "_id": organization,
                "name": f"Roaming Operator {number}",
                "active": True,
                "address": {},
                "configurations": {},
                "ocpi": {"countryCode": "NL", "partyId": f"B{number:02d}"},
                "createdAt": moment,
                "updatedAt": moment,
            }
            for number, organization in enumerate(organizations)
        ]
    )
    connectors = connector_documents(rng, organizations, stations * 2, CITIES)
    station_documents = []
    for number in range(stations):
        first, second = connectors[2 * number], connectors[2 * number + 1]
        station_id = ObjectId()
        latitude, longitude = first["geo"]["lat"], first["geo"]["lng"]
        endpoint = f"BENCH-{number:06d}"
        station_documents.append(
            {
                "_id": station_id,
                "endpoint": endpoint,
                "endpointKey": endpoint.lower(),
                "organization": first["organization"],
                "active": True,
                **location_fields(latitude, longitude),
                "address": {
                    "streetAndNumber": f"Benchstraat {number}",
                    "postalCode": "1000 AA",
                    "city": "Amsterdam",
                    "country": "NL",
                },
                "timeZone": "Europe/Amsterdam",
                # Connected (as far as the stored lease says) so statuses map as they are.
                "online": True,
                "leaseUntil": moment + timedelta(days=1),
                "createdAt": moment,
                "updatedAt": moment,
            }
        )
        for ocpp_id, connector in enumerate((first, second), start=1):
            connector.update(
                chargestation=station_id,
                organization=first["organization"],
                ocppId=ocpp_id,
                active=True,
            )
    db.chargestations.insert_many(station_documents)
    for start in range(0, len(connectors), 5000):
        db.connectors.insert_many(connectors[start : start + 5000])
    client.close()
    return [(connector["_id"], connector["chargestation"]) for connector in connectors]


def register(chargegraph: ChargeGraph, partner: Partner) -> str:
    invitation = chargegraph.http.post(
        "/graphql",
        json={"query": 'mutation { createOcpiPartner(input: {name: "Bench Partner"}) { tokenA } }'},
    ).json()["data"]["createOcpiPartner"]
    credentials = {
        "token": partner.token,
        "url": f"{partner.url}/versions",
        "roles": [
            {
                "role": "EMSP",
                "country_code": "DE",
                "party_id": "BEN",
                "business_details": {"name": "Bench Partner"},
            }
        ],
    }
    answer = httpx.post(
        f"http://127.0.0.1:{chargegraph.port}/ocpi/2.2.1/credentials",
        headers={"Authorization": authorization(invitation["tokenA"])},
        json=credentials,
        timeout=60,
    )
    token: str = answer.json()["data"]["token"]
    return token


def walk(first_url: str, headers: dict[str, str], rounds: int) -> tuple[list[float], int]:
    """Every page following Link, `rounds` times; the page times (ms) and pages a round."""
    timings: list[float] = []
    pages = 0
    with httpx.Client(timeout=120, headers=headers) as client:
        for _ in range(rounds):
            url: str | None = first_url
            pages = 0
            while url is not None:
                began = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, response.text[:300]
                pages += 1
                link = response.headers.get("Link")
                url = link.split(";")[0].strip("<> ") if link else None
    return timings, pages


def walk_raw(base: str, total: int, rounds: int) -> list[float]:
    timings = []
    with httpx.Client(timeout=120) as client:
        for _ in range(rounds):
            for offset in range(0, total, PAGE):
                began = time.perf_counter()
                assert client.get(f"{base}/locations", params={"offset": offset}).status_code == 200
                timings.append((time.perf_counter() - began) * 1000)
    return timings


def write_statuses(
    uri: str,
    database: str,
    connectors: list[tuple[ObjectId, ObjectId]],
    rate: float,
    seconds: float,
) -> list[tuple[str, str, float, float]]:
    """Status writes at `rate` a second: (connector id, the write's `last_updated` as OCPI
    writes it, sent, acknowledged)."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri, w="majority", journal=True)
    collection = client[database].connectors
    rng = random.Random(7)
    current: dict[ObjectId, str] = {}
    writes = []
    began = time.time()
    for number in range(int(rate * seconds)):
        pause = began + number / rate - time.time()
        if pause > 0:
            time.sleep(pause)
        connector, _ = rng.choice(connectors)
        status = rng.choice([s for s in STATUSES if s != current.get(connector)])
        current[connector] = status
        sent = time.time()
        moment = now()
        collection.update_one({"_id": connector}, {"$set": {"status": status, "updatedAt": moment}})
        writes.append((str(connector), ocpi_time(moment), sent, time.time()))
    client.close()
    return writes


def arrivals(
    partner: Partner, writes: list[tuple[str, str, float, float]], wait: float
) -> tuple[list[float], int, int]:
    """Delay (ms) from each write to its PATCH (matched by EVSE and `last_updated`), writes
    whose PATCH never arrived, and EVSEs whose PATCHes arrived out of written order."""
    wanted = {(uid, moment) for uid, moment, _, _ in writes}
    deadline = time.time() + wait
    while time.time() < deadline:
        if wanted <= {(uid, moment) for uid, _, moment, _ in partner.patches}:
            break
        time.sleep(0.5)
    arrived: dict[tuple[str, str], float] = {}
    by_evse: dict[str, list[str]] = defaultdict(list)
    for uid, _, moment, at in partner.patches:
        arrived.setdefault((uid, moment), at)
        by_evse[uid].append(moment)
    delays = [
        (arrived[(uid, moment)] - sent) * 1000
        for uid, moment, sent, _ in writes
        if (uid, moment) in arrived
    ]
    out_of_order = sum(1 for moments in by_evse.values() if moments != sorted(moments))
    return delays, len(writes) - len(delays), out_of_order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--pull-rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    started = begin()
    logs = Path(tempfile.mkdtemp(prefix="chargegraph-ocpi-bench-"))
    chargegraph = ChargeGraph(logs)
    try:
        database = "ocppbench"
        connectors = seed(chargegraph.uri, database, args.stations)
        loaded = time.time()
        while time.time() - loaded < 300:
            health = chargegraph.http.get("/healthz").json()
            if health.get("connector_index", {}).get("connectors") == len(connectors):
                break
            time.sleep(0.5)
        partner = Partner()
        partner.serve()
        token = register(chargegraph, partner)
        headers = {"Authorization": authorization(token)}
        base = f"http://127.0.0.1:{chargegraph.port}/ocpi/cpo/2.2.1/locations?limit={PAGE}"
        pulled, pages = walk(base, headers, args.pull_rounds)
        raw = raw_pages(chargegraph.uri, database)
        raw_timings = walk_raw(
            f"http://127.0.0.1:{raw.config.port}", args.stations, args.pull_rounds
        )
        raw.should_exit = True
        # The partner is known to the pushers within a second of registering.
        time.sleep(2)
        live = write_statuses(chargegraph.uri, database, connectors, args.rate, args.seconds)
        live_delays, live_lost, live_disorder = arrivals(partner, live, 120)
        partner.down = True
        during = write_statuses(chargegraph.uri, database, connectors, args.rate / 10, args.outage)
        partner.down = False
        outage_delays, outage_lost, outage_disorder = arrivals(partner, during, 300)
    finally:
        chargegraph.process.terminate()
        chargegraph.process.wait(60)
    report(
        started, args, pages, pulled, raw_timings, live, live_delays, live_lost, live_disorder,
        during, outage_delays, outage_lost, outage_disorder, partner,
    )  # fmt: skip


def report(
    started: Start,
    args: argparse.Namespace,
    pages: int,
    pulled: list[float],
    raw_timings: list[float],
    live: list[Any],
    live_delays: list[float],
    live_lost: int,
    live_disorder: int,
    during: list[Any],
    outage_delays: list[float],
    outage_lost: int,
    outage_disorder: int,
    partner: Partner,
) -> None:
    acknowledged = [(ack - sent) * 1000 for _, _, sent, ack in live]
    pull_p50 = statistics.median(pulled)
    push_p99 = percentile(live_delays, 0.99) if live_delays else float("inf")
    lines = [
        f"Machine: see the record. Code: {started.code}. Load before: `{started.uptime}`. "
        f"One `chargegraph serve` on the embedded database it starts itself; {args.stations:,} "
        f"published stations with 2 connectors each written straight into MongoDB; a partner "
        f"registered through the credentials handshake.",
        "",
        "| what | server | requests | p50 (ms) | p99 (ms) | max (ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        f"| pull: a page of {PAGE} Locations | chargegraph | {len(pulled)} | {pull_p50:.1f} | {percentile(pulled, 0.99):.1f} | "
        f"{max(pulled):.1f} |",
        f"| pull: a page of {PAGE} stations and connectors, not mapped | raw pymongo | "
        f"{len(raw_timings)} | {statistics.median(raw_timings):.1f} | "
        f"{percentile(raw_timings, 0.99):.1f} | {max(raw_timings):.1f} |",
        f"| push: status write → PATCH at the partner | chargegraph | {len(live_delays)} | {percentile(live_delays, 0.5):.1f} | "
        f"{push_p99:.1f} | {max(live_delays, default=0):.1f} |",
        f"| push: the same writes acknowledged by the database | baseline | {len(acknowledged)} | "
        f"{percentile(acknowledged, 0.5):.1f} | {percentile(acknowledged, 0.99):.1f} | "
        f"{max(acknowledged):.1f} |",
        "",
        f"Pull: {pages} pages a walk, {args.pull_rounds} walks. Push: {args.rate:g} writes a "
        f"second for {args.seconds:g} s. Page time ChargeGraph ÷ raw at p50: {pull_p50 / statistics.median(raw_timings):.1f} times. "
        f"Live push: {len(live)} writes, {live_lost} never arrived, {live_disorder} EVSEs with "
        f"PATCHes out of order; {partner.puts} PUTs. Outage of {args.outage:g} s "
        f"({len(during)} writes while the partner answered 503, {partner.refused_while_down} "
        f"requests refused): {outage_lost} never arrived, {outage_disorder} EVSEs out of order, "
        f"the last arrived {max(outage_delays, default=0) / 1000:.1f} s after its write.",
    ]
    print("\n".join(lines), flush=True)
    targets: list[Target] = [
        bound(f"OCPI page of {PAGE} p50 ({args.stations:,} stations)", pull_p50, 20, "ms"),
        bound(f"status → PATCH p99 ({args.rate:g} changes/s)", push_p99, 1000, "ms"),
        bound(
            f"changes lost over a {args.outage:g} s partner outage", outage_lost, 0, "", digits=0
        ),
    ]
    if not args.no_record:
        record_run("ocpi", started, lines, targets, title="OCPI Locations")


if __name__ == "__main__":
    main()
