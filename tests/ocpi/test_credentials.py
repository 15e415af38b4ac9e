"""The OCPI credentials handshake with a partner written from the specification.

The partner is invited over GraphQL (Token A), registers with POST credentials
carrying its Token B, and from then on uses the Token C it got back; every
answer is in the OCPI envelope with the request's ids echoed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from tests.support.access import create_key
from tests.support.faults import deployment, fail_point
from tests.support.ocpi_peer import Peer, token_header
from tests.support.server import Server, create_organization, data, error

CREATE = """
mutation($input: CreateOcpiPartnerInput!) {
  createOcpiPartner(input: $input) { partner { id name status rawToken } tokenA versionsUrl }
}
"""
PARTNERS = "{ ocpiPartners { id name status versionsUrl } }"
DELETE = "mutation($id: ID!) { deleteOcpiPartner(id: $id) }"


@pytest.fixture()
def peer() -> Iterator[Peer]:
    with Peer().running() as running:
        yield running


def invite(server: Server, name: str = "Peer Mobility", **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = data(server.query(CREATE, {"input": {"name": name, **fields}}))[
        "createOcpiPartner"
    ]
    return result


def call(
    server: Server, method: str, path: str, token: str | None, **kwargs: Any
) -> httpx.Response:
    headers = {"X-Request-ID": "req-1", "X-Correlation-ID": "cor-1"}
    if token is not None:
        headers.update(token_header(token))
    return httpx.request(method, f"{server.base_url}{path}", headers=headers, timeout=30, **kwargs)


def assert_envelope(response: httpx.Response, status_code: int) -> Any:
    """The OCPI envelope with this status code and the request's ids echoed; returns `data`."""
    body = response.json()
    assert body["status_code"] == status_code, body
    assert body["timestamp"].endswith("Z")
    assert response.headers["X-Request-ID"] == "req-1"
    assert response.headers["X-Correlation-ID"] == "cor-1"
    return body.get("data")


def test_partner_registers_and_token_a_dies(server: Server, peer: Peer, db: Database[Any]) -> None:
    invitation = invite(server)
    assert invitation["partner"]["status"] == "PENDING"
    token_a = invitation["tokenA"]
    assert invitation["versionsUrl"] == f"{server.base_url}/ocpi/versions"
    # Only a hash of the token is stored.
    stored = db.ocpi_partners.find_one({"name": "Peer Mobility"})
    assert stored is not None and token_a not in str(stored)

    versions = assert_envelope(call(server, "GET", "/ocpi/versions", token_a), 1000)
    assert versions == [{"version": "2.2.1", "url": f"{server.base_url}/ocpi/2.2.1"}]
    details = assert_envelope(call(server, "GET", "/ocpi/2.2.1", token_a), 1000)
    assert {
        "identifier": "credentials",
        "role": "SENDER",
        "url": f"{server.base_url}/ocpi/2.2.1/credentials",
    } in details["endpoints"]

    answer = call(server, "POST", "/ocpi/2.2.1/credentials", token_a, json=peer.credentials())
    credentials = assert_envelope(answer, 1000)
    token_c = credentials["token"]
    assert token_c != token_a and credentials["url"] == f"{server.base_url}/ocpi/versions"
    assert credentials["roles"][0]["role"] == "CPO"
    # The server read the partner's endpoints with Token B, Base64-encoded.
    fetched = [(path, headers["authorization"]) for _, path, headers in peer.received]
    expected = "Token " + base64.b64encode(peer.token.encode()).decode()
    assert fetched == [("/ocpi/versions", expected), ("/ocpi/2.2.1", expected)]

    assert call(server, "GET", "/ocpi/versions", token_a).status_code == 401
    got = assert_envelope(call(server, "GET", "/ocpi/2.2.1/credentials", token_c), 1000)
    assert got["token"] == token_c
    partners = data(server.query(PARTNERS))["ocpiPartners"]
    mine = next(p for p in partners if p["id"] == invitation["partner"]["id"])
    assert mine["status"] == "REGISTERED" and mine["versionsUrl"] == peer.versions_url

    # Registered already: POST is 405; PUT rotates the token.
    again = call(server, "POST", "/ocpi/2.2.1/credentials", token_c, json=peer.credentials())
    assert again.status_code == 405
    assert_envelope(again, 2001)
    peer.token = "peer-token-B-0002"
    rotated = assert_envelope(
        call(server, "PUT", "/ocpi/2.2.1/credentials", token_c, json=peer.credentials()), 1000
    )
    assert rotated["token"] != token_c
    assert call(server, "GET", "/ocpi/2.2.1/credentials", token_c).status_code == 401
    token_c = rotated["token"]

    # DELETE unregisters: the token dies.
    assert_envelope(call(server, "DELETE", "/ocpi/2.2.1/credentials", token_c), 1000)
    assert call(server, "GET", "/ocpi/2.2.1/credentials", token_c).status_code == 401
    unregistered = db.ocpi_partners.find_one({"_id": stored["_id"]})
    assert unregistered is not None and unregistered["status"] == "PENDING"


def test_missing_or_unknown_token_is_401_in_the_envelope(server: Server) -> None:
    for token in (None, "not-a-token-this-server-issued"):
        response = call(server, "GET", "/ocpi/versions", token)
        assert response.status_code == 401
        assert_envelope(response, 2000)
    bearer = httpx.get(
        f"{server.base_url}/ocpi/versions", headers={"Authorization": "Bearer x"}, timeout=30
    )
    assert bearer.status_code == 401


def test_raw_token_accepted_from_older_peers(server: Server) -> None:
    token_a = invite(server, "Older Peer")["tokenA"]
    response = httpx.get(
        f"{server.base_url}/ocpi/versions",
        headers=token_header(token_a, raw=True),
        timeout=30,
    )
    assert response.status_code == 200 and response.json()["status_code"] == 1000


def test_partner_expecting_raw_tokens_is_called_with_the_raw_token(server: Server) -> None:
    with Peer(raw=True, token="raw-peer-token").running() as peer:
        token_a = invite(server, "Raw Peer", rawToken=True)["tokenA"]
        answer = call(server, "POST", "/ocpi/2.2.1/credentials", token_a, json=peer.credentials())
        assert_envelope(answer, 1000)
        assert peer.received[0][2]["authorization"] == "Token raw-peer-token"


def test_put_or_delete_before_registering_is_405(server: Server, peer: Peer) -> None:
    token_a = invite(server, "Early Peer")["tokenA"]
    for method in ("PUT", "DELETE"):
        response = call(server, method, "/ocpi/2.2.1/credentials", token_a, json=peer.credentials())
        assert response.status_code == 405
        assert_envelope(response, 2001)
    assert call(server, "GET", "/ocpi/versions", token_a).status_code == 200


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"token": "has space"}, "token"),
        ({"token": "x" * 65}, "token"),
        ({"url": "ftp://nowhere"}, "url"),
        ({"roles": []}, "roles"),
        (
            {
                "roles": [
                    {
                        "role": "EMSP",
                        "country_code": "DEU",
                        "party_id": "PEE",
                        "business_details": {},
                    }
                ]
            },
            "roles[0]",
        ),
    ],
)
def test_bad_credentials_are_2001_naming_the_field_and_change_nothing(
    server: Server, peer: Peer, db: Database[Any], changes: dict[str, Any], named: str
) -> None:
    invitation = invite(server, "Bad Peer")
    before = db.ocpi_partners.find_one(
        {"name": "Bad Peer", "status": "PENDING"}, sort=[("_id", -1)]
    )
    assert before is not None
    response = call(
        server,
        "POST",
        "/ocpi/2.2.1/credentials",
        invitation["tokenA"],
        json=peer.credentials(**changes),
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status_code"] == 2001 and body["status_message"].startswith(named)
    assert db.ocpi_partners.find_one({"_id": before["_id"]}) == before
    assert peer.received == []


def test_unreachable_partner_is_3001_and_unsupported_version_3002(
    server: Server, db: Database[Any]
) -> None:
    token_a = invite(server, "Gone Peer")["tokenA"]
    gone = Peer()  # never started: nothing listens on its port
    response = call(server, "POST", "/ocpi/2.2.1/credentials", token_a, json=gone.credentials())
    assert response.json()["status_code"] == 3001
    with Peer(offers_version="2.1.1").running() as old:
        response = call(server, "POST", "/ocpi/2.2.1/credentials", token_a, json=old.credentials())
        assert response.json()["status_code"] == 3002
    # Token A still works: nothing was registered.
    assert call(server, "GET", "/ocpi/versions", token_a).status_code == 200


def test_body_not_json_or_too_large_is_refused(server: Server) -> None:
    token_a = invite(server, "Noisy Peer")["tokenA"]
    assert (
        call(server, "POST", "/ocpi/2.2.1/credentials", token_a, content=b"{").json()["status_code"]
        == 2001
    )
    huge = call(server, "POST", "/ocpi/2.2.1/credentials", token_a, content=b" " * 2_000_000)
    assert huge.status_code == 413


def test_deleted_partner_token_dies(server: Server) -> None:
    invitation = invite(server, "Leaving Peer")
    assert data(server.query(DELETE, {"id": invitation["partner"]["id"]}))["deleteOcpiPartner"]
    assert call(server, "GET", "/ocpi/versions", invitation["tokenA"]).status_code == 401
    gone = error(server.query(DELETE, {"id": invitation["partner"]["id"]}))
    assert gone["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("operation", "variables"),
    [
        (CREATE, {"input": {"name": "X"}}),
        (PARTNERS, {}),
        (DELETE, {"id": "0" * 24}),
        (
            'mutation { connectOcpiPartner(input: {name: "X", versionsUrl: "http://127.0.0.1:9/", tokenA: "a"}) { id } }',
            {},
        ),
    ],
)
def test_partners_are_for_admins_only(
    server: Server, db: Database[Any], operation: str, variables: dict[str, Any]
) -> None:
    before = db.ocpi_partners.count_documents({})
    assert (
        error(server.query(operation, variables, key=None))["extensions"]["code"]
        == "UNAUTHENTICATED"
    )
    assert db.ocpi_partners.count_documents({}) == before


def test_organization_keys_are_forbidden(server: Server, db: Database[Any]) -> None:
    organization = create_organization(server)
    key = create_key(server, organization["id"])["key"]
    before = db.ocpi_partners.count_documents({})
    connect = {"input": {"name": "X", "versionsUrl": "http://127.0.0.1:9/", "tokenA": "a"}}
    for operation, variables in (
        (CONNECT, connect),
        (CREATE, {"input": {"name": "X"}}),
        (PARTNERS, {}),
        (DELETE, {"id": "0" * 24}),
    ):
        assert (
            error(server.query(operation, variables, key=key))["extensions"]["code"] == "FORBIDDEN"
        )
    assert db.ocpi_partners.count_documents({}) == before


CONNECT = """
mutation($input: ConnectOcpiPartnerInput!) {
  connectOcpiPartner(input: $input) { id name status versionsUrl }
}
"""


def test_server_registers_with_a_partner_that_gave_it_token_a(
    server: Server, db: Database[Any]
) -> None:
    with Peer(token="peer-token-A-0001").running() as peer:
        connected = data(
            server.query(
                CONNECT,
                {"input": {"name": "Hub", "versionsUrl": peer.versions_url, "tokenA": peer.token}},
            )
        )["connectOcpiPartner"]
        assert connected["status"] == "REGISTERED" and connected["versionsUrl"] == peer.versions_url
        # The partner read this server's versions with the Token B it was sent, and answered C.
        assert peer.server_token is not None and peer.token == peer.token_c
        stored = db.ocpi_partners.find_one({"name": "Hub"})
        assert stored is not None and stored["partnerToken"] == peer.token_c
        assert peer.server_token not in str(stored)
        # The partner calls this server with B from now on.
        credentials = assert_envelope(
            call(server, "GET", "/ocpi/2.2.1/credentials", peer.server_token), 1000
        )
        assert credentials["token"] == peer.server_token
        assert [path for _, path, _ in peer.received] == [
            "/ocpi/versions",
            "/ocpi/2.2.1",
            "/ocpi/2.2.1/credentials",
        ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"versionsUrl": "nowhere"}, "versionsUrl"),
        ({"tokenA": "has space"}, "tokenA"),
        ({"tokenA": "wrong-token"}, "versionsUrl"),
        ({"name": "  "}, "name"),
    ],
)
def test_bad_connect_input_names_the_field_and_stores_nothing(
    server: Server, db: Database[Any], changes: dict[str, Any], field: str
) -> None:
    with Peer(token="peer-token-A-0002").running() as peer:
        before = db.ocpi_partners.count_documents({})
        variables = {"name": "Hub", "versionsUrl": peer.versions_url, "tokenA": peer.token}
        refused = error(server.query(CONNECT, {"input": {**variables, **changes}}))
        assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
        assert db.ocpi_partners.count_documents({}) == before


def test_unknown_endpoints_and_methods_answer_in_the_envelope(server: Server) -> None:
    token_a = invite(server, "Curious Peer")["tokenA"]
    patch = call(server, "PATCH", "/ocpi/2.2.1/credentials", token_a, json={})
    assert patch.status_code == 405
    assert_envelope(patch, 2000)
    unknown = call(server, "GET", "/ocpi/2.2.1/tariffs", token_a)
    assert unknown.status_code == 404
    assert_envelope(unknown, 2000)


def test_an_unavailable_database_is_503_with_retry_after_in_the_envelope(
    tmp_path: Path,
) -> None:
    with deployment(tmp_path) as running:
        # ShutdownInProgress for the next read: the token lookup.
        fail_point(running.database.uri, ["find"], 91)
        response = httpx.get(
            f"{running.api.base_url}/ocpi/versions",
            headers={"X-Request-ID": "req-1", "X-Correlation-ID": "cor-1", **token_header("t")},
            timeout=30,
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        assert_envelope(response, 3000)
        # Once the database answers again, the same call is judged on its token.
        again = httpx.get(
            f"{running.api.base_url}/ocpi/versions", headers=token_header("t"), timeout=30
        )
        assert again.status_code == 401
