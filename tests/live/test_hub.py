"""The status hub's fan-out rules, exercised on a real hub without a database.

Loopback sockets absorb megabytes before a stuck client blocks the server, so
the queue-overflow rule is driven here directly through `publish`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from graph.connectors.enums import ConnectorStatus
from graph.connectors.models import connectors_collection
from graph.live.filters import StatusFilter
from graph.live.hub import StatusChange, StatusHub, SubscriberTooSlow


def change(organization: ObjectId, status: ConnectorStatus) -> StatusChange:
    return StatusChange(
        connector={
            "_id": ObjectId(),
            "organization": organization,
            "status": status.value,
            "active": True,
        },
        status=status,
        previous_status=None,
        changed_at=datetime.now(UTC),
    )


async def test_a_subscriber_that_falls_behind_is_ended_alone() -> None:
    hub = StatusHub(connectors_collection, queue_size=5)
    organization = ObjectId()
    stuck = hub.subscribe(StatusFilter(organization_id=organization))
    reading = hub.subscribe(StatusFilter(organization_id=organization))
    elsewhere = hub.subscribe(StatusFilter(organization_id=ObjectId()))
    received = []

    async def read() -> None:
        async for item in reading.changes():
            received.append(item)

    reader = asyncio.create_task(read())
    for _ in range(20):
        hub.publish(change(organization, ConnectorStatus.CHARGING))
        await asyncio.sleep(0)  # the reader gets its turn, the stuck one never reads
    assert len(received) == 20
    assert hub.stats["dropped_slow"] == 1
    assert hub.subscriber_count == 2
    with pytest.raises(SubscriberTooSlow) as ended:
        async for _ in stuck.changes():
            pass
    assert ended.value.extensions == {"code": "SUBSCRIBER_TOO_SLOW"}
    assert elsewhere.queue.empty()
    await hub.stop()
    await asyncio.wait_for(reader, 1)
    assert hub.subscriber_count == 0


async def test_watching_many_ids_in_turn_leaves_no_index_behind() -> None:
    """A dashboard switching between organizations must not grow the hub for ever."""
    hub = StatusHub(connectors_collection)
    for _ in range(100):
        hub.unsubscribe(hub.subscribe(StatusFilter(organization_id=ObjectId())))
        hub.unsubscribe(hub.subscribe(StatusFilter(connector_ids=frozenset({ObjectId()}))))
        hub.unsubscribe(hub.subscribe(StatusFilter(chargestation_id=ObjectId())))
    assert hub.subscriber_count == 0
    # The indexes by organization, connector and station are empty again.
    assert not hub._by_organization and not hub._by_connector and not hub._by_chargestation
