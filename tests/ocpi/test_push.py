"""ChargeGraph pushes Location changes to a partner's Locations receiver, in order, through
the partner's outages and the server's restarts.

The partner is the peer written from the specification, registered through the
credentials handshake; it offers a Locations RECEIVER and records what it gets.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ocpp.v16 import call as call16

from tests.support.ocpi_peer import Peer
from tests.support.ocpi_received import wait_for
from tests.support.ocpi_shapes import problems
from tests.support.ocpi_sites import SET_STATUS, network, register
from tests.support.ocpp import station
from tests.support.server import Server, data


@pytest.fixture(scope="module")
def peer(server: Server) -> Iterator[Peer]:
    with Peer().running() as running:
        register(server, running, name="Receiving Peer")
        # Pushing starts once the server has read the new partner (it says so in /metrics).
        wait_for(lambda: waiting(server) is not None, "the server to know the partner")
        yield running


def pushed_to(peer: Peer, station_id: str) -> list[tuple[str, str, Any]]:
    return [entry for entry in peer.pushed if f"/{station_id}" in entry[1]]


def patches(peer: Peer, station_id: str, connector_id: str) -> list[dict[str, Any]]:
    return [
        body
        for method, path, body in pushed_to(peer, station_id)
        if method == "PATCH" and path.endswith(f"/{station_id}/{connector_id}")
    ]


def waiting(server: Server) -> int | None:
    """What /metrics says waits to be pushed to the peer (None: no such partner yet)."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=30).text
    found = re.search(
        r'^chargegraph_ocpi_push_waiting\{partner="Receiving Peer"\} (\S+)$', text, re.M
    )
    return int(float(found.group(1))) if found else None


async def test_a_station_s_reports_reach_the_partner_in_order(server: Server, peer: Peer) -> None:
    built = network(server)
    (made,) = built["stations"]
    party = built["party"]
    # Creating the connectors PUT the whole Location, valid for 2.2.1.
    puts = wait_for(
        lambda: [body for method, _, body in pushed_to(peer, made["id"]) if method == "PUT"],
        "the Location to be PUT",
    )
    assert all(problems("Location", body) == [] for body in puts)
    path = pushed_to(peer, made["id"])[0][1]
    assert path == f"/ocpi/emsp/2.2.1/locations/NL/{party}/{made['id']}"
    fast = made["connectors"][0]["id"]
    async with station(server, made["endpoint"]) as cs:
        await cs.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        for status in ("Charging", "Faulted", "Available"):
            await cs.call(
                call16.StatusNotification(connector_id=1, error_code="NoError", status=status)
            )
        received = wait_for(
            lambda: (
                [body["status"] for body in patches(peer, made["id"], fast)][-3:]
                == ["CHARGING", "OUTOFORDER", "AVAILABLE"]
                and patches(peer, made["id"], fast)
            ),
            "three PATCHes",
        )
    moments = [body["last_updated"] for body in received]
    assert moments == sorted(moments)
    assert set(received[-1]) == {"status", "last_updated"}


@contextlib.contextmanager
def partner_down(server: Server, peer: Peer, connector: str, statuses: list[str]) -> Iterator[None]:
    """The partner answers 503 while `connector` goes through `statuses`; the changes wait
    in the outbox (operators see them waiting) until the block ends."""
    peer.down = True
    try:
        for status in statuses:
            data(server.query(SET_STATUS, {"id": connector, "status": status}))
        wait_for(lambda: (waiting(server) or 0) >= len(statuses), "the waiting gauge to show them")
        yield
    finally:
        peer.down = False


def delivered(peer: Peer, station_id: str, connector: str, count: int) -> list[dict[str, Any]]:
    """The PATCHes of one EVSE once `count` have arrived, checked to be in written order."""
    received: list[dict[str, Any]] = wait_for(
        lambda: (
            len(patches(peer, station_id, connector)) >= count
            and patches(peer, station_id, connector)
        ),
        f"{count} PATCHes",
    )
    moments = [body["last_updated"] for body in received]
    assert len(received) == count and moments == sorted(moments) and len(set(moments)) == count
    return received


def test_changes_wait_out_a_partner_outage_and_arrive_in_order(server: Server, peer: Peer) -> None:
    built = network(server)
    (made,) = built["stations"]
    slow = made["connectors"][1]["id"]
    wait_for(lambda: pushed_to(peer, made["id"]), "the Location to be PUT")
    with partner_down(server, peer, slow, ["CHARGING", "RESERVED", "FAULTED", "AVAILABLE"]):
        assert patches(peer, made["id"], slow) == []
    # Every change once, in the order written (the station is not connected: UNKNOWN).
    received = delivered(peer, made["id"], slow, 4)
    assert {body["status"] for body in received} == {"UNKNOWN"}
    wait_for(lambda: waiting(server) == 0, "the waiting gauge to come back to 0")


def test_changes_waiting_for_a_partner_survive_a_server_restart(server: Server, peer: Peer) -> None:
    built = network(server)
    (made,) = built["stations"]
    fast = made["connectors"][0]["id"]
    wait_for(lambda: pushed_to(peer, made["id"]), "the Location to be PUT")
    with partner_down(server, peer, fast, ["CHARGING", "AVAILABLE"]):
        server.stop()
        server.start()
    delivered(peer, made["id"], fast, 2)
