"""A leaked or deactivated organization key cannot outgrow what an admin decided."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.database import Database

from graph.access.service import MAX_KEYS_PER_ORGANIZATION
from tests.support.access import CREATE_KEY, ask, create_key, snapshot
from tests.support.server import ADMIN_KEY, Server, create_connector, create_organization, data

UPDATE_ORGANIZATION = """
mutation($id: ID!, $in: UpdateOrganizationInput!) { updateOrganization(id: $id, input: $in) { active } }
"""
KEYS = "query($id: ID!) { organization(id: $id) { apiKeys { id createdBy } } }"
SET_STATUS = "mutation($id: ID!) { setConnectorStatus(id: $id, status: CHARGING) { status } }"


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") in (None, {}) or all(v is None for v in body["data"].values()), body
    first: dict[str, Any] = body["errors"][0]
    return first


def test_an_organization_deactivated_by_an_admin_cannot_write_or_reactivate_itself(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Deactivated Operator")
    connector = create_connector(server, organization["id"])
    key = create_key(server, organization["id"])["key"]
    status, body = ask(
        server, ADMIN_KEY, UPDATE_ORGANIZATION, {"id": organization["id"], "in": {"active": False}}
    )
    assert status == 200 and data(body)["updateOrganization"]["active"] is False
    stored = snapshot(db)
    for query, variables in (
        (CREATE_KEY, {"org": organization["id"], "name": "escape hatch"}),
        (UPDATE_ORGANIZATION, {"id": organization["id"], "in": {"active": True}}),
        (UPDATE_ORGANIZATION, {"id": organization["id"], "in": {"name": "Renamed"}}),
        (SET_STATUS, {"id": connector["id"]}),
    ):
        _, body = ask(server, key, query, variables)
        refused = refusal(body)
        assert refused["extensions"]["code"] == "FORBIDDEN"
        assert "deactivated" in refused["message"]
    assert snapshot(db) == stored
    # Reading is still allowed, so the operator can see what it has.
    _, body = ask(server, key, KEYS, {"id": organization["id"]})
    assert len(data(body)["organization"]["apiKeys"]) == 1


def test_only_admins_change_whether_an_organization_is_active(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Self Managed")
    key = create_key(server, organization["id"])["key"]
    stored = snapshot(db)
    _, body = ask(
        server, key, UPDATE_ORGANIZATION, {"id": organization["id"], "in": {"active": False}}
    )
    refused = refusal(body)
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert "input.active" in refused["message"]
    assert snapshot(db) == stored
    # Its other fields are still its own to change.
    _, body = ask(
        server, key, UPDATE_ORGANIZATION, {"id": organization["id"], "in": {"name": "Renamed"}}
    )
    assert data(body)["updateOrganization"]["active"] is True


def test_keys_record_their_creator_and_an_organization_holds_a_bounded_number(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Key Minter")
    by_admin = create_key(server, organization["id"])
    by_key = create_key(server, organization["id"], key=by_admin["key"])
    _, body = ask(server, ADMIN_KEY, KEYS, {"id": organization["id"]})
    created_by = {row["id"]: row["createdBy"] for row in data(body)["organization"]["apiKeys"]}
    assert created_by == {
        by_admin["apiKey"]["id"]: None,
        by_key["apiKey"]["id"]: by_admin["apiKey"]["id"],
    }
    for _ in range(MAX_KEYS_PER_ORGANIZATION - 2):
        create_key(server, organization["id"], key=by_key["key"])
    live = {"organization": ObjectId(organization["id"]), "revokedAt": None}
    assert db.api_keys.count_documents(live) == MAX_KEYS_PER_ORGANIZATION
    for caller in (by_key["key"], ADMIN_KEY):
        _, body = ask(server, caller, CREATE_KEY, {"org": organization["id"], "name": "one more"})
        refused = refusal(body)
        assert refused["extensions"]["code"] == "CONFLICT"
        assert refused["extensions"]["field"] == "organizationId"
    assert db.api_keys.count_documents(live) == MAX_KEYS_PER_ORGANIZATION
