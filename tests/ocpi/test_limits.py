"""A partner's calls are limited per process (CHARGEGRAPH_OCPI_CALLS_PER_MINUTE, 6 here):
past its allowance each call is HTTP 429 in the OCPI envelope with `Retry-After`, and
stores nothing; other partners are not held back. Calls with unknown tokens are limited
per client address (CHARGEGRAPH_OCPI_REFUSED_PER_MINUTE, 3 here)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo.database import Database

from tests.support.ocpi_peer import Peer, token_header
from tests.support.ocpi_received import next_location_id, ocpi_location, to_server
from tests.support.ocpi_sites import register
from tests.support.server import Server, module_server, server_fixture

ALLOWANCE = 6
REFUSALS = 3
server = server_fixture(
    "A server allowing each partner 6 calls a minute.",
    CHARGEGRAPH_OCPI_CALLS_PER_MINUTE=str(ALLOWANCE),
)


def versions(server: Server, token: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/ocpi/versions", headers=token_header(token), timeout=30)


def test_calls_past_the_allowance_are_refused_and_store_nothing(
    server: Server, db: Database[Any]
) -> None:
    with Peer().running() as busy, Peer().running() as quiet:
        # Registering takes calls of its own (versions, details, credentials).
        busy_token = register(server, busy, name="Busy")
        quiet_token = register(server, quiet, name="Quiet")
        answers = [versions(server, busy_token) for _ in range(ALLOWANCE)]
        refused = [answer for answer in answers if answer.status_code == 429]
        assert refused, [answer.status_code for answer in answers]
        body = refused[0].json()
        assert body["status_code"] == 2000 and "too many calls" in body["status_message"]
        assert int(refused[0].headers["Retry-After"]) >= 1
        # A Location PUT past the allowance is not stored.
        location = ocpi_location(next_location_id(), 10.0, 10.0)
        path = f"/{location['country_code']}/{location['party_id']}/{location['id']}"
        assert to_server(server, busy_token, "PUT", path, location).status_code == 429
        assert db.ocpi_received_locations.count_documents({"locationId": location["id"]}) == 0
        # Another partner still has its own allowance.
        assert versions(server, quiet_token).status_code == 200


def test_unknown_tokens_are_refused_without_a_lookup_past_the_allowance(
    mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each unknown token costs a database lookup: past REFUSALS from one address, the
    calls are 429 before any lookup (the address's allowance refills over a minute). A
    server of its own: the address is every test's."""
    settings = {"CHARGEGRAPH_OCPI_REFUSED_PER_MINUTE": str(REFUSALS)}
    with module_server(mongo_uri, db_name, tmp_path_factory, **settings) as strict:
        answers = [versions(strict, f"unknown-{number}") for number in range(REFUSALS + 2)]
    statuses = [answer.status_code for answer in answers]
    assert statuses[:REFUSALS] == [401] * REFUSALS
    assert statuses[REFUSALS:] == [429, 429]
    body = answers[-1].json()
    assert body["status_code"] == 2000 and int(answers[-1].headers["Retry-After"]) >= 1
