"""A charge station's postal address and IANA time zone: set, changed, removed, refused."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.server import (
    Server,
    create_chargestation,
    create_organization,
    data,
    error,
    unique_endpoint,
)

FIELDS = "id timeZone address { streetAndNumber postalCode city country }"
CREATE = f"mutation($input: CreateChargestationInput!) {{ createChargestation(input: $input) {{ {FIELDS} }} }}"
UPDATE = f"mutation($id: ID!, $input: UpdateChargestationInput!) {{ updateChargestation(id: $id, input: $input) {{ {FIELDS} }} }}"
ADDRESS = {
    "streetAndNumber": "Keizersgracht 1",
    "postalCode": "1015 CJ",
    "city": "Amsterdam",
    "country": "NL",
}


def test_address_and_time_zone_are_set_changed_and_removed(server: Server) -> None:
    organization = create_organization(server)
    created = data(
        server.query(
            CREATE,
            {
                "input": {
                    "organizationId": organization["id"],
                    "endpoint": unique_endpoint(),
                    "address": ADDRESS,
                    "timeZone": "Europe/Amsterdam",
                }
            },
        )
    )["createChargestation"]
    assert created["address"] == ADDRESS and created["timeZone"] == "Europe/Amsterdam"
    changed = data(
        server.query(
            UPDATE,
            {
                "id": created["id"],
                "input": {"address": {"city": "Haarlem"}, "timeZone": "Europe/Oslo"},
            },
        )
    )["updateChargestation"]
    assert (
        changed["address"] == {**ADDRESS, "city": "Haarlem"}
        and changed["timeZone"] == "Europe/Oslo"
    )
    removed = data(
        server.query(UPDATE, {"id": created["id"], "input": {"address": None, "timeZone": None}})
    )["updateChargestation"]
    assert removed["address"] is None and removed["timeZone"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timeZone": "Mars/Olympus"}, "input.timeZone"),
        ({"timeZone": "../../etc/passwd"}, "input.timeZone"),
        ({"timeZone": ""}, "input.timeZone"),
        ({"address": {"country": "NLD"}}, "input.address.country"),
    ],
)
def test_bad_address_or_time_zone_names_the_field_and_changes_nothing(
    server: Server, db: Database[Any], changes: dict[str, Any], field: str
) -> None:
    organization = create_organization(server)
    station = create_chargestation(server, organization["id"])
    before = db.chargestations.find_one({"_id": ObjectId(station["id"])})
    refused = error(server.query(UPDATE, {"id": station["id"], "input": changes}))
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert db.chargestations.find_one({"_id": ObjectId(station["id"])}) == before
    count = db.chargestations.count_documents({})
    refused = error(
        server.query(
            CREATE,
            {
                "input": {
                    "organizationId": organization["id"],
                    "endpoint": unique_endpoint(),
                    **changes,
                }
            },
        )
    )
    assert refused["extensions"]["field"] == field
    assert db.chargestations.count_documents({}) == count
