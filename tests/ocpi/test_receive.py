"""ChargeGraph as eMSP: a partner (the peer written from the specification, registered
through the credentials handshake) pushes its Locations to ChargeGraph's receiver, and
drivers' searches, counts and subscriptions serve them like ChargeGraph's own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.live import next_event, subscribed, wait_for_subscribers
from tests.support.ocpi_peer import Peer, token_header
from tests.support.ocpi_received import (
    COUNTRY,
    PARTY,
    next_location_id,
    ocpi_connector,
    ocpi_evse,
    ocpi_location,
    stamp,
    to_server,
)
from tests.support.ocpi_shapes import problems
from tests.support.ocpi_sites import register
from tests.support.server import Server, data, error

NEARBY = """
query($lat: Float!, $lng: Float!) {
  nearbyConnectors(latitude: $lat, longitude: $lng, radiusMeters: 300, first: 50) {
    totalCount
    edges { node { id status type powerType power active
      organization { id name receivedFrom { partnerName countryCode partyId } } } }
  }
}
"""
COUNTS = """
query($id: ID!) { organization(id: $id) { connectorCountsByStatus { status count } } }
"""
CONNECTOR = "query($id: ID!) { connector(id: $id) { id status } }"
# Each test places its Location at a point of its own, so searches see only its connectors.
_places = iter((48.0 + number * 0.05, 11.0) for number in range(1000))


@pytest.fixture(scope="module")
def token(server: Server) -> Iterator[str]:
    """The Token C the peer (party DE/PEE) calls ChargeGraph with."""
    with Peer().running() as peer:
        yield register(server, peer, name="Pushing Peer")


def nearby(server: Server, latitude: float, longitude: float) -> list[dict[str, Any]]:
    found = data(server.query(NEARBY, {"lat": latitude, "lng": longitude}, key=None))
    return [edge["node"] for edge in found["nearbyConnectors"]["edges"]]


def put(server: Server, token: str, location: dict[str, Any]) -> httpx.Response:
    path = f"/{location['country_code']}/{location['party_id']}/{location['id']}"
    return to_server(server, token, "PUT", path, location)


def pushed(server: Server, token: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A Location the peer PUT, and its connectors as nearbyConnectors finds them."""
    latitude, longitude = next(_places)
    location = ocpi_location(next_location_id(), latitude, longitude)
    assert problems("Location", location) == []  # the fixture itself is valid 2.2.1
    answer = put(server, token, location)
    assert answer.status_code == 201 and answer.json()["status_code"] == 1000, answer.text
    return location, nearby(server, latitude, longitude)


def stored_ids(db: Database[Any], location_id: str) -> list[Any]:
    """What is stored of a Location: its copy, its station and its connectors."""
    copies = [row["_id"] for row in db.ocpi_received_locations.find({"locationId": location_id})]
    stations = list(db.chargestations.find({"receivedFrom.locationId": location_id}))
    connectors = list(db.connectors.find({"chargestation": {"$in": copies}}))
    return copies + stations + connectors


def test_a_pushed_location_is_served_like_a_local_one(
    server: Server, token: str, db: Database[Any]
) -> None:
    location, found = pushed(server, token)
    assert sorted((c["type"], c["powerType"], c["power"], c["status"]) for c in found) == [
        ("CCS2", "DC", 150.0, "AVAILABLE"),
        ("TYPE2", "AC_3_PHASE", 22.0, "AVAILABLE"),
    ]
    organization = found[0]["organization"]
    assert organization["name"] == "Peer Charging GmbH"
    assert organization["receivedFrom"] == {
        "partnerName": "Pushing Peer",
        "countryCode": COUNTRY,
        "partyId": PARTY,
    }
    counts = data(server.query(COUNTS, {"id": organization["id"]}))["organization"]
    assert counts["connectorCountsByStatus"] == [{"status": "AVAILABLE", "count": 2}]
    # The partner reads back what it sent; a second PUT is an update (200), not a creation.
    path = f"/{COUNTRY}/{PARTY}/{location['id']}"
    got = to_server(server, token, "GET", path).json()
    assert got["status_code"] == 1000 and got["data"]["evses"] == location["evses"]
    assert problems("Location", got["data"]) == []
    again = put(server, token, {**location, "name": "Renamed"})
    assert again.status_code == 200 and again.json()["status_code"] == 1000
    copy = db.ocpi_received_locations.find_one({"locationId": location["id"]})
    assert copy is not None and copy["location"]["name"] == "Renamed"


def test_an_evse_status_patch_reaches_subscribers_and_searches(server: Server, token: str) -> None:
    location, found = pushed(server, token)
    fast = next(c for c in found if c["type"] == "CCS2")
    evse = location["evses"][0]["uid"]
    path = f"/{COUNTRY}/{PARTY}/{location['id']}/{evse}"
    with subscribed(server, {"ids": [fast["id"]]}) as connection:
        wait_for_subscribers(server, 1)
        answer = to_server(
            server, token, "PATCH", path, {"status": "CHARGING", "last_updated": stamp()}
        )
        assert answer.status_code == 200 and answer.json()["status_code"] == 1000
        event = next_event(connection)
    assert (event["status"], event["previousStatus"]) == ("CHARGING", "AVAILABLE")
    assert data(server.query(CONNECTOR, {"id": fast["id"]}))["connector"]["status"] == "CHARGING"
    # A status older than the stored one (arriving late) changes nothing.
    late = {"status": "OUTOFORDER", "last_updated": "2026-01-01T00:00:00Z"}
    assert to_server(server, token, "PATCH", path, late).json()["status_code"] == 1000
    assert data(server.query(CONNECTOR, {"id": fast["id"]}))["connector"]["status"] == "CHARGING"
    # BLOCKED has no ChargeGraph equal: it reads as OCCUPIED; the partner still reads BLOCKED.
    blocked = {"status": "BLOCKED", "last_updated": stamp()}
    assert to_server(server, token, "PATCH", path, blocked).json()["status_code"] == 1000
    assert data(server.query(CONNECTOR, {"id": fast["id"]}))["connector"]["status"] == "OCCUPIED"
    assert to_server(server, token, "GET", path).json()["data"]["status"] == "BLOCKED"


def test_a_removed_evse_is_gone_from_searches(server: Server, token: str) -> None:
    location, found = pushed(server, token)
    latitude = float(location["coordinates"]["latitude"])
    longitude = float(location["coordinates"]["longitude"])
    assert len(found) == 2
    path = f"/{COUNTRY}/{PARTY}/{location['id']}/{location['evses'][0]['uid']}"
    answer = to_server(server, token, "PATCH", path, {"status": "REMOVED", "last_updated": stamp()})
    assert answer.json()["status_code"] == 1000
    left = nearby(server, latitude, longitude)
    assert [c["type"] for c in left] == ["TYPE2"]
    assert (
        data(server.query(CONNECTOR, {"id": next(c["id"] for c in found if c["type"] == "CCS2")}))[
            "connector"
        ]
        is None
    )
    assert to_server(server, token, "GET", path).json()["data"]["status"] == "REMOVED"


def test_another_party_is_refused_and_nothing_is_stored(
    server: Server, token: str, db: Database[Any]
) -> None:
    latitude, longitude = next(_places)
    location = ocpi_location(next_location_id(), latitude, longitude, party_id="OTH")
    answer = to_server(server, token, "PUT", f"/{COUNTRY}/OTH/{location['id']}", location)
    assert answer.status_code == 403 and answer.json()["status_code"] == 2000
    assert stored_ids(db, location["id"]) == []
    assert db.organizations.count_documents({"receivedFrom.partyId": "OTH"}) == 0
    assert nearby(server, latitude, longitude) == []
    # Nor may it read or PATCH another party's objects.
    assert to_server(server, token, "GET", f"/NL/CGR/{location['id']}").status_code == 403


def _bad(location: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**location, **changes}


BAD_LOCATIONS = [
    ("id", lambda loc: _bad(loc, id="SOMETHING-ELSE")),
    ("party_id", lambda loc: _bad(loc, party_id="XYZ")),
    ("coordinates.latitude", lambda loc: _bad(loc, coordinates={"latitude": "74", "longitude": "11.000000"})),
    ("coordinates.latitude", lambda loc: _bad(loc, coordinates={"latitude": "95.000000", "longitude": "11.000000"})),
    ("coordinates.longitude", lambda loc: _bad(loc, coordinates={"latitude": "48.000000", "longitude": 11.0})),
    ("evses[0].status", lambda loc: _bad(loc, evses=[ocpi_evse("E1", status="BROKEN")])),
    ("evses[0].connectors[0].standard", lambda loc: _bad(loc, evses=[ocpi_evse("E1", connectors=[ocpi_connector(standard="SAE_J3400")])])),
    ("evses[0].connectors[0].power_type", lambda loc: _bad(loc, evses=[ocpi_evse("E1", connectors=[ocpi_connector(power_type="AC")])])),
    ("country", lambda loc: _bad(loc, country="DE")),
    ("time_zone", lambda loc: _bad(loc, time_zone="Mars/Olympus")),
    ("last_updated", lambda loc: {k: v for k, v in loc.items() if k != "last_updated"}),
    # Values that passed the checks once and then failed in Python or in the database.
    ("last_updated", lambda loc: _bad(loc, last_updated="0001-01-01T00:00:00+01:00")),
    ("evses[0].connectors[0].max_electric_power", lambda loc: _bad(loc, evses=[ocpi_evse("E1", connectors=[ocpi_connector(max_electric_power=10**400)])])),
    ("body", lambda loc: _bad(loc, extra={"a\x00b": 1})),
    ("body", lambda loc: _bad(loc, extra={"$where": 1})),
    ("body", lambda loc: _bad(loc, extra={"big": 2**70})),
    ("body", lambda loc: _bad(loc, extra=_nested(30))),
]  # fmt: skip


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(("field", "spoil"), BAD_LOCATIONS)
def test_a_bad_location_is_refused_naming_the_field(
    server: Server, token: str, db: Database[Any], field: str, spoil: Any
) -> None:
    latitude, longitude = next(_places)
    location = ocpi_location(next_location_id(), latitude, longitude)
    answer = to_server(
        server, token, "PUT", f"/{COUNTRY}/{PARTY}/{location['id']}", spoil(location)
    )
    body = answer.json()
    assert answer.status_code == 400 and body["status_code"] == 2001, body
    assert body["status_message"].startswith(f"{field}:"), body
    assert stored_ids(db, location["id"]) == []
    assert stored_ids(db, "SOMETHING-ELSE") == []


def test_bad_patches_are_refused_and_change_nothing(
    server: Server, token: str, db: Database[Any]
) -> None:
    location, _ = pushed(server, token)
    path = f"/{COUNTRY}/{PARTY}/{location['id']}"
    evse = f"{path}/{location['evses'][0]['uid']}"
    refusals = [
        (evse, {"status": "CHARGING"}, "last_updated"),
        (evse, {"status": "SLEEPING", "last_updated": stamp()}, "status"),
        (evse, {"uid": "OTHER", "status": "CHARGING", "last_updated": stamp()}, "uid"),
        (path, {"id": "OTHER", "last_updated": stamp()}, "id"),
        (path, {"coordinates": {"latitude": "1", "longitude": "2"}, "last_updated": stamp()},
         "coordinates.latitude"),
        (f"{evse}/1", {"power_type": "AC_4_PHASE", "last_updated": stamp()},
         "evses[0].connectors[0].power_type"),
    ]  # fmt: skip
    before = stored_ids(db, location["id"])
    for url, body, field in refusals:
        answer = to_server(server, token, "PATCH", url, body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["status_code"] == 2001
        assert answer.json()["status_message"].startswith(f"{field}:"), answer.text
    assert stored_ids(db, location["id"]) == before
    assert {c["status"] for c in nearby(server, *_position(location))} == {"AVAILABLE"}
    # An EVSE PUT whose uid differs from the URL's is refused too.
    other = to_server(server, token, "PUT", evse, ocpi_evse("ANOTHER"))
    assert other.status_code == 400 and other.json()["status_message"].startswith("uid:")
    # PATCHing what was never received: 2003, HTTP 404 (the partner then PUTs it).
    unknown = to_server(server, token, "PATCH", f"/{COUNTRY}/{PARTY}/NEVER/1",
                        {"status": "CHARGING", "last_updated": stamp()})  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["status_code"] == 2003
    assert stored_ids(db, "NEVER") == []
    assert stored_ids(db, location["id"]) == before


def _position(location: dict[str, Any]) -> tuple[float, float]:
    place = location["coordinates"]
    return float(place["latitude"]), float(place["longitude"])


def test_a_body_over_the_limit_is_refused_unread(
    server: Server, token: str, db: Database[Any]
) -> None:
    latitude, longitude = next(_places)
    location = ocpi_location(next_location_id(), latitude, longitude)
    location["padding"] = "x" * 1_100_000  # over CHARGEGRAPH_OCPI_MAX_BODY_BYTES (1 MB)
    answer = to_server(
        server,
        token,
        "PUT",
        f"/{COUNTRY}/{PARTY}/{location['id']}",
        content=json.dumps(location).encode(),
    )
    assert answer.status_code == 413 and answer.json()["status_code"] == 2001
    assert stored_ids(db, location["id"]) == []


def test_json_nested_too_deeply_to_parse_is_refused_in_the_envelope(
    server: Server, token: str, db: Database[Any]
) -> None:
    location_id = next_location_id()
    content = b"[" * 100_000 + b"]" * 100_000  # 200 kB, under the size limit
    answer = to_server(server, token, "PUT", f"/{COUNTRY}/{PARTY}/{location_id}", content=content)
    assert answer.status_code == 400 and answer.json()["status_code"] == 2001, answer.text
    assert "nested too deeply" in answer.json()["status_message"]
    assert stored_ids(db, location_id) == []


MUTATIONS = [
    ("updateConnector", "mutation($id: ID!) { updateConnector(id: $id, input: {power: 1.0}) { id } }", "connector"),
    ("setConnectorStatus", "mutation($id: ID!) { setConnectorStatus(id: $id, status: FAULTED) { id } }", "connector"),
    ("deleteConnector", "mutation($id: ID!) { deleteConnector(id: $id) }", "connector"),
    ("updateChargestation", "mutation($id: ID!) { updateChargestation(id: $id, input: {active: false}) { id } }", "station"),
    ("deleteChargestation", "mutation($id: ID!) { deleteChargestation(id: $id) }", "station"),
    ("updateOrganization", "mutation($id: ID!) { updateOrganization(id: $id, input: {name: \"Mine\"}) { id } }", "organization"),
    ("deleteOrganization", "mutation($id: ID!) { deleteOrganization(id: $id) }", "organization"),
    ("resetChargestation", "mutation($id: ID!) { resetChargestation(id: $id) { status } }", "station"),
    ("requestStatusReport", "mutation($id: ID!) { requestStatusReport(id: $id) { status } }", "station"),
    ("unlockConnector", "mutation($id: ID!) { unlockConnector(id: $id) { status } }", "connector"),
]  # fmt: skip
CREATE_IN = (
    'mutation($org: ID!) { createConnector(input: {organizationId: $org, endpoint: "zz99", '
    "ocppId: 1, type: CCS2, format: CABLE, powerType: DC, power: 50}) { id } }"
)


def test_api_writes_to_received_objects_are_forbidden(
    server: Server, token: str, db: Database[Any]
) -> None:
    _, found = pushed(server, token)
    connector = found[0]
    ids = {
        "connector": connector["id"],
        "station": str(db.connectors.find_one({"_id": ObjectId(connector["id"])})["chargestation"]),
        "organization": connector["organization"]["id"],
    }
    before = {
        row["_id"]: row
        for row in db.connectors.find({"organization": ObjectId(ids["organization"])})
    }
    for name, mutation, target in MUTATIONS:
        refused = error(server.query(mutation, {"id": ids[target]}))
        assert refused["extensions"]["code"] == "FORBIDDEN", (name, refused)
        assert "its source is the partner" in refused["message"], (name, refused)
    refused = error(server.query(CREATE_IN, {"org": ids["organization"]}))
    assert refused["extensions"]["code"] == "FORBIDDEN"
    after = {
        row["_id"]: row
        for row in db.connectors.find({"organization": ObjectId(ids["organization"])})
    }
    assert after == before
    assert (
        data(server.query(CONNECTOR, {"id": connector["id"]}))["connector"]["status"] == "AVAILABLE"
    )


def test_version_details_offer_the_receiver(server: Server, token: str) -> None:
    answer = httpx.get(
        f"{server.base_url}/ocpi/2.2.1", headers=token_header(token), timeout=30
    ).json()
    assert {
        "identifier": "locations",
        "role": "RECEIVER",
        "url": f"{server.base_url}/ocpi/emsp/2.2.1/locations",
    } in answer["data"]["endpoints"]


def test_a_location_put_again_rewrites_only_the_connectors_that_changed(
    server: Server, token: str, db: Database[Any]
) -> None:
    """Apps syncing with `updatedSince` fetch only what changed: a Location PUT again as
    it was changes no connector's `updatedAt`; a change to one connector changes its own."""
    location, _ = pushed(server, token)
    stations = [
        row["_id"] for row in db.ocpi_received_locations.find({"locationId": location["id"]})
    ]

    def updated() -> dict[str, Any]:
        return {
            row["receivedFrom"]["evse"]: row["updatedAt"]
            for row in db.connectors.find({"chargestation": {"$in": stations}})
        }

    before = updated()
    assert len(before) == 2
    assert put(server, token, location).status_code == 200
    assert updated() == before
    faster = ocpi_connector(max_electric_power=200000, last_updated=stamp())
    changed = {
        **location,
        "evses": [{**location["evses"][0], "connectors": [faster]}, location["evses"][1]],
    }
    assert put(server, token, changed).status_code == 200
    after = updated()
    first, second = (evse["uid"] for evse in location["evses"])
    assert after[first] > before[first]
    assert after[second] == before[second]
    powers = sorted(c["power"] for c in nearby(server, *_position(location)))
    assert powers == [22.0, 200.0]


def test_connectors_listed_in_another_order_keep_their_ids(server: Server, token: str) -> None:
    latitude, longitude = next(_places)
    type2 = ocpi_connector(
        "2", standard="IEC_62196_T2", format="SOCKET", power_type="AC_3_PHASE",
        max_voltage=230, max_amperage=32, max_electric_power=22000,
    )  # fmt: skip
    evse = ocpi_evse("TWIN-1", connectors=[ocpi_connector("1"), type2])
    location = ocpi_location(next_location_id(), latitude, longitude, evses=[evse])
    assert put(server, token, location).status_code == 201
    first = {c["type"]: c["id"] for c in nearby(server, latitude, longitude)}
    assert sorted(first) == ["CCS2", "TYPE2"]
    reordered = {**evse, "connectors": [type2, ocpi_connector("1")]}
    assert put(server, token, {**location, "evses": [reordered]}).status_code == 200
    assert {c["type"]: c["id"] for c in nearby(server, latitude, longitude)} == first
