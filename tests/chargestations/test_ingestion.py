"""Station reports under load: a slow database delays answers, never loses or refuses them.

Each test runs its own database process (so it can be paused) and server(s).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.v16 import call as call16
from pymongo import MongoClient
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.faults import Deployment, deployment, send_signal
from tests.support.ocpp import (
    STATUS_SUBSCRIPTION,
    create_station,
    eventually,
    exchange,
    gql,
    next_event,
    raw_station,
    station,
    subscription,
)
from tests.support.server import Server, create_connector, create_organization

# Long enough for a report to outlast the pauses below without being given up.
DB_TIMEOUT = "30"
PAUSE_SECONDS = 10


def status_report(connector: int, status: str) -> Any:
    return call16.StatusNotification(connector_id=connector, error_code="NoError", status=status)


async def stations_with_connectors(
    server: Server, organization_id: str, count: int
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    made = []
    for _ in range(count):
        created = await create_station(server, organization_id)
        connectors = [
            await asyncio.to_thread(
                create_connector, server, organization_id, ocppId=n, chargestationId=created["id"]
            )
            for n in (1, 2)
        ]
        made.append((created, connectors))
    return made


def pending_reports(server: Server) -> int:
    """Reports waiting for the database (the health report reads no database)."""
    report = httpx.get(f"{server.base_url}/healthz", timeout=10).json()
    return int(report["group_commit"]["pending"])


@pytest.fixture
def paused_database(tmp_path: Path) -> Any:
    @contextlib.contextmanager
    def make(**env: str) -> Any:
        with deployment(tmp_path, CHARGEGRAPH_DB_TIMEOUT_SECONDS=DB_TIMEOUT, **env) as running:
            yield running

    return make


async def test_a_reconnect_storm_through_a_paused_database_is_answered_late_not_lost(
    paused_database: Any,
) -> None:
    with paused_database() as running:
        deployed: Deployment = running
        server = deployed.api
        organization = await asyncio.to_thread(create_organization, server, name="Storm")
        network = await stations_with_connectors(server, organization["id"], 20)
        async with subscription(server, STATUS_SUBSCRIPTION, {"org": organization["id"]}) as events:
            async with contextlib.AsyncExitStack() as stack:
                connected = [
                    await stack.enter_async_context(
                        station(server, created["endpoint"], response_timeout=60)
                    )
                    for created, _ in network
                ]

                async def reconnect_burst(cs: Any) -> list[Any]:
                    return [
                        await cs.call(
                            call16.BootNotification(charge_point_vendor="V", charge_point_model="M")
                        ),
                        await cs.call(status_report(1, "Charging")),
                        await cs.call(status_report(2, "Faulted")),
                        await cs.call(call16.Heartbeat()),
                    ]

                storm = asyncio.gather(*(reconnect_burst(cs) for cs in connected))
                await asyncio.sleep(0.2)
                send_signal(deployed.database.pid, signal.SIGSTOP)
                await asyncio.sleep(PAUSE_SECONDS)
                send_signal(deployed.database.pid, signal.SIGCONT)
                # Every message answered (a CALLERROR would raise here), none refused.
                answers = await asyncio.wait_for(storm, 120)
            assert len(answers) == 20 and all(len(a) == 4 for a in answers)
            # Every report reached the subscriber, each exactly once.
            heard = [await next_event(events, within=30) for _ in range(40)]
        got = sorted((e["connector"]["id"], e["status"]) for e in heard)
        expected = sorted(
            (connector["id"], status)
            for _, connectors in network
            for connector, status in zip(connectors, ("CHARGING", "FAULTED"), strict=True)
        )
        assert got == expected
        stored = MongoClient(deployed.database.uri)
        try:
            statuses = {
                str(doc["_id"]): doc["status"]
                for doc in stored.faults.connectors.find({"organization": {"$exists": True}})
            }
        finally:
            stored.close()
        assert {statuses[cid] for cid, _ in expected[::2]} <= {"Charging", "Faulted"}
        assert sorted(statuses.values()).count("Charging") == 20
        assert server.log().count("InternalError") == 0


async def test_a_full_report_queue_refuses_new_stations_and_keeps_connected_ones(
    paused_database: Any,
) -> None:
    with paused_database(CHARGEGRAPH_OCPP_QUEUE_LIMIT="1") as running:
        deployed: Deployment = running
        server = deployed.api
        organization = await asyncio.to_thread(create_organization, server, name="Queue")
        (first, _), (second, _) = await stations_with_connectors(server, organization["id"], 2)
        async with station(server, first["endpoint"], response_timeout=60) as cs:
            # Answered once its connection is recorded: the station is being served.
            assert await cs.call(call16.Heartbeat()) is not None
            send_signal(deployed.database.pid, signal.SIGSTOP)
            try:
                waiting = asyncio.ensure_future(cs.call(status_report(1, "Charging")))
                await eventually(
                    lambda: asyncio.to_thread(pending_reports, server), lambda n: n >= 1
                )
                with pytest.raises(InvalidStatus) as refused:
                    async with station(server, second["endpoint"]):
                        pass
                response = refused.value.response
                assert response.status_code == 503
                assert int(response.headers["Retry-After"]) > 0
            finally:
                send_signal(deployed.database.pid, signal.SIGCONT)
            # The connected station is answered once the database is back, and keeps working.
            answer = await asyncio.wait_for(waiting, 60)
            assert answer is not None
            assert await cs.call(call16.Heartbeat()) is not None
        # Once the queue is empty, new stations are admitted again.
        await eventually(lambda: asyncio.to_thread(pending_reports, server), lambda n: n == 0)
        async with station(server, second["endpoint"]) as other:
            assert await other.call(call16.Heartbeat()) is not None


DEACTIVATE = "mutation($id: ID!) { updateOrganization(id: $id, input: {active: false}) { id } }"
NEW_PASSWORD = """
mutation($id: ID!) {
  updateOrganization(id: $id, input: {configurations: {basicAuthEnabled: true,
                                                       basicAuthPassword: "a-new-secret-123"}}) { id }
}
"""


@pytest.mark.parametrize("change", [DEACTIVATE, NEW_PASSWORD])
async def test_an_organization_change_closes_its_stations_in_the_other_process(
    tmp_path: Path, change: str
) -> None:
    with deployment(tmp_path, servers=2) as deployed:
        holder, other = deployed.servers
        organization = await asyncio.to_thread(create_organization, holder, name="Closing")
        bystander_org = await asyncio.to_thread(create_organization, holder, name="Bystander")
        created = await create_station(holder, organization["id"])
        bystander = await create_station(holder, bystander_org["id"])
        async with (
            raw_station(holder, created["endpoint"]) as ws,
            raw_station(holder, bystander["endpoint"]) as unaffected,
        ):
            assert (await exchange(ws, '[2, "h1", "Heartbeat", {}]'))[0] == 3
            await gql(other, change, {"id": organization["id"]})
            # Closed as soon as the holder reads the change (well before a lease renewal).
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)
            assert ws.close_code == 1008
            # Another organization's station stays connected.
            assert (await exchange(unaffected, '[2, "h2", "Heartbeat", {}]'))[0] == 3
