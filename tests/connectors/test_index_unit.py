"""The connector index's data structures, in process, against a brute force over plain dicts.

The end-to-end tests compare whole servers; these drive the index through the
awkward cases directly: ids out of order and ending in zero bytes, tombstones
and compaction, rows moving after the grid order was built, the antimeridian,
and `active` stored as something else than a boolean (as a tool writing the
collection directly may leave it), where the index must answer what the
database answers to the same filter.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId, Timestamp
from pymongo.database import Database
from strawberry import ID

from graph.connectors.filters import connector_query
from graph.connectors.index import MAX_UNSORTED, ConnectorIndex
from graph.connectors.search import drivers_query
from graph.connectors.types import Connector, ConnectorFilter
from graph.core.geo import Box, location_fields
from graph.core.viewer import ADMIN, ANONYMOUS, Role, Viewer
from graph.core.visibility import ACTIVE, INACTIVE, can_see, visible_query
from tests.support.brute import stored_active
from tests.support.distance import great_circle_m, same_distance

ORGANIZATIONS = [ObjectId() for _ in range(3)]
STATUSES = ["Available", "Charging", "Faulted"]
START = datetime(2026, 1, 1, tzinfo=UTC)
# What `active` may hold: the API writes booleans; a tool writing directly may leave it out
# (MISSING), or store null, a number, a string or an array.
MISSING = object()
ACTIVE_VALUES: list[Any] = [True, True, True, False, MISSING, None, 1, 0, 1.0, "yes", "true"]
ACTIVE_VALUES += [[True], [1], []]


def connector(rng: random.Random, connector_id: ObjectId | None = None) -> dict[str, Any]:
    moment = START + timedelta(milliseconds=rng.randrange(10**9))
    document: dict[str, Any] = {
        "_id": connector_id or ObjectId(rng.randbytes(11) + bytes([rng.choice([0, 0, 7])])),
        "active": rng.choice(ACTIVE_VALUES),
        "status": rng.choice(STATUSES),
        "endpoint": "".join(rng.choice("abc123") for _ in range(4)),
        "ocppId": rng.randrange(1, 5),
        "type": rng.choice(["Type2", "CCS2"]),
        "format": "CABLE",
        "power_type": "AC_3_PHASE",
        "power": rng.choice([7.4, 22.0, 150.0]),
        "createdAt": moment,
        "updatedAt": moment + timedelta(milliseconds=rng.randrange(5)),
        "organization": rng.choice(ORGANIZATIONS),
    }
    if document["active"] is MISSING:
        del document["active"]
    if rng.random() < 0.9:
        # Around a point near the antimeridian, and around a city.
        latitude, longitude = rng.choice([(-16.5, 179.95), (52.37, 4.89)])
        longitude = (longitude + rng.uniform(-0.1, 0.1) + 180) % 360 - 180
        document.update(location_fields(latitude + rng.uniform(-0.1, 0.1), longitude))
    return document


def matches(document: dict[str, Any], query: dict[str, Any]) -> bool:
    for field, condition in query.items():
        if field == "active":
            if stored_active(document) != (condition is True):
                return False
        elif field == "power":
            value = document["power"]
            if value < condition.get("$gte", -1e9) or value > condition.get("$lte", 1e9):
                return False
        elif isinstance(condition, dict):
            if document.get(field) not in condition["$in"]:
                return False
        elif document.get(field) != condition:
            return False
    return True


def within(document: dict[str, Any], latitude: float, longitude: float, radius: float) -> float:
    geo = document.get("geo")
    if not geo:
        return -1.0
    distance = great_circle_m(latitude, longitude, geo["lat"], geo["lng"])
    return distance if distance <= radius else -1.0


def check(
    index: ConnectorIndex, stored: dict[ObjectId, dict[str, Any]], rng: random.Random
) -> None:
    query: dict[str, Any] = rng.choice(
        [
            {},
            {"active": ACTIVE},
            {"active": dict(INACTIVE)},
            {"status": {"$in": ["Available"]}, "organization": ORGANIZATIONS[0]},
            {"power": {"$gte": 20.0}},
        ]
    )
    everything = sorted(
        (doc for doc in stored.values() if matches(doc, query)), key=lambda doc: doc["_id"].binary
    )
    assert index.count_matching(query) == len(everything)
    # Id-ordered pages, walked to the end.
    walked: list[ObjectId] = []
    after = None
    while True:
        page = index.page(query, 7, after)
        walked += [doc["_id"] for doc in page.documents]
        if not page.more:
            break
        after = walked[-1]
    assert walked == [doc["_id"] for doc in everything]
    # Read back as stored, but for the grid cells of `geo`, which only the database path uses.
    for doc in everything:
        held = index.get(doc["_id"])
        assert held is not None
        assert held.pop("geo", None) == (
            {"lat": doc["geo"]["lat"], "lng": doc["geo"]["lng"]} if "geo" in doc else None
        )
        # `active` as the API reads it: true or false.
        as_read = {**doc, "active": stored_active(doc)}
        assert held == {key: value for key, value in as_read.items() if key != "geo"}
    # Nearest first, walked to the end.
    latitude, longitude = rng.choice([(-16.5, 179.99), (52.37, 4.9), (0.0, 0.0)])
    radius = rng.choice([500.0, 5000.0, 20000.0])
    expected = sorted(
        (distance, doc["_id"].binary)
        for doc in everything
        if (distance := within(doc, latitude, longitude, radius)) >= 0
    )
    seen: list[tuple[float, bytes]] = []
    cursor = None
    while True:
        nearby = index.nearby(query, latitude, longitude, radius, 5, cursor)
        seen += [(distance, doc["_id"].binary) for distance, doc in nearby.hits]
        if not nearby.more:
            break
        cursor = (seen[-1][0], ObjectId(seen[-1][1]))
    assert [key for _, key in seen] == [key for _, key in expected]
    assert all(
        same_distance(found, due) for (found, _), (due, _) in zip(seen, expected, strict=True)
    )
    assert index.count_nearby(query, latitude, longitude, radius) == len(expected)
    # A box across the antimeridian.
    box = Box(-16.6, 179.9, -16.4, -179.9)
    in_box = [
        doc["_id"]
        for doc in everything
        if doc.get("geo") and box.contains(doc["geo"]["lat"], doc["geo"]["lng"])
    ]
    page = index.page(query, 1000, None, box=box)
    assert [doc["_id"] for doc in page.documents] == in_box


def test_index_answers_like_a_brute_force_through_inserts_moves_and_deletes() -> None:
    rng = random.Random(7)
    stored = {doc["_id"]: doc for doc in (connector(rng) for _ in range(300))}
    index = ConnectorIndex.from_documents(
        [list(stored.values())[:150], list(stored.values())[150:]]
    )
    for step in range(60):
        action = rng.random()
        if action < 0.3:
            doc = connector(rng)
            stored[doc["_id"]] = doc
            index.upsert(doc)
        elif action < 0.7 and stored:
            connector_id = rng.choice(list(stored))
            doc = connector(rng, connector_id)
            stored[connector_id] = doc
            index.upsert(doc)
        elif stored:
            connector_id = rng.choice(list(stored))
            del stored[connector_id]
            index.remove(connector_id)
        if step % 6 == 0:
            check(index, stored, rng)
    check(index, stored, rng)
    assert index.count == len(stored)


def test_index_survives_many_moves_and_a_compaction() -> None:
    rng = random.Random(11)
    stored = {doc["_id"]: doc for doc in (connector(rng) for _ in range(3000))}
    index = ConnectorIndex.from_documents([list(stored.values())])
    check(index, stored, rng)  # builds the grid order
    for connector_id in list(stored)[: MAX_UNSORTED // 2]:
        stored[connector_id] = connector(rng, connector_id)
        index.upsert(stored[connector_id])
    check(index, stored, rng)
    for connector_id in list(stored)[:2000]:
        del stored[connector_id]
        index.remove(connector_id)
    assert index.dead < 2000  # compacted on the way
    check(index, stored, rng)
    assert index.count == len(stored) == 1000


def test_active_that_is_not_a_boolean_reads_alike_from_the_index_and_the_database(
    db: Database[dict[str, Any]],
) -> None:
    """Connectors written straight into MongoDB with every kind of `active`: the index keeps
    them all, and for every filter the API builds (each caller, each `active` filter) it
    finds exactly what the database finds; single reads agree too."""
    rng = random.Random(5)
    owner, stranger = ORGANIZATIONS[0], ORGANIZATIONS[1]
    documents = []
    for number, value in enumerate(ACTIVE_VALUES * 2):
        document = connector(rng)
        document["active"] = value
        if value is MISSING:
            del document["active"]
        document["organization"] = owner if number % 2 else stranger
        documents.append(document)
    db.connectors.insert_many(documents)
    stored = list(db.connectors.find({}))
    index = ConnectorIndex.from_documents([stored])
    assert index.count == len(stored) == len(documents) and index.irregular == 0

    viewers = [
        ANONYMOUS,
        Viewer(Role.APP, app="an app"),
        Viewer(Role.ORGANIZATION, organization_id=owner),
        ADMIN,
    ]
    for viewer in viewers:
        for active in (None, True, False):
            for build in (connector_query, drivers_query):
                for named in (None, str(owner)):
                    filter = ConnectorFilter(
                        active=active, organization_id=None if named is None else ID(named)
                    )
                    query = visible_query(build(filter), viewer)
                    if query is None:
                        continue
                    from_database = sorted(doc["_id"] for doc in db.connectors.find(query))
                    from_index = sorted(doc["_id"] for doc in index.select(query, None, 10**6))
                    assert from_index == from_database, (viewer, filter, build)
                    assert index.count_matching(query) == len(from_database)
                    # And what the brute force says the filter keeps.
                    keeps = active if active is not None or build is connector_query else True
                    expected = sorted(
                        doc["_id"]
                        for doc in stored
                        if (keeps is None or stored_active(doc) == keeps)
                        and (viewer.manages(doc["organization"]) or stored_active(doc))
                        and (named is None or doc["organization"] == owner)
                    )
                    assert from_database == expected, (viewer, filter, build)
        for doc in stored:
            held = index.get(doc["_id"])
            assert held is not None
            assert can_see(viewer, held) == can_see(viewer, doc)
            assert can_see(viewer, doc) == (
                viewer.manages(doc["organization"]) or stored_active(doc)
            )
            assert Connector.from_document(held).active is Connector.from_document(doc).active
            assert Connector.from_document(doc).active is stored_active(doc)
    # Status counts: the index's and the database's, without inactive ones.
    for owner_id in (owner, stranger):
        pipeline: list[dict[str, Any]] = [
            {"$match": {"organization": owner_id, "active": ACTIVE}},
            {"$group": {"_id": "$status", "n": {"$sum": 1}}},
        ]
        counted = {row["_id"]: row["n"] for row in db.connectors.aggregate(pipeline)}
        held_counts = index.owner_status_counts("organization", owner_id, {"active": ACTIVE})
        assert held_counts == counted
        assert sum(counted.values()) == sum(
            1 for doc in stored if doc["organization"] == owner_id and stored_active(doc)
        )
    # Changes applied later keep the rule too, an `active` removed included.
    changed = stored[0]
    for value in ACTIVE_VALUES:
        document = {key: item for key, item in changed.items() if key != "active"}
        if value is not MISSING:
            document["active"] = value
        index.apply_change(
            {
                "operationType": "replace",
                "documentKey": {"_id": changed["_id"]},
                "clusterTime": Timestamp(1, 1),
                "fullDocument": document,
            }
        )
        assert index.count_matching({"active": ACTIVE, "_id": changed["_id"]}) == int(
            stored_active(document)
        )
        assert index.count_matching({"active": dict(INACTIVE), "_id": changed["_id"]}) == int(
            not stored_active(document)
        )
