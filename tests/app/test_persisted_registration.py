"""The persisted-query store holds only valid operations, and registering one costs a write."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from tests.support.server import Server, error, server_fixture

WRITES = 3

server = server_fixture(
    "A server whose callers may make 3 writes a minute.",
    CHARGEGRAPH_WRITES_PER_MINUTE=str(WRITES),
)


def send(server: Server, query: str | None, text_for_hash: str) -> httpx.Response:
    digest = hashlib.sha256(text_for_hash.encode()).hexdigest()
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if query is not None:
        body["query"] = query
    return httpx.post(server.graphql_url, json=body)


def test_texts_that_do_not_parse_or_validate_are_not_remembered(server: Server) -> None:
    for garbage, code in (
        ("garbage that is no GraphQL", "GRAPHQL_PARSE_FAILED"),
        ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
    ):
        sent = send(server, garbage, garbage)
        assert error(sent.json())["extensions"]["code"] == code
        # Its hash alone is unknown: nothing was stored.
        by_hash = send(server, None, garbage)
        assert error(by_hash.json())["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def test_each_new_registration_costs_a_write_and_known_ones_are_free(server: Server) -> None:
    texts = [f"query Q{n} {{ __typename }}" for n in range(WRITES + 1)]
    for text in texts[:WRITES]:
        registered = send(server, text, text)
        assert registered.status_code == 200 and registered.json()["data"] == {
            "__typename": "Query"
        }
    refused = send(server, texts[WRITES], texts[WRITES])
    assert refused.status_code == 429 and refused.headers["retry-after"]
    assert error(refused.json())["extensions"]["code"] == "RATE_LIMITED"
    assert error(send(server, None, texts[WRITES]).json())["extensions"]["code"] == (
        "PERSISTED_QUERY_NOT_FOUND"
    )
    # What is stored is served by its hash, and sending it again costs nothing.
    for text in texts[:WRITES]:
        assert send(server, None, text).json()["data"] == {"__typename": "Query"}
        assert send(server, text, text).json()["data"] == {"__typename": "Query"}
