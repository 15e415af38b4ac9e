"""An organization's OCPI identity (country code and party id): set, changed, removed, refused."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.access import create_key
from tests.support.server import Server, create_organization, data, error

UPDATE = """
mutation($id: ID!, $input: UpdateOrganizationInput!) {
  updateOrganization(id: $id, input: $input) { id ocpi { countryCode partyId } }
}
"""
CREATE = """
mutation($input: CreateOrganizationInput!) {
  createOrganization(input: $input) { id ocpi { countryCode partyId } }
}
"""


def test_ocpi_party_is_set_on_create_changed_and_removed(server: Server) -> None:
    created = data(
        server.query(
            CREATE,
            {"input": {"name": "Roaming CPO", "ocpi": {"countryCode": "NL", "partyId": "TNM"}}},
        )
    )["createOrganization"]
    assert created["ocpi"] == {"countryCode": "NL", "partyId": "TNM"}
    changed = data(
        server.query(
            UPDATE,
            {"id": created["id"], "input": {"ocpi": {"countryCode": "DE", "partyId": "AB1"}}},
        )
    )["updateOrganization"]
    assert changed["ocpi"] == {"countryCode": "DE", "partyId": "AB1"}
    removed = data(server.query(UPDATE, {"id": created["id"], "input": {"ocpi": None}}))
    assert removed["updateOrganization"]["ocpi"] is None
    assert create_organization(server)["id"]  # organizations without it still work


@pytest.mark.parametrize(
    ("party", "field"),
    [
        ({"countryCode": "NLD", "partyId": "TNM"}, "input.ocpi.countryCode"),
        ({"countryCode": "nl", "partyId": "TNM"}, "input.ocpi.countryCode"),
        ({"countryCode": "NL", "partyId": "TN"}, "input.ocpi.partyId"),
        ({"countryCode": "NL", "partyId": "tnm"}, "input.ocpi.partyId"),
        ({"countryCode": "NL", "partyId": "TN*"}, "input.ocpi.partyId"),
    ],
)
def test_bad_ocpi_party_names_the_field_and_changes_nothing(
    server: Server, db: Database[Any], party: dict[str, str], field: str
) -> None:
    organization = create_organization(server)
    before = db.organizations.find_one({"_id": ObjectId(organization["id"])})
    refused = error(server.query(UPDATE, {"id": organization["id"], "input": {"ocpi": party}}))
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert field in refused["message"]
    assert db.organizations.find_one({"_id": ObjectId(organization["id"])}) == before
    count = db.organizations.count_documents({})
    refused = error(server.query(CREATE, {"input": {"name": "X", "ocpi": party}}))
    assert refused["extensions"]["field"] == field
    assert db.organizations.count_documents({}) == count


def test_organization_key_may_not_change_its_ocpi_party(server: Server, db: Database[Any]) -> None:
    organization = create_organization(server)
    key = create_key(server, organization["id"])["key"]
    refused = error(
        server.query(
            UPDATE,
            {"id": organization["id"], "input": {"ocpi": {"countryCode": "NL", "partyId": "TNM"}}},
            key=key,
        )
    )
    assert refused["extensions"]["code"] == "FORBIDDEN"
    stored = db.organizations.find_one({"_id": ObjectId(organization["id"])})
    assert stored is not None and stored.get("ocpi") is None
