"""Connector queries and mutations against a real server and database."""

from __future__ import annotations

import re
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.server import (
    CONNECTOR_FIELDS,
    Server,
    connector_input,
    create_connector,
    create_organization,
    data,
    error,
)

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UNKNOWN_ID = "5eafcdaf9e7760a2646be432"

CREATE = f"mutation($input: CreateConnectorInput!) {{ createConnector(input: $input) {{ {CONNECTOR_FIELDS} }} }}"
UPDATE = f"mutation($id: ID!, $input: UpdateConnectorInput!) {{ updateConnector(id: $id, input: $input) {{ {CONNECTOR_FIELDS} }} }}"
SET_STATUS = "mutation($id: ID!, $status: ConnectorStatus!) { setConnectorStatus(id: $id, status: $status) { id status updatedAt } }"
GET = f"query($id: ID!) {{ connector(id: $id) {{ {CONNECTOR_FIELDS} }} }}"


@pytest.fixture(scope="module")
def organization(server: Server) -> dict[str, Any]:
    return create_organization(server, name="Connector Tests Org")


def test_created_connector_reads_back_like_the_seed(
    server: Server, db: Database[dict[str, Any]], organization: dict[str, Any]
) -> None:
    created = create_connector(
        server,
        organization["id"],
        endpoint="A3D2",
        type="TYPE2",
        powerType="AC_3_PHASE",
        coordinates={"latitude": 52.37, "longitude": 4.89},
    )
    assert created["endpoint"] == "a3d2"
    assert created["status"] == "AVAILABLE" and created["active"] is True
    assert created["coordinates"] == {"latitude": 52.37, "longitude": 4.89}
    assert created["organization"] == {"id": organization["id"], "name": "Connector Tests Org"}
    assert ISO_MS.fullmatch(created["createdAt"]) and created["createdAt"] == created["updatedAt"]

    stored = db.connectors.find_one({"_id": ObjectId(created["id"])})
    assert stored is not None
    assert {
        key: stored[key] for key in ("status", "type", "format", "power_type", "power", "ocppId")
    } == {
        "status": "Available",
        "type": "Type2",
        "format": "CABLE",
        "power_type": "AC_3_PHASE",
        "power": 7.2,
        "ocppId": 1,
    }
    assert stored["organization"] == ObjectId(organization["id"])
    assert stored["location"] == {"type": "Point", "coordinates": [4.89, 52.37]}

    fetched = data(server.query(GET, {"id": created["id"]}))["connector"]
    assert fetched == created


def test_connector_by_endpoint_ignores_case(server: Server, organization: dict[str, Any]) -> None:
    created = create_connector(server, organization["id"], endpoint="bq7z")
    for spelling in ("BQ7Z", "bq7z", "Bq7Z"):
        found = data(
            server.query(
                "query($e: String!) { connectorByEndpoint(endpoint: $e) { id } }", {"e": spelling}
            )
        )["connectorByEndpoint"]
        assert found == {"id": created["id"]}
    missing = server.query('{ connectorByEndpoint(endpoint: "zz99") { id } }')
    assert data(missing)["connectorByEndpoint"] is None


def test_unknown_id_reads_as_null(server: Server) -> None:
    assert data(server.query(GET, {"id": UNKNOWN_ID}))["connector"] is None


def test_endpoint_conflict_is_case_insensitive(
    server: Server, db: Database[dict[str, Any]], organization: dict[str, Any]
) -> None:
    create_connector(server, organization["id"], endpoint="c0f1")
    before = db.connectors.count_documents({})
    refused = error(
        server.query(
            CREATE,
            {"input": connector_input(organization["id"], endpoint="C0F1", type="CCS2")},
        )
    )
    assert refused["extensions"]["code"] == "CONFLICT"
    assert "endpoint" in refused["message"]
    assert db.connectors.count_documents({}) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"endpoint": "abc"}, "input.endpoint"),
        ({"endpoint": "abcde"}, "input.endpoint"),
        ({"endpoint": "ab-1"}, "input.endpoint"),
        ({"endpoint": "ab\u00e91"}, "input.endpoint"),
        ({"ocppId": 0}, "input.ocppId"),
        ({"ocppId": -3}, "input.ocppId"),
        ({"power": 0}, "input.power"),
        ({"power": -7.2}, "input.power"),
        ({"power": 1e9}, "input.power"),
        ({"coordinates": {"latitude": 91, "longitude": 0}}, "input.coordinates.latitude"),
        ({"coordinates": {"latitude": 0, "longitude": -180.5}}, "input.coordinates.longitude"),
        ({"organizationId": "not-an-id"}, "input.organizationId"),
    ],
)
def test_create_refuses_bad_input(
    server: Server,
    db: Database[dict[str, Any]],
    organization: dict[str, Any],
    changes: dict[str, Any],
    field: str,
) -> None:
    values = {**connector_input(organization["id"], format="SOCKET", power=22), **changes}
    before = db.connectors.count_documents({})
    refused = error(server.query(CREATE, {"input": values}))
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert field.split(".")[-1] in refused["message"]
    assert db.connectors.count_documents({}) == before


def test_create_for_unknown_organization_is_not_found(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    before = db.connectors.count_documents({})
    refused = error(
        server.query(
            CREATE,
            {"input": connector_input(UNKNOWN_ID)},
        )
    )
    assert refused["extensions"]["code"] == "NOT_FOUND"
    assert "organizationId" in refused["message"]
    assert db.connectors.count_documents({}) == before


def test_update_changes_only_given_fields(
    server: Server, db: Database[dict[str, Any]], organization: dict[str, Any]
) -> None:
    created = create_connector(
        server, organization["id"], coordinates={"latitude": 48.85, "longitude": 2.35}
    )
    updated = data(
        server.query(UPDATE, {"id": created["id"], "input": {"power": 11, "active": False}})
    )["updateConnector"]
    assert updated["power"] == 11 and updated["active"] is False
    unchanged = {
        key: value for key, value in created.items() if key not in ("power", "active", "updatedAt")
    }
    assert {key: updated[key] for key in unchanged} == unchanged
    assert updated["createdAt"] == created["createdAt"]
    assert updated["updatedAt"] > created["updatedAt"]

    cleared = data(server.query(UPDATE, {"id": created["id"], "input": {"coordinates": None}}))[
        "updateConnector"
    ]
    assert cleared["coordinates"] is None
    stored = db.connectors.find_one({"_id": ObjectId(created["id"])})
    assert stored is not None and "location" not in stored and stored["active"] is False


def test_update_can_move_to_another_organization(
    server: Server, organization: dict[str, Any]
) -> None:
    other = create_organization(server, name="Other Owner")
    created = create_connector(server, organization["id"])
    moved = data(
        server.query(UPDATE, {"id": created["id"], "input": {"organizationId": other["id"]}})
    )
    assert moved["updateConnector"]["organization"]["id"] == other["id"]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"active": None}, "BAD_USER_INPUT", "input.active"),
        ({"endpoint": "toolong"}, "BAD_USER_INPUT", "input.endpoint"),
        ({"power": -1}, "BAD_USER_INPUT", "input.power"),
        ({"organizationId": UNKNOWN_ID}, "NOT_FOUND", "input.organizationId"),
    ],
)
def test_update_refuses_bad_input_and_changes_nothing(
    server: Server,
    db: Database[dict[str, Any]],
    organization: dict[str, Any],
    changes: dict[str, Any],
    code: str,
    field: str,
) -> None:
    created = create_connector(server, organization["id"])
    before = db.connectors.find_one({"_id": ObjectId(created["id"])})
    refused = error(server.query(UPDATE, {"id": created["id"], "input": {"power": 50, **changes}}))
    assert refused["extensions"]["code"] == code
    assert refused["extensions"]["field"] == field
    assert db.connectors.find_one({"_id": ObjectId(created["id"])}) == before


def test_update_to_a_taken_endpoint_conflicts(server: Server, organization: dict[str, Any]) -> None:
    first = create_connector(server, organization["id"])
    second = create_connector(server, organization["id"])
    refused = error(
        server.query(UPDATE, {"id": second["id"], "input": {"endpoint": first["endpoint"].upper()}})
    )
    assert refused["extensions"]["code"] == "CONFLICT"


def test_mutations_on_unknown_or_malformed_ids(server: Server) -> None:
    for mutation, variables in (
        (UPDATE, {"input": {"power": 3}}),
        (SET_STATUS, {"status": "CHARGING"}),
        ("mutation($id: ID!) { deleteConnector(id: $id) }", {}),
    ):
        missing = error(server.query(mutation, {"id": UNKNOWN_ID, **variables}))
        assert missing["extensions"]["code"] == "NOT_FOUND"
        malformed = error(server.query(mutation, {"id": "42", **variables}))
        assert malformed["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}


def test_set_status_moves_updated_at_only_on_a_real_change(
    server: Server, organization: dict[str, Any]
) -> None:
    created = create_connector(server, organization["id"])
    charging = data(server.query(SET_STATUS, {"id": created["id"], "status": "CHARGING"}))[
        "setConnectorStatus"
    ]
    assert charging["status"] == "CHARGING" and charging["updatedAt"] > created["updatedAt"]
    again = data(server.query(SET_STATUS, {"id": created["id"], "status": "CHARGING"}))[
        "setConnectorStatus"
    ]
    assert again == charging


def test_unknown_enum_value_is_refused(server: Server, organization: dict[str, Any]) -> None:
    created = create_connector(server, organization["id"])
    refused = error(server.query(SET_STATUS, {"id": created["id"], "status": "Charging"}))
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert "status" in refused["message"]


def test_delete_returns_the_id_and_removes_it(
    server: Server, db: Database[dict[str, Any]], organization: dict[str, Any]
) -> None:
    created = create_connector(server, organization["id"])
    deleted = data(
        server.query("mutation($id: ID!) { deleteConnector(id: $id) }", {"id": created["id"]})
    )
    assert deleted == {"deleteConnector": created["id"]}
    assert db.connectors.find_one({"_id": ObjectId(created["id"])}) is None
    assert data(server.query(GET, {"id": created["id"]}))["connector"] is None
