"""OCPP helpers for end-to-end tests: charge stations played by the `ocpp` package's own
ChargePoint classes over real WebSockets, and GraphQL calls that do not block the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
import websockets
from ocpp import v16, v201
from websockets.asyncio.client import ClientConnection

from tests.support.live import start_async
from tests.support.server import ADMIN_KEY, Server, data

Version = Literal["1.6", "2.0.1"]
T = TypeVar("T")

CHARGESTATION_FIELDS = """
    id endpoint active online protocol vendor model serialNumber firmwareVersion status
    lastConnectedAt lastDisconnectedAt lastMessageAt
    connectorCountsByStatus { status count }
"""

ONLINE_SUBSCRIPTION = """
subscription($org: ID, $ids: [ID!]) {
  chargestationOnlineChanged(organizationId: $org, chargestationIds: $ids) {
    online changedAt chargestation { id endpoint online }
  }
}
"""

STATUS_SUBSCRIPTION = """
subscription($station: ID) {
  connectorStatusChanged(chargestationId: $station) {
    status previousStatus connector { id ocppId status }
  }
}
"""


def station_endpoint(prefix: str = "CS") -> str:
    """A charge station identity no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def ocpp_url(server: Server, endpoint: str) -> str:
    return f"ws://127.0.0.1:{server.port}/ocpp/{endpoint}"


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def gql(
    server: Server, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `data` of an admin GraphQL request, sent off the event loop (stations keep talking)."""
    return data(await asyncio.to_thread(server.query, query, variables))


async def create_station(
    server: Server, organization_id: str, endpoint: str | None = None, **fields: Any
) -> dict[str, Any]:
    created = await gql(
        server,
        f"mutation($input: CreateChargestationInput!) {{ createChargestation(input: $input) {{ {CHARGESTATION_FIELDS} }} }}",
        {
            "input": {
                "organizationId": organization_id,
                "endpoint": endpoint or station_endpoint(),
                **fields,
            }
        },
    )
    station: dict[str, Any] = created["createChargestation"]
    return station


async def read_station(server: Server, station_id: str) -> dict[str, Any]:
    found = await gql(
        server,
        f"query($id: ID!) {{ chargestation(id: $id) {{ {CHARGESTATION_FIELDS} }} }}",
        {"id": station_id},
    )
    station: dict[str, Any] = found["chargestation"]
    return station


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    within: float = 10.0,
    interval: float = 0.05,
) -> T:
    """Poll `probe` until `accept` says yes; fails with the last value after `within` s."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not there after {within} s: {value!r}")
        await asyncio.sleep(interval)


@dataclass
class Station:
    """A connected station: the `ocpp` ChargePoint, its WebSocket and its reading task."""

    cp: v16.ChargePoint | v201.ChargePoint
    ws: ClientConnection
    task: asyncio.Task[None]

    async def call(self, payload: Any, **options: Any) -> Any:
        return await self.cp.call(payload, **options)


def _ocpp_connect(
    server: Server, endpoint: str, subprotocol: str, headers: dict[str, str] | None
) -> websockets.connect:
    return websockets.connect(
        ocpp_url(server, endpoint),
        subprotocols=[subprotocol],  # type: ignore[list-item]
        additional_headers=headers,
        proxy=None,
        open_timeout=10,
    )


@contextlib.asynccontextmanager
async def station(
    server: Server,
    endpoint: str,
    version: Version = "1.6",
    headers: dict[str, str] | None = None,
    response_timeout: float = 10,
) -> AsyncIterator[Station]:
    """A station connected as `endpoint`, speaking OCPP `version`."""
    ws = await _ocpp_connect(server, endpoint, f"ocpp{version}", headers)
    cls = v16.ChargePoint if version == "1.6" else v201.ChargePoint
    cp = cls(endpoint, ws, response_timeout=response_timeout)
    task = asyncio.create_task(cp.start())
    try:
        yield Station(cp, ws, task)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ws.close()


@contextlib.asynccontextmanager
async def raw_station(
    server: Server, endpoint: str, version: Version = "1.6"
) -> AsyncIterator[ClientConnection]:
    """A station connection that sends and reads frames as they are."""
    async with _ocpp_connect(server, endpoint, f"ocpp{version}", None) as ws:
        yield ws


async def exchange(ws: ClientConnection, frame: str) -> list[Any]:
    """Send one frame and read the next one (an OCPP-J array)."""
    await ws.send(frame)
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return answer


# --------------------------------------------------------------- GraphQL subscriptions


async def subscribers(server: Server) -> int:
    report = await asyncio.to_thread(
        lambda: httpx.get(f"{server.base_url}/healthz", timeout=10).json()
    )
    count: int = report["subscribers"]
    return count


@contextlib.asynccontextmanager
async def subscription(
    server: Server, query: str, variables: dict[str, Any]
) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection (admin key) with subscription "1", registered."""
    before = await subscribers(server)
    async with websockets.connect(
        server.ws_url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        proxy=None,
    ) as ws:
        await start_async(ws, query, variables, ADMIN_KEY)
        await eventually(lambda: subscribers(server), lambda count: count == before + 1)
        yield ws
    await eventually(lambda: subscribers(server), lambda count: count == before)


async def next_event(ws: ClientConnection, within: float = 10.0) -> dict[str, Any]:
    """The next event of subscription "1" (its only field), answering pings on the way."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), within))
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        assert message["type"] == "next", message
        (event,) = data(message["payload"]).values()
        result: dict[str, Any] = event
        return result
