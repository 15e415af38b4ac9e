"""Locations a partner sends ChargeGraph, written from the OCPI 2.2.1 object definitions
(mod_locations), and the partner's calls to ChargeGraph's Locations receiver."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.ocpi_peer import token_header
from tests.support.server import Server

RECEIVER = "/ocpi/emsp/2.2.1/locations"
# The party the test peer registers as (tests.support.ocpi_peer.Peer.credentials).
COUNTRY, PARTY = "DE", "PEE"
_ids = (f"LOC-{number:05d}" for number in itertools.count(1))
_seconds = itertools.count(1)


def next_location_id() -> str:
    """A Location id no other test of the session uses."""
    return next(_ids)


def stamp() -> str:
    """An RFC 3339 UTC instant, later than every one stamped before it in the session."""
    moment = datetime(2026, 6, 1, tzinfo=UTC) + timedelta(seconds=next(_seconds))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ocpi_connector(connector_id: str = "1", **changes: Any) -> dict[str, Any]:
    return {
        "id": connector_id,
        "standard": "IEC_62196_T2_COMBO",
        "format": "CABLE",
        "power_type": "DC",
        "max_voltage": 920,
        "max_amperage": 400,
        "max_electric_power": 150000,
        "last_updated": "2026-06-01T00:00:00Z",
        **changes,
    }


def ocpi_evse(uid: str, status: str = "AVAILABLE", **changes: Any) -> dict[str, Any]:
    return {
        "uid": uid,
        "evse_id": f"DE*PEE*E{uid}",
        "status": status,
        "connectors": [ocpi_connector()],
        "last_updated": "2026-06-01T00:00:00Z",
        **changes,
    }


def ocpi_location(
    location_id: str, latitude: float, longitude: float, **changes: Any
) -> dict[str, Any]:
    """A valid Location of the peer's party with two EVSEs: DC CCS2 150 kW and AC Type 2."""
    return {
        "country_code": COUNTRY,
        "party_id": PARTY,
        "id": location_id,
        "publish": True,
        "name": f"Site {location_id}",
        "address": "Unter den Linden 1",
        "city": "Berlin",
        "postal_code": "10117",
        "country": "DEU",
        "coordinates": {"latitude": f"{latitude:.6f}", "longitude": f"{longitude:.6f}"},
        "evses": [
            ocpi_evse(f"{location_id}-1"),
            ocpi_evse(
                f"{location_id}-2",
                connectors=[
                    ocpi_connector(
                        "1",
                        standard="IEC_62196_T2",
                        format="SOCKET",
                        power_type="AC_3_PHASE",
                        max_voltage=230,
                        max_amperage=32,
                        max_electric_power=22000,
                    )
                ],
            ),
        ],
        "operator": {"name": "Peer Charging GmbH"},
        "time_zone": "Europe/Berlin",
        "last_updated": "2026-06-01T00:00:00Z",
        **changes,
    }


def to_server(
    server: Server,
    token: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    content: bytes | None = None,
) -> httpx.Response:
    """A call of the partner to ChargeGraph's Locations receiver (`path` after it)."""
    return httpx.request(
        method,
        f"{server.base_url}{RECEIVER}{path}",
        headers=token_header(token),
        json=body if content is None else None,
        content=content,
        timeout=30,
    )


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    """Poll until `condition()` is true (pushes and pulls run in the background)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")
