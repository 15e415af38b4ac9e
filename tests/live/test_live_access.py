"""API keys on WebSockets: refusing bad keys, scoping events, ending revoked subscriptions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from graph.live.schema import MAX_SUBSCRIPTIONS_PER_CONNECTION
from tests.support.access import create_key
from tests.support.live import (
    next_event,
    receive,
    start,
    subscribed,
    subscription_error,
    wait_for_subscribers,
)
from tests.support.server import Server, create_connector, create_organization, data

SET_STATUS = (
    "mutation($id: ID!, $status: ConnectorStatus!) { setConnectorStatus(id: $id, status: $status) "
    "{ status } }"
)
HEALTHY = "{ organizations(first: 1) { totalCount } }"


@pytest.fixture(scope="module")
def organization(server: Server) -> dict[str, Any]:
    return create_organization(server, name="Keyed Live Org")


@pytest.mark.parametrize("credential", ["Bearer cgk_wrong", "Bearer \ud800", 42, "Basic x"])
def test_a_bad_key_is_refused_with_close_4403(server: Server, credential: object) -> None:
    with connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        socket.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": credential}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            receive(socket)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # The server goes on answering.
    assert "totalCount" in data(server.query(HEALTHY, key=None))["organizations"]


def test_a_bad_key_on_legacy_graphql_ws_gets_connection_error(server: Server) -> None:
    with connect(server.ws_url, subprotocols=["graphql-ws"]) as socket:  # type: ignore[list-item]
        socket.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
        )
        message = receive(socket)
        assert message["type"] == "connection_error"
        assert message["payload"]["extensions"]["code"] == "UNAUTHENTICATED"
        with pytest.raises(ConnectionClosed):
            receive(socket)


def test_inactive_connectors_events_reach_only_their_organization(
    server: Server, organization: dict[str, Any]
) -> None:
    key = create_key(server, organization["id"])["key"]
    hidden = create_connector(server, organization["id"], active=False)
    shown = create_connector(server, organization["id"])
    with (
        subscribed(server, {"org": organization["id"]}) as anonymous,
        subscribed(server, {"org": organization["id"]}, key=key) as owner,
    ):
        wait_for_subscribers(server, 2)
        data(server.query(SET_STATUS, {"id": hidden["id"], "status": "FAULTED"}))
        data(server.query(SET_STATUS, {"id": shown["id"], "status": "CHARGING"}))
        assert next_event(owner)["connector"]["id"] == hidden["id"]
        assert next_event(owner)["connector"]["id"] == shown["id"]
        # The anonymous subscriber's first event is the active connector's.
        assert next_event(anonymous)["connector"]["id"] == shown["id"]


def test_revoking_a_key_ends_its_subscriptions_at_once(
    server: Server, organization: dict[str, Any]
) -> None:
    created = create_key(server, organization["id"])
    watched = create_connector(server, organization["id"])
    with (
        subscribed(server, {"ids": [watched["id"]]}, key=created["key"]) as keyed,
        subscribed(server, {"ids": [watched["id"]]}) as anonymous,
    ):
        wait_for_subscribers(server, 2)
        data(
            server.query(
                "mutation($id: ID!) { revokeApiKey(id: $id) }", {"id": created["apiKey"]["id"]}
            )
        )
        ended = subscription_error(keyed, timeout=5)
        assert ended["extensions"]["code"] == "UNAUTHENTICATED"
        assert "revoked" in ended["message"]
        # The anonymous subscription goes on.
        data(server.query(SET_STATUS, {"id": watched["id"], "status": "RESERVED"}))
        assert next_event(anonymous)["status"] == "RESERVED"
        # A new subscription on the revoked key's connection is refused too.
        start(keyed, "2", {"ids": [watched["id"]]})
        assert subscription_error(keyed)["extensions"]["code"] == "UNAUTHENTICATED"
        # So are queries and mutations sent over that connection.
        start(keyed, "3", {"id": watched["id"], "status": "FAULTED"}, SET_STATUS)
        assert subscription_error(keyed)["extensions"]["code"] == "UNAUTHENTICATED"
    wait_for_subscribers(server, 0)
    stored = data(
        server.query("query($id: ID!) { connector(id: $id) { status } }", {"id": watched["id"]})
    )
    assert stored["connector"]["status"] == "RESERVED"


def test_a_key_revoked_by_another_process_ends_subscriptions_soon(
    server: Server, organization: dict[str, Any], db: Database[dict[str, Any]]
) -> None:
    created = create_key(server, organization["id"])
    watched = create_connector(server, organization["id"])
    with subscribed(server, {"ids": [watched["id"]]}, key=created["key"]) as keyed:
        wait_for_subscribers(server, 1)
        # What another server process's revokeApiKey writes.
        db.api_keys.update_one(
            {"_id": ObjectId(created["apiKey"]["id"])},
            {"$set": {"revokedAt": ObjectId().generation_time}},
        )
        ended = subscription_error(keyed, timeout=10)
    assert ended["extensions"]["code"] == "UNAUTHENTICATED"
    wait_for_subscribers(server, 0)


def test_subscriptions_per_connection_are_limited(
    server: Server, organization: dict[str, Any]
) -> None:
    watched = create_connector(server, organization["id"])
    with subscribed(server, {"ids": [watched["id"]]}) as socket:
        for number in range(2, MAX_SUBSCRIPTIONS_PER_CONNECTION + 2):
            start(socket, str(number), {"ids": [watched["id"]]})
        refused = subscription_error(socket)
        assert refused["extensions"]["code"] == "BAD_USER_INPUT"
        assert f"at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions" in refused["message"]
        wait_for_subscribers(server, MAX_SUBSCRIPTIONS_PER_CONNECTION)
        data(server.query(SET_STATUS, {"id": watched["id"], "status": "CHARGING"}))
        # The refused subscription completes; the running ones all deliver.
        delivered: list[str] = []
        while len(delivered) < MAX_SUBSCRIPTIONS_PER_CONNECTION:
            message = receive(socket)
            if message["type"] == "next":
                delivered.append(data(message["payload"])["connectorStatusChanged"]["status"])
            else:
                assert message == {
                    "id": str(MAX_SUBSCRIPTIONS_PER_CONNECTION + 1),
                    "type": "complete",
                }
        assert set(delivered) == {"CHARGING"}
    wait_for_subscribers(server, 0)


def test_too_many_connector_ids_are_refused(server: Server) -> None:
    ids = [str(ObjectId()) for _ in range(1001)]
    with subscribed(server, {"ids": ids}) as socket:
        refused = subscription_error(socket)
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "connectorIds"}
    assert "at most 1000" in refused["message"]


def test_subscribers_with_the_same_query_see_what_their_own_key_allows(
    server: Server, organization: dict[str, Any]
) -> None:
    """Events are executed once per query and caller scope, never shared across scopes."""
    key = create_key(server, organization["id"])["key"]
    other = create_organization(server, name="Curious Neighbour")
    other_key = create_key(server, other["id"])["key"]
    watched = create_connector(server, organization["id"])
    query = """
    subscription($ids: [ID!]) {
      connectorStatusChanged(connectorIds: $ids) {
        status connector { organization { name configurations { basicAuthEnabled } } }
      }
    }
    """
    variables = {"ids": [watched["id"]]}
    with (
        subscribed(server, variables, query=query, key=key) as owner,
        subscribed(server, variables, query=query) as anonymous,
        subscribed(server, variables, query=query, key=other_key) as neighbour,
        subscribed(server, variables, query=query, key=key) as owner_again,
    ):
        wait_for_subscribers(server, 4)
        data(server.query(SET_STATUS, {"id": watched["id"], "status": "CHARGING"}))
        answers = {
            name: receive(socket)["payload"]
            for name, socket in (
                ("owner", owner),
                ("anonymous", anonymous),
                ("neighbour", neighbour),
                ("owner_again", owner_again),
            )
        }
    for name in ("owner", "owner_again"):
        event = data(answers[name])["connectorStatusChanged"]
        assert event["connector"]["organization"]["configurations"] == {"basicAuthEnabled": False}
    for name, code in (("anonymous", "UNAUTHENTICATED"), ("neighbour", "FORBIDDEN")):
        assert answers[name]["data"]["connectorStatusChanged"]["connector"]["organization"] == {
            "name": "Keyed Live Org",
            "configurations": None,
        }
        assert answers[name]["errors"][0]["extensions"]["code"] == code
