"""WebSocket helpers for subscription tests (graphql-transport-ws)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.support.server import Server, data

SUBSCRIPTION = """
subscription($ids: [ID!], $org: ID, $near: NearInput, $bounds: BoundsInput, $current: Boolean! = false) {
  connectorStatusChanged(connectorIds: $ids, organizationId: $org, near: $near, bounds: $bounds,
                         includeCurrent: $current) {
    status previousStatus changedAt initial connector { id endpoint status organization { name } }
  }
}
"""


def receive(connection: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(connection.recv(timeout=timeout))
    return message


@contextmanager
def subscribed(
    server: Server,
    variables: dict[str, Any],
    receive_buffer: int | None = None,
    query: str = SUBSCRIPTION,
    key: str | None = None,
) -> Iterator[ClientConnection]:
    """A graphql-transport-ws connection with one subscription "1" (with an API key if given).

    `receive_buffer` shrinks the client's socket buffer, to play a client that
    stops reading without the kernel absorbing much.
    """
    raw = None
    if receive_buffer is not None:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        raw.connect(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
    with connect(server.ws_url, subprotocols=["graphql-transport-ws"], sock=raw) as connection:  # type: ignore[list-item]
        payload = {"authorization": f"Bearer {key}"} if key else {}
        connection.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert receive(connection)["type"] == "connection_ack"
        start(connection, "1", variables, query)
        yield connection


def start(
    connection: ClientConnection,
    operation_id: str,
    variables: dict[str, Any],
    query: str = SUBSCRIPTION,
) -> None:
    """Send a graphql-transport-ws `subscribe` message (any operation) on an open connection."""
    connection.send(
        json.dumps(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables},
            }
        )
    )


def next_event(
    connection: ClientConnection, timeout: float = 10.0, field: str = "connectorStatusChanged"
) -> dict[str, Any]:
    while True:
        message = receive(connection, timeout)
        if message["type"] == "ping":
            connection.send(json.dumps({"type": "pong"}))
            continue
        assert message["type"] == "next", message
        event: dict[str, Any] = data(message["payload"])[field]
        return event


def health(server: Server) -> dict[str, Any]:
    report: dict[str, Any] = httpx.get(f"{server.base_url}/healthz").json()
    return report


def wait_for_subscribers(server: Server, count: int) -> None:
    """The subscription is registered once the server's health report counts it."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if health(server)["subscribers"] == count:
            return
        time.sleep(0.02)
    raise AssertionError(f"expected {count} live subscribers, have {health(server)['subscribers']}")


def subscription_error(connection: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    """The error that ends a subscription, skipping any events still queued before it.

    A refusal in the resolver arrives as a `next` message carrying `errors`.
    """
    while True:
        message = receive(connection, timeout)
        if message["type"] == "error":
            first: dict[str, Any] = message["payload"][0]
            return first
        if message["type"] == "next" and message["payload"].get("errors"):
            first = message["payload"]["errors"][0]
            return first


SET_STATUS = (
    "mutation($id: ID!, $status: ConnectorStatus!) "
    "{ setConnectorStatus(id: $id, status: $status) { status } }"
)

RESUMABLE = """
subscription($org: ID, $after: String, $current: Boolean! = false) {
  connectorStatusChanged(organizationId: $org, after: $after, includeCurrent: $current) {
    status previousStatus initial cursor connector { id }
  }
}
"""


def set_status(server: Server, connector_id: str, status: str) -> None:
    data(server.query(SET_STATUS, {"id": connector_id, "status": status}))


async def start_async(
    connection: Any, query: str, variables: dict[str, Any], key: str | None = None
) -> None:
    """On an open asyncio graphql-transport-ws connection: init (with a key if given),
    wait for the ack, and start subscription "1"."""
    payload = {"authorization": f"Bearer {key}"} if key else {}
    await connection.send(json.dumps({"type": "connection_init", "payload": payload}))
    ack = json.loads(await asyncio.wait_for(connection.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    await connection.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )
