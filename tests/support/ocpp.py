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
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx
import websockets
from ocpp import v16, v201
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
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
    charge_point: type[v16.ChargePoint] | type[v201.ChargePoint] | None = None,
) -> AsyncIterator[Station]:
    """A station connected as `endpoint`, speaking OCPP `version` (as `charge_point`, an
    `ocpp` ChargePoint class of that version, when given)."""
    ws = await _ocpp_connect(server, endpoint, f"ocpp{version}", headers)
    cls = charge_point or (v16.ChargePoint if version == "1.6" else v201.ChargePoint)
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


# --------------------------------------------------------------- stations that take commands

# How a commanded station answers an action: its status text ("Accepted", "Rejected",
# "Scheduled", "Unlocked", ...), "error:<CALLERROR code>", "silent" (answers only after
# SILENCE_SECONDS), "garbage" (a status its schema does not allow) or "close" (closes its
# connection instead of answering).
SILENCE_SECONDS = 6.0
COMMAND_ACTIONS = ("ChangeAvailability", "Reset", "UnlockConnector", "TriggerMessage")


class _Commanded:
    """Answers commands as `behaviour` says and records each (action, payload) received;
    after an accepted TriggerMessage it reports `reports` (ocpp id -> status)."""

    behaviour: dict[str, str]
    received: list[tuple[str, dict[str, Any]]]
    reports: dict[int, str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.behaviour = {}
        self.received = []
        self.reports = {}

    async def _answer(self, action: str, payload: dict[str, Any]) -> Any:
        self.received.append((action, payload))
        what = self.behaviour.get(action, "Accepted")
        if what == "silent":
            await asyncio.sleep(SILENCE_SECONDS)
            what = "Accepted"
        if what == "close":
            await self._connection.close()  # type: ignore[attr-defined]
            what = "Accepted"
        if what.startswith("error:"):
            code = what.removeprefix("error:")
            error = next(cls for cls in OCPPError.__subclasses__() if cls.code == code)
            raise error(description=f"{action} refused by the test station")
        status = "Bogus" if what == "garbage" else what
        return getattr(self._call_result, action)(status=status)  # type: ignore[attr-defined]

    async def _report_statuses(self) -> None:
        for ocpp_id, status in self.reports.items():
            await self.call(self._status_notification(ocpp_id, status))  # type: ignore[attr-defined]

    def _status_notification(self, ocpp_id: int, status: str) -> Any:
        raise NotImplementedError

    @on("ChangeAvailability", skip_schema_validation=True)
    async def on_change_availability(self, **payload: Any) -> Any:
        return await self._answer("ChangeAvailability", payload)

    @on("Reset", skip_schema_validation=True)
    async def on_reset(self, **payload: Any) -> Any:
        return await self._answer("Reset", payload)

    @on("UnlockConnector", skip_schema_validation=True)
    async def on_unlock_connector(self, **payload: Any) -> Any:
        return await self._answer("UnlockConnector", payload)

    @on("TriggerMessage", skip_schema_validation=True)
    async def on_trigger_message(self, **payload: Any) -> Any:
        return await self._answer("TriggerMessage", payload)

    @after("TriggerMessage")
    async def after_trigger_message(self, **_: Any) -> None:
        if self.behaviour.get("TriggerMessage", "Accepted") == "Accepted":
            await self._report_statuses()


class CommandedStation16(_Commanded, v16.ChargePoint):
    def _status_notification(self, ocpp_id: int, status: str) -> Any:
        return call16.StatusNotification(connector_id=ocpp_id, error_code="NoError", status=status)


class CommandedStation201(_Commanded, v201.ChargePoint):
    def _status_notification(self, ocpp_id: int, status: str) -> Any:
        return call201.StatusNotification(
            timestamp=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            connector_status=status,
            evse_id=ocpp_id,
            connector_id=1,
        )


def commanded(version: Version) -> type[CommandedStation16] | type[CommandedStation201]:
    return CommandedStation16 if version == "1.6" else CommandedStation201


async def boot(cs: Station, version: Version) -> None:
    """Send a BootNotification (after its answer, ChargeGraph may send commands)."""
    if version == "1.6":
        await cs.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
    else:
        await cs.call(
            call201.BootNotification(
                charging_station={"vendor_name": "V", "model": "M"}, reason="PowerUp"
            )
        )
