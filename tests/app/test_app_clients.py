"""What apps on other origins and mobile clients rely on: CORS, app keys, persisted queries, GET."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from pymongo.database import Database
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from graph.core.persisted import PersistedQueries, PersistedQueryNotFound
from tests.support.access import ask, create_app_key, create_key, snapshot
from tests.support.server import ADMIN_KEY, Server, create_organization, data, error, server_fixture

DASHBOARD = "https://dash.example.com"
NEARBY = (
    "query Nearby($lat: Float!, $lng: Float!) { nearbyConnectors(latitude: $lat, "
    "longitude: $lng) { edges { node { id } } } }"
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


listed = server_fixture(
    "A server that lists the dashboard's origin.", CHARGEGRAPH_CORS_ORIGINS=DASHBOARD
)


anyone = server_fixture(
    "A server that lets any origin read anonymously.", CHARGEGRAPH_CORS_ORIGINS="*"
)


def preflight(server: Server, origin: str, headers: str) -> httpx.Response:
    return httpx.options(
        server.graphql_url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


def test_a_preflight_from_a_listed_origin_allows_keys(listed: Server) -> None:
    allowed = preflight(listed, DASHBOARD, "content-type,authorization")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == DASHBOARD
    assert "Authorization" in allowed.headers["access-control-allow-headers"]
    assert "POST" in allowed.headers["access-control-allow-methods"]
    refused = preflight(listed, "https://evil.example", "content-type")
    assert "access-control-allow-origin" not in refused.headers
    answered = httpx.post(
        listed.graphql_url,
        json={"query": "{ organizations { totalCount } }"},
        headers={"Origin": DASHBOARD},
    )
    assert answered.headers["access-control-allow-origin"] == DASHBOARD


def test_a_wildcard_lets_anyone_read_but_not_with_a_key(anyone: Server) -> None:
    reading = preflight(anyone, "https://any.example", "content-type")
    assert reading.status_code == 200
    assert reading.headers["access-control-allow-origin"] == "*"
    keyed = preflight(anyone, "https://any.example", "content-type,authorization")
    assert keyed.status_code == 400


def test_websockets_check_the_origin(listed: Server, anyone: Server) -> None:
    def handshake(server: Server, origin: str | None, key: str | None = None) -> dict[str, Any]:
        headers = {"Origin": origin} if origin else {}
        with connect(
            server.ws_url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            additional_headers=headers,
        ) as socket:
            payload = {"authorization": f"Bearer {key}"} if key else {}
            socket.send(json.dumps({"type": "connection_init", "payload": payload}))
            try:
                answer: dict[str, Any] = json.loads(socket.recv(timeout=10))
            except Exception as closed:
                return {"closed": getattr(getattr(closed, "rcvd", None), "code", None)}
            return answer

    assert handshake(listed, None)["type"] == "connection_ack"
    assert handshake(listed, DASHBOARD)["type"] == "connection_ack"
    assert handshake(listed, listed.base_url)["type"] == "connection_ack"  # GraphiQL
    with pytest.raises(InvalidStatus) as refused:
        handshake(listed, "https://evil.example")
    assert refused.value.response.status_code == 403
    # Under "*", any origin may subscribe anonymously, but not with a key.
    assert handshake(anyone, "https://any.example")["type"] == "connection_ack"
    assert handshake(anyone, "https://any.example", ADMIN_KEY) == {"closed": 4403}


def test_persisted_queries_over_post_and_get(listed: Server) -> None:
    digest = sha256(NEARBY)
    variables = {"lat": 52.37, "lng": 4.9}
    unknown = httpx.post(
        listed.graphql_url, json={"variables": variables, "extensions": persisted(digest)}
    )
    assert unknown.status_code == 200
    assert error(unknown.json())["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = httpx.post(
        listed.graphql_url,
        json={"query": NEARBY, "variables": variables, "extensions": persisted(digest)},
    )
    assert "nearbyConnectors" in data(registered.json())
    by_hash = httpx.get(
        listed.graphql_url,
        params={"variables": json.dumps(variables), "extensions": json.dumps(persisted(digest))},
        headers={"Accept": "application/json"},
    )
    assert by_hash.status_code == 200 and "nearbyConnectors" in data(by_hash.json())
    assert by_hash.headers["cache-control"] == "public, max-age=5"
    assert "Authorization" in by_hash.headers["vary"]
    keyed = httpx.get(
        listed.graphql_url,
        params={"variables": json.dumps(variables), "extensions": json.dumps(persisted(digest))},
        headers={"Accept": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert keyed.headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize(
    ("extensions", "query", "field"),
    [
        (persisted("0" * 64), NEARBY, "extensions.persistedQuery.sha256Hash"),
        (persisted("not-a-hash"), None, "extensions.persistedQuery.sha256Hash"),
        (
            {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
            None,
            "extensions.persistedQuery",
        ),
        ({"persistedQuery": "yes"}, None, "extensions.persistedQuery"),
    ],
)
def test_a_bad_persisted_query_is_refused_naming_the_field(
    listed: Server, extensions: dict[str, Any], query: str | None, field: str
) -> None:
    body: dict[str, Any] = {"extensions": extensions, "variables": {"lat": 1.0, "lng": 1.0}}
    if query is not None:
        body["query"] = query
    refused = httpx.post(listed.graphql_url, json=body)
    assert refused.status_code == 400
    assert error(refused.json())["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


def test_a_mutation_over_get_is_refused_and_changes_nothing(
    listed: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(listed, name="Not Over GET")
    before = snapshot(db)
    refused = httpx.get(
        listed.graphql_url,
        params={"query": f'mutation {{ deleteOrganization(id: "{organization["id"]}") }}'},
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Accept": "application/json"},
    )
    assert refused.status_code == 400
    assert error(refused.json())["extensions"]["code"] == "BAD_USER_INPUT"
    assert snapshot(db) == before


def test_an_app_key_reads_on_its_own_allowance_and_is_named_in_metrics(
    listed: Server,
) -> None:
    app = create_app_key(listed, "Mobile App", searches_per_minute=2)
    key = app["key"]
    assert key.startswith("cga_") and app["appKey"]["searchesPerMinute"] == 2
    search = "{ connectors(first: 1) { totalCount } }"
    for _ in range(2):
        status, body = ask(listed, key, search)
        assert status == 200 and "connectors" in data(body)
    status, body = ask(listed, key, search)
    assert status == 429 and error(body)["extensions"]["code"] == "RATE_LIMITED"
    # The same address without the key still has its own allowance.
    status, body = ask(listed, None, search)
    assert status == 200
    metrics = httpx.get(f"{listed.base_url}/metrics").text
    assert 'chargegraph_app_requests_total{app="Mobile App"}' in metrics
    # Revoked: refused like any unknown key.
    organization = create_organization(listed, name="Revoker")
    create_key(listed, organization["id"])
    listed_apps = data(listed.query("{ appKeys { id name } }"))["appKeys"]
    assert {"id": app["appKey"]["id"], "name": "Mobile App"} in listed_apps
    data(listed.query("mutation($id: ID!) { revokeAppKey(id: $id) }", {"id": app["appKey"]["id"]}))
    status, body = ask(listed, key, "{ organizations { totalCount } }")
    assert status == 401


def test_the_persisted_query_store_is_bounded() -> None:
    store = PersistedQueries(max_queries=3, max_characters=1000)
    texts = [f"{{ q{n} }}" for n in range(5)]
    for text in texts:
        store.resolve(text, persisted(sha256(text)), register=lambda text: True)
    assert len(store) == 3
    with pytest.raises(PersistedQueryNotFound):
        store.resolve(None, persisted(sha256(texts[0])), register=lambda text: True)
    assert store.resolve(None, persisted(sha256(texts[4])), register=lambda text: True) == texts[4]
    big = PersistedQueries(max_queries=100, max_characters=25)
    for text in ("{ aaaaaaaaaa }", "{ bbbbbbbbbb }"):
        big.resolve(text, persisted(sha256(text)), register=lambda text: True)
    assert len(big) == 1
