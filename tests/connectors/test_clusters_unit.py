"""Clustering over the connector index, in process, against the brute force grid.

The end-to-end tests check answers through a server; these drive the index's
changes through the curve order directly: a status written in place, a
connector moved, added with an id out of order, deleted, the index compacted
and cleared, and many random viewports (the antimeridian among them).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from graphql import parse

from graph.compat.strawberry import graphql_schema
from graph.connectors import clusters
from graph.connectors.index import ConnectorIndex
from graph.core.cost import operation_cost
from graph.core.errors import BadUserInput
from graph.core.geo import Box, location_fields
from graph.core.limits import MAX_NODES
from graph.core.visibility import ACTIVE
from graph.schema import schema
from tests.support.clusters import brute_clusters

MOMENT = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ["Available", "Charging", "Faulted"]
# A city and a point on the antimeridian.
PLACES = [(52.37, 4.89), (-16.5, 179.95)]
AVAILABLE = {"active": ACTIVE, "status": {"$in": ["Available"]}}


def connector(rng: random.Random, connector_id: ObjectId | None = None) -> dict[str, Any]:
    latitude, longitude = rng.choice(PLACES)
    longitude = (longitude + rng.uniform(-0.2, 0.2) + 180) % 360 - 180
    return {
        "_id": connector_id or ObjectId(),
        "active": rng.random() > 0.1,
        "status": rng.choice(STATUSES),
        "endpoint": "ab12",
        "ocppId": 1,
        "type": "Type2",
        "format": "CABLE",
        "power_type": "AC_3_PHASE",
        "power": rng.choice([11.0, 50.0]),
        "createdAt": MOMENT,
        "updatedAt": MOMENT,
        "organization": ObjectId("0" * 24),
        **location_fields(latitude + rng.uniform(-0.2, 0.2), longitude),
    }


def matching(documents: dict[ObjectId, dict[str, Any]], query: dict[str, Any], box: Box) -> list:
    found = []
    for document in documents.values():
        if document["active"] is not True:
            continue
        if "status" in query and document["status"] not in query["status"]["$in"]:
            continue
        latitude, longitude = document["geo"]["lat"], document["geo"]["lng"]
        if box.contains(latitude, longitude):
            found.append((str(document["_id"]), latitude, longitude, document["status"], 0.0))
    return found


def check(
    index: ConnectorIndex,
    documents: dict[ObjectId, dict[str, Any]],
    query: dict[str, Any],
    box: Box,
    zoom: int,
) -> clusters.Clustering:
    """The index's clusters hold what the brute force grid holds."""
    answer = clusters.cluster(index, query, box, zoom)
    expected = brute_clusters(matching(documents, query, box), zoom)
    assert answer.total == sum(len(group.members) for group in expected.values())
    lone = {str(document["_id"]) for document in answer.connectors}
    assert lone == {next(iter(g.ids)) for g in expected.values() if len(g.members) == 1}
    groups = {g.ids: g for g in expected.values() if len(g.members) > 1}
    assert len(answer.clusters) == len(groups)
    for figures in answer.clusters:
        key = clusters.read_cluster_id(clusters.cluster_id(figures, query, box))
        rows = clusters.cluster_members(index, key, query)
        group = groups[frozenset(str(d["_id"]) for d in index.documents(rows))]
        assert figures.count == len(group.members)
        assert figures.statuses == group.statuses()
        assert figures.expansion_zoom == group.split_zoom(zoom)
        assert (figures.south, figures.west, figures.north, figures.east) == group.bounds()
    return answer


def random_box(rng: random.Random, zoom: int) -> Box:
    latitude, longitude = rng.choice(PLACES)
    span = min(359.0, 360 / 2**zoom * rng.uniform(0.3, 3.0))
    west = (longitude - span / 2 + rng.uniform(-0.1, 0.1) + 180) % 360 - 180
    east = (longitude + span / 2 + 180) % 360 - 180
    return Box(max(-90.0, latitude - span / 3), west, min(90.0, latitude + span / 3), east)


def test_random_viewports_and_zooms_match_the_brute_force() -> None:
    rng = random.Random(7)
    documents = {d["_id"]: d for d in (connector(rng) for _ in range(1500))}
    index = ConnectorIndex.from_documents([list(documents.values())])
    answered = 0
    for _ in range(150):
        zoom = rng.randrange(0, 16)
        box = random_box(rng, zoom)
        try:
            answer = check(index, documents, rng.choice([{"active": ACTIVE}, AVAILABLE]), box, zoom)
        except BadUserInput as refused:
            assert refused.extensions == {"code": "BAD_USER_INPUT", "field": "bounds"}
            continue
        answered += bool(answer.total)
    assert answered > 100


def test_the_curve_order_follows_every_kind_of_change() -> None:
    rng = random.Random(11)
    documents = {d["_id"]: d for d in (connector(rng) for _ in range(400))}
    index = ConnectorIndex.from_documents([list(documents.values())])
    box, zoom = Box(51.5, 3.5, 53.5, 6.5), 9
    check(index, documents, AVAILABLE, box, zoom)
    order = clusters.spatial_order(index)

    def write(document: dict[str, Any]) -> None:
        documents[document["_id"]] = document
        index.upsert(document)

    # Statuses written in place: the order stays, its copy of the row changes.
    for document in rng.sample(list(documents.values()), 50):
        write({**document, "status": rng.choice(STATUSES), "active": rng.random() > 0.5})
    assert order.valid
    check(index, documents, AVAILABLE, box, zoom)
    # Moved, added (an id older than every other one: rows shift), deleted.
    moved = rng.choice(list(documents.values()))
    write({**moved, **location_fields(52.0, 5.0)})
    check(index, documents, AVAILABLE, box, zoom)
    write(connector(rng, ObjectId("000000000000000000000001")))
    write(connector(rng))
    check(index, documents, AVAILABLE, box, zoom)
    for connector_id in rng.sample(list(documents), 150):
        del documents[connector_id]
        index.remove(connector_id)
        if rng.random() < 0.05:
            check(index, documents, AVAILABLE, box, zoom)
    check(index, documents, AVAILABLE, box, zoom)
    index.clear()
    documents.clear()
    assert clusters.cluster(index, AVAILABLE, box, zoom).total == 0
    write(connector(rng))
    check(index, documents, {"active": ACTIVE}, Box(-90.0, -180.0, 90.0, 180.0), 0)


def test_a_cluster_id_survives_status_changes_of_other_connectors() -> None:
    rng = random.Random(3)
    documents = {d["_id"]: d for d in (connector(rng) for _ in range(300))}
    index = ConnectorIndex.from_documents([list(documents.values())])
    box = Box(51.5, 3.5, 53.5, 6.5)
    answer = clusters.cluster(index, AVAILABLE, box, 8)
    figures = max(answer.clusters, key=lambda f: f.count)
    key = clusters.read_cluster_id(clusters.cluster_id(figures, AVAILABLE, box))
    members = clusters.cluster_members(index, key, AVAILABLE)
    # A connector in the cluster's own cell that the filter leaves out changes status.
    cell = clusters.cell_box(key)
    outsider = next(
        d
        for d in documents.values()
        if d["status"] != "Available" and cell.contains(d["geo"]["lat"], d["geo"]["lng"])
    )
    changed = "Charging" if outsider["status"] == "Faulted" else "Faulted"
    index.upsert({**outsider, "status": changed})
    assert index.get(outsider["_id"])["status"] == changed  # type: ignore[index]
    assert (clusters.cluster_members(index, key, AVAILABLE) == members).all()
    member = index.documents(members[:1])[0]
    index.upsert({**member, "status": "Charging"})
    with pytest.raises(BadUserInput) as refused:
        clusters.cluster_members(index, key, AVAILABLE)
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": "id"}


def test_connector_clusters_costs_one_search() -> None:
    document = parse(
        "{ connectorClusters(bounds: {south: 0, west: 0, north: 1, east: 1}, zoom: 5) "
        "{ totalCount clusters { id } connectors { id } } }"
    )
    assert operation_cost(graphql_schema(schema), document, None, None).searches == 1
    members = parse('{ clusterConnectors(id: "x", first: 10) { edges { node { id } } } }')
    assert operation_cost(graphql_schema(schema), members, None, None).searches == 1


def test_what_clusters_may_hold_counts_in_an_operations_cost() -> None:
    """Lone connectors may fill every cell of the viewport: a page nested in each is
    charged for each, and refused once the answer could exceed its limit."""
    nested = parse(
        "{ connectorClusters(bounds: {south: 0, west: 0, north: 1, east: 1}, zoom: 5) "
        "{ connectors { organization { connectors(first: 5) { edges { node { id } } } } } } }"
    )
    cost = operation_cost(graphql_schema(schema), nested, None, None)
    assert cost.searches == 1 + clusters.MAX_CELLS
    assert cost.nodes > MAX_NODES
    # What the map page asks, every figure of a cluster and a lone connector, fits.
    everything = parse(
        "{ connectorClusters(bounds: {south: 0, west: 0, north: 1, east: 1}, zoom: 5) "
        "{ totalCount clusters { id count expansionZoom maxPowerKw coordinates { latitude "
        "longitude } countsByStatus { status count } bounds { south west north east } } "
        "connectors { id endpoint status type powerType power coordinates { latitude "
        "longitude } organization { name } } } }"
    )
    assert operation_cost(graphql_schema(schema), everything, None, None).nodes <= MAX_NODES
