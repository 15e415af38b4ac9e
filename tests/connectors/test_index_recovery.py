"""A server's connector index recovers what it missed: writes made while it was down, and
changes whose history the database no longer has.

Each test runs its own `chargegraph serve` process (searches from its index), writes
straight into MongoDB while the server cannot follow, and then checks that the
server's searches (every page, as anonymous, an organization's key and an admin) answer
what a brute force over the stored documents answers (tests/support/brute.py).
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from graph.core.geo import location_fields
from graph.embedded import EmbeddedDatabase, free_port
from tests.support.access import create_key
from tests.support.brute import (
    Caller,
    Question,
    assert_agreement,
    disagreements,
    now_ms,
    probe,
)
from tests.support.faults import fail_point, fail_point_off, readiness, running_server, wait_until
from tests.support.server import (
    ADMIN_KEY,
    Server,
    create_connector,
    create_organization,
    server_env,
    unique_endpoint,
)

SETTINGS = {
    "CHARGEGRAPH_SEARCH": "index",
    "CHARGEGRAPH_SEARCHES_PER_MINUTE": "0",
    "CHARGEGRAPH_WRITES_PER_MINUTE": "0",
}
CENTRE = (48.8566, 2.3522)  # Paris
# Taveuni (Fiji): connectors on both sides of the antimeridian.
ISLAND = [(-16.8, 179.995), (-16.81, 179.999), (-16.8, -179.996), (-16.79, -179.99)]
# The database keeps this many changes: writing more while the server is cut off loses
# the history the server would resume from.
OPLOG_ENTRIES = 20


def spot(row: int, col: int) -> dict[str, float]:
    return {
        "latitude": round(CENTRE[0] + row * 0.004, 6),
        "longitude": round(CENTRE[1] + col * 0.006, 6),
    }


def world(server: Server) -> tuple[list[str], dict[str, Caller]]:
    """Two organizations, a key of the first, and who asks."""
    organizations = [create_organization(server, name=f"Recovery {n}")["id"] for n in range(2)]
    key = create_key(server, organizations[0])["key"]
    return organizations, {
        "anonymous": Caller("anonymous", None),
        "org0": Caller("org0", key, ObjectId(organizations[0])),
        "admin": Caller("admin", ADMIN_KEY, admin=True),
    }


def network(server: Server, organizations: list[str]) -> list[str]:
    """A dozen connectors around the centre, of both organizations, some inactive, one
    without a position; then four on both sides of the antimeridian (made[12:16])."""
    statuses = ["AVAILABLE", "CHARGING", "FAULTED"]
    made = [
        create_connector(
            server,
            organizations[n % 2],
            coordinates=spot(n % 4 - 2, n // 4 - 1),
            status=statuses[n % 3],
            active=n % 5 != 4,
            power=[7.4, 22.0, 50.0, 150.0][n % 4],
            type=["TYPE2", "CCS2"][n % 2],
        )["id"]
        for n in range(11)
    ]
    made.append(create_connector(server, organizations[0])["id"])
    for number, (latitude, longitude) in enumerate(ISLAND):
        made.append(
            create_connector(
                server,
                organizations[number % 2],
                coordinates={"latitude": latitude, "longitude": longitude},
                active=number != 3,
            )["id"]
        )
    return made


def questions(organizations: list[str]) -> list[Question]:
    """Searches of the network, by each caller, every page, plus the admin's probe."""
    lat, lng = CENTRE
    asked = []
    for caller in ("anonymous", "org0", "admin"):
        asked += [
            Question("nearby", caller, {"lat": lat, "lng": lng, "radius": 3000.0}, first=4),
            Question("nearby", caller, {"lat": lat, "lng": lng, "radius": 800.0}, first=2),
            Question(
                "nearby",
                caller,
                {"lat": lat, "lng": lng, "radius": 5000.0},
                {"active": False},
                first=3,
            ),
            Question(
                "nearby",
                caller,
                {"lat": lat + 0.004, "lng": lng, "radius": 5000.0},
                {"availableOnly": True, "minPowerKw": 20},
                first=3,
            ),
            Question("bounds", caller, {"s": 48.84, "w": 2.34, "n": 48.86, "e": 2.36}, first=3),
            Question("nearby", caller, {"lat": -16.8, "lng": 180.0, "radius": 2000.0}, first=2),
            Question("nearby", caller, {"lat": -16.8, "lng": 179.99, "radius": 1500.0}, first=2),
            Question(
                "bounds", caller, {"s": -16.9, "w": 179.99, "n": -16.7, "e": -179.99}, first=2
            ),
            Question("list", caller, first=5),
            Question("list", caller, filter={"statuses": ["CHARGING", "FAULTED"]}, first=3),
        ]
        for organization in organizations:
            asked += [
                Question("owned", caller, {"organization": organization}, first=4),
                Question("counts", caller, {"organization": organization}),
            ]
    return asked + probe(organizations)


def document(organization: str, **fields: Any) -> dict[str, Any]:
    """A connector as the API stores it, written straight into MongoDB."""
    moment = now_ms()
    coordinates = fields.pop("coordinates", None)
    position = (
        location_fields(coordinates["latitude"], coordinates["longitude"])
        if coordinates is not None
        else {"location": None, "geo": None}
    )
    return {
        "active": True,
        "status": "Available",
        "endpoint": unique_endpoint(),
        "ocppId": 1,
        "type": "Type2",
        "format": "CABLE",
        "power_type": "AC_3_PHASE",
        "power": 22.0,
        **position,
        "createdAt": moment,
        "updatedAt": moment,
        "organization": ObjectId(organization),
        "chargestation": None,
        "stationLocated": False,
        **fields,
    }


def set_fields(db: Database[dict[str, Any]], connector: str, **fields: Any) -> None:
    db.connectors.update_one(
        {"_id": ObjectId(connector)}, {"$set": {**fields, "updatedAt": now_ms()}}
    )


def test_a_restarted_server_finds_what_was_written_while_it_was_down(
    mongo_uri: str, tmp_path: Path
) -> None:
    name = f"test_{uuid.uuid4().hex[:12]}"
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    db = client[name]
    settings = {"MONGODB_URI": mongo_uri, "CHARGEGRAPH_DB": name, **SETTINGS}
    try:
        with running_server(tmp_path / "server", None, **settings) as server:
            wait_until(lambda: readiness(server) == 200, 60, "/readyz to say ready")
            organizations, callers = world(server)
            made = network(server, organizations)
            asked = questions(organizations)
            assert_agreement(server, db, asked, callers, "before the restart")

            server.stop(signal.SIGKILL)
            db.connectors.insert_many(
                [
                    document(organizations[0], coordinates=spot(0, 0), status="Charging"),
                    document(organizations[1], coordinates=spot(1, -1), power=150.0),
                    document(organizations[1]),
                ]
            )
            set_fields(db, made[0], status="Faulted")
            set_fields(db, made[1], status="Available")
            set_fields(db, made[2], **location_fields(**spot(3, 3)))
            set_fields(db, made[11], **location_fields(**spot(-1, 0)))
            db.connectors.update_one(
                {"_id": ObjectId(made[3])},
                {"$unset": {"location": "", "geo": ""}, "$set": {"updatedAt": now_ms()}},
            )
            set_fields(db, made[5], active=False)
            set_fields(db, made[4], active=True)
            set_fields(db, made[6], organization=ObjectId(organizations[1]))
            set_fields(db, made[12], **location_fields(latitude=-16.8, longitude=-179.998))
            set_fields(db, made[14], **location_fields(latitude=-16.805, longitude=179.997))
            db.connectors.delete_many({"_id": {"$in": [ObjectId(made[7]), ObjectId(made[8])]}})

            server.start()
            wait_until(lambda: readiness(server) == 200, 60, "/readyz to say ready again")
            assert_agreement(server, db, asked, callers, "once ready after the restart")
    finally:
        client.drop_database(name)
        client.close()


@contextmanager
def short_history(directory: Path) -> Iterator[tuple[EmbeddedDatabase, Server]]:
    """A database of the test's own (fail points enabled; it keeps only OPLOG_ENTRIES
    changes) and a server on it, started together as tests/support/faults.deployment does."""
    database = EmbeddedDatabase(
        directory / "db",
        port=free_port(),
        options=("--enable-test-commands", "--oplog-max-entries", str(OPLOG_ENTRIES)),
    )
    (directory / "server").mkdir(parents=True)
    server = Server(
        env=server_env(MONGODB_URI=database.uri, CHARGEGRAPH_DB="faults", **SETTINGS),
        args=[],
        log_path=directory / "server" / "server.log",
    )
    try:
        with ThreadPoolExecutor(1) as pool:
            starting = pool.submit(server.start)
            database.start()  # from this thread: it stops when its starting thread ends
            starting.result()
        yield database, server
    finally:
        if server.process is not None:
            server.stop()
        database.stop(timeout=10)


def loads(server: Server) -> int:
    """How many times the server has loaded its connector index (/healthz
    `connector_index.loads`); a report without that counter fails the test."""
    report = httpx.get(f"{server.base_url}/healthz", timeout=10).json()
    count = report["connector_index"]["loads"]
    assert isinstance(count, int | float) and not isinstance(count, bool), report
    return int(count)


def test_a_server_that_lost_change_history_rebuilds_its_index(tmp_path: Path) -> None:
    """The server's change stream fails with ChangeStreamHistoryLost (286) while connectors
    are written straight into MongoDB, and the database then really forgets those changes
    (it keeps only OPLOG_ENTRIES). Resuming the stream cannot bring them back: only reading
    the connectors again can, so the searches must come to agree with the database."""
    with short_history(tmp_path) as (database, server):
        client: MongoClient[dict[str, Any]] = MongoClient(database.uri, tz_aware=True)
        db = client["faults"]
        try:
            wait_until(lambda: readiness(server) == 200, 60, "/readyz to say ready")
            organizations, callers = world(server)
            made = network(server, organizations)
            asked = questions(organizations)
            assert_agreement(server, db, asked, callers, "before the history was lost")
            before = loads(server)

            fail_point(database.uri, ["getMore"], 286, "alwaysOn")
            try:
                for round_ in range(4):
                    for connector in made[:10]:
                        set_fields(db, connector, status=["Charging", "Faulted"][round_ % 2])
                db.connectors.insert_many(
                    [
                        document(organizations[0], coordinates=spot(0, 0), power=50.0),
                        document(organizations[1], coordinates=spot(2, 1), active=False),
                    ]
                )
                set_fields(db, made[0], **location_fields(**spot(-3, 2)))
                set_fields(db, made[1], active=False, power=150.0)
                set_fields(db, made[2], organization=ObjectId(organizations[0]))
                set_fields(db, made[13], **location_fields(latitude=-16.8, longitude=-179.998))
                db.connectors.delete_one({"_id": ObjectId(made[3])})
                forgotten = client.admin.command({"secantusAdmin.pruneOplog": 1})["pruned"]
                assert forgotten > 0, "the database kept the whole history"
            finally:
                fail_point_off(database.uri)

            deadline = time.monotonic() + 30
            while readiness(server) != 200 or disagreements(server, db, asked, callers):
                if time.monotonic() > deadline:
                    still = disagreements(server, db, asked, callers)
                    raise AssertionError(
                        f"30s after the history was lost, /readyz answers {readiness(server)} "
                        "and the searches still disagree:\n" + "\n".join(still)
                    )
                time.sleep(0.2)
            # Ready means searches are answered from the index again, not from the database.
            assert readiness(server) == 200
            assert_agreement(server, db, asked, callers, "once the index was rebuilt")
            after = loads(server)
        finally:
            client.close()
    # Loaded once at start, and loaded again from the database once the history was lost.
    assert before >= 1, before
    assert after > before, (before, after)
