"""Searches answered from each server's in-memory index agree with the database.

Two servers share one database: the one under test answers searches from its index
(CHARGEGRAPH_SEARCH=index), the other from the database (CHARGEGRAPH_SEARCH=database).
Random writes go through the API of the indexed server, or straight into MongoDB; after
each, random searches (every page, as anonymous, an organization's key and an admin) must
answer exactly what a brute force over the stored documents answers
(tests/support/brute.py), on both servers. The indexed server must see its own writes at
once; writes made straight into MongoDB reach it through its change stream, so they are
waited for (10 s at most). Writes straight into MongoDB also store `active` as a tool might:
missing, null, 0 or 1, a string; such a connector is inactive on every path.

The module has a database server of its own, with fail points, on which every getMore (so
every change stream) first waits STREAM_DELAY_MS: the index server's own writes must then
come from the write itself, as its change stream brings them only later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta, timezone
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    rule,
    run_state_machine_as_test,
)
from pymongo import MongoClient
from pymongo.database import Database

from graph.core.geo import location_fields
from graph.embedded import EmbeddedDatabase, free_port
from tests.support.access import create_key
from tests.support.brute import (
    FORMATS,
    POWER_TYPES,
    STATUSES,
    TYPES,
    Caller,
    Question,
    agreement_within,
    assert_agreement,
    documents,
    iso,
    now_ms,
    parse_iso,
    probe,
    stored_active,
)
from tests.support.faults import fail_point_off, readiness, wait_until
from tests.support.server import (
    ADMIN_KEY,
    CONNECTOR_FIELDS,
    Server,
    create_connector,
    create_organization,
    data,
    error,
    server_env,
    unique_endpoint,
)

# Callers are never rate limited here: the machine searches far more than a minute's allowance.
UNLIMITED = {"CHARGEGRAPH_SEARCHES_PER_MINUTE": "0", "CHARGEGRAPH_WRITES_PER_MINUTE": "0"}
# How long a write made straight into MongoDB may take to reach the index.
CHANGE_STREAM_WAIT = 10.0
# How long each getMore waits before it answers, on the module's database server.
STREAM_DELAY_MS = 300

# Two small areas: Amsterdam, and Taveuni (Fiji) across the antimeridian.
CLUSTERS = [(52.37, 4.89), (-16.8, 179.99)]
STEP_LAT, STEP_LNG = 0.004, 0.006  # a grid of spots ~450 m apart; several connectors share one
STATUS_CHOICES = ["AVAILABLE", "CHARGING", "FAULTED", "PREPARING", "UNAVAILABLE", "OCCUPIED"]
POWERS = [3.7, 7.4, 11.0, 22.0, 50.0, 150.0]
CALLERS = ["anonymous", "org0", "org1", "admin"]

UPDATE = (
    "mutation($id: ID!, $input: UpdateConnectorInput!) "
    f"{{ updateConnector(id: $id, input: $input) {{ {CONNECTOR_FIELDS} }} }}"
)
SET_STATUS = (
    "mutation($id: ID!, $status: ConnectorStatus!) "
    f"{{ setConnectorStatus(id: $id, status: $status) {{ {CONNECTOR_FIELDS} }} }}"
)
DELETE = "mutation($id: ID!) { deleteConnector(id: $id) }"


class Missing:
    """`active` left out of a document written straight into MongoDB."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()
# `active` as a tool writing straight into MongoDB may store it; only True is active.
STORED_ACTIVE = st.sampled_from([True, True, True, False, MISSING, None, 1, 0, "yes"])


def stored_connector(organization: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A connector as the API stores it, from API-named values, to write into MongoDB
    (`active` may be MISSING: then it is left out)."""
    moment = now_ms()
    coordinates = values["coordinates"]
    position = (
        location_fields(coordinates["latitude"], coordinates["longitude"])
        if coordinates is not None
        else {"location": None, "geo": None}
    )
    activity = {} if values["active"] is MISSING else {"active": values["active"]}
    return {
        **activity,
        "status": STATUSES[values["status"]],
        "endpoint": unique_endpoint(),
        "ocppId": 1,
        "type": TYPES[values["type"]],
        "format": values["format"],
        "power_type": values["powerType"],
        "power": values["power"],
        **position,
        "createdAt": moment,
        "updatedAt": moment,
        "organization": ObjectId(organization),
        "chargestation": None,
        "stationLocated": False,
    }


def wrap(longitude: float) -> float:
    """A longitude brought back into [-180, 180]."""
    while longitude > 180:
        longitude -= 360
    while longitude < -180:
        longitude += 360
    return round(longitude, 6)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own database server (fail points enabled), instead of the session's."""
    database = EmbeddedDatabase(
        tmp_path_factory.mktemp("index-db"), port=free_port(), options=("--enable-test-commands",)
    )
    yield database.start()
    database.stop(timeout=10)


def slow_change_streams(uri: str, delay_ms: int) -> None:
    """Every getMore waits `delay_ms` before it answers: change events arrive late."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        client.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": "alwaysOn",
                "data": {
                    "failCommands": ["getMore"],
                    "blockConnection": True,
                    "blockTimeMS": delay_ms,
                },
            }
        )
    finally:
        client.close()


# Spots of the network already stored when the servers start: (cluster, row, col); around
# Taveuni, columns 2 and 3 lie west of the antimeridian (longitude -179.99...).
PRELOADED = [(0, r, c) for r, c in [(0, 0), (0, 0), (1, -2), (-2, 1), (3, 3), (-1, -1)]] + [
    (1, r, c) for r, c in [(0, 2), (0, 3), (1, 2), (0, 0), (-1, -3), (2, 3), (0, 2), (1, 1)]
]
# Their `active`, by number: the index loads these odd values too.
PRELOADED_ACTIVE: list[Any] = [True, True, MISSING, True, False, None, True]
PRELOADED_ACTIVE += [1, True, "yes", False, True, 0, True]


@pytest.fixture(scope="module")
def preloaded(mongo_uri: str, db_name: str) -> dict[str, Any]:
    """Organizations and connectors written straight into MongoDB before the servers start,
    so the index reads them when it loads (the machine keeps these connectors)."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        stored = client[db_name]
        moment = now_ms()
        organizations = [
            str(
                stored.organizations.insert_one(
                    {
                        "name": f"Index Org {number}",
                        "address": None,
                        "configurations": {
                            "basicAuthEnabled": False,
                            "basicAuthPassword": None,
                            "freeVend": False,
                        },
                        "active": True,
                        "createdAt": moment,
                        "updatedAt": moment,
                    }
                ).inserted_id
            )
            for number in range(3)
        ]
        connectors = []
        for number, (cluster, row, col) in enumerate(PRELOADED):
            lat0, lng0 = CLUSTERS[cluster]
            values = {
                "type": list(TYPES)[number % len(TYPES)],
                "format": list(FORMATS)[number % 2],
                "powerType": list(POWER_TYPES)[number % 3],
                "power": POWERS[number % len(POWERS)],
                "status": STATUS_CHOICES[number % len(STATUS_CHOICES)],
                "active": PRELOADED_ACTIVE[number],
                "coordinates": None
                if number % 7 == 6
                else {
                    "latitude": round(lat0 + row * STEP_LAT, 6),
                    "longitude": wrap(lng0 + col * STEP_LNG),
                },
            }
            document = stored_connector(organizations[number % 3], values)
            connectors.append(stored.connectors.insert_one(document).inserted_id)
        return {"organizations": organizations, "connectors": connectors}
    finally:
        client.close()


@pytest.fixture(scope="module")
def servers(
    mongo_uri: str,
    db_name: str,
    preloaded: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, Server]]:
    """The server under test (searches from its index) and one answering from the database,
    on the module's database, with change streams slowed down."""
    made = [
        Server(
            env=server_env(
                MONGODB_URI=mongo_uri,
                CHARGEGRAPH_DB=db_name,
                CHARGEGRAPH_SEARCH=backend,
                **UNLIMITED,
            ),
            args=[],
            log_path=tmp_path_factory.mktemp(f"server-{backend}") / "server.log",
        )
        for backend in ("index", "database")
    ]

    def stop(server: Server) -> None:
        if server.process:
            server.stop()

    def ready(server: Server) -> Callable[[], bool]:
        return lambda: readiness(server) == 200

    with ExitStack() as stack:
        for server in made:
            stack.callback(stop, server)
        with ThreadPoolExecutor(2) as pool:
            for started in [pool.submit(server.start) for server in made]:
                started.result()
        # Ready: the index is loaded and followed (until then searches may read the database).
        for server in made:
            wait_until(ready(server), 60, "/readyz to say ready")
        slow_change_streams(mongo_uri, STREAM_DELAY_MS)
        stack.callback(fail_point_off, mongo_uri)
        yield made[0], made[1]


@pytest.fixture(scope="module")
def indexed(servers: tuple[Server, Server]) -> Server:
    return servers[0]


@pytest.fixture(scope="module")
def world(indexed: Server, preloaded: dict[str, Any]) -> dict[str, Any]:
    """Three organizations, keys of the first two, who asks, and the preloaded connectors."""
    organizations = preloaded["organizations"]
    callers = {
        "anonymous": Caller("anonymous", None),
        "admin": Caller("admin", ADMIN_KEY, admin=True),
    }
    for number in (0, 1):
        key = create_key(indexed, organizations[number])["key"]
        callers[f"org{number}"] = Caller(f"org{number}", key, ObjectId(organizations[number]))
    return {
        "organizations": organizations,
        "callers": callers,
        "preloaded": preloaded["connectors"],
    }


# ------------------------------------------------------------------ strategies


@st.composite
def spots(draw: st.DrawFn) -> dict[str, float]:
    """A position in one of the clusters: on the grid of spots (shared), or anywhere near."""
    lat0, lng0 = draw(st.sampled_from(CLUSTERS))
    if draw(st.booleans()):
        row, col = draw(st.integers(-3, 3)), draw(st.integers(-3, 3))
        return {
            "latitude": round(lat0 + row * STEP_LAT, 6),
            "longitude": wrap(lng0 + col * STEP_LNG),
        }
    return {
        "latitude": round(lat0 + draw(st.floats(-0.015, 0.015)), 6),
        "longitude": wrap(lng0 + draw(st.floats(-0.02, 0.02))),
    }


positions = st.one_of(st.none(), spots(), spots(), spots())
FIELDS: dict[str, Any] = {
    "organization": st.integers(0, 2),  # an organization's number
    "type": st.sampled_from(list(TYPES)),
    "format": st.sampled_from(list(FORMATS)),
    "powerType": st.sampled_from(list(POWER_TYPES)),
    "power": st.sampled_from(POWERS),
    "status": st.sampled_from(STATUS_CHOICES),
    "active": st.sampled_from([True, True, True, False]),
    "coordinates": positions,
}
fields = st.fixed_dictionaries(FIELDS)
# Written straight into MongoDB: `active` as a tool may store it.
DIRECT_FIELDS: dict[str, Any] = {**FIELDS, "active": STORED_ACTIVE}
direct_fields = st.fixed_dictionaries(DIRECT_FIELDS)
CHANGED = ["coordinates", "status", "active", "power", "type", "organization", "powerType"]


def changes_of(drawn: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Some of a connector's fields, changed (values drawn from `drawn`)."""

    def values(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({name: drawn[name] for name in names})

    return st.lists(st.sampled_from(CHANGED), min_size=1, max_size=3, unique=True).flatmap(values)


changes = changes_of(FIELDS)
direct_changes = changes_of(DIRECT_FIELDS)


# Tenths of a kW: SecantusDB's indexed `$gte` misses every connector for a bound below about
# 1e-128 (the database-backed answers, not the index, would be wrong), so no such float.
power_bounds = st.sampled_from(POWERS) | st.integers(0, 2000).map(lambda tenths: tenths / 10)
FILTER_FIELDS: dict[str, Any] = {
    "organizationId": st.integers(0, 2),  # an organization's number, named at asking time
    "statuses": st.lists(st.sampled_from(STATUS_CHOICES), max_size=3, unique=True),
    "types": st.lists(st.sampled_from(list(TYPES)), min_size=1, max_size=3, unique=True),
    "formats": st.lists(st.sampled_from(list(FORMATS)), min_size=1, max_size=1),
    "powerTypes": st.lists(st.sampled_from(list(POWER_TYPES)), min_size=1, max_size=2, unique=True),
    "active": st.none() | st.booleans(),
    "minPowerKw": power_bounds,
    "maxPowerKw": power_bounds,
    "availableOnly": st.booleans(),
    "updatedSince": st.integers(0, 10**6),  # a moment the machine noted, chosen at asking time
}
filters = st.none() | st.lists(
    st.sampled_from(list(FILTER_FIELDS)), max_size=2, unique=True
).flatmap(lambda names: st.fixed_dictionaries({name: FILTER_FIELDS[name] for name in names}))
ORDERS = st.sampled_from([None, "CREATED_AT", "UPDATED_AT"])
callers = st.sampled_from(CALLERS)
page_sizes = st.integers(2, 8)


@st.composite
def nearby_questions(draw: st.DrawFn) -> dict[str, Any]:
    lat0, lng0 = draw(st.sampled_from(CLUSTERS))
    if draw(st.booleans()):
        lat, lng = (
            lat0 + draw(st.integers(-3, 3)) * STEP_LAT,
            lng0 + draw(st.integers(-3, 3)) * STEP_LNG,
        )
    else:
        lat, lng = lat0 + draw(st.floats(-0.02, 0.02)), lng0 + draw(st.floats(-0.03, 0.03))
    radius = draw(
        st.sampled_from([0.0, 50.0, 500.0, 1000.0, 2500.0, 100_000.0]) | st.floats(0, 6000)
    )
    return {
        "kind": "nearby",
        "args": {"lat": round(lat, 6), "lng": wrap(lng), "radius": radius},
        "filter": draw(filters),
        "first": draw(page_sizes),
        "caller": draw(callers),
    }


@st.composite
def bounds_questions(draw: st.DrawFn) -> dict[str, Any]:
    lat0, lng0 = draw(st.sampled_from(CLUSTERS))
    south = lat0 + draw(st.floats(-0.02, 0.01))
    north = south + draw(st.floats(0.0, 0.03))
    west = wrap(lng0 + draw(st.floats(-0.03, 0.01)))
    # Around Taveuni the box often crosses the antimeridian (then west > east).
    east = wrap(west + draw(st.floats(0.0, 0.04)))
    box = {"s": round(south, 6), "w": west, "n": round(north, 6), "e": east}
    if draw(st.integers(0, 5)) == 0:
        box = {"s": -90.0, "w": -180.0, "n": 90.0, "e": 180.0}
    return {
        "kind": "bounds",
        "args": box,
        "filter": draw(filters),
        "first": draw(page_sizes),
        "caller": draw(callers),
    }


@st.composite
def list_questions(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "kind": "list",
        "args": {"order": draw(ORDERS)},
        "filter": draw(filters),
        "first": draw(page_sizes),
        "caller": draw(callers),
    }


@st.composite
def organization_questions(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "kind": draw(st.sampled_from(["owned", "counts"])),
        "args": {"organization": draw(st.integers(0, 2))},
        "filter": draw(filters),
        "first": draw(page_sizes),
        "caller": draw(callers),
    }


# One of each kind after every step.
checks = st.tuples(
    nearby_questions(), bounds_questions(), list_questions(), organization_questions()
)


# ------------------------------------------------------------------ the machine


class IndexAgreesWithTheDatabase(RuleBasedStateMachine):
    """Writes through the API or straight into MongoDB; after each, searches agree."""

    connectors = Bundle("connectors")

    def __init__(
        self, indexed: Server, fallback: Server, db: Database[dict[str, Any]], world: dict[str, Any]
    ) -> None:
        super().__init__()
        self.indexed = indexed
        self.fallback = fallback
        self.db = db
        self.organizations: list[str] = world["organizations"]
        self.callers: dict[str, Caller] = world["callers"]
        self.preloaded: list[ObjectId] = world["preloaded"]
        # Instants for updatedSince: the updatedAt of written connectors, and moments between.
        self.moments: list[str] = []

    # --- helpers

    def stored(self, connector_id: str) -> dict[str, Any] | None:
        return self.db.connectors.find_one({"_id": ObjectId(connector_id)})

    def question(self, drawn: Mapping[str, Any]) -> Question:
        """A drawn question with organizations and moments named."""
        args = dict(drawn["args"])
        if "organization" in args:
            args["organization"] = self.organizations[args["organization"]]
        filter = drawn["filter"]
        if filter is not None:
            filter = dict(filter)
            if "organizationId" in filter:
                filter["organizationId"] = self.organizations[filter["organizationId"]]
            if "updatedSince" in filter:
                moments = self.moments or [iso(now_ms())]
                filter["updatedSince"] = moments[filter["updatedSince"] % len(moments)]
            low, high = filter.get("minPowerKw"), filter.get("maxPowerKw")
            if low is not None and high is not None and low > high:
                filter["minPowerKw"], filter["maxPowerKw"] = high, low
        return Question(drawn["kind"], drawn["caller"], args, filter, drawn["first"])

    def probe(self, *changed: dict[str, Any] | None) -> list[Question]:
        return [
            *probe(self.organizations, changed),
            Question("list", "admin", {"order": "UPDATED_AT"}),
        ]

    def verify(self, drawn: tuple[dict[str, Any], ...], what: str) -> None:
        """The drawn searches agree with the brute force on both servers, as they are now."""
        questions = [self.question(one) for one in drawn]
        assert_agreement(self.indexed, self.db, questions, self.callers, f"index server, {what}")
        assert_agreement(
            self.fallback, self.db, questions, self.callers, f"database server, {what}"
        )

    def after_api_write(
        self, what: str, drawn: tuple[dict[str, Any], ...], *changed: dict[str, Any] | None
    ) -> None:
        """The indexed server made the write: it must show it in its very next answers."""
        assert_agreement(self.indexed, self.db, self.probe(*changed), self.callers, what)
        self.verify(drawn, what)

    def after_direct_write(
        self, what: str, drawn: tuple[dict[str, Any], ...], *changed: dict[str, Any] | None
    ) -> None:
        """Written straight into MongoDB: it reaches the index through the change stream."""
        agreement_within(
            self.indexed, self.db, self.probe(*changed), self.callers, CHANGE_STREAM_WAIT, what
        )
        self.verify(drawn, what)

    def note(self, *docs: dict[str, Any] | None) -> None:
        for doc in docs:
            if doc is not None:
                self.moments += [
                    iso(doc["updatedAt"]),
                    iso(doc["updatedAt"] - timedelta(milliseconds=1)),
                ]

    # --- rules

    @initialize(drawn=checks)
    def start_over(self, drawn: tuple[dict[str, Any], ...]) -> None:
        """Every example starts from the preloaded connectors only (the others are deleted by
        one bulk delete straight into MongoDB)."""
        self.db.connectors.delete_many({"_id": {"$nin": self.preloaded}})
        self.moments = [iso(now_ms())]
        self.after_direct_write("back to the preloaded connectors", drawn)

    @rule(target=connectors, values=fields, drawn=checks)
    def create(self, values: dict[str, Any], drawn: tuple[dict[str, Any], ...]) -> str:
        given = {
            name: values[name]
            for name in ("type", "format", "powerType", "power", "status", "active", "coordinates")
        }
        organization = self.organizations[values["organization"]]
        created = create_connector(self.indexed, organization, **given)
        after = self.stored(created["id"])
        self.note(after)
        self.after_api_write(f"created {created['id']} with {values}", drawn, after)
        return str(created["id"])

    @rule(target=connectors, values=direct_fields, drawn=checks)
    def insert_directly(self, values: dict[str, Any], drawn: tuple[dict[str, Any], ...]) -> str:
        organization = self.organizations[values["organization"]]
        inserted = self.db.connectors.insert_one(stored_connector(organization, values)).inserted_id
        after = self.stored(str(inserted))
        self.note(after)
        self.after_direct_write(f"inserted {inserted} with {values}", drawn, after)
        return str(inserted)

    @rule(connector=connectors, change=changes, drawn=checks)
    def update(
        self, connector: str, change: dict[str, Any], drawn: tuple[dict[str, Any], ...]
    ) -> None:
        before = self.stored(connector)
        given = dict(change)
        if "organization" in given:
            given["organizationId"] = self.organizations[given.pop("organization")]
        data(self.indexed.query(UPDATE, {"id": connector, "input": given}))
        after = self.stored(connector)
        self.note(after)
        self.after_api_write(f"updated {connector} with {given}", drawn, before, after)

    @rule(
        connector=connectors,
        change=direct_changes,
        unset=st.booleans(),
        drawn=checks,
    )
    def update_directly(
        self,
        connector: str,
        change: dict[str, Any],
        unset: bool,
        drawn: tuple[dict[str, Any], ...],
    ) -> None:
        before = self.stored(connector)
        to_set: dict[str, Any] = {"updatedAt": now_ms()}
        to_unset: dict[str, Any] = {}
        for name, value in change.items():
            if name == "coordinates":
                if value is not None:
                    to_set.update(location_fields(value["latitude"], value["longitude"]))
                elif unset:  # as updateConnector removes a position
                    to_unset.update(location="", geo="")
                else:  # as createConnector stores none
                    to_set.update(location=None, geo=None)
            elif name == "organization":
                to_set["organization"] = ObjectId(self.organizations[value])
            elif name == "status":
                to_set["status"] = STATUSES[value]
            elif name == "type":
                to_set["type"] = TYPES[value]
            elif name == "powerType":
                to_set["power_type"] = value
            elif name == "active" and value is MISSING:
                to_unset["active"] = ""
            else:
                to_set[name] = value
        update: dict[str, Any] = {"$set": to_set}
        if to_unset:
            update["$unset"] = to_unset
        self.db.connectors.update_one({"_id": ObjectId(connector)}, update)
        after = self.stored(connector)
        self.note(after)
        self.after_direct_write(f"updated {connector} directly: {update}", drawn, before, after)

    @rule(connector=connectors, status=st.sampled_from(STATUS_CHOICES), drawn=checks)
    def set_status(self, connector: str, status: str, drawn: tuple[dict[str, Any], ...]) -> None:
        before = self.stored(connector)
        answer = self.indexed.query(SET_STATUS, {"id": connector, "status": status})
        assert data(answer)["setConnectorStatus"]["status"] == status
        after = self.stored(connector)
        self.note(after)
        self.after_api_write(f"set {connector} {status}", drawn, before, after)

    @rule(organization=st.integers(0, 2), status=st.sampled_from(STATUS_CHOICES), drawn=checks)
    def set_statuses_directly(
        self, organization: int, status: str, drawn: tuple[dict[str, Any], ...]
    ) -> None:
        """One update_many: every connector of an organization in one status."""
        owner = ObjectId(self.organizations[organization])
        before = list(self.db.connectors.find({"organization": owner}))
        self.db.connectors.update_many(
            {"organization": owner}, {"$set": {"status": STATUSES[status], "updatedAt": now_ms()}}
        )
        after = list(self.db.connectors.find({"organization": owner}))
        self.note(*after)
        self.after_direct_write(
            f"set every connector of organization {organization} {status}",
            drawn,
            *before,
            *after,
        )

    @rule(connector=consumes(connectors), drawn=checks)
    def delete(self, connector: str, drawn: tuple[dict[str, Any], ...]) -> None:
        before = self.stored(connector)
        answer = self.indexed.query(DELETE, {"id": connector})
        assert data(answer)["deleteConnector"] == connector
        self.after_api_write(f"deleted {connector}", drawn, before)

    @rule(connector=consumes(connectors), drawn=checks)
    def delete_directly(self, connector: str, drawn: tuple[dict[str, Any], ...]) -> None:
        before = self.stored(connector)
        self.db.connectors.delete_one({"_id": ObjectId(connector)})
        self.after_direct_write(f"deleted {connector} directly", drawn, before)

    @rule(drawn=checks)
    def look(self, drawn: tuple[dict[str, Any], ...]) -> None:
        """Nothing written: the answers still agree (and stay put)."""
        self.moments.append(iso(now_ms()))
        self.verify(drawn, "no write")


def test_index_agrees_with_brute_force_through_random_writes(
    servers: tuple[Server, Server], db: Database[dict[str, Any]], world: dict[str, Any]
) -> None:
    indexed, fallback = servers
    run_state_machine_as_test(
        # Hypothesis takes any callable making a machine; its stubs say a class.
        lambda: IndexAgreesWithTheDatabase(indexed, fallback, db, world),  # type: ignore[arg-type]
        settings=settings(
            max_examples=8,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            # No shrinking: each step costs tens of requests, and the failing steps are printed.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )


# ------------------------------------------------------------------ plain tests

LIST = """
query($filter: ConnectorFilter, $first: Int, $after: String) {
  connectors(filter: $filter, first: $first, after: $after) {
    totalCount edges { node { id } }
  }
}
"""
ORDERED = """
query($filter: ConnectorFilter, $first: Int, $after: String, $order: ConnectorOrder) {
  connectors(filter: $filter, first: $first, after: $after, orderBy: $order) {
    totalCount
    edges { cursor node { id updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
NEARBY = """
query($lat: Float!, $lng: Float!, $radius: Float, $filter: ConnectorFilter) {
  nearbyConnectors(latitude: $lat, longitude: $lng, radiusMeters: $radius, filter: $filter,
                   first: 100) {
    totalCount edges { distanceMeters node { id } }
  }
}
"""
BOUNDS = """
query($s: Float!, $w: Float!, $n: Float!, $e: Float!, $filter: ConnectorFilter) {
  connectorsInBounds(south: $s, west: $w, north: $n, east: $e, filter: $filter, first: 100) {
    totalCount edges { node { id } }
  }
}
"""
ORGANIZATION = """
query($id: ID!, $filter: ConnectorFilter) {
  organization(id: $id) {
    connectors(filter: $filter, first: 100) { totalCount edges { node { id } } }
    connectorCountsByStatus { status count }
  }
}
"""
CONNECTOR = "query($id: ID!) { connector(id: $id) { id status } }"


def listed(
    server: Server,
    filter: dict[str, Any] | None,
    key: str | None = ADMIN_KEY,
    order: str | None = None,
) -> tuple[list[str], int]:
    """Every connector connectors(filter) lists (in one page), and its totalCount."""
    variables = {"filter": filter, "first": 100}
    query = LIST if order is None else ORDERED
    connection = data(
        server.query(query, {**variables, "order": order} if order else variables, key=key)
    )["connectors"]
    return [edge["node"]["id"] for edge in connection["edges"]], connection["totalCount"]


def near(
    server: Server,
    at: Mapping[str, float],
    radius: float,
    filter: dict[str, Any] | None = None,
    key: str | None = None,
) -> list[str]:
    variables = {"lat": at["latitude"], "lng": at["longitude"], "radius": radius, "filter": filter}
    found = data(server.query(NEARBY, variables, key=key))["nearbyConnectors"]
    ids = [edge["node"]["id"] for edge in found["edges"]]
    assert found["totalCount"] == len(ids)
    return ids


def of_organization(
    server: Server, organization: str, key: str | None = ADMIN_KEY, filter: Any = None
) -> tuple[list[str], list[dict[str, Any]]]:
    found = data(server.query(ORGANIZATION, {"id": organization, "filter": filter}, key=key))
    connectors = found["organization"]["connectors"]
    ids = [edge["node"]["id"] for edge in connectors["edges"]]
    assert connectors["totalCount"] == len(ids)
    return ids, found["organization"]["connectorCountsByStatus"]


def later_than(instant: str) -> None:
    """Wait until the clock (the servers' too: same machine) is past a millisecond instant."""
    while now_ms() <= parse_iso(instant):
        time.sleep(0.002)


def test_updated_since_lists_only_connectors_changed_later(indexed: Server) -> None:
    organization = create_organization(indexed, name="Since Org")["id"]
    spot = {"latitude": -33.80, "longitude": 151.20}
    made = [create_connector(indexed, organization, coordinates=spot) for _ in range(3)]
    since = max(connector["updatedAt"] for connector in made)
    later_than(since)
    changed = data(indexed.query(SET_STATUS, {"id": made[1]["id"], "status": "CHARGING"}))[
        "setConnectorStatus"
    ]
    assert changed["updatedAt"] > since

    mine = {"organizationId": organization}
    assert listed(indexed, {**mine, "updatedSince": since}) == ([made[1]["id"]], 1)
    # Strictly later: the connector's own updatedAt no longer lists it.
    assert listed(indexed, {**mine, "updatedSince": changed["updatedAt"]}) == ([], 0)
    before_all = iso(parse_iso(made[0]["createdAt"]) - timedelta(milliseconds=1))
    assert listed(indexed, {**mine, "updatedSince": before_all}) == (
        [connector["id"] for connector in made],
        3,
    )
    # The same instant written with another offset means the same.
    elsewhere = parse_iso(since).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert listed(indexed, {**mine, "updatedSince": elsewhere}) == ([made[1]["id"]], 1)
    # Searches and an organization's list take the filter too.
    assert near(indexed, spot, 100, {"updatedSince": since}) == [made[1]["id"]]
    assert of_organization(indexed, organization, filter={"updatedSince": since})[0] == [
        made[1]["id"]
    ]


@pytest.mark.parametrize("value", ["yesterday", "2024-01-01T00:00:00", 5])
def test_a_malformed_updated_since_is_refused_naming_it(indexed: Server, value: Any) -> None:
    refused = error(indexed.query(LIST, {"filter": {"updatedSince": value}}))
    assert refused["extensions"]["code"] == "BAD_USER_INPUT", refused
    # graphql-core's variable coercion names the field and the type it expected.
    assert "updatedSince" in refused["message"] and "DateTime" in refused["message"], refused


@pytest.mark.parametrize("literal", ['"yesterday"', '"2024-01-01T00:00:00"', "5"])
def test_a_malformed_updated_since_literal_is_refused_before_anything_runs(
    indexed: Server, literal: str
) -> None:
    query = f"{{ connectors(filter: {{updatedSince: {literal}}}) {{ totalCount }} }}"
    answer = indexed.query(query)
    assert "data" not in answer or answer["data"] is None, answer
    (refused,) = answer["errors"]
    # A bad literal is the query's fault, not the server's: never INTERNAL_SERVER_ERROR.
    assert refused["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}, refused
    assert "DateTime" in refused["message"], refused
    assert refused["locations"] == [{"line": 1, "column": query.index(literal) + 1}]


def test_updated_at_order_pages_stay_stable_while_connectors_change(indexed: Server) -> None:
    """Pages ordered by UPDATED_AT continue after the cursor's (updatedAt, id).

    A connector changed during the walk gets a later updatedAt, so it moves to the end:
    one the walk has already passed is listed again there, with its new updatedAt (a client
    syncing by updatedAt learns of the change); one the walk has not reached yet is listed
    once, at the end, never at its old place. Every other connector is listed exactly once,
    in order, and totalCount does not change.
    """
    organization = create_organization(indexed, name="Order Org")["id"]
    created = [create_connector(indexed, organization) for _ in range(6)]
    made = [connector["id"] for connector in created]
    mine = {"filter": {"organizationId": organization}}

    default, _ = listed(indexed, mine["filter"])
    by_creation, _ = listed(indexed, mine["filter"], order="CREATED_AT")
    assert default == by_creation == made

    seen: list[tuple[str, str]] = []
    totals = set()
    after = None
    changed_first = changed_later = None
    while True:
        page = data(
            indexed.query(ORDERED, {**mine, "first": 2, "after": after, "order": "UPDATED_AT"})
        )["connectors"]
        seen += [(edge["node"]["id"], edge["node"]["updatedAt"]) for edge in page["edges"]]
        totals.add(page["totalCount"])
        if changed_first is None:
            # After the first page: change one connector already listed, and one not yet
            # (both then have the latest updatedAt).
            later_than(max(connector["updatedAt"] for connector in created))
            changed_first = data(indexed.query(SET_STATUS, {"id": made[0], "status": "CHARGING"}))
            changed_later = data(indexed.query(UPDATE, {"id": made[3], "input": {"power": 22.0}}))
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert changed_first is not None and changed_later is not None
    ids = [connector_id for connector_id, _ in seen]
    assert ids == [made[0], made[1], made[2], made[4], made[5], made[0], made[3]]
    assert totals == {6}
    instants = [updated for _, updated in seen]
    assert instants[-2:] == [
        changed_first["setConnectorStatus"]["updatedAt"],
        changed_later["updateConnector"]["updatedAt"],
    ]
    assert instants == sorted(instants)
    again, total = listed(indexed, mine["filter"], order="UPDATED_AT")
    assert (again, total) == ([made[1], made[2], made[4], made[5], made[0], made[3]], 6)


def test_a_server_answers_with_its_own_writes_at_once(indexed: Server) -> None:
    """Every write is followed at once (no waiting) by searches on the same server."""
    owner = create_organization(indexed, name="Own Writes")["id"]
    other = create_organization(indexed, name="Other Writes")["id"]
    own_key = create_key(indexed, owner)["key"]
    here = {"latitude": -33.87, "longitude": 151.21}
    there = {"latitude": -33.89, "longitude": 151.21}  # about 2.2 km south
    mine = {"organizationId": owner}

    connector = create_connector(
        indexed, owner, coordinates=here, status="AVAILABLE", power=11.0, type="TYPE2"
    )["id"]
    assert near(indexed, here, 200) == [connector]
    assert listed(indexed, mine, key=None)[0] == [connector]
    assert of_organization(indexed, owner, key=None) == (
        [connector],
        [{"status": "AVAILABLE", "count": 1}],
    )

    data(indexed.query(UPDATE, {"id": connector, "input": {"coordinates": there}}))
    assert near(indexed, here, 200) == []
    assert near(indexed, there, 200) == [connector]
    box = {"s": -33.9, "w": 151.2, "n": -33.88, "e": 151.22}
    assert data(indexed.query(BOUNDS, box, key=None))["connectorsInBounds"]["edges"] == [
        {"node": {"id": connector}}
    ]

    data(indexed.query(SET_STATUS, {"id": connector, "status": "FAULTED"}))
    assert near(indexed, there, 200, {"availableOnly": True}) == []
    assert near(indexed, there, 200, {"statuses": ["FAULTED"]}) == [connector]
    assert of_organization(indexed, owner, key=None)[1] == [{"status": "FAULTED", "count": 1}]

    data(indexed.query(UPDATE, {"id": connector, "input": {"power": 150.0, "type": "CCS2"}}))
    assert near(indexed, there, 200, {"minPowerKw": 100, "types": ["CCS2"]}) == [connector]
    assert near(indexed, there, 200, {"maxPowerKw": 100}) == []

    data(indexed.query(UPDATE, {"id": connector, "input": {"active": False}}))
    assert near(indexed, there, 200) == []
    assert near(indexed, there, 200, {"active": False}, key=None) == []
    assert near(indexed, there, 200, {"active": False}, key=own_key) == [connector]
    assert near(indexed, there, 200, {"active": False}, key=ADMIN_KEY) == [connector]
    assert listed(indexed, mine, key=None) == ([], 0)
    assert listed(indexed, mine, key=own_key) == ([connector], 1)
    assert of_organization(indexed, owner, key=None) == ([], [])
    assert of_organization(indexed, owner, key=own_key) == (
        [connector],
        [{"status": "FAULTED", "count": 1}],
    )

    data(
        indexed.query(UPDATE, {"id": connector, "input": {"active": True, "organizationId": other}})
    )
    assert of_organization(indexed, owner) == ([], [])
    assert of_organization(indexed, other) == ([connector], [{"status": "FAULTED", "count": 1}])
    assert near(indexed, there, 200, {"organizationId": other}) == [connector]
    assert near(indexed, there, 200, {"organizationId": owner}) == []

    data(indexed.query(UPDATE, {"id": connector, "input": {"coordinates": None}}))
    assert near(indexed, there, 200) == []
    assert listed(indexed, {"organizationId": other}) == ([connector], 1)

    data(indexed.query(UPDATE, {"id": connector, "input": {"coordinates": here}}))
    assert near(indexed, here, 200) == [connector]
    assert data(indexed.query(DELETE, {"id": connector}))["deleteConnector"] == connector
    assert near(indexed, here, 200) == []
    assert listed(indexed, {"organizationId": other}) == ([], 0)
    assert of_organization(indexed, other) == ([], [])
    assert data(indexed.query(CONNECTOR, {"id": connector}))["connector"] is None


def test_a_write_through_another_server_reaches_the_index(
    servers: tuple[Server, Server], db: Database[dict[str, Any]], world: dict[str, Any]
) -> None:
    """Two servers behind one address: what one writes, the other soon finds."""
    indexed, elsewhere = servers
    organization = create_organization(indexed, name="Elsewhere Org")["id"]
    spot = {"latitude": -33.95, "longitude": 151.30}
    questions = [
        Question("nearby", "anonymous", {"lat": -33.95, "lng": 151.30, "radius": 100.0}),
        Question("list", "anonymous", filter={"organizationId": organization}),
        Question("owned", "org0", {"organization": organization}),
        Question("counts", "anonymous", {"organization": organization}),
    ]
    callers = world["callers"]
    connector = create_connector(elsewhere, organization, coordinates=spot)["id"]
    assert [doc["_id"] for doc in documents(db)].count(ObjectId(connector)) == 1
    agreement_within(indexed, db, questions, callers, CHANGE_STREAM_WAIT, "created elsewhere")
    data(elsewhere.query(SET_STATUS, {"id": connector, "status": "CHARGING"}))
    agreement_within(indexed, db, questions, callers, CHANGE_STREAM_WAIT, "status set elsewhere")
    moved = {"coordinates": {"latitude": -33.9505, "longitude": 151.30}, "active": False}
    data(elsewhere.query(UPDATE, {"id": connector, "input": moved}))
    agreement_within(indexed, db, questions, callers, CHANGE_STREAM_WAIT, "changed elsewhere")
    data(elsewhere.query(DELETE, {"id": connector}))
    agreement_within(indexed, db, questions, callers, CHANGE_STREAM_WAIT, "deleted elsewhere")


CONNECTOR_ACTIVE = "query($id: ID!) { connector(id: $id) { id active } }"


def test_active_that_is_not_a_boolean_is_inactive_on_both_servers(
    servers: tuple[Server, Server], db: Database[dict[str, Any]], world: dict[str, Any]
) -> None:
    """Connectors written straight into MongoDB with `active` missing, null, 0, 1 or a string
    are inactive: hidden from anonymous callers and other organizations, shown (as inactive)
    to admins and their own organization, alike by searches, lists, counts and single reads,
    from the index and from the database."""
    organizations = world["organizations"]
    callers: dict[str, Caller] = world["callers"]
    spot = {"latitude": -34.42, "longitude": 150.89}
    inserted = []
    for number, value in enumerate([MISSING, None, 1, 0, "yes", "true", True, False] * 2):
        values = {
            "type": "TYPE2",
            "format": "CABLE",
            "powerType": "AC_3_PHASE",
            "power": 22.0,
            "status": "AVAILABLE",
            "active": value,
            "coordinates": spot,
        }
        document = stored_connector(organizations[0 if number % 2 else 2], values)
        inserted.append(db.connectors.insert_one(document).inserted_id)
    stored = {doc["_id"]: doc for doc in db.connectors.find({"_id": {"$in": inserted}})}
    assert sum(stored_active(doc) for doc in stored.values()) == 2

    here = {"lat": spot["latitude"], "lng": spot["longitude"], "radius": 50.0}
    questions = [Question("nearby", name, here) for name in CALLERS]
    for name in CALLERS:
        for active in (None, True, False):
            questions.append(Question("nearby", name, here, {"active": active}))
            for organization in (organizations[0], organizations[2]):
                filter = {"organizationId": organization, "active": active}
                questions.append(Question("list", name, filter=filter))
                questions.append(Question("owned", name, {"organization": organization}, filter))
        for organization in (organizations[0], organizations[2]):
            questions.append(Question("counts", name, {"organization": organization}))
    indexed, fallback = servers
    agreement_within(indexed, db, questions, callers, CHANGE_STREAM_WAIT, "odd active written")
    assert_agreement(fallback, db, questions, callers, "odd active, database server")
    for server in (indexed, fallback):
        for name in CALLERS:
            caller = callers[name]
            for connector_id, doc in stored.items():
                answer = server.query(CONNECTOR_ACTIVE, {"id": str(connector_id)}, key=caller.key)
                expected = (
                    {"id": str(connector_id), "active": stored_active(doc)}
                    if caller.sees(doc)
                    else None
                )
                assert data(answer)["connector"] == expected, (name, doc.get("active", MISSING))
    db.connectors.delete_many({"_id": {"$in": inserted}})
