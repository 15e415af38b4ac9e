"""ChargeGraph as OCPI CPO: a registered partner pulls its stations as 2.2.1 Locations.

The partner is the peer written from the specification (tests/support/ocpi_peer.py),
registered through the credentials handshake; everything ChargeGraph sends is
validated against the 2.2.1 object shapes (tests/support/ocpi_shapes.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from ocpp.v16 import call as call16

from graph.connectors.enums import ConnectorStatus, ConnectorType, PowerType
from graph.ocpi.locations import POWER_TYPE, STANDARD, STATUS
from graph.ocpi.paging import AHEAD_SECONDS
from tests.support.ocpi_peer import token_header
from tests.support.ocpi_shapes import problems
from tests.support.ocpi_sites import (
    ADDRESS,
    CREATE_STATION,
    DELETE_CONNECTOR,
    SET_STATUS,
    UPDATE_CONNECTOR,
    network,
    next_party,
    registered_partner_token,
)
from tests.support.ocpp import eventually, station
from tests.support.server import (
    Server,
    create_organization,
    data,
    unique_endpoint,
)

LOCATIONS = "/ocpi/cpo/2.2.1/locations"
token = registered_partner_token


def get(server: Server, token: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{server.base_url}{path}", headers=token_header(token), params=params, timeout=30
    )


def body_of(response: httpx.Response, status_code: int = 1000) -> Any:
    body = response.json()
    assert body["status_code"] == status_code, body
    return body.get("data")


def pull_all(server: Server, token: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every page, following `Link` as a partner does; returns the Locations and the pages."""
    response = get(server, token, LOCATIONS, **params)
    found: list[dict[str, Any]] = []
    pages = 0
    while True:
        pages += 1
        page = body_of(response)
        assert isinstance(page, list)
        found += page
        assert int(response.headers["X-Limit"]) >= len(page)
        link = response.headers.get("Link")
        if link is None:
            break
        url = link.split(";")[0].strip("<> ")
        assert link.endswith('rel="next"') and urlsplit(url).path == LOCATIONS
        response = httpx.get(url, headers=token_header(token), timeout=30)
    assert int(response.headers["X-Total-Count"]) == len(found)
    return found, pages


def parsed(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def written(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mine(locations: list[dict[str, Any]], party: str) -> list[dict[str, Any]]:
    return [found for found in locations if found["party_id"] == party]


def test_stations_are_published_as_valid_locations(server: Server, token: str) -> None:
    built = network(server)
    (shown,) = mine(pull_all(server, token)[0], built["party"])
    assert problems("Location", shown) == []
    (made,) = built["stations"]
    assert (shown["id"], shown["country_code"], shown["country"]) == (made["id"], "NL", "NLD")
    assert (shown["address"], shown["city"], shown["postal_code"]) == (
        "Keizersgracht 1",
        "Amsterdam",
        "1015 CJ",
    )
    assert shown["coordinates"] == {"latitude": "52.372800", "longitude": "4.893600"}
    assert shown["time_zone"] == "Europe/Amsterdam"
    assert shown["operator"] == {"name": f"Roaming {built['party']}"}
    fast, slow = sorted(shown["evses"], key=lambda evse: evse["connectors"][0]["id"])
    assert fast["uid"] == made["connectors"][0]["id"]
    assert fast["evse_id"] == f"NL*{built['party']}*E{made['connectors'][0]['endpoint'].upper()}"
    # A station that is not connected: its EVSEs' status is UNKNOWN.
    assert {fast["status"], slow["status"]} == {"UNKNOWN"}
    assert fast["connectors"] == [
        {
            "id": "1",
            "standard": "IEC_62196_T2_COMBO",
            "format": "CABLE",
            "power_type": "DC",
            # No maxVoltage given: the documented default for DC, and the current from the power.
            "max_voltage": 500,
            "max_amperage": 300,
            "max_electric_power": 150_000,
            "last_updated": fast["last_updated"],
        }
    ]
    assert slow["connectors"][0] | {"last_updated": None} == {
        "id": "2",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": 32,
        "max_electric_power": 22_000,
        "last_updated": None,
    }
    # The object endpoints answer one object each, not a list.
    assert body_of(get(server, token, f"{LOCATIONS}/{made['id']}")) == shown
    assert body_of(get(server, token, f"{LOCATIONS}/{made['id']}/{fast['uid']}")) == fast
    one = body_of(get(server, token, f"{LOCATIONS}/{made['id']}/{fast['uid']}/1"))
    assert problems("Connector", one) == [] and one == fast["connectors"][0]


async def test_a_connected_station_shows_its_connectors_statuses(
    server: Server, token: str
) -> None:
    built = network(server)
    (made,) = built["stations"]
    fast, slow = made["connectors"]
    data(server.query(SET_STATUS, {"id": slow["id"], "status": "FAULTED"}))
    async with station(server, made["endpoint"]) as cs:
        await cs.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        await cs.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )

        async def evses() -> dict[str, str]:
            shown = body_of(get(server, token, f"{LOCATIONS}/{made['id']}"))
            return {evse["uid"]: evse["status"] for evse in shown["evses"]}

        seen = await eventually(evses, lambda statuses: statuses[fast["id"]] == "CHARGING")
        assert seen == {fast["id"]: "CHARGING", slow["id"]: "OUTOFORDER"}
        # An inactive connector is INOPERATIVE, not hidden.
        data(server.query(UPDATE_CONNECTOR, {"id": fast["id"], "input": {"active": False}}))
        inactive = await evses()
        assert inactive == {fast["id"]: "INOPERATIVE", slow["id"]: "OUTOFORDER"}
    # Once the station is gone, every EVSE is UNKNOWN.
    await eventually(evses, lambda statuses: set(statuses.values()) == {"UNKNOWN"})


def test_pages_follow_link_in_a_stable_order_and_count_every_match(
    server: Server, token: str
) -> None:
    built = network(server, stations=5)
    everything, _ = pull_all(server, token)
    paged, pages = pull_all(server, token, limit=2)
    assert [found["id"] for found in paged] == [found["id"] for found in everything]
    assert pages == (len(everything) + 1) // 2 and pages >= 3
    ids = [found["id"] for found in mine(paged, built["party"])]
    assert ids == [made["id"] for made in built["stations"]]
    # Oldest station first, each once.
    assert [found["id"] for found in paged] == sorted({found["id"] for found in paged})
    # One page: everything fits, no Link.
    single = get(server, token, LOCATIONS, limit=100)
    assert "Link" not in single.headers and len(body_of(single)) == len(everything)
    # No match: an empty page, a count of 0, no Link.
    future = written(datetime.now(UTC) + timedelta(days=1))
    none = get(server, token, LOCATIONS, date_from=future)
    assert body_of(none) == [] and none.headers["X-Total-Count"] == "0"
    assert "Link" not in none.headers


def test_a_delta_pull_sees_changes_and_removed_connectors(server: Server, token: str) -> None:
    built = network(server, stations=2)
    first, second = built["stations"]
    everything, _ = pull_all(server, token)
    newest = max(parsed(found["last_updated"]) for found in everything)
    # date_from is inclusive: the newest Location is in a pull from its own instant.
    assert second["id"] in {
        found["id"] for found in pull_all(server, token, date_from=written(newest))[0]
    }
    # A change after the newest Location: only its station comes back.
    after = written(newest + timedelta(milliseconds=1))
    data(server.query(SET_STATUS, {"id": first["connectors"][0]["id"], "status": "CHARGING"}))
    changed, _ = pull_all(server, token, date_from=after)
    assert first["id"] in {found["id"] for found in changed}
    assert second["id"] not in {found["id"] for found in changed}
    # date_to is exclusive.
    (shown,) = [found for found in changed if found["id"] == first["id"]]
    before, _ = pull_all(server, token, date_from=after, date_to=shown["last_updated"])
    assert first["id"] not in {found["id"] for found in before}
    # A deleted connector stays as a REMOVED EVSE, and its removal is a change.
    removed = second["connectors"][1]["id"]
    data(server.query(DELETE_CONNECTOR, {"id": removed}))
    later, _ = pull_all(server, token, date_from=shown["last_updated"])
    (again,) = [found for found in later if found["id"] == second["id"]]
    assert problems("Location", again) == []
    statuses = {evse["uid"]: evse["status"] for evse in again["evses"]}
    assert statuses[removed] == "REMOVED" and len(statuses) == 2


def test_stations_missing_what_a_location_needs_are_not_published(
    server: Server, token: str
) -> None:
    complete = network(server)
    no_address = network(server, address=None)
    no_zone = network(server, timeZone=None)
    inactive = network(server, active=False)
    party = next_party()
    organization = create_organization(server, name="No Roaming Identity")
    data(
        server.query(
            CREATE_STATION,
            {
                "input": {
                    "organizationId": organization["id"],
                    "endpoint": f"OCPI-{party}-none",
                    "address": ADDRESS,
                    "timeZone": "Europe/Amsterdam",
                    "coordinates": {"latitude": 52.0, "longitude": 4.0},
                }
            },
        )
    )
    published = {found["id"] for found in pull_all(server, token)[0]}
    assert complete["stations"][0]["id"] in published
    for missing in (no_address, no_zone, inactive):
        station_id = missing["stations"][0]["id"]
        assert station_id not in published
        response = get(server, token, f"{LOCATIONS}/{station_id}")
        assert response.status_code == 404
        body_of(response, 2003)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "many"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_to": "2026-13-45T00:00:00Z"}, "date_to"),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    server: Server, token: str, params: dict[str, str], named: str
) -> None:
    response = get(server, token, LOCATIONS, **params)
    assert response.status_code == 400
    assert named in response.json()["status_message"]
    body_of(response, 2001)


def test_only_registered_partners_pull_and_only_with_get(server: Server, token: str) -> None:
    built = network(server)
    location_id = built["stations"][0]["id"]
    pending = data(
        server.query('mutation { createOcpiPartner(input: {name: "Pending"}) { tokenA } }')
    )["createOcpiPartner"]["tokenA"]
    for caller in (pending, "never-issued", None):
        headers = token_header(caller) if caller else {}
        response = httpx.get(f"{server.base_url}{LOCATIONS}", headers=headers, timeout=30)
        assert response.status_code == 401
        body_of(response, 2000)
    refused = httpx.put(
        f"{server.base_url}{LOCATIONS}/{location_id}",
        headers=token_header(token),
        json={},
        timeout=30,
    )
    assert refused.status_code == 405
    for path in (f"{LOCATIONS}/not-an-id", f"{LOCATIONS}/{location_id}/{unique_endpoint()}"):
        response = get(server, token, path)
        assert response.status_code == 404
        body_of(response, 2003)
    # The version details list the Locations module as SENDER.
    details = body_of(get(server, token, "/ocpi/2.2.1"))
    assert {
        "identifier": "locations",
        "role": "SENDER",
        "url": f"{server.base_url}{LOCATIONS}",
    } in details["endpoints"]


def test_every_stored_status_type_and_power_type_has_its_ocpi_value() -> None:
    for enum, mapping in (
        (ConnectorStatus, STATUS),
        (ConnectorType, STANDARD),
        (PowerType, POWER_TYPE),
    ):
        assert {member.value for member in enum} == set(mapping), enum


def test_a_page_whose_snapshot_is_unknown_is_computed_again(server: Server, token: str) -> None:
    """A Link followed to another process (or after the snapshot expired) still pages right."""
    built = network(server, stations=3)
    everything, _ = pull_all(server, token)
    ids = [found["id"] for found in everything]
    second = get(server, token, LOCATIONS, limit=1, offset=1, snapshot="from-another-process")
    assert [found["id"] for found in body_of(second)] == ids[1:2]
    assert second.headers["X-Total-Count"] == str(len(ids))
    assert all(made["id"] in ids for made in built["stations"])


def test_a_page_asked_for_later_shows_changes_made_since_the_page_before(
    server: Server, token: str
) -> None:
    """The next page is read while the one before is answered; a partner that asks for it
    more than AHEAD_SECONDS later gets it as it is then, not as it was read."""
    network(server, stations=2)
    everything, _ = pull_all(server, token)
    first = get(server, token, LOCATIONS, limit=1)
    assert [found["id"] for found in body_of(first)] == [everything[0]["id"]]
    evse = everything[1]["evses"][0]
    power = evse["connectors"][0]["max_electric_power"]
    faster = power / 1000 + 50
    data(server.query(UPDATE_CONNECTOR, {"id": evse["uid"], "input": {"power": faster}}))
    time.sleep(AHEAD_SECONDS + 0.5)
    second = httpx.get(
        first.headers["Link"].split(";")[0].strip("<> "), headers=token_header(token), timeout=30
    )
    [shown] = body_of(second)
    assert shown["id"] == everything[1]["id"]
    [connector] = next(e for e in shown["evses"] if e["uid"] == evse["uid"])["connectors"]
    assert connector["max_electric_power"] == round(faster * 1000)
