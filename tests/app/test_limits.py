"""Hostile queries are refused quickly with a clear code, and the server keeps answering."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from graph.core.limits import MAX_ALIASES, MAX_BODY_BYTES, MAX_DEPTH, MAX_TOKENS
from tests.support.server import Server, data, error

HEALTHY = "{ connectors(first: 1) { totalCount } }"


def assert_still_healthy(server: Server) -> None:
    assert "totalCount" in str(data(server.query(HEALTHY)))


def deep_query(levels: int) -> str:
    # organization -> connectors -> edges -> node -> organization -> ... nests 4 levels a round.
    inner = "name"
    for _ in range(levels):
        inner = f"connectors {{ edges {{ node {{ organization {{ {inner} }} }} }} }}"
    return f"{{ organizations {{ edges {{ node {{ {inner} }} }} }} }}"


def test_too_deep_a_query_is_refused(server: Server) -> None:
    refused = error(server.query(deep_query(4)))
    assert refused["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert f"maximum operation depth of {MAX_DEPTH}" in refused["message"]
    assert_still_healthy(server)


def test_alias_bombs_are_refused(server: Server) -> None:
    bomb = (
        "{ "
        + " ".join(f"a{i}: connectors(first: 100) {{ totalCount }}" for i in range(MAX_ALIASES + 1))
        + " }"
    )
    refused = error(server.query(bomb))
    assert refused["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert f"{MAX_ALIASES}" in refused["message"] and "aliases" in refused["message"]
    assert_still_healthy(server)


def test_too_many_tokens_are_refused(server: Server) -> None:
    long_query = "{ connectors { " + "totalCount " * (MAX_TOKENS + 10) + "} }"
    refused = error(server.query(long_query))
    assert refused["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert f"more than {MAX_TOKENS} tokens" in refused["message"]
    assert_still_healthy(server)


@pytest.mark.parametrize("declared", [True, False])
def test_oversized_bodies_are_refused(server: Server, declared: bool) -> None:
    payload = json.dumps(
        {"query": HEALTHY, "variables": {"padding": "x" * MAX_BODY_BYTES}}
    ).encode()

    if declared:
        response = httpx.post(
            server.graphql_url, content=payload, headers={"content-type": "application/json"}
        )
    else:
        # Streamed without a Content-Length: counted as it arrives.
        response = httpx.post(
            server.graphql_url,
            content=iter([payload[i : i + 8192] for i in range(0, len(payload), 8192)]),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert_still_healthy(server)


def test_batched_requests_are_not_accepted(server: Server) -> None:
    response = httpx.post(server.graphql_url, json=[{"query": HEALTHY}] * 50)
    assert response.status_code == 400
    assert_still_healthy(server)


def test_oversized_websocket_messages_close_the_connection(server: Server) -> None:
    with connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(socket.recv(timeout=5))["type"] == "connection_ack"
        socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "x" * 200_000}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert_still_healthy(server)
