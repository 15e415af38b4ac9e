"""A connector's maximum voltage and current: given, changed, removed, refused, and served
by lists (the in-memory index) as stored."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.server import Server, connector_input, create_organization, data, error

FIELDS = "id maxVoltage maxAmperage"
CREATE = (
    f"mutation($input: CreateConnectorInput!) {{ createConnector(input: $input) {{ {FIELDS} }} }}"
)
UPDATE = f"mutation($id: ID!, $input: UpdateConnectorInput!) {{ updateConnector(id: $id, input: $input) {{ {FIELDS} }} }}"
LIST = f"query($org: ID!) {{ connectors(filter: {{organizationId: $org}}, first: 10) {{ edges {{ node {{ {FIELDS} }} }} }} }}"


def listed(server: Server, organization_id: str) -> list[dict[str, Any]]:
    edges = data(server.query(LIST, {"org": organization_id}))["connectors"]["edges"]
    return [edge["node"] for edge in edges]


def test_ratings_are_stored_changed_removed_and_listed(server: Server) -> None:
    organization = create_organization(server)
    created = data(
        server.query(
            CREATE, {"input": connector_input(organization["id"], maxVoltage=230, maxAmperage=32)}
        )
    )["createConnector"]
    assert created["maxVoltage"] == 230 and created["maxAmperage"] == 32
    plain = data(server.query(CREATE, {"input": connector_input(organization["id"])}))[
        "createConnector"
    ]
    assert plain["maxVoltage"] is None and plain["maxAmperage"] is None
    assert {tuple(c.values()) for c in listed(server, organization["id"])} == {
        (created["id"], 230, 32),
        (plain["id"], None, None),
    }
    changed = data(server.query(UPDATE, {"id": created["id"], "input": {"maxVoltage": 400}}))[
        "updateConnector"
    ]
    assert changed == {"id": created["id"], "maxVoltage": 400, "maxAmperage": 32}
    removed = data(server.query(UPDATE, {"id": created["id"], "input": {"maxAmperage": None}}))[
        "updateConnector"
    ]
    assert removed == {"id": created["id"], "maxVoltage": 400, "maxAmperage": None}
    assert created["id"] in {
        c["id"]
        for c in listed(server, organization["id"])
        if c["maxVoltage"] == 400 and c["maxAmperage"] is None
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"maxVoltage": 0}, "input.maxVoltage"),
        ({"maxVoltage": 1501}, "input.maxVoltage"),
        ({"maxAmperage": -1}, "input.maxAmperage"),
        ({"maxAmperage": 3001}, "input.maxAmperage"),
    ],
)
def test_bad_ratings_name_the_field_and_change_nothing(
    server: Server, db: Database[Any], changes: dict[str, Any], field: str
) -> None:
    organization = create_organization(server)
    count = db.connectors.count_documents({})
    refused = error(server.query(CREATE, {"input": connector_input(organization["id"], **changes)}))
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert field in refused["message"]
    assert db.connectors.count_documents({}) == count
    created = data(server.query(CREATE, {"input": connector_input(organization["id"])}))[
        "createConnector"
    ]
    before = db.connectors.find_one({"_id": ObjectId(created["id"])})
    refused = error(server.query(UPDATE, {"id": created["id"], "input": changes}))
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert db.connectors.find_one({"_id": ObjectId(created["id"])}) == before
