"""Rate limits per API key and per client address, for writes and for searches."""

from __future__ import annotations

from typing import Any

import httpx
from bson import ObjectId
from pymongo.database import Database

from graph.access.service import FAILURES_PER_MINUTE
from tests.support.access import ask, create_key
from tests.support.live import start, subscribed, subscription_error
from tests.support.server import (
    ADMIN_KEY,
    Server,
    create_connector,
    create_organization,
    data,
    server_fixture,
)

WRITES, SEARCHES = 3, 4
HEALTHY_QUERY = "{ __typename }"
NEARBY = "{ nearbyConnectors(latitude: 52.37, longitude: 4.89) { totalCount } }"
NEARBY_IDS = (
    "{ nearbyConnectors(latitude: 52.37, longitude: 4.89) { totalCount edges { node { id } } } }"
)
SET_STATUS = "mutation($id: ID!, $s: ConnectorStatus!) { setConnectorStatus(id: $id, status: $s) { status } }"


server = server_fixture(
    "A server with tiny allowances, so tests can spend them.",
    CHARGEGRAPH_WRITES_PER_MINUTE=str(WRITES),
    CHARGEGRAPH_SEARCHES_PER_MINUTE=str(SEARCHES),
)


def refused(response: httpx.Response) -> dict[str, Any]:
    """The RATE_LIMITED refusal of a whole operation."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] >= 1
    assert response.headers["retry-after"] == str(error["extensions"]["retryAfter"])
    result: dict[str, Any] = error
    return result


def post(
    server: Server, query: str, variables: dict[str, Any] | None = None, key: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        server.graphql_url, json={"query": query, "variables": variables or {}}, headers=headers
    )


def test_anonymous_searches_are_limited_per_address(server: Server) -> None:
    # What the searches find (within NEARBY's 5 km, active only): the first connector.
    organization = create_organization(server, name="Searched Operator")["id"]
    found = create_connector(
        server, organization, coordinates={"latitude": 52.38, "longitude": 4.9}
    )
    create_connector(
        server, organization, coordinates={"latitude": 52.37, "longitude": 4.9}, active=False
    )
    create_connector(server, organization, coordinates={"latitude": 52.46, "longitude": 4.89})
    for _ in range(SEARCHES):
        assert "errors" not in post(server, NEARBY).json()
    error = refused(post(server, NEARBY))
    assert f"{SEARCHES} searches per minute" in error["message"]
    # Cheap reads are not searches; admins are not limited.
    cheap = post(
        server, "query($id: ID!) { organization(id: $id) { id } }", {"id": str(ObjectId())}
    )
    assert cheap.status_code == 200 and data(cheap.json()) == {"organization": None}
    searched = data(server.query(NEARBY_IDS))["nearbyConnectors"]
    assert searched["totalCount"] == 1
    assert searched["edges"] == [{"node": {"id": found["id"]}}]


def test_an_alias_bombed_search_pays_for_every_copy(server: Server) -> None:
    organization = create_organization(server, name="Aliasing")
    key = create_key(server, organization["id"])["key"]
    copies = " ".join(
        f"n{i}: nearbyConnectors(latitude: 52.37, longitude: 4.89) {{ totalCount }}"
        for i in range(SEARCHES + 1)
    )
    refused(post(server, f"{{ {copies} }}", key=key))
    # Refused before running: the key's allowance is untouched.
    assert "errors" not in post(server, NEARBY, key=key).json()


def test_writes_are_limited_per_organization_and_a_refused_write_stores_nothing(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Busy Operator")
    connector = create_connector(server, organization["id"])
    key = create_key(server, organization["id"])["key"]
    same_organization_key = create_key(server, organization["id"])["key"]
    other = create_organization(server, name="Other Operator")
    other_connector = create_connector(server, other["id"])
    second_key = create_key(server, other["id"])["key"]
    for status in ("CHARGING", "AVAILABLE", "PREPARING"):
        assert (
            "errors"
            not in post(server, SET_STATUS, {"id": connector["id"], "s": status}, key).json()
        )
    refused(post(server, SET_STATUS, {"id": connector["id"], "s": "FAULTED"}, key))
    stored = db.connectors.find_one({"_id": ObjectId(connector["id"])})
    assert stored is not None and stored["status"] == "Preparing"
    # The organization's other keys share its allowance (minting keys does not multiply it).
    refused(
        post(server, SET_STATUS, {"id": connector["id"], "s": "FAULTED"}, same_organization_key)
    )
    # Another organization has its own allowance; admins have none.
    http_status, body = ask(
        server, second_key, SET_STATUS, {"id": other_connector["id"], "s": "RESERVED"}
    )
    assert http_status == 200 and data(body)["setConnectorStatus"]["status"] == "RESERVED"
    assert data(server.query(SET_STATUS, {"id": connector["id"], "s": "AVAILABLE"}))


def test_a_mutation_with_more_writes_than_left_is_refused_whole(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Batch Writer")
    connectors = [create_connector(server, organization["id"]) for _ in range(WRITES + 1)]
    key = create_key(server, organization["id"])["key"]
    writes = " ".join(
        f'w{i}: setConnectorStatus(id: "{c["id"]}", status: FAULTED) {{ status }}'
        for i, c in enumerate(connectors)
    )
    refused(post(server, f"mutation {{ {writes} }}", key=key))
    ids = [ObjectId(c["id"]) for c in connectors]
    assert {row["status"] for row in db.connectors.find({"_id": {"$in": ids}})} == {"Available"}


def test_nested_searches_pay_too(server: Server) -> None:
    organization = create_organization(server, name="Nested Searcher")
    key = create_key(server, organization["id"])["key"]

    def copies(count: int) -> str:
        return " ".join(
            f'c{i}: organization(id: "{organization["id"]}") {{ connectors {{ totalCount }} }}'
            for i in range(count)
        )

    error = refused(post(server, f"{{ {copies(SEARCHES + 1)} }}", key=key))
    assert f"{SEARCHES} searches" in error["message"]
    # Within the allowance, the same nesting runs.
    body = post(server, f"{{ {copies(SEARCHES)} }}", key=key).json()
    assert "errors" not in body and body["data"]["c0"]["connectors"]["totalCount"] == 0


def test_each_subscription_costs_a_search(server: Server) -> None:
    organization = create_organization(server, name="Dashboard Owner")
    key = create_key(server, organization["id"])["key"]
    with subscribed(server, {"org": organization["id"]}, key=key) as socket:
        for number in range(2, SEARCHES + 2):
            start(socket, str(number), {"org": organization["id"]})
        error = subscription_error(socket)
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] >= 1


def test_an_address_retrying_an_unknown_key_is_slowed_down_but_valid_keys_still_work(
    server: Server,
) -> None:
    """Failures count per address and key prefix: users behind one NAT are not locked out."""
    organization = create_organization(server, name="Behind One NAT")
    valid_key = create_key(server, organization["id"])["key"]
    statuses = []
    # The allowance refills by one every two seconds while the retries go on.
    for _ in range(FAILURES_PER_MINUTE * 2):
        blocked = post(server, HEALTHY_QUERY, key="cgk_wrongkey-retried-by-a-broken-client")
        statuses.append(blocked.status_code)
        if blocked.status_code != 401:
            break
    assert statuses[:FAILURES_PER_MINUTE] == [401] * FAILURES_PER_MINUTE
    assert len(statuses) <= FAILURES_PER_MINUTE + 5
    assert blocked.status_code == 429 and blocked.headers["retry-after"]
    assert blocked.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # The same address's valid organization key, another unknown key and admin keys are let through.
    answered = post(server, HEALTHY_QUERY, key=valid_key)
    assert answered.status_code == 200 and "errors" not in answered.json()
    assert post(server, HEALTHY_QUERY, key="cgk_anotherwrongkey").status_code == 401
    assert post(server, HEALTHY_QUERY, key=ADMIN_KEY).status_code == 200
