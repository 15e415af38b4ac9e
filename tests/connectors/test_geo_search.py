"""nearbyConnectors and connectorsInBounds, checked against an independent brute force."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.database import Database

from tests.support.server import Server, create_connector, create_organization, data, error

NEARBY = """
query($lat: Float!, $lng: Float!, $radius: Float, $filter: ConnectorFilter, $first: Int, $after: String) {
  nearbyConnectors(latitude: $lat, longitude: $lng, radiusMeters: $radius, filter: $filter,
                   first: $first, after: $after) {
    totalCount
    edges { cursor distanceMeters node { id endpoint status active coordinates { latitude longitude } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
BOUNDS = """
query($s: Float!, $w: Float!, $n: Float!, $e: Float!, $filter: ConnectorFilter, $first: Int, $after: String) {
  connectorsInBounds(south: $s, west: $w, north: $n, east: $e, filter: $filter, first: $first, after: $after) {
    totalCount edges { node { id } } pageInfo { hasNextPage endCursor }
  }
}
"""

# Amsterdam and a point 30 km east of it; the network sits around both.
CENTRES = [(52.3728, 4.8936), (52.3728, 5.3360)]
TYPES = ["TYPE2", "CCS2", "G105", "TESLA"]
STATUSES = ["AVAILABLE", "CHARGING", "FAULTED"]


def reference_distance(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine on a sphere of the mean Earth radius, written independently of the code."""
    radius = 6_371_008.8  # mean Earth radius
    a = (
        math.sin(math.radians(lat2 - lat1) / 2) ** 2
        + math.cos(math.radians(lat1))
        * math.cos(math.radians(lat2))
        * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    return 2 * radius * math.atan2(math.sqrt(a), math.sqrt(1 - a))


@pytest.fixture(scope="module")
def network(server: Server) -> list[dict[str, Any]]:
    rng = random.Random(3)
    organization = create_organization(server, name="Geo Org")
    connectors = []
    for index in range(120):
        lat0, lng0 = CENTRES[index % 2]
        latitude = round(lat0 + rng.uniform(-0.15, 0.15), 6)
        longitude = round(lng0 + rng.uniform(-0.25, 0.25), 6)
        connectors.append(
            create_connector(
                server,
                organization["id"],
                type=rng.choice(TYPES),
                power=rng.choice([7.4, 11.0, 22.0, 50.0, 150.0]),
                status=rng.choice(STATUSES),
                active=rng.random() > 0.1,
                coordinates={"latitude": latitude, "longitude": longitude},
            )
        )
    # Without coordinates: never found by a position search.
    create_connector(server, organization["id"])
    return connectors


def walk(
    server: Server, variables: dict[str, Any], page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """Every edge of a nearby search, page by page."""
    edges: list[dict[str, Any]] = []
    after = None
    while True:
        page = data(server.query(NEARBY, {**variables, "first": page_size, "after": after}))[
            "nearbyConnectors"
        ]
        edges += page["edges"]
        if not page["pageInfo"]["hasNextPage"]:
            return edges, page["totalCount"]
        after = page["pageInfo"]["endCursor"]


def brute_force(
    network: list[dict[str, Any]], lat: float, lng: float, radius: float, keep: Any
) -> list[tuple[float, str]]:
    found = []
    for connector in network:
        c = connector["coordinates"]
        distance = reference_distance(lat, lng, c["latitude"], c["longitude"])
        if distance <= radius and connector["active"] and keep(connector):
            found.append((distance, connector["id"]))
    return sorted(found)


def test_nearest_first_with_accurate_distances(
    server: Server, network: list[dict[str, Any]]
) -> None:
    lat, lng = CENTRES[0]
    edges, total = walk(server, {"lat": lat, "lng": lng, "radius": 10_000}, 100)
    expected = brute_force(network, lat, lng, 10_000, lambda c: True)
    assert [edge["node"]["id"] for edge in edges] == [connector_id for _, connector_id in expected]
    assert total == len(expected) > 10
    distances = [edge["distanceMeters"] for edge in edges]
    assert distances == sorted(distances)
    for edge, (reference, _) in zip(edges, expected, strict=True):
        assert edge["distanceMeters"] == pytest.approx(reference, rel=0.005)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    centre=st.sampled_from(CENTRES),
    dlat=st.floats(-0.2, 0.2),
    dlng=st.floats(-0.3, 0.3),
    radius=st.floats(0, 40_000),
    types=st.none() | st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True),
    min_power=st.none() | st.sampled_from([10.0, 22.0, 50.0]),
    available_only=st.none() | st.booleans(),
    page_size=st.integers(1, 40),
)
def test_matches_a_brute_force_scan(
    server: Server,
    network: list[dict[str, Any]],
    centre: tuple[float, float],
    dlat: float,
    dlng: float,
    radius: float,
    types: list[str] | None,
    min_power: float | None,
    available_only: bool | None,
    page_size: int,
) -> None:
    lat, lng = centre[0] + dlat, centre[1] + dlng

    def keep(connector: dict[str, Any]) -> bool:
        return (
            (types is None or connector["type"] in types)
            and (min_power is None or connector["power"] >= min_power)
            and (not available_only or connector["status"] == "AVAILABLE")
        )

    search_filter = {"types": types, "minPowerKw": min_power, "availableOnly": available_only}
    edges, total = walk(
        server, {"lat": lat, "lng": lng, "radius": radius, "filter": search_filter}, page_size
    )
    expected = brute_force(network, lat, lng, radius, keep)
    found = [edge["node"]["id"] for edge in edges]
    assert found == [connector_id for _, connector_id in expected]
    assert total == len(expected)


def test_paging_neither_skips_nor_repeats(server: Server, network: list[dict[str, Any]]) -> None:
    lat, lng = CENTRES[1]
    one_page, _ = walk(server, {"lat": lat, "lng": lng, "radius": 20_000}, 100)
    paged, total = walk(server, {"lat": lat, "lng": lng, "radius": 20_000}, 7)
    assert [edge["node"]["id"] for edge in paged] == [edge["node"]["id"] for edge in one_page]
    assert total == len(paged)


def test_inactive_connectors_are_not_offered_to_drivers(
    server: Server, network: list[dict[str, Any]]
) -> None:
    lat, lng = CENTRES[0]
    edges, _ = walk(server, {"lat": lat, "lng": lng, "radius": 50_000}, 100)
    assert edges and all(edge["node"]["active"] for edge in edges)
    assert len(edges) < len(network)
    asking_inactive = {"lat": lat, "lng": lng, "radius": 50_000, "filter": {"active": False}}
    hidden = data(server.query(NEARBY, asking_inactive, key=None))
    assert hidden["nearbyConnectors"]["totalCount"] == 0
    # An admin (who manages every organization) finds them when asking for them.
    shown = data(server.query(NEARBY, asking_inactive))
    inactive_nearby = [c for c in network if not c["active"] and c["coordinates"] is not None]
    assert 0 < shown["nearbyConnectors"]["totalCount"] <= len(inactive_nearby)
    assert not any(edge["node"]["active"] for edge in shown["nearbyConnectors"]["edges"])


def test_point_on_the_radius_and_radius_zero(server: Server, db: Database[dict[str, Any]]) -> None:
    organization = create_organization(server, name="Edge Org")
    spot = create_connector(
        server, organization["id"], coordinates={"latitude": -33.9, "longitude": 18.4}
    )
    other = create_connector(
        server, organization["id"], coordinates={"latitude": -33.91, "longitude": 18.4}
    )
    exact = data(server.query(NEARBY, {"lat": -33.9, "lng": 18.4, "radius": 0}))["nearbyConnectors"]
    assert [edge["node"]["id"] for edge in exact["edges"]] == [spot["id"]]
    assert exact["edges"][0]["distanceMeters"] == 0

    gap = data(server.query(NEARBY, {"lat": -33.9, "lng": 18.4, "radius": 5000}))[
        "nearbyConnectors"
    ]["edges"][1]
    assert gap["node"]["id"] == other["id"]
    on_radius = data(
        server.query(NEARBY, {"lat": -33.9, "lng": 18.4, "radius": gap["distanceMeters"]})
    )
    assert [edge["node"]["id"] for edge in on_radius["nearbyConnectors"]["edges"]] == [
        spot["id"],
        other["id"],
    ]
    inside = data(
        server.query(NEARBY, {"lat": -33.9, "lng": 18.4, "radius": gap["distanceMeters"] * 0.999})
    )
    assert [edge["node"]["id"] for edge in inside["nearbyConnectors"]["edges"]] == [spot["id"]]


def test_antimeridian_and_poles(server: Server) -> None:
    organization = create_organization(server, name="Far Away Org")
    east = create_connector(
        server, organization["id"], coordinates={"latitude": -16.5, "longitude": 179.99}
    )
    west = create_connector(
        server, organization["id"], coordinates={"latitude": -16.5, "longitude": -179.99}
    )
    create_connector(server, organization["id"], coordinates={"latitude": -16.5, "longitude": 0.0})
    near_line = data(server.query(NEARBY, {"lat": -16.5, "lng": 180.0, "radius": 5000}))[
        "nearbyConnectors"
    ]
    assert {edge["node"]["id"] for edge in near_line["edges"]} == {east["id"], west["id"]}
    for edge in near_line["edges"]:
        assert edge["distanceMeters"] == pytest.approx(
            reference_distance(-16.5, 180, -16.5, 179.99), rel=0.005
        )

    box = data(server.query(BOUNDS, {"s": -17, "w": 179.9, "n": -16, "e": -179.9}))[
        "connectorsInBounds"
    ]
    assert {edge["node"]["id"] for edge in box["edges"]} == {east["id"], west["id"]}
    assert box["totalCount"] == 2

    polar = create_connector(
        server, organization["id"], coordinates={"latitude": 89.99, "longitude": 0.0}
    )
    across_pole = data(server.query(NEARBY, {"lat": 89.99, "lng": 180.0, "radius": 5000}))[
        "nearbyConnectors"
    ]
    assert [edge["node"]["id"] for edge in across_pole["edges"]] == [polar["id"]]
    assert across_pole["edges"][0]["distanceMeters"] == pytest.approx(
        reference_distance(89.99, 180.0, 89.99, 0.0), rel=0.005
    )


def test_empty_area(server: Server) -> None:
    empty = data(server.query(NEARBY, {"lat": 0.0, "lng": -140.0, "radius": 100_000}))[
        "nearbyConnectors"
    ]
    assert empty == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


def test_bounds_match_the_box(server: Server, network: list[dict[str, Any]]) -> None:
    box = {"s": 52.3, "w": 4.8, "n": 52.45, "e": 5.0}
    found, after = [], None
    while True:
        page = data(server.query(BOUNDS, {**box, "first": 10, "after": after}))[
            "connectorsInBounds"
        ]
        found += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    expected = [
        c["id"]
        for c in network
        if c["active"]
        and box["s"] <= c["coordinates"]["latitude"] <= box["n"]
        and box["w"] <= c["coordinates"]["longitude"] <= box["e"]
    ]
    assert found == expected and expected


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        (NEARBY, {"lat": 90.5, "lng": 0}, "latitude"),
        (NEARBY, {"lat": -91, "lng": 0}, "latitude"),
        (NEARBY, {"lat": 0, "lng": 180.01}, "longitude"),
        (NEARBY, {"lat": 0, "lng": 0, "radius": -1}, "radiusMeters"),
        (NEARBY, {"lat": 0, "lng": 0, "radius": 100_001}, "radiusMeters"),
        (NEARBY, {"lat": 0, "lng": 0, "first": 101}, "first"),
        (NEARBY, {"lat": 0, "lng": 0, "after": "bad"}, "after"),
        (BOUNDS, {"s": 10, "w": 0, "n": 5, "e": 1}, "south"),
        (BOUNDS, {"s": -95, "w": 0, "n": 5, "e": 1}, "south"),
        (BOUNDS, {"s": 0, "w": -200, "n": 5, "e": 1}, "west"),
        (BOUNDS, {"s": 0, "w": 0, "n": 5, "e": 1, "first": 500}, "first"),
    ],
)
def test_bad_positions_are_refused(
    server: Server, query: str, variables: dict[str, Any], field: str
) -> None:
    refused = error(server.query(query, variables))
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert field in refused["message"]


def test_infinite_radius_literal_is_refused(server: Server) -> None:
    refused = error(
        server.query(
            "{ nearbyConnectors(latitude: 0, longitude: 0, radiusMeters: 1e999) { totalCount } }"
        )
    )
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "radiusMeters"}
