"""Organization queries and mutations."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.server import (
    ORGANIZATION_FIELDS,
    Server,
    create_connector,
    create_organization,
    data,
    error,
)

UPDATE = f"mutation($id: ID!, $input: UpdateOrganizationInput!) {{ updateOrganization(id: $id, input: $input) {{ {ORGANIZATION_FIELDS} }} }}"
CREATE = f"mutation($input: CreateOrganizationInput!) {{ createOrganization(input: $input) {{ {ORGANIZATION_FIELDS} }} }}"
DELETE = "mutation($id: ID!) { deleteOrganization(id: $id) }"
GET = f"query($id: ID!) {{ organization(id: $id) {{ {ORGANIZATION_FIELDS} }} }}"
ADDRESS = {
    "streetAndNumber": "Rigakade 10",
    "postalCode": "1013BC",
    "city": "Amsterdam",
    "country": "NL",
}


def test_create_and_read_an_organization(server: Server, db: Database[dict[str, Any]]) -> None:
    created = create_organization(server, name="  Rockstart B.V. ", address=ADDRESS)
    assert created["name"] == "Rockstart B.V."
    assert created["address"] == ADDRESS
    assert created["configurations"] == {"basicAuthEnabled": False}
    assert created["active"] is True
    assert data(server.query(GET, {"id": created["id"]}))["organization"] == created
    stored = db.organizations.find_one({"_id": ObjectId(created["id"])})
    assert (
        stored is not None and stored["address"] == ADDRESS and stored["name"] == "Rockstart B.V."
    )


def test_password_is_write_only_and_stored_hashed(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    secret = "station-secret-42"
    created = server.query(
        CREATE,
        {
            "input": {
                "name": "Secretive",
                "configurations": {"basicAuthEnabled": True, "basicAuthPassword": secret},
            }
        },
    )
    assert secret not in str(created)
    organization = data(created)["createOrganization"]
    assert organization["configurations"] == {"basicAuthEnabled": True}
    stored = db.organizations.find_one({"_id": ObjectId(organization["id"])})
    assert stored is not None
    hashed = stored["configurations"]["basicAuthPassword"]
    assert hashed.startswith("scrypt$") and secret not in hashed
    # The schema offers no way to read it back.
    refused = error(
        server.query(
            "{ organizations { edges { node { configurations { basicAuthPassword } } } } }"
        )
    )
    assert refused["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # Nor does a refused request echo it.
    short = error(
        server.query(
            UPDATE,
            {"id": organization["id"], "input": {"configurations": {"basicAuthPassword": "pw"}}},
        )
    )
    assert short["extensions"]["field"] == "input.configurations.basicAuthPassword"
    assert "pw" not in short["message"].replace("password", "").replace("Password", "")
    assert secret not in server.log()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": ""}, "input.name"),
        ({"name": "   "}, "input.name"),
        ({"name": "x" * 201}, "input.name"),
        ({"name": "two\nlines"}, "input.name"),
        ({"address": {"country": "Netherlands"}}, "input.address.country"),
        ({"address": {"country": "nl"}}, "input.address.country"),
        ({"address": {"city": "y" * 500}}, "input.address.city"),
        ({"configurations": {"basicAuthEnabled": True}}, "input.configurations.basicAuthPassword"),
        (
            {"configurations": {"basicAuthPassword": "short"}},
            "input.configurations.basicAuthPassword",
        ),
    ],
)
def test_create_refuses_bad_input(
    server: Server, db: Database[dict[str, Any]], values: dict[str, Any], field: str
) -> None:
    before = db.organizations.count_documents({})
    refused = error(server.query(CREATE, {"input": {"name": "Valid", **values}}))
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert field.split(".")[-1] in refused["message"]
    assert db.organizations.count_documents({}) == before


def test_update_is_partial_and_moves_updated_at(server: Server) -> None:
    created = create_organization(server, name="Partial", address=ADDRESS)
    updated = data(
        server.query(
            UPDATE,
            {"id": created["id"], "input": {"address": {"city": "Utrecht"}, "active": False}},
        )
    )["updateOrganization"]
    assert updated["address"] == {**ADDRESS, "city": "Utrecht"}
    assert updated["active"] is False and updated["name"] == "Partial"
    assert updated["createdAt"] == created["createdAt"]
    assert updated["updatedAt"] > created["updatedAt"]
    removed = data(server.query(UPDATE, {"id": created["id"], "input": {"address": None}}))
    assert removed["updateOrganization"]["address"] is None
    readded = data(
        server.query(UPDATE, {"id": created["id"], "input": {"address": {"country": "BE"}}})
    )
    assert readded["updateOrganization"]["address"] == {
        "streetAndNumber": None,
        "postalCode": None,
        "city": None,
        "country": "BE",
    }


def test_update_refusals_change_nothing(server: Server, db: Database[dict[str, Any]]) -> None:
    created = create_organization(server, name="Guarded")
    before = db.organizations.find_one({"_id": ObjectId(created["id"])})
    for values, code, field in (
        ({"name": None}, "BAD_USER_INPUT", "input.name"),
        (
            {"name": "ok", "configurations": {"basicAuthEnabled": True}},
            "BAD_USER_INPUT",
            "input.configurations.basicAuthPassword",
        ),
        ({"active": None}, "BAD_USER_INPUT", "input.active"),
        ({"configurations": None}, "BAD_USER_INPUT", "input.configurations"),
        (
            {"configurations": {"basicAuthEnabled": None}},
            "BAD_USER_INPUT",
            "input.configurations.basicAuthEnabled",
        ),
    ):
        refused = error(server.query(UPDATE, {"id": created["id"], "input": values}))
        assert refused["extensions"] == {"code": code, "field": field}
    assert db.organizations.find_one({"_id": ObjectId(created["id"])}) == before
    missing = error(
        server.query(UPDATE, {"id": "5e7e6c058a6deccfefdf4223", "input": {"name": "x"}})
    )
    assert missing["extensions"]["code"] == "NOT_FOUND"
    malformed = error(server.query(UPDATE, {"id": "5e7e6c05", "input": {"name": "x"}}))
    assert malformed["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}


def test_delete_is_refused_while_connectors_remain(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Owner")
    connector = create_connector(server, organization["id"])
    refused = error(server.query(DELETE, {"id": organization["id"]}))
    assert refused["extensions"]["code"] == "CONFLICT"
    assert "connector" in refused["message"]
    assert db.organizations.count_documents({"_id": ObjectId(organization["id"])}) == 1

    data(server.query("mutation($id: ID!) { deleteConnector(id: $id) }", {"id": connector["id"]}))
    assert data(server.query(DELETE, {"id": organization["id"]})) == {
        "deleteOrganization": organization["id"]
    }
    assert data(server.query(GET, {"id": organization["id"]}))["organization"] is None
    again = error(server.query(DELETE, {"id": organization["id"]}))
    assert again["extensions"]["code"] == "NOT_FOUND"
