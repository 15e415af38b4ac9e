"""ChargeGraph pulls the Locations of a partner that offers a Locations SENDER: everything
once after registering (page after page, following `Link`), then only what changed
(`date_from`). The partner is the peer written from the specification, paging as 2.2.1
says; the pull interval is cut to 3 s here."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from graph.ocpi.locations import ocpi_time
from graph.ocpi.pull import PullFailed, next_page
from tests.support.ocpi_peer import Peer
from tests.support.ocpi_received import next_location_id, ocpi_location, wait_for
from tests.support.ocpi_sites import register
from tests.support.server import Server, data, server_fixture

server = server_fixture(
    "A server that pulls partners' Locations every 3 s.", CHARGEGRAPH_OCPI_PULL_MINUTES="0.05"
)
NEARBY = """
query($lat: Float!, $lng: Float!) {
  nearbyConnectors(latitude: $lat, longitude: $lng, radiusMeters: 300) { edges { node { status } } }
}
"""
_places = (((30.0 + number * 0.05), -3.0) for number in itertools.count())
_names = (f"Sender {number}" for number in itertools.count(1))


def offered(count: int) -> list[dict[str, Any]]:
    return [ocpi_location(next_location_id(), *next(_places)) for _ in range(count)]


def pulled_once(db: Database[Any], name: str) -> dict[str, Any]:
    """The partner once a pull from it succeeded."""
    found: dict[str, Any] = wait_for(
        lambda: db.ocpi_partners.find_one({"name": name, "pulledFrom": {"$ne": None}}),
        f"a pull from {name}",
    )
    return found


def received_ids(db: Database[Any], partner: dict[str, Any]) -> set[str]:
    return {
        row["locationId"] for row in db.ocpi_received_locations.find({"partner": partner["_id"]})
    }


def statuses_at(server: Server, location: dict[str, Any]) -> list[str]:
    place = location["coordinates"]
    variables = {"lat": float(place["latitude"]), "lng": float(place["longitude"])}
    edges = data(server.query(NEARBY, variables, key=None))["nearbyConnectors"]["edges"]
    return sorted(edge["node"]["status"] for edge in edges)


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (2, 1), (8, 3)])
def test_every_location_is_pulled_following_link(
    server: Server, db: Database[Any], count: int, pages: int
) -> None:
    locations = offered(count)
    skipped = []
    if count > 2:
        # Among many, one that is not valid 2.2.1 and one of a party the partner did not
        # register: both skipped (and logged), the others stored.
        locations[1]["coordinates"] = {"latitude": "74", "longitude": "11.000000"}
        locations[5]["party_id"] = "OTH"
        skipped = [locations[1]["id"], locations[5]["id"]]
    name = next(_names)
    with Peer(offered=locations, x_limit=3).running() as peer:
        register(server, peer, name=name)
        partner = pulled_once(db, name)
        first = [query for query in peer.pulls if "date_from" not in query]
    # The first page asks for 100; the partner's X-Limit (3) wins, and Link leads on.
    assert len(first) == pages
    assert [int(query.get("offset", 0)) for query in first] == [3 * page for page in range(pages)]
    assert received_ids(db, partner) == {loc["id"] for loc in locations} - set(skipped)
    for location in locations:
        if location["id"] not in skipped:
            assert statuses_at(server, location) == ["AVAILABLE", "AVAILABLE"]


def test_later_pulls_ask_only_for_changes(server: Server, db: Database[Any]) -> None:
    locations = offered(2)
    name = next(_names)
    with Peer(offered=locations).running() as peer:
        register(server, peer, name=name)
        first_start = ocpi_time(pulled_once(db, name)["pulledFrom"])
        # The partner's first EVSE of the first Location starts charging (stamped after the
        # pull started, so the partner's date_from filter lets it through).
        changed = ocpi_time(datetime.now(UTC) + timedelta(seconds=1))
        evse = locations[0]["evses"][0]
        evse.update(status="CHARGING", last_updated=changed)
        locations[0]["last_updated"] = changed
        wait_for(
            lambda: statuses_at(server, locations[0]) == ["AVAILABLE", "CHARGING"],
            "the change to be pulled",
        )
        later = [query for query in peer.pulls if "date_from" in query]
    assert later and later[0]["date_from"] == first_start
    assert sum("date_from" not in query for query in peer.pulls) == 1


def test_a_link_to_another_origin_or_after_an_empty_page_ends_the_walk() -> None:
    """The partner's token goes with every page: a `Link` elsewhere is refused, and a page
    with no Locations ends the walk whatever its headers say."""
    url = "https://partner.example/ocpi/cpo/2.2.1/locations?limit=100"

    def answer(link: str) -> httpx.Response:
        return httpx.Response(
            200, headers={"Link": f'<{link}>; rel="next"', "X-Total-Count": "900"}
        )

    same = "https://partner.example/ocpi/cpo/2.2.1/locations?offset=100"
    assert next_page(answer(same), url, 100, 0) == same
    assert next_page(answer(same), url, 0, 0) is None
    for elsewhere in ("https://169.254.169.254/latest", "http://partner.example/ocpi"):
        with pytest.raises(PullFailed):
            next_page(answer(elsewhere), url, 100, 0)
