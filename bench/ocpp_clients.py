"""Load generators for the OCPP benchmark (`python -m bench.ocpp`), one process each.

    python -m bench.ocpp_clients stations '<json spec>'
    python -m bench.ocpp_clients subscribers <graphql ws url> <count> '<json organizations>'

`stations`: simulated OCPP 1.6 charge stations, each an `ocpp.v16.ChargePoint`
on its own WebSocket (asyncio, no thread per station). Every station connects,
sends a BootNotification and an Available StatusNotification for its two
connectors, and prints `{"connected": n}`. On the line `go <unix time>` each
station then follows its own schedule from that moment: a StatusNotification
every `period` seconds, alternating its two connectors and flipping the
connector's status (Available <-> Charging, so every report is a real change),
and a Heartbeat every `heartbeat` seconds, for `seconds` seconds; the stations'
phases are spread evenly over each interval. The send time of every frame is
stamped where it leaves (the connection's `send`), the CALLRESULT where it
arrives (its `recv`), so schema work in the package is not counted as latency.
The generator measures how late it sends against the schedule, and the lag of
its own event loop, so a run can tell a slow server from a slow generator. On
`report` it prints every report, latency and error as one JSON line; `stop`
closes the stations.

`subscribers`: graphql-transport-ws subscriptions to
`connectorStatusChanged(organizationId)` (the approach of bench/live.py,
one socket each), recording for every event the connector, its status and the
arrival time; `report` prints them per subscriber and starts afresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any

from ocpp.v16 import ChargePoint, call
from websockets.asyncio.client import ClientConnection, connect

STATUSES = ("Charging", "Available")


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --------------------------------------------------------------------------- stations


def message_id(frame: str) -> str:
    """The messageId of an OCPP-J frame: the first string in `[2,"id",...]` / `[3,"id",{}]`."""
    parts = frame.split('"', 2)
    return parts[1] if len(parts) == 3 else ""


class StampedWire:
    """The WebSocket as the ChargePoint sees it: stamps when each frame leaves and arrives."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.sent: dict[str, float] = {}
        self.received: dict[str, float] = {}

    async def send(self, message: str) -> None:
        self.sent[message_id(message)] = time.time()
        await self.socket.send(message)

    async def recv(self) -> str:
        message = str(await self.socket.recv())
        self.received[message_id(message)] = time.time()
        return message


class Generator:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.url: str = spec["url"]
        self.endpoints: list[str] = spec["endpoints"]
        self.indexes: list[int] = spec["indexes"]  # each station's index over all processes
        self.total: int = spec["total"]  # stations over all generator processes
        self.period: float = spec["period"]
        self.heartbeat: float = spec["heartbeat"]
        self.seconds: float = spec["seconds"]
        self.timeout: float = spec.get("timeout", 30)
        self.stations: dict[str, tuple[ChargePoint, StampedWire, asyncio.Task[None]]] = {}
        self.sequence = 0
        # [endpoint, connector, status, sent, latency ms or None]
        self.reports: list[list[Any]] = []
        self.heartbeats: list[float] = []
        self.errors: list[str] = []
        self.error_count = 0
        self.idle_errors: list[str] = []  # heartbeats while waiting for the start
        # How late a CALL left against its schedule, and against the later of its
        # schedule and the previous CALLRESULT (the generator's own lateness).
        self.send_lag_ms: list[float] = []
        self.own_lag_ms: list[float] = []
        self.skipped = 0  # scheduled CALLs not sent by the end (the station was still waiting)
        self.loop_lag_ms: list[float] = []
        self.idlers: list[asyncio.Task[None]] = []
        self.going = False
        self.stopping = False

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < 20:
            self.errors.append(text[:300])

    async def timed(self, endpoint: str, payload: Any) -> tuple[float, float | None, str]:
        """(when the CALL left, CALLRESULT latency in ms or None, the error or "")."""
        station, wire, reader = self.stations[endpoint]
        self.sequence += 1
        unique_id = str(self.sequence)
        # The station's side needs no schema check: the server checks every frame.
        calling = asyncio.ensure_future(
            station.call(payload, suppress=False, unique_id=unique_id, skip_schema_validation=True)
        )
        # A closed connection fails the CALL at once rather than after the timeout.
        await asyncio.wait((calling, reader), return_when=asyncio.FIRST_COMPLETED)
        sent = wire.sent.pop(unique_id, time.time())
        problem: BaseException | None
        if not calling.done():
            calling.cancel()
            problem = ConnectionError("connection closed")
        else:
            problem = calling.exception()
        received = wire.received.pop(unique_id, None)
        if problem is not None or received is None:  # CALLERROR, timeout, closed
            return sent, None, f"{endpoint} {type(payload).__name__}: {problem!r}"
        return sent, (received - sent) * 1000, ""

    async def open(self, endpoint: str, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                socket = await connect(
                    self.url + endpoint,
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    compression=None,
                    ping_interval=None,  # the server pings; answering is automatic
                    open_timeout=120,
                    max_queue=None,
                )
            except Exception as problem:
                self.error(f"{endpoint} connect: {problem!r}")
                return
            wire = StampedWire(socket)
            station = ChargePoint(endpoint, wire, response_timeout=self.timeout)
            reader = asyncio.create_task(self.read(endpoint, station))
            self.stations[endpoint] = (station, wire, reader)
            boot = call.BootNotification(charge_point_vendor="Bench", charge_point_model="Sim-2")
            _, latency, problem = await self.timed(endpoint, boot)
            if latency is None:
                self.error(problem)
                return
            for connector in (1, 2):
                _, latency, problem = await self.timed(
                    endpoint,
                    call.StatusNotification(
                        connector_id=connector, error_code="NoError", status="Available"
                    ),
                )
                if latency is None:
                    self.error(problem)
        self.idlers.append(asyncio.create_task(self.idle(endpoint)))

    async def idle(self, endpoint: str) -> None:
        """Heartbeats at the interval until the run starts, as a real station keeps its lease."""
        while True:
            await asyncio.sleep(self.heartbeat)
            if self.going or self.stopping:
                return
            _, latency, problem = await self.timed(endpoint, call.Heartbeat())
            if latency is None and len(self.idle_errors) < 20:
                self.idle_errors.append(problem[:300])

    async def read(self, endpoint: str, station: ChargePoint) -> None:
        try:
            await station.start()
        except asyncio.CancelledError:
            raise
        except Exception as problem:
            if not self.stopping:
                self.error(f"{endpoint} connection ended: {problem!r}")

    async def schedule(self, endpoint: str, index: int, start: float) -> None:
        """One station's reports and heartbeats, from `start` for `self.seconds`."""
        share = index / self.total
        end = start + self.seconds
        next_status = start + share * self.period
        next_heartbeat = start + share * self.heartbeat
        sent = 0
        free = start  # when the previous CALLRESULT came (a station sends one CALL at a time)
        while True:
            due = min(next_status, next_heartbeat)
            if due >= end:
                return
            if time.time() >= end:  # still waiting for answers: what is left is not sent
                while next_status < end:
                    self.skipped += 1
                    next_status += self.period
                while next_heartbeat < end:
                    self.skipped += 1
                    next_heartbeat += self.heartbeat
                return
            pause = due - time.time()
            if pause > 0:
                await asyncio.sleep(pause)
            if next_status <= next_heartbeat:
                connector = 1 + sent % 2
                status = STATUSES[(sent // 2) % 2]
                left, latency, problem = await self.timed(
                    endpoint,
                    call.StatusNotification(
                        connector_id=connector, error_code="NoError", status=status
                    ),
                )
                self.reports.append([endpoint, connector, status, left, latency])
                sent += 1
                next_status += self.period
            else:
                left, latency, problem = await self.timed(endpoint, call.Heartbeat())
                if latency is not None:
                    self.heartbeats.append(latency)
                next_heartbeat += self.heartbeat
            if problem:
                self.error(problem)
            self.send_lag_ms.append((left - due) * 1000)
            self.own_lag_ms.append((left - max(due, free)) * 1000)
            free = time.time()

    async def watch_loop(self, until: float) -> None:
        while time.time() < until:
            before = time.monotonic()
            await asyncio.sleep(0.1)
            self.loop_lag_ms.append((time.monotonic() - before - 0.1) * 1000)

    async def run(self) -> None:
        gate = asyncio.Semaphore(20)
        await asyncio.gather(*(self.open(endpoint, gate) for endpoint in self.endpoints))
        connected = sum(1 for _, (s, w, r) in self.stations.items() if not r.done())
        print(json.dumps({"connected": connected, "errors": self.errors}), flush=True)
        # Connection and boot errors are reported with the ready line, not counted in the run.
        self.errors.clear()
        self.error_count = 0
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        command, _, value = line.strip().partition(" ")
        if command == "go":
            self.going = True
            start = float(value)
            watcher = asyncio.create_task(self.watch_loop(start + self.seconds))
            await asyncio.gather(
                *(
                    self.schedule(endpoint, index, start)
                    for index, endpoint in zip(self.indexes, self.endpoints, strict=True)
                    if endpoint in self.stations
                )
            )
            await watcher
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line.strip() == "report":
                print(
                    json.dumps(
                        {
                            "reports": self.reports,
                            "heartbeats": self.heartbeats,
                            "errors": self.errors,
                            "error_count": self.error_count,
                            "send_lag_ms": sorted(self.send_lag_ms),
                            "own_lag_ms": sorted(self.own_lag_ms),
                            "skipped": self.skipped,
                            "idle_errors": self.idle_errors,
                            "loop_lag_ms": sorted(self.loop_lag_ms),
                            "still_open": sum(
                                1 for _, (s, w, r) in self.stations.items() if not r.done()
                            ),
                        }
                    ),
                    flush=True,
                )
                line = await loop.run_in_executor(None, sys.stdin.readline)
        self.stopping = True
        for _, _, reader in self.stations.values():
            reader.cancel()
        await asyncio.gather(
            *(wire.socket.close() for _, wire, _ in self.stations.values()),
            return_exceptions=True,
        )


# --------------------------------------------------------------------------- subscribers

QUERY = (
    "subscription($org: ID) { connectorStatusChanged(organizationId: $org) "
    "{ status connector { id } } }"
)


class Subscribers:
    def __init__(self, count: int) -> None:
        self.count = count
        self.subscribed = 0
        self.failed = 0  # before subscribing
        self.all_subscribed = asyncio.Event()
        self.organizations: list[str] = []
        # per subscriber: [[connector id, STATUS, arrival], ...]
        self.events: list[list[list[Any]]] = []
        self.errors: list[str] = []
        self.error_count = 0

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < 20:
            self.errors.append(text[:300])

    def settle(self) -> None:
        if self.subscribed + self.failed >= self.count:
            self.all_subscribed.set()

    async def subscriber(self, url: str, index: int) -> None:
        subscribed = False
        try:
            async with connect(
                url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                max_queue=None,
                compression=None,
                open_timeout=120,
            ) as socket:
                await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
                await socket.recv()
                await socket.send(
                    json.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {
                                "query": QUERY,
                                "variables": {"org": self.organizations[index]},
                            },
                        }
                    )
                )
                self.subscribed += 1
                subscribed = True
                self.settle()
                async for raw in socket:
                    arrived = time.time()
                    message = json.loads(raw)
                    if message["type"] == "ping":
                        await socket.send(json.dumps({"type": "pong"}))
                        continue
                    if message["type"] != "next" or "errors" in message["payload"]:
                        self.error(str(message))
                        continue
                    event = message["payload"]["data"]["connectorStatusChanged"]
                    self.events[index].append([event["connector"]["id"], event["status"], arrived])
                self.error(f"subscriber {index}: socket closed")
        except asyncio.CancelledError:
            raise
        except Exception as problem:
            self.error(f"subscriber {index}: {problem!r}")
            if not subscribed:
                self.failed += 1
                self.settle()

    async def run(self, url: str, organizations: list[str]) -> None:
        self.organizations = [organizations[i % len(organizations)] for i in range(self.count)]
        self.events = [[] for _ in range(self.count)]
        tasks = []
        for index in range(self.count):
            tasks.append(asyncio.create_task(self.subscriber(url, index)))
            if index % 50 == 49:
                await asyncio.sleep(0.05)  # let the server accept in steps
        await asyncio.wait_for(self.all_subscribed.wait(), 300)
        await asyncio.sleep(1)  # the last subscribe messages reach the server
        print(json.dumps({"subscribed": self.subscribed, "errors": self.errors}), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line.strip() == "report":
                print(
                    json.dumps(
                        {
                            "subscribers": [
                                [organization, events]
                                for organization, events in zip(
                                    self.organizations, self.events, strict=True
                                )
                            ],
                            "errors": self.errors,
                            "error_count": self.error_count,
                        }
                    ),
                    flush=True,
                )
                self.events = [[] for _ in range(self.count)]
                self.errors = []
                self.error_count = 0
            else:
                break
        for task in tasks:
            task.cancel()


def main() -> None:
    # The package logs every frame at INFO and every CALLERROR at WARNING: both are counted here.
    logging.getLogger("ocpp").setLevel(logging.ERROR)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    if sys.argv[1] == "stations":
        runner(Generator(json.loads(sys.argv[2])).run())
    else:
        runner(Subscribers(int(sys.argv[3])).run(sys.argv[2], json.loads(sys.argv[4])))


if __name__ == "__main__":
    main()
