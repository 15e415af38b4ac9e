"""Each step of opening a status subscription, alone and in process (no server, no database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from graph.connectors import service as connectors
from graph.connectors.enums import ConnectorStatus
from graph.core.errors import BadUserInput, RateLimited
from graph.core.rate_limit import RateLimiter
from graph.core.viewer import ANONYMOUS
from graph.live.filters import StatusFilter
from graph.live.hub import StatusChange, StatusHub
from graph.live.schema import (
    MAX_SUBSCRIPTIONS_PER_CONNECTION,
    NearInput,
    charge,
    check_room,
    follow,
    status_filter,
)


def test_check_room_refuses_beyond_the_cap() -> None:
    check_room(MAX_SUBSCRIPTIONS_PER_CONNECTION - 1)
    with pytest.raises(BadUserInput, match="at most"):
        check_room(MAX_SUBSCRIPTIONS_PER_CONNECTION)


def test_charge_spends_one_search_per_subscription() -> None:
    limiter = RateLimiter(writes_per_minute=0, searches_per_minute=1)
    charge(limiter, ANONYMOUS, "192.0.2.1")
    with pytest.raises(RateLimited):
        charge(limiter, ANONYMOUS, "192.0.2.1")
    charge(limiter, ANONYMOUS, "192.0.2.2")


def test_status_filter_validates_every_argument() -> None:
    organization = ObjectId()
    watched = status_filter(ANONYMOUS, None, str(organization), None, None)
    assert watched.organization_id == organization
    with pytest.raises(BadUserInput) as refused:
        status_filter(
            ANONYMOUS, None, None, NearInput(latitude=91, longitude=0, radius_meters=1), None
        )
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": "near.latitude"}
    with pytest.raises(BadUserInput) as refused:
        status_filter(ANONYMOUS, ["not-an-id"], None, None, None)
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": "connectorIds"}


async def test_follow_delivers_matching_changes_and_lets_go_of_the_hub() -> None:
    hub = StatusHub(connectors.collection)
    organization = ObjectId()
    events = follow(hub, StatusFilter(organization_id=organization), include_current=False)
    first = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)
    assert hub.subscriber_count == 1
    connector = {
        "_id": ObjectId(),
        "organization": organization,
        "active": True,
        "status": "Charging",
        "endpoint": "ab12",
        "ocppId": 1,
        "type": "Type2",
        "format": "CABLE",
        "power_type": "AC_3_PHASE",
        "power": 11.0,
        "createdAt": datetime.now(UTC),
        "updatedAt": datetime.now(UTC),
    }
    hub.publish(
        StatusChange(
            connector=connector,
            status=ConnectorStatus.CHARGING,
            previous_status=ConnectorStatus.AVAILABLE,
            changed_at=datetime.now(UTC),
        )
    )
    event = await asyncio.wait_for(first, 1)
    assert (event.status, event.previous_status) == (
        ConnectorStatus.CHARGING,
        ConnectorStatus.AVAILABLE,
    )
    await events.aclose()
    assert hub.subscriber_count == 0
