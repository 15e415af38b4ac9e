"""connectorClusters and clusterConnectors end to end, checked against a brute force grid.

The brute force (tests/support/clusters.py) pages `connectorsInBounds` for the
same bounds, filter and caller, and groups what it returns by 64-pixel cell
in plain Python: the clusters must hold exactly those connectors.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import bson
import pytest

from tests.support.access import create_key
from tests.support.clusters import CELL_PX, TILE_PX, brute_clusters
from tests.support.live import set_status
from tests.support.server import (
    ADMIN_KEY,
    Server,
    create_connector,
    create_organization,
    data,
    error,
    server_fixture,
)

CLUSTERS = """
query($bounds: BoundsInput!, $zoom: Int!, $filter: ConnectorFilter) {
  connectorClusters(bounds: $bounds, zoom: $zoom, filter: $filter) {
    totalCount
    clusters {
      id count expansionZoom maxPowerKw
      coordinates { latitude longitude }
      countsByStatus { status count }
      bounds { south west north east }
    }
    connectors { id status }
  }
}
"""
IN_BOUNDS = """
query($s: Float!, $w: Float!, $n: Float!, $e: Float!, $filter: ConnectorFilter, $after: String) {
  connectorsInBounds(south: $s, west: $w, north: $n, east: $e, filter: $filter, first: 100, after: $after) {
    totalCount
    edges { node { id status power coordinates { latitude longitude } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MEMBERS = """
query($id: ID!, $first: Int, $after: String) {
  clusterConnectors(id: $id, first: $first, after: $after) {
    totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor }
  }
}
"""

AMSTERDAM = {"south": 52.0, "west": 4.4, "north": 52.75, "east": 5.4}
CENTRE = {"south": 52.33, "west": 4.82, "north": 52.41, "east": 4.98}
WORLD = {"south": -60.0, "west": -180.0, "north": 70.0, "east": 180.0}
# Fiji, across the antimeridian.
FIJI = {"south": -17.5, "west": 179.0, "north": -15.5, "east": -179.0}
STATION = (52.3676, 4.9041)  # three connectors of one station, at one point
STATUSES = ["AVAILABLE", "AVAILABLE", "CHARGING", "FAULTED"]


@pytest.fixture(scope="module")
def network(server: Server) -> dict[str, Any]:
    rng = random.Random(23)
    owner = create_organization(server, name="Cluster Owner")
    other = create_organization(server, name="Cluster Other")

    def add(organization: dict[str, Any], latitude: float, longitude: float, **fields: Any) -> None:
        create_connector(
            server,
            organization["id"],
            coordinates={"latitude": round(latitude, 6), "longitude": round(longitude, 6)},
            status=rng.choice(STATUSES),
            type=rng.choice(["TYPE2", "CCS2"]),
            power=rng.choice([11.0, 50.0, 150.0]),
            **fields,
        )

    for _ in range(70):
        add(rng.choice([owner, other]), 52.37 + rng.gauss(0, 0.08), 4.9 + rng.gauss(0, 0.12))
    for _ in range(3):
        add(owner, *STATION)
    for _ in range(6):
        add(owner, 52.37 + rng.gauss(0, 0.1), 4.9 + rng.gauss(0, 0.1), active=False)
    for _ in range(4):
        add(other, 52.37 + rng.gauss(0, 0.1), 4.9 + rng.gauss(0, 0.1), active=False)
    for _ in range(16):
        longitude = rng.choice([179.7, -179.7]) + rng.uniform(-0.25, 0.25)
        add(other, -16.5 + rng.uniform(-0.4, 0.4), (longitude + 180) % 360 - 180)
    return {"owner": owner, "other": other, "owner_key": create_key(server, owner["id"])["key"]}


def clusters_of(
    server: Server,
    bounds: dict[str, float],
    zoom: int,
    filter: dict[str, Any] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    variables = {"bounds": bounds, "zoom": zoom, "filter": filter}
    answer: dict[str, Any] = data(server.query(CLUSTERS, variables, key=key))["connectorClusters"]
    return answer


def in_bounds(
    server: Server, bounds: dict[str, float], filter: dict[str, Any] | None, key: str | None
) -> tuple[int, list[dict[str, Any]]]:
    """Every connector `connectorsInBounds` pages through, and its totalCount."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        variables = {
            "s": bounds["south"],
            "w": bounds["west"],
            "n": bounds["north"],
            "e": bounds["east"],
            "filter": filter,
            "after": after,
        }
        page = data(server.query(IN_BOUNDS, variables, key=key))["connectorsInBounds"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return page["totalCount"], nodes
        after = page["pageInfo"]["endCursor"]


def members_of(server: Server, cluster_id: str, key: str | None) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = data(server.query(MEMBERS, {"id": cluster_id, "first": 7, "after": after}, key=key))
        listed = page["clusterConnectors"]
        ids += [edge["node"]["id"] for edge in listed["edges"]]
        if not listed["pageInfo"]["hasNextPage"]:
            return ids
        after = listed["pageInfo"]["endCursor"]


def check_against_brute_force(
    server: Server,
    bounds: dict[str, float],
    zoom: int,
    filter: dict[str, Any] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """The answer, once checked cluster by cluster against the brute force grid."""
    answer = clusters_of(server, bounds, zoom, filter, key)
    total, nodes = in_bounds(server, bounds, filter, key)
    assert answer["totalCount"] == total == len(nodes)
    assert sum(c["count"] for c in answer["clusters"]) + len(answer["connectors"]) == total
    brute = brute_clusters(
        (
            (
                node["id"],
                node["coordinates"]["latitude"],
                node["coordinates"]["longitude"],
                node["status"],
                node["power"],
            )
            for node in nodes
        ),
        zoom,
    )
    lone = {next(iter(group.ids)) for group in brute.values() if len(group.members) == 1}
    assert {c["id"] for c in answer["connectors"]} == lone
    expected = {group.ids: group for group in brute.values() if len(group.members) > 1}
    seen: set[str] = set(lone)
    for cluster in answer["clusters"]:
        members = members_of(server, cluster["id"], key)
        assert len(members) == len(set(members)) == cluster["count"]
        # Each connector in exactly one cluster, or alone.
        assert seen.isdisjoint(members)
        seen.update(members)
        group = expected.pop(frozenset(members))
        assert {s["status"]: s["count"] for s in cluster["countsByStatus"]} == group.statuses()
        latitude, longitude = group.centroid()
        assert cluster["coordinates"]["latitude"] == pytest.approx(latitude, abs=1e-9)
        assert cluster["coordinates"]["longitude"] == pytest.approx(longitude, abs=1e-9)
        box = cluster["bounds"]
        assert (box["south"], box["west"], box["north"], box["east"]) == group.bounds()
        assert cluster["maxPowerKw"] == max(member[4] for member in group.members)
        assert cluster["expansionZoom"] == group.split_zoom(zoom)
    assert not expected, "the brute force has clusters the answer lacks"
    assert seen == {node["id"] for node in nodes}
    return answer


@pytest.mark.parametrize("zoom", [2, 6, 9, 11, 13])
@pytest.mark.parametrize(
    "filter",
    [None, {"availableOnly": True, "minPowerKw": 50}, {"types": ["CCS2"]}],
    ids=["no filter", "available 50 kW", "CCS2"],
)
def test_clusters_hold_what_a_brute_force_grid_holds(
    server: Server, network: dict[str, Any], zoom: int, filter: dict[str, Any] | None
) -> None:
    bounds = WORLD if zoom < 6 else AMSTERDAM if zoom < 12 else CENTRE
    answer = check_against_brute_force(server, bounds, zoom, filter, key=None)
    assert answer["totalCount"] > 0


def test_the_antimeridian_is_one_viewport(server: Server, network: dict[str, Any]) -> None:
    answer = check_against_brute_force(server, FIJI, 8)
    longitudes = [c["coordinates"]["longitude"] for c in answer["clusters"]]
    # Clusters on both sides, none drawn across the line.
    assert any(lng > 0 for lng in longitudes) and any(lng < 0 for lng in longitudes)
    assert answer["totalCount"] == 16


def test_expansion_zoom_really_splits_the_cluster(server: Server, network: dict[str, Any]) -> None:
    answer = clusters_of(server, AMSTERDAM, 9)
    splittable = [c for c in answer["clusters"] if c["expansionZoom"] <= 20]
    assert splittable
    for cluster in splittable:
        box = cluster["bounds"]
        zoom = cluster["expansionZoom"]
        deeper = clusters_of(server, box, zoom)
        assert deeper["totalCount"] == cluster["count"]
        assert len(deeper["clusters"]) + len(deeper["connectors"]) >= 2
        if zoom - 1 > 9:
            # One zoom before, still one cluster.
            before = clusters_of(server, box, zoom - 1)
            assert [c["count"] for c in before["clusters"]] == [cluster["count"]]


def test_one_stations_connectors_never_split(server: Server, network: dict[str, Any]) -> None:
    latitude, longitude = STATION
    box = {"south": latitude, "west": longitude, "north": latitude, "east": longitude}
    answer = clusters_of(server, box, 20)
    assert answer["connectors"] == []
    (cluster,) = answer["clusters"]
    assert cluster["count"] == 3 and cluster["expansionZoom"] == 21
    assert cluster["bounds"] == box


def test_the_same_cluster_wherever_the_map_is_panned(
    server: Server, network: dict[str, Any]
) -> None:
    zoom = 10
    cell_degrees = 360 / (2**zoom * TILE_PX / CELL_PX)
    wide = clusters_of(server, AMSTERDAM, zoom)
    for shift in (0.013, 0.041, -0.027):
        panned_bounds = {
            "south": AMSTERDAM["south"] + 0.15 + shift,
            "west": AMSTERDAM["west"] + 0.2 + shift,
            "north": AMSTERDAM["north"] - 0.15 + shift,
            "east": AMSTERDAM["east"] - 0.2 + shift,
        }
        panned = clusters_of(server, panned_bounds, zoom)
        # Clusters a whole cell away from the viewport's edges hold whole cells.
        inner = [
            c
            for c in panned["clusters"]
            if c["bounds"]["south"] > panned_bounds["south"] + cell_degrees
            and c["bounds"]["north"] < panned_bounds["north"] - cell_degrees
            and c["bounds"]["west"] > panned_bounds["west"] + cell_degrees
            and c["bounds"]["east"] < panned_bounds["east"] - cell_degrees
        ]
        assert inner
        for cluster in inner:
            assert cluster in wide["clusters"]


def test_each_caller_counts_only_what_it_may_see(server: Server, network: dict[str, Any]) -> None:
    inactive = {"active": False}
    anonymous = clusters_of(server, AMSTERDAM, 9, inactive, key=None)
    assert anonymous == {"totalCount": 0, "clusters": [], "connectors": []}
    own = check_against_brute_force(server, AMSTERDAM, 9, inactive, key=network["owner_key"])
    assert own["totalCount"] == 6
    admin = check_against_brute_force(server, AMSTERDAM, 9, inactive, key=ADMIN_KEY)
    assert admin["totalCount"] == 10
    # Without a filter every caller sees the active connectors: the same clusters.
    everyone = [clusters_of(server, AMSTERDAM, 9, key=k) for k in (None, network["owner_key"])]
    assert everyone[0] == everyone[1]
    assert everyone[0]["totalCount"] == 73
    # An admin's cluster of inactive connectors is not listed to anonymous callers.
    cluster_id = admin["clusters"][0]["id"]
    refused = error(server.query(MEMBERS, {"id": cluster_id}, key=None))
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["extensions"]["field"] == "id"


def test_members_are_paged_in_creation_order(server: Server, network: dict[str, Any]) -> None:
    biggest = max(clusters_of(server, AMSTERDAM, 9)["clusters"], key=lambda c: c["count"])
    first = data(server.query(MEMBERS, {"id": biggest["id"], "first": 2}, key=None))
    page = first["clusterConnectors"]
    assert page["totalCount"] == biggest["count"] and len(page["edges"]) == 2
    assert page["pageInfo"]["hasNextPage"] is (biggest["count"] > 2)
    everything = members_of(server, biggest["id"], None)
    assert everything == sorted(everything)
    assert [edge["node"]["id"] for edge in page["edges"]] == everything[:2]


def test_a_cluster_whose_members_changed_is_refused(
    server: Server, network: dict[str, Any]
) -> None:
    filter = {"availableOnly": True}
    cluster = max(clusters_of(server, AMSTERDAM, 8, filter)["clusters"], key=lambda c: c["count"])
    members = members_of(server, cluster["id"], None)
    set_status(server, members[0], "CHARGING")
    try:
        refused = error(server.query(MEMBERS, {"id": cluster["id"]}, key=None))
        assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
        assert "changed" in refused["message"]
        # Asked again, the cluster has a new id that lists its members.
        again = max(clusters_of(server, AMSTERDAM, 8, filter)["clusters"], key=lambda c: c["count"])
        assert again["count"] == cluster["count"] - 1
        assert members_of(server, again["id"], None) == members[1:]
    finally:
        set_status(server, members[0], "AVAILABLE")


def forged(cluster_id: str, **changes: Any) -> str:
    """A cluster id with some of what it says changed."""
    raw = base64.urlsafe_b64decode(cluster_id + "=" * (-len(cluster_id) % 4))
    document = {**bson.decode(raw), **changes}
    return base64.urlsafe_b64encode(bson.encode(document)).decode().rstrip("=")


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"bounds": AMSTERDAM, "zoom": -1}, "zoom"),
        ({"bounds": AMSTERDAM, "zoom": 21}, "zoom"),
        ({"bounds": {**AMSTERDAM, "south": 53.0}, "zoom": 9}, "bounds.south"),
        ({"bounds": {**AMSTERDAM, "north": 95.0}, "zoom": 9}, "bounds.north"),
        ({"bounds": {**AMSTERDAM, "west": -181.0}, "zoom": 9}, "bounds.west"),
        # Europe at city zoom: far more than a screen.
        ({"bounds": {"south": 35, "west": -10, "north": 60, "east": 30}, "zoom": 12}, "bounds"),
        (
            {"bounds": AMSTERDAM, "zoom": 9, "filter": {"minPowerKw": 99, "maxPowerKw": 1}},
            "filter.minPowerKw",
        ),
    ],
    ids=["zoom -1", "zoom 21", "inverted", "north 95", "west -181", "oversized", "power range"],
)
def test_bad_viewports_are_refused_naming_the_argument(
    server: Server, network: dict[str, Any], variables: dict[str, Any], field: str
) -> None:
    refused = error(server.query(CLUSTERS, variables, key=None))
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["extensions"]["field"] == field
    assert field.split(".")[-1] in refused["message"]


def test_cluster_ids_from_another_zoom_or_filter_or_made_up_are_refused(
    server: Server, network: dict[str, Any]
) -> None:
    cluster = max(clusters_of(server, AMSTERDAM, 9)["clusters"], key=lambda c: c["count"])
    bad_ids = [
        "not a cluster",
        forged(cluster["id"], z=10),
        forged(cluster["id"], q={"active": True, "status": {"$in": ["Charging"]}}),
        forged(cluster["id"], q={"_id": "x"}),
        forged(cluster["id"], z=99),
        forged(cluster["id"], b=["a", 1, 2, 3]),
        # Known fields with values no filter makes: never evaluated, never sent to MongoDB.
        forged(cluster["id"], q={"active": {"$ne": 5}}),
        forged(cluster["id"], q={"active": True, "type": {"$regex": "^(a+)+$"}}),
        forged(cluster["id"], q={"active": True, "power": {"$gte": "fifty"}}),
        forged(cluster["id"], q={"active": True, "organization": {"$gt": ""}}),
    ]
    for bad in bad_ids:
        refused = error(server.query(MEMBERS, {"id": bad}, key=None))
        assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}, bad
    too_many = error(server.query(MEMBERS, {"id": cluster["id"], "first": 101}, key=None))
    assert too_many["extensions"]["field"] == "first"


database_server = server_fixture(
    "A server on the same database answering from MongoDB, not from its index.",
    CHARGEGRAPH_SEARCH="database",
)


@pytest.mark.parametrize(
    ("bounds", "zoom", "filter"),
    [
        (AMSTERDAM, 9, None),
        (FIJI, 8, None),
        (CENTRE, 13, {"availableOnly": True}),
        (WORLD, 2, None),
    ],
)
def test_the_database_engine_gives_the_same_clusters(
    server: Server,
    database_server: Server,
    network: dict[str, Any],
    bounds: dict[str, float],
    zoom: int,
    filter: dict[str, Any] | None,
) -> None:
    from_index = clusters_of(server, bounds, zoom, filter)
    from_database = clusters_of(database_server, bounds, zoom, filter)
    assert from_database == from_index
    assert from_index["totalCount"] > 0
    for cluster in from_database["clusters"]:
        assert members_of(database_server, cluster["id"], None) == members_of(
            server, cluster["id"], None
        )
