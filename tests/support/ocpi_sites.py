"""Roaming test helpers: a partner registered with a server, and networks that publish
Locations (an organization with an OCPI identity, stations with addresses and connectors)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.ocpi_peer import Peer, token_header
from tests.support.server import Server, connector_input, create_organization, data

CREATE_STATION = """
mutation($input: CreateChargestationInput!) { createChargestation(input: $input) { id endpoint } }
"""
CREATE_CONNECTOR = (
    "mutation($input: CreateConnectorInput!) { createConnector(input: $input) { id endpoint } }"
)
SET_STATUS = """
mutation($id: ID!, $status: ConnectorStatus!) { setConnectorStatus(id: $id, status: $status) { id } }
"""
DELETE_CONNECTOR = "mutation($id: ID!) { deleteConnector(id: $id) }"
UPDATE_CONNECTOR = """
mutation($id: ID!, $input: UpdateConnectorInput!) { updateConnector(id: $id, input: $input) { id } }
"""
ADDRESS = {
    "streetAndNumber": "Keizersgracht 1",
    "postalCode": "1015 CJ",
    "city": "Amsterdam",
    "country": "NL",
}
_parties = (f"{a}{b}{c}" for a, b, c in itertools.product("QRS", "0123456789", "ABCDEFGHIJ"))


def next_party() -> str:
    """An OCPI party id no other test of the session uses."""
    return next(_parties)


def register(server: Server, peer: Peer, name: str = "Puller") -> str:
    """Invite `peer` as a partner and let it register; returns its Token C."""
    invitation = data(
        server.query(
            "mutation($name: String!) { createOcpiPartner(input: {name: $name}) { tokenA } }",
            {"name": name},
        )
    )["createOcpiPartner"]
    answer = httpx.post(
        f"{server.base_url}/ocpi/2.2.1/credentials",
        headers=token_header(invitation["tokenA"]),
        json=peer.credentials(),
        timeout=30,
    )
    token: str = answer.json()["data"]["token"]
    return token


@pytest.fixture(scope="module")
def registered_partner_token(server: Server) -> Iterator[str]:
    """Token C of a partner registered through the credentials handshake."""
    with Peer().running() as peer:
        yield register(server, peer)


def network(server: Server, stations: int = 1, **station_fields: Any) -> dict[str, Any]:
    """An organization with an OCPI identity and stations with two connectors each."""
    party = next_party()
    organization = create_organization(
        server, name=f"Roaming {party}", ocpi={"countryCode": "NL", "partyId": party}
    )
    created = []
    for number in range(stations):
        fields = {
            "organizationId": organization["id"],
            "endpoint": f"OCPI-{party}-{number}",
            "coordinates": {"latitude": 52.3728 + number / 1000, "longitude": 4.8936},
            "address": ADDRESS,
            "timeZone": "Europe/Amsterdam",
            **station_fields,
        }
        made = data(server.query(CREATE_STATION, {"input": fields}))["createChargestation"]
        made["connectors"] = [
            data(
                server.query(
                    CREATE_CONNECTOR,
                    {
                        "input": connector_input(
                            organization["id"],
                            chargestationId=made["id"],
                            ocppId=ocpp_id,
                            **kind,
                        )
                    },
                )
            )["createConnector"]
            for ocpp_id, kind in (
                (1, {"type": "CCS2", "powerType": "DC", "power": 150.0, "format": "CABLE"}),
                (2, {"type": "TYPE2", "powerType": "AC_3_PHASE", "power": 22.0,
                     "format": "SOCKET", "maxVoltage": 230, "maxAmperage": 32}),
            )
        ]  # fmt: skip
        created.append(made)
    return {"organization": organization, "party": party, "stations": created}
