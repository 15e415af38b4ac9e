"""Connector and organization lists: filters, cursor paging, counts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.server import Server, create_connector, create_organization, data, error

LIST = """
query($filter: ConnectorFilter, $first: Int, $after: String) {
  connectors(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor node { id endpoint status type format powerType power active organization { id } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# (type, format, powerType, power, status, active, organization index)
CONNECTORS = [
    ("TYPE2", "SOCKET", "AC_3_PHASE", 11.0, "AVAILABLE", True, 0),
    ("TYPE2", "CABLE", "AC_3_PHASE", 22.0, "CHARGING", True, 0),
    ("CCS2", "CABLE", "DC", 50.0, "AVAILABLE", True, 0),
    ("CCS2", "CABLE", "DC", 150.0, "FAULTED", True, 1),
    ("G105", "CABLE", "DC", 50.0, "AVAILABLE", False, 1),
    ("J1772", "CABLE", "AC_SINGLE_PHASE", 7.4, "CHARGING", True, 1),
    ("TESLA", "CABLE", "DC", 250.0, "AVAILABLE", True, 2),
    ("CCS1", "CABLE", "DC", 50.0, "RESERVED", True, 2),
]


@pytest.fixture(scope="module")
def network(server: Server) -> dict[str, Any]:
    organizations = [create_organization(server, name=f"List Org {index}") for index in range(3)]
    connectors = [
        create_connector(
            server,
            organizations[owner]["id"],
            type=kind,
            format=shape,
            powerType=power_type,
            power=power,
            status=status,
            active=active,
        )
        for kind, shape, power_type, power, status, active, owner in CONNECTORS
    ]
    return {"organizations": organizations, "connectors": connectors}


def ids_matching(network: dict[str, Any], keep: Any) -> list[str]:
    return [
        connector["id"]
        for connector, row in zip(network["connectors"], CONNECTORS, strict=True)
        if keep(row)
    ]


def listed(server: Server, filter: dict[str, Any] | None) -> tuple[list[str], int]:
    connection = data(server.query(LIST, {"filter": filter, "first": 100}))["connectors"]
    return [edge["node"]["id"] for edge in connection["edges"]], connection["totalCount"]


@pytest.mark.parametrize(
    ("filter", "keep"),
    [
        (None, lambda row: True),
        ({}, lambda row: True),
        ({"statuses": ["AVAILABLE"]}, lambda row: row[4] == "AVAILABLE"),
        ({"statuses": ["CHARGING", "FAULTED"]}, lambda row: row[4] in ("CHARGING", "FAULTED")),
        ({"types": ["CCS2", "CCS1"]}, lambda row: row[0] in ("CCS2", "CCS1")),
        ({"formats": ["SOCKET"]}, lambda row: row[1] == "SOCKET"),
        ({"powerTypes": ["DC"]}, lambda row: row[2] == "DC"),
        ({"active": False}, lambda row: not row[5]),
        ({"minPowerKw": 50}, lambda row: row[3] >= 50),
        ({"maxPowerKw": 22}, lambda row: row[3] <= 22),
        (
            {"minPowerKw": 20, "maxPowerKw": 60, "powerTypes": ["DC"], "active": True},
            lambda row: 20 <= row[3] <= 60 and row[2] == "DC" and row[5],
        ),
        ({"statuses": []}, lambda row: False),
    ],
)
def test_filters_select_exactly_the_matching_connectors(
    server: Server, network: dict[str, Any], filter: dict[str, Any] | None, keep: Any
) -> None:
    ids, total = listed(server, filter)
    expected = ids_matching(network, keep)
    assert ids == expected
    assert total == len(expected)


def test_filter_by_organization(server: Server, network: dict[str, Any]) -> None:
    second = network["organizations"][1]["id"]
    ids, total = listed(server, {"organizationId": second})
    assert ids == ids_matching(network, lambda row: row[6] == 1) and total == 3


@pytest.mark.parametrize(
    ("filter", "field"),
    [
        ({"organizationId": "xyz"}, "filter.organizationId"),
        ({"minPowerKw": 100, "maxPowerKw": 50}, "filter.minPowerKw"),
    ],
)
def test_bad_filters_are_refused(server: Server, filter: dict[str, Any], field: str) -> None:
    refused = error(server.query(LIST, {"filter": filter}))
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


def test_paging_visits_every_connector_once_even_with_inserts(
    server: Server, network: dict[str, Any]
) -> None:
    seen: list[str] = []
    after = None
    inserted = False
    while True:
        page = data(server.query(LIST, {"first": 3, "after": after}))["connectors"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        assert [edge["cursor"] for edge in page["edges"]][-1:] == [page["pageInfo"]["endCursor"]]
        if not inserted:
            # A connector added while a client pages through must not shift the pages.
            extra = create_connector(server, network["organizations"][0]["id"])
            inserted = True
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    everything = [connector["id"] for connector in network["connectors"]] + [extra["id"]]
    assert sorted(seen) == sorted(set(seen))
    assert set(everything) <= set(seen)


def test_empty_page_and_page_size_limits(server: Server, network: dict[str, Any]) -> None:
    empty = data(server.query(LIST, {"first": 0}))["connectors"]
    assert empty["edges"] == [] and empty["pageInfo"] == {"hasNextPage": True, "endCursor": None}
    for first in (-1, 101):
        refused = error(server.query(LIST, {"first": first}))
        assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
        assert "first" in refused["message"]
    refused = error(server.query(LIST, {"after": "bm90LWEtY3Vyc29y"}))
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


ORDERED = """
query($after: String, $order: ConnectorOrder!) {
  connectors(first: 2, after: $after, orderBy: $order) { edges { cursor node { id } } }
}
"""


def test_a_cursor_continues_only_the_order_it_came_from(
    server: Server, network: dict[str, Any]
) -> None:
    cursors = {
        order: data(server.query(ORDERED, {"order": order}))["connectors"]["edges"][0]["cursor"]
        for order in ("CREATED_AT", "UPDATED_AT")
    }
    for order, other in (("CREATED_AT", "UPDATED_AT"), ("UPDATED_AT", "CREATED_AT")):
        refused = error(server.query(ORDERED, {"order": order, "after": cursors[other]}))
        assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


ORGANIZATION_CONNECTORS = """
query($first: Int, $after: String, $filter: ConnectorFilter) {
  organizations(first: 10) {
    totalCount
    edges { node {
      name
      connectorCountsByStatus { status count }
      connectors(first: $first, after: $after, filter: $filter) {
        totalCount edges { node { id } } pageInfo { hasNextPage endCursor }
      }
    } }
  }
}
"""


def test_organization_connectors_and_status_counts(server: Server, network: dict[str, Any]) -> None:
    result = data(server.query(ORGANIZATION_CONNECTORS, {"first": 2}))["organizations"]
    by_name = {edge["node"]["name"]: edge["node"] for edge in result["edges"]}
    second = by_name["List Org 1"]
    assert second["connectors"]["totalCount"] == 3
    assert [edge["node"]["id"] for edge in second["connectors"]["edges"]] == ids_matching(
        network, lambda row: row[6] == 1
    )[:2]
    assert second["connectors"]["pageInfo"]["hasNextPage"] is True
    assert second["connectorCountsByStatus"] == [
        {"status": "AVAILABLE", "count": 1},
        {"status": "CHARGING", "count": 1},
        {"status": "FAULTED", "count": 1},
    ]

    after = second["connectors"]["pageInfo"]["endCursor"]
    rest = data(server.query(ORGANIZATION_CONNECTORS, {"first": 2, "after": after}))[
        "organizations"
    ]
    rest_by_name = {edge["node"]["name"]: edge["node"] for edge in rest["edges"]}
    assert [edge["node"]["id"] for edge in rest_by_name["List Org 1"]["connectors"]["edges"]] == (
        ids_matching(network, lambda row: row[6] == 1)[2:]
    )

    dc = data(
        server.query(ORGANIZATION_CONNECTORS, {"first": 10, "filter": {"powerTypes": ["DC"]}})
    )
    dc_by_name = {edge["node"]["name"]: edge["node"] for edge in dc["organizations"]["edges"]}
    assert dc_by_name["List Org 0"]["connectors"]["totalCount"] == 1
    assert dc_by_name["List Org 2"]["connectors"]["totalCount"] == 2


def test_organizations_are_paged(server: Server, network: dict[str, Any]) -> None:
    query = "query($after: String) { organizations(first: 2, after: $after) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }"
    first = data(server.query(query))["organizations"]
    second = data(server.query(query, {"after": first["pageInfo"]["endCursor"]}))["organizations"]
    ids = [edge["node"]["id"] for edge in first["edges"] + second["edges"]]
    assert ids[:3] == [organization["id"] for organization in network["organizations"]]
    assert first["totalCount"] == len(ids) and first["pageInfo"]["hasNextPage"] is True
