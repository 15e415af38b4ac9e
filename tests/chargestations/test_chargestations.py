"""Charge stations through GraphQL: creating, reading, access, and the connectors they hold."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database

from tests.support.access import create_key, snapshot
from tests.support.server import (
    Server,
    create_chargestation,
    create_connector,
    create_organization,
    data,
    error,
    unique_endpoint,
)

AMSTERDAM = {"latitude": 52.3676, "longitude": 4.9041}
UTRECHT = {"latitude": 52.0907, "longitude": 5.1214}

STATION = """
query($id: ID!) {
  chargestation(id: $id) {
    id active online protocol coordinates { latitude longitude }
    connectorCountsByStatus { status count }
    connectors(first: 10) { totalCount edges { node { ocppId status } } }
  }
}
"""

NEARBY = """
query($lat: Float!, $lng: Float!) {
  nearbyConnectors(latitude: $lat, longitude: $lng, radiusMeters: 2000) {
    edges { node { id } }
  }
}
"""


def nearby_ids(server: Server, point: dict[str, float]) -> set[str]:
    found = data(server.query(NEARBY, {"lat": point["latitude"], "lng": point["longitude"]}))
    return {edge["node"]["id"] for edge in found["nearbyConnectors"]["edges"]}


def test_a_station_is_created_shown_as_created_and_found_by_endpoint_in_any_case(
    server: Server,
) -> None:
    organization = create_organization(server, name="Station Owner")
    station = create_chargestation(
        server, organization["id"], endpoint="CS-Amsterdam.01", coordinates=AMSTERDAM
    )
    assert station["endpoint"] == "CS-Amsterdam.01"
    assert (station["online"], station["protocol"], station["active"]) == (False, None, True)
    by_endpoint = 'query { chargestationByEndpoint(endpoint: "cs-amsterdam.01") { id endpoint } }'
    found = data(server.query(by_endpoint))["chargestationByEndpoint"]
    assert found == {"id": station["id"], "endpoint": "CS-Amsterdam.01"}
    # The identity is all a station needs to connect without Basic auth: not public.
    assert data(server.query(by_endpoint, key=None)) == {"chargestationByEndpoint": None}
    hidden = server.query(
        "query($id: ID!) { chargestation(id: $id) { id endpoint } }",
        {"id": station["id"]},
        key=None,
    )
    assert hidden["data"] == {"chargestation": {"id": station["id"], "endpoint": None}}
    assert error(hidden)["extensions"]["code"] == "UNAUTHENTICATED"
    listed = data(
        server.query(
            "query($org: ID!) { organization(id: $org) { chargestations { edges { node { id } } } } }",
            {"org": organization["id"]},
        )
    )["organization"]["chargestations"]["edges"]
    assert [edge["node"]["id"] for edge in listed] == [station["id"]]


@pytest.mark.parametrize(
    ("input_fields", "field", "code"),
    [
        ({"endpoint": ""}, "input.endpoint", "BAD_USER_INPUT"),
        ({"endpoint": "x" * 49}, "input.endpoint", "BAD_USER_INPUT"),
        ({"endpoint": "has space"}, "input.endpoint", "BAD_USER_INPUT"),
        ({"endpoint": "slash/inside"}, "input.endpoint", "BAD_USER_INPUT"),
        (
            {"coordinates": {"latitude": 91, "longitude": 0}},
            "input.coordinates.latitude",
            "BAD_USER_INPUT",
        ),
        ({"organizationId": "000000000000000000000000"}, "input.organizationId", "NOT_FOUND"),
        ({"organizationId": "not-an-id"}, "input.organizationId", "BAD_USER_INPUT"),
    ],
)
def test_bad_station_input_is_refused_naming_the_field(
    server: Server,
    db: Database[dict[str, Any]],
    input_fields: dict[str, Any],
    field: str,
    code: str,
) -> None:
    organization = create_organization(server, name="Strict Org")
    before = snapshot(db)
    values = {"organizationId": organization["id"], "endpoint": unique_endpoint(), **input_fields}
    refused = error(
        server.query(
            "mutation($input: CreateChargestationInput!) { createChargestation(input: $input) { id } }",
            {"input": values},
        )
    )
    assert refused["extensions"]["code"] == code
    assert refused["extensions"]["field"] == field
    assert field in refused["message"]
    assert snapshot(db) == before


def test_endpoints_are_unique_regardless_of_case(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Unique Org")
    create_chargestation(server, organization["id"], endpoint="Unique-Station")
    before = snapshot(db)
    refused = error(
        server.query(
            "mutation($org: ID!) { createChargestation(input: {organizationId: $org, endpoint: "
            '"UNIQUE-station"}) { id } }',
            {"org": organization["id"]},
        )
    )
    assert refused["extensions"] == {"code": "CONFLICT", "field": "input.endpoint"}
    assert snapshot(db) == before


def test_connectors_of_a_station_stand_at_it_and_move_with_it(server: Server) -> None:
    organization = create_organization(server, name="Placement Org")
    station = create_chargestation(server, organization["id"], coordinates=AMSTERDAM)
    at_station = create_connector(server, organization["id"], chargestationId=station["id"])
    own_place = {"latitude": 52.37, "longitude": 4.90}
    located = create_connector(
        server, organization["id"], chargestationId=station["id"], ocppId=2, coordinates=own_place
    )
    assert at_station["coordinates"] == AMSTERDAM
    assert {at_station["id"], located["id"]} <= nearby_ids(server, AMSTERDAM)
    data(
        server.query(
            "mutation($id: ID!, $at: CoordinatesInput!) { updateChargestation(id: $id, "
            "input: {coordinates: $at}) { id } }",
            {"id": station["id"], "at": UTRECHT},
        )
    )
    assert at_station["id"] in nearby_ids(server, UTRECHT)
    assert at_station["id"] not in nearby_ids(server, AMSTERDAM)
    # A connector with a position of its own stays where it is.
    assert located["id"] in nearby_ids(server, AMSTERDAM)
    bounds = data(
        server.query(
            "query { connectorsInBounds(south: 52.0, west: 5.0, north: 52.2, east: 5.2) "
            "{ edges { node { id chargestation { id } } } } }"
        )
    )["connectorsInBounds"]["edges"]
    assert {"id": at_station["id"], "chargestation": {"id": station["id"]}} in [
        edge["node"] for edge in bounds
    ]


def test_ocpp_ids_are_unique_within_a_station_only(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Numbering Org")
    first = create_chargestation(server, organization["id"])
    second = create_chargestation(server, organization["id"])
    create_connector(server, organization["id"], chargestationId=first["id"], ocppId=1)
    create_connector(server, organization["id"], chargestationId=second["id"], ocppId=1)
    before = snapshot(db)
    refused = error(
        server.query(
            "mutation($input: CreateConnectorInput!) { createConnector(input: $input) { id } }",
            {
                "input": {
                    "organizationId": organization["id"],
                    "chargestationId": first["id"],
                    "endpoint": unique_endpoint(),
                    "ocppId": 1,
                    "type": "TYPE2",
                    "format": "SOCKET",
                    "powerType": "AC_3_PHASE",
                    "power": 11,
                }
            },
        )
    )
    assert refused["extensions"] == {"code": "CONFLICT", "field": "input.ocppId"}
    assert snapshot(db) == before


def test_a_connector_joins_only_a_station_of_its_own_organization(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    mine = create_organization(server, name="Mine")
    theirs = create_organization(server, name="Theirs")
    their_station = create_chargestation(server, theirs["id"])
    connector = create_connector(server, mine["id"])
    before = snapshot(db)
    for query, variables in (
        (
            "mutation($id: ID!, $s: ID!) { updateConnector(id: $id, input: {chargestationId: $s}) "
            "{ id } }",
            {"id": connector["id"], "s": their_station["id"]},
        ),
        (
            "mutation($id: ID!, $s: ID!) { updateConnector(id: $id, input: {chargestationId: $s}) "
            "{ id } }",
            {"id": connector["id"], "s": "000000000000000000000000"},
        ),
    ):
        refused = error(server.query(query, variables))
        assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.chargestationId"}
    assert snapshot(db) == before


def test_deleting_a_station_or_its_organization_waits_for_what_belongs_to_it(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Teardown Org")
    station = create_chargestation(server, organization["id"])
    connector = create_connector(server, organization["id"], chargestationId=station["id"])
    before = snapshot(db)
    refused = error(
        server.query("mutation($id: ID!) { deleteChargestation(id: $id) }", {"id": station["id"]})
    )
    assert refused["extensions"] == {"code": "CONFLICT", "field": "id"}
    assert "1 connector(s)" in refused["message"]
    data(server.query("mutation($id: ID!) { deleteConnector(id: $id) }", {"id": connector["id"]}))
    refused = error(
        server.query(
            "mutation($id: ID!) { deleteOrganization(id: $id) }", {"id": organization["id"]}
        )
    )
    assert refused["extensions"]["code"] == "CONFLICT"
    assert "1 charge station(s)" in refused["message"]
    assert len(snapshot(db)["chargestations"]) == len(before["chargestations"])
    deleted = data(
        server.query("mutation($id: ID!) { deleteChargestation(id: $id) }", {"id": station["id"]})
    )
    assert deleted == {"deleteChargestation": station["id"]}
    data(
        server.query(
            "mutation($id: ID!) { deleteOrganization(id: $id) }", {"id": organization["id"]}
        )
    )


def test_inactive_stations_are_seen_only_by_their_organization(server: Server) -> None:
    organization = create_organization(server, name="Hidden Org")
    hidden = create_chargestation(server, organization["id"], active=False)
    shown = create_chargestation(server, organization["id"])
    connector = create_connector(server, organization["id"], chargestationId=hidden["id"])
    own_key = create_key(server, organization["id"])["key"]
    query = (
        "query($org: ID!) { chargestations(filter: {organizationId: $org}) "
        "{ totalCount edges { node { id } } } }"
    )
    anonymous = data(server.query(query, {"org": organization["id"]}, key=None))
    assert [edge["node"]["id"] for edge in anonymous["chargestations"]["edges"]] == [shown["id"]]
    owner = data(server.query(query, {"org": organization["id"]}, key=own_key))
    assert owner["chargestations"]["totalCount"] == 2
    assert data(server.query(STATION, {"id": hidden["id"]}, key=None)) == {"chargestation": None}
    # The connector is public, its hidden station is not.
    seen = data(
        server.query(
            "query($id: ID!) { connector(id: $id) { chargestation { id } } }",
            {"id": connector["id"]},
            key=None,
        )
    )
    assert seen == {"connector": {"chargestation": None}}


def test_counts_and_connectors_of_a_station(server: Server) -> None:
    organization = create_organization(server, name="Counting Org")
    station = create_chargestation(server, organization["id"])
    for ocpp_id, status in ((1, "AVAILABLE"), (2, "AVAILABLE"), (3, "CHARGING")):
        create_connector(
            server, organization["id"], chargestationId=station["id"], ocppId=ocpp_id, status=status
        )
    create_connector(server, organization["id"])  # not at the station
    shown = data(server.query(STATION, {"id": station["id"]}, key=None))["chargestation"]
    assert shown["connectorCountsByStatus"] == [
        {"status": "AVAILABLE", "count": 2},
        {"status": "CHARGING", "count": 1},
    ]
    assert shown["connectors"]["totalCount"] == 3
    assert [edge["node"]["ocppId"] for edge in shown["connectors"]["edges"]] == [1, 2, 3]


def test_the_online_filter_lists_stations_by_connection(server: Server) -> None:
    organization = create_organization(server, name="Filter Org")
    station = create_chargestation(server, organization["id"])
    query = (
        "query($org: ID!, $online: Boolean) { chargestations(filter: {organizationId: $org, "
        "online: $online}) { edges { node { id } } } }"
    )
    offline = data(server.query(query, {"org": organization["id"], "online": False}))
    online = data(server.query(query, {"org": organization["id"], "online": True}))
    assert [edge["node"]["id"] for edge in offline["chargestations"]["edges"]] == [station["id"]]
    assert online["chargestations"]["edges"] == []


def test_a_partial_update_changes_only_what_is_given(server: Server) -> None:
    organization = create_organization(server, name="Update Org")
    station = create_chargestation(server, organization["id"], coordinates=AMSTERDAM)
    updated = data(
        server.query(
            'mutation($id: ID!) { updateChargestation(id: $id, input: {endpoint: "Renamed-1"}) '
            "{ endpoint active coordinates { latitude longitude } } }",
            {"id": station["id"]},
        )
    )["updateChargestation"]
    assert updated == {"endpoint": "Renamed-1", "active": True, "coordinates": AMSTERDAM}
    refused = error(
        server.query(
            "mutation($id: ID!) { updateChargestation(id: $id, input: {active: null}) { id } }",
            {"id": station["id"]},
        )
    )
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.active"}
