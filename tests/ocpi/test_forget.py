"""What a partner sent goes when the partner goes: deleted by an administrator, unregistered
by itself (DELETE credentials), or no longer in its whole list (a full pull). Drivers'
searches stop finding those connectors; nothing of another partner or of this network
changes. The partners are the peer written from the specification; pulls run every 3 s,
full pulls every 3.6 s here."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.ocpi_peer import Peer, token_header
from tests.support.ocpi_received import next_location_id, ocpi_location, to_server, wait_for
from tests.support.ocpi_sites import network, register
from tests.support.server import Server, data, module_server, server_fixture

server = server_fixture(
    "A server that pulls partners' Locations every 3 s, everything every 3.6 s.",
    CHARGEGRAPH_OCPI_PULL_MINUTES="0.05",
    CHARGEGRAPH_OCPI_FULL_PULL_HOURS="0.001",
)
NEARBY = """
query($lat: Float!, $lng: Float!) {
  nearbyConnectors(latitude: $lat, longitude: $lng, radiusMeters: 300) { totalCount }
}
"""
PARTNER_ID = "query { ocpiPartners { id name } }"
DELETE = "mutation($id: ID!) { deleteOcpiPartner(id: $id) }"
_places = (((20.0 + number * 0.05), 5.0) for number in itertools.count())
_names = (f"Forgotten {number}" for number in itertools.count(1))


def offered(count: int) -> list[dict[str, Any]]:
    return [ocpi_location(next_location_id(), *next(_places)) for _ in range(count)]


def found_at(server: Server, location: dict[str, Any]) -> int:
    """How many connectors a driver's search finds at the Location."""
    place = location["coordinates"]
    variables = {"lat": float(place["latitude"]), "lng": float(place["longitude"])}
    count: int = data(server.query(NEARBY, variables, key=None))["nearbyConnectors"]["totalCount"]
    return count


def all_served(server: Server, locations: list[dict[str, Any]]) -> bool:
    return all(found_at(server, location) == 2 for location in locations)


def stored_of(db: Database[Any], name: str) -> dict[str, int]:
    """What is stored of the partner called `name`, by collection."""
    partner = db.ocpi_partners.find_one({"name": name})
    if partner is None:
        # Deleted: look for anything still naming it.
        by_name = {"receivedFrom.name": name}
        return {
            "organizations": db.organizations.count_documents(by_name),
            "chargestations": db.chargestations.count_documents(by_name),
            "connectors": db.connectors.count_documents(by_name),
        }
    origin = {"receivedFrom.partner": partner["_id"]}
    return {
        "organizations": db.organizations.count_documents(origin),
        "chargestations": db.chargestations.count_documents(origin),
        "connectors": db.connectors.count_documents(origin),
        "copies": db.ocpi_received_locations.count_documents({"partner": partner["_id"]}),
    }


def holding(locations: int) -> dict[str, int]:
    """What a partner of one party holds with this many Locations of two connectors."""
    return {
        "organizations": min(locations, 1),
        "chargestations": locations,
        "connectors": 2 * locations,
        "copies": locations,
    }


def partner_id(server: Server, name: str) -> str:
    partners = data(server.query(PARTNER_ID))["ocpiPartners"]
    found: str = next(partner["id"] for partner in partners if partner["name"] == name)
    return found


@dataclass
class Served:
    """A partner whose Locations drivers' searches find."""

    name: str
    locations: list[dict[str, Any]]
    peer: Peer
    token: str


@contextmanager
def served(server: Server, locations: int) -> Iterator[Served]:
    """A partner (the peer) with this many Locations, registered and pulled."""
    partner = Served(next(_names), offered(locations), Peer(), "")
    partner.peer.offered = partner.locations
    with partner.peer.running():
        partner.token = register(server, partner.peer, name=partner.name)
        wait_for(lambda: all_served(server, partner.locations), f"{partner.name}'s Locations")
        yield partner


def test_a_deleted_partner_leaves_nothing_it_sent_and_others_keep_theirs(
    server: Server, db: Database[Any]
) -> None:
    own = {"organization": ObjectId(network(server)["organization"]["id"])}
    own_before = db.connectors.count_documents(own)
    assert own_before == 2
    with served(server, 2) as gone, served(server, 1) as kept:
        assert stored_of(db, gone.name) == holding(2)
        kept_before = stored_of(db, kept.name)

        assert data(server.query(DELETE, {"id": partner_id(server, gone.name)}))

        assert [found_at(server, location) for location in gone.locations] == [0, 0]
        assert stored_of(db, gone.name) == {
            "organizations": 0,
            "chargestations": 0,
            "connectors": 0,
        }
        ids = [location["id"] for location in gone.locations]
        assert db.ocpi_received_locations.count_documents({"locationId": {"$in": ids}}) == 0
        # The other partner's Locations and this network's own connectors are untouched.
        assert found_at(server, kept.locations[0]) == 2
        assert stored_of(db, kept.name) == kept_before
        assert db.connectors.count_documents(own) == own_before


def test_a_partner_that_unregisters_leaves_nothing_it_sent(
    server: Server, db: Database[Any]
) -> None:
    with served(server, 2) as partner:
        answer = httpx.delete(
            f"{server.base_url}/ocpi/2.2.1/credentials",
            headers=token_header(partner.token),
            timeout=30,
        )
        assert answer.status_code == 200 and answer.json()["status_code"] == 1000

        assert [found_at(server, location) for location in partner.locations] == [0, 0]
        assert stored_of(db, partner.name) == holding(0)
        # Its token is dead: it can push nothing back in.
        first = partner.locations[0]
        path = f"/{first['country_code']}/{first['party_id']}/{first['id']}"
        assert to_server(server, partner.token, "PUT", path, first).status_code == 401
        assert stored_of(db, partner.name)["chargestations"] == 0


def test_a_full_pull_removes_the_locations_the_partner_no_longer_sends(
    server: Server, db: Database[Any]
) -> None:
    with served(server, 3) as partner:
        withdrawn = partner.locations.pop(1)  # the peer's list is this list

        wait_for(lambda: found_at(server, withdrawn) == 0, "a full pull to remove it")
        full_pulls = sum("date_from" not in query for query in partner.peer.pulls)
        assert full_pulls >= 2
        assert all_served(server, partner.locations)
        assert stored_of(db, partner.name) == holding(2)
        assert db.ocpi_received_locations.count_documents({"locationId": withdrawn["id"]}) == 0


def test_a_partner_deleted_through_another_process_is_refused_here_too(
    server: Server,
    db: Database[Any],
    mongo_uri: str,
    db_name: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Each process keeps a partner found by its token for a moment (its calls come in
    bursts); a deletion made through another process still ends its calls here."""
    with served(server, 1) as partner, module_server(mongo_uri, db_name, tmp_path_factory) as other:

        def credentials_status() -> int:
            return httpx.get(
                f"{server.base_url}/ocpi/2.2.1/credentials",
                headers=token_header(partner.token),
                timeout=30,
            ).status_code

        assert credentials_status() == 200
        assert data(other.query(DELETE, {"id": partner_id(other, partner.name)}))
        wait_for(lambda: credentials_status() == 401, "this process to refuse the token")
        assert stored_of(db, partner.name) == {
            "organizations": 0,
            "chargestations": 0,
            "connectors": 0,
        }


def test_an_old_token_unregisters_nothing(server: Server, db: Database[Any]) -> None:
    """DELETE credentials with a token rotated away since is refused (401) and removes
    nothing: only the partner's current token ends its registration."""
    with served(server, 1) as partner:
        url = f"{server.base_url}/ocpi/2.2.1/credentials"
        rotated = httpx.put(
            url,
            headers=token_header(partner.token),
            json=partner.peer.credentials(),
            timeout=30,
        )
        assert rotated.json()["status_code"] == 1000
        current = rotated.json()["data"]["token"]
        refused = httpx.delete(url, headers=token_header(partner.token), timeout=30)
        assert refused.status_code == 401
        assert stored_of(db, partner.name) == holding(1)
        assert found_at(server, partner.locations[0]) == 2
        assert httpx.get(url, headers=token_header(current), timeout=30).status_code == 200


def test_a_full_pull_that_returns_nothing_removes_nothing(
    server: Server, db: Database[Any]
) -> None:
    """A partner answering an empty list (in maintenance, say) does not wipe its Locations."""
    with served(server, 2) as partner:
        full_pulls = sum("date_from" not in query for query in partner.peer.pulls)
        partner.locations.clear()
        wait_for(
            lambda: sum("date_from" not in query for query in partner.peer.pulls) >= full_pulls + 2,
            "two more full pulls",
        )
        assert stored_of(db, partner.name) == holding(2)
