"""Load generator for the live-status benchmark: many graphql-transport-ws subscribers.

Runs as its own process (asyncio, one socket per subscriber, no per-socket
thread) so it costs the server little CPU. Each subscriber watches one
organization, or everything; every received event's latency is measured from
its `changedAt` (the database's write time) to its arrival. The summary goes to
stdout as JSON when the process receives a line on stdin.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

QUERY = (
    "subscription($org: ID) { connectorStatusChanged(organizationId: $org) "
    "{ status changedAt connector { id } } }"
)


class Tally:
    def __init__(self, target: int) -> None:
        self.target = target
        self.all_subscribed = asyncio.Event()
        self.latencies_ms: list[float] = []
        self.received = 0
        self.errors: list[str] = []
        self.subscribed = 0


async def subscriber(url: str, organization: str | None, tally: Tally) -> None:
    async with connect(url, subprotocols=["graphql-transport-ws"], max_queue=None) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        await socket.recv()
        variables: dict[str, Any] = {"org": organization} if organization else {}
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": QUERY, "variables": variables},
                }
            )
        )
        tally.subscribed += 1
        if tally.subscribed == tally.target:
            tally.all_subscribed.set()
        await read(socket, tally)


async def read(socket: ClientConnection, tally: Tally) -> None:
    async for raw in socket:
        arrived = time.time()
        message = json.loads(raw)
        if message["type"] == "ping":
            await socket.send(json.dumps({"type": "pong"}))
            continue
        if message["type"] != "next" or "errors" in message["payload"]:
            tally.errors.append(str(message)[:200])
            continue
        changed = message["payload"]["data"]["connectorStatusChanged"]["changedAt"]
        written = datetime.fromisoformat(changed.replace("Z", "+00:00")).timestamp()
        tally.latencies_ms.append((arrived - written) * 1000)
        tally.received += 1


async def main() -> None:
    url = sys.argv[1]
    count = int(sys.argv[2])
    organizations = json.loads(sys.argv[3])  # [] means: every subscriber watches everything
    tally = Tally(count)
    tasks = []
    for index in range(count):
        organization = organizations[index % len(organizations)] if organizations else None
        tasks.append(asyncio.create_task(subscriber(url, organization, tally)))
        if index % 100 == 99:
            await asyncio.sleep(0.05)  # let the server accept in steps
    await tally.all_subscribed.wait()
    print(json.dumps({"subscribed": tally.subscribed}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() == "report":
            latencies = sorted(tally.latencies_ms)
            print(
                json.dumps(
                    {
                        "received": tally.received,
                        "errors": tally.errors[:5],
                        "error_count": len(tally.errors),
                        "latencies": latencies,
                    }
                ),
                flush=True,
            )
            tally.latencies_ms.clear()
            tally.received = 0
        elif line.strip() in ("stop", ""):
            break
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
