"""connectorStatusChanged over both WebSocket protocols, fed by the change stream."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database
from websockets.sync.client import connect

from tests.support.live import (
    SET_STATUS,
    SUBSCRIPTION,
    next_event,
    receive,
    subscribed,
    subscription_error,
    wait_for_subscribers,
)
from tests.support.server import Server, create_connector, create_organization, data


@pytest.fixture(scope="module")
def organization(server: Server) -> dict[str, Any]:
    return create_organization(server, name="Live Org")


def test_subscriber_receives_a_status_set_by_another_client(
    server: Server, organization: dict[str, Any]
) -> None:
    watched = create_connector(server, organization["id"])
    with subscribed(server, {"ids": [watched["id"]]}) as socket:
        wait_for_subscribers(server, 1)
        data(server.query(SET_STATUS, {"id": watched["id"], "status": "CHARGING"}))
        event = next_event(socket)
    assert event["status"] == "CHARGING"
    assert event["previousStatus"] == "AVAILABLE"
    assert event["connector"] == {
        "id": watched["id"],
        "endpoint": watched["endpoint"],
        "status": "CHARGING",
        "organization": {"name": "Live Org"},
    }
    assert event["changedAt"].endswith("Z")


def test_only_matching_and_real_changes_are_delivered(
    server: Server, organization: dict[str, Any]
) -> None:
    other_org = create_organization(server, name="Elsewhere")
    mine = create_connector(server, organization["id"])
    theirs = create_connector(server, other_org["id"])
    with subscribed(server, {"org": organization["id"]}) as socket:
        wait_for_subscribers(server, 1)
        data(server.query(SET_STATUS, {"id": theirs["id"], "status": "FAULTED"}))
        data(server.query(SET_STATUS, {"id": mine["id"], "status": "AVAILABLE"}))  # no change
        data(server.query(SET_STATUS, {"id": mine["id"], "status": "PREPARING"}))
        data(server.query(SET_STATUS, {"id": mine["id"], "status": "CHARGING"}))
        first, second = next_event(socket), next_event(socket)
    assert [first["connector"]["id"], second["connector"]["id"]] == [mine["id"], mine["id"]]
    assert [
        (first["previousStatus"], first["status"]),
        (second["previousStatus"], second["status"]),
    ] == [
        ("AVAILABLE", "PREPARING"),
        ("PREPARING", "CHARGING"),
    ]


def test_a_write_straight_into_the_database_is_delivered(
    server: Server, db: Database[dict[str, Any]], organization: dict[str, Any]
) -> None:
    watched = create_connector(server, organization["id"])
    with subscribed(server, {"ids": [watched["id"]]}) as socket:
        wait_for_subscribers(server, 1)
        db.connectors.update_one({"_id": ObjectId(watched["id"])}, {"$set": {"status": "Faulted"}})
        event = next_event(socket)
    assert (event["previousStatus"], event["status"]) == ("AVAILABLE", "FAULTED")


def test_complete_and_disconnect_release_the_subscription(
    server: Server, organization: dict[str, Any]
) -> None:
    watched = create_connector(server, organization["id"])
    with subscribed(server, {"ids": [watched["id"]]}) as socket:
        wait_for_subscribers(server, 1)
        socket.send(json.dumps({"id": "1", "type": "complete"}))
        wait_for_subscribers(server, 0)
    with subscribed(server, {"ids": [watched["id"]]}):
        wait_for_subscribers(server, 1)
    wait_for_subscribers(server, 0)


def test_a_malformed_id_is_refused_with_a_code(server: Server) -> None:
    with subscribed(server, {"ids": ["nope"]}) as socket:
        refused = subscription_error(socket)
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "connectorIds"}


def test_legacy_graphql_ws_protocol(server: Server, organization: dict[str, Any]) -> None:
    watched = create_connector(server, organization["id"])
    with connect(server.ws_url, subprotocols=["graphql-ws"]) as socket:  # type: ignore[list-item]
        socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert receive(socket)["type"] == "connection_ack"
        socket.send(
            json.dumps(
                {
                    "id": "7",
                    "type": "start",
                    "payload": {"query": SUBSCRIPTION, "variables": {"ids": [watched["id"]]}},
                }
            )
        )
        wait_for_subscribers(server, 1)
        data(server.query(SET_STATUS, {"id": watched["id"], "status": "RESERVED"}))
        while (message := receive(socket))["type"] == "ka":
            pass
    assert message["type"] == "data" and message["id"] == "7"
    assert data(message["payload"])["connectorStatusChanged"]["status"] == "RESERVED"
