"""Resumable subscriptions: a dashboard that reconnects with its last cursor misses nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from bson import ObjectId, Timestamp
from pymongo import MongoClient

from graph.core.timestamps import now
from graph.live.cursors import Position, encode
from tests.support.live import (
    RESUMABLE,
    next_event,
    set_status,
    subscribed,
    subscription_error,
    wait_for_subscribers,
)
from tests.support.server import Server, create_connector, create_organization

CYCLE = ["CHARGING", "FAULTED", "AVAILABLE", "PREPARING", "SUSPENDED_EV", "FINISHING"]
STORED = {
    "CHARGING": "Charging",
    "FAULTED": "Faulted",
    "AVAILABLE": "Available",
    "PREPARING": "Preparing",
    "SUSPENDED_EV": "SuspendedEV",
    "FINISHING": "Finishing",
}


def test_changes_made_while_away_are_replayed_in_order_then_live(server: Server) -> None:
    organization = create_organization(server, name="Resuming Org")
    connector = create_connector(server, organization["id"])
    with subscribed(server, {"org": organization["id"]}, query=RESUMABLE) as socket:
        wait_for_subscribers(server, 1)
        set_status(server, connector["id"], "CHARGING")
        seen = next_event(socket)
    assert seen["status"] == "CHARGING" and seen["cursor"]
    wait_for_subscribers(server, 0)
    # Away: the connector faults and recovers.
    set_status(server, connector["id"], "FAULTED")
    set_status(server, connector["id"], "AVAILABLE")
    with subscribed(
        server, {"org": organization["id"], "after": seen["cursor"]}, query=RESUMABLE
    ) as socket:
        missed = [next_event(socket), next_event(socket)]
        wait_for_subscribers(server, 1)
        set_status(server, connector["id"], "PREPARING")
        live = next_event(socket)
        set_status(server, connector["id"], "CHARGING")
        after_that = next_event(socket)
    assert [(e["previousStatus"], e["status"]) for e in missed] == [
        ("CHARGING", "FAULTED"),
        ("FAULTED", "AVAILABLE"),
    ]
    assert not any(e["initial"] for e in missed)
    # No repeat at the seam: the next events are the new changes, once each.
    assert (live["status"], after_that["status"]) == ("PREPARING", "CHARGING")
    assert len({e["cursor"] for e in [*missed, live, after_that]}) == 4
    wait_for_subscribers(server, 0)


def test_a_snapshot_carries_the_cursor_it_was_read_at(server: Server) -> None:
    organization = create_organization(server, name="Snapshot Org")
    connector = create_connector(server, organization["id"])
    with subscribed(
        server, {"org": organization["id"], "current": True}, query=RESUMABLE
    ) as socket:
        initial = next_event(socket)
    assert initial["initial"] and initial["status"] == "AVAILABLE" and initial["cursor"]
    wait_for_subscribers(server, 0)
    set_status(server, connector["id"], "RESERVED")
    with subscribed(
        server, {"org": organization["id"], "after": initial["cursor"]}, query=RESUMABLE
    ) as socket:
        replayed = next_event(socket)
    assert (replayed["previousStatus"], replayed["status"]) == ("AVAILABLE", "RESERVED")
    wait_for_subscribers(server, 0)


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"after": "not-a-cursor"}, "after"),
        ({"after": "A" * 3000}, "after"),
        # A well-formed document that is not a resume token.
        ({"after": "DAAAABB4AAEAAAAA"}, "after"),
        ({"after": "FwAAAAJfZGF0YQAHAAAAM2MwMGFiAAA", "current": True}, "includeCurrent"),
        # Well formed, but not a token the database can read.
        ({"after": encode(Position({"_data": "00"}, Timestamp(1, 1)))}, "after"),
    ],
)
def test_a_bad_cursor_is_refused_naming_the_argument(
    server: Server, variables: dict[str, Any], field: str
) -> None:
    with subscribed(server, variables, query=RESUMABLE) as socket:
        refused = subscription_error(socket)
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["extensions"]["field"] == field


def test_reconnecting_under_a_stream_of_writes_loses_and_repeats_nothing(
    server: Server, mongo_uri: str, db_name: str
) -> None:
    """A tool writes statuses straight into MongoDB while the dashboard drops and resumes."""
    organization = create_organization(server, name="Busy Org")
    connectors = [create_connector(server, organization["id"]) for _ in range(4)]
    written: dict[str, list[str]] = {c["id"]: [] for c in connectors}
    stop = threading.Event()

    def write() -> None:
        client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, journal=True)
        collection = client[db_name].connectors
        step = 0
        while not stop.is_set():
            for connector in connectors:
                status = CYCLE[step % len(CYCLE)]
                collection.update_one(
                    {"_id": ObjectId(connector["id"])},
                    {"$set": {"status": STORED[status], "updatedAt": now()}},
                )
                written[connector["id"]].append(status)
            step += 1
            time.sleep(0.02)
        client.close()

    received: dict[str, list[str]] = {c["id"]: [] for c in connectors}
    writer = threading.Thread(target=write)
    wait_for_subscribers(server, 0)
    with subscribed(server, {"org": organization["id"]}, query=RESUMABLE) as socket:
        wait_for_subscribers(server, 1)
        writer.start()
        cursor = None
        for _ in range(20):
            event = next_event(socket)
            received[event["connector"]["id"]].append(event["status"])
            cursor = event["cursor"]
    time.sleep(0.5)  # away while the writes go on
    with subscribed(
        server, {"org": organization["id"], "after": cursor}, query=RESUMABLE
    ) as socket:
        time.sleep(0.5)
        stop.set()
        writer.join()
        expected = sum(len(statuses) for statuses in written.values())
        while sum(len(statuses) for statuses in received.values()) < expected:
            event = next_event(socket)
            received[event["connector"]["id"]].append(event["status"])
    assert received == written
