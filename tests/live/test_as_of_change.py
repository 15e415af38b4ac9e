"""An event carries the connector as it was at its change, live and replayed."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.database import Database

from graph.core.timestamps import now
from tests.support.access import create_key
from tests.support.live import next_event, set_status, subscribed, wait_for_subscribers
from tests.support.server import Server, create_connector, create_organization, data

AS_OF = """
subscription($org: ID, $after: String) {
  connectorStatusChanged(organizationId: $org, after: $after) {
    status cursor connector { id status active }
  }
}
"""
SET_ACTIVE = (
    "mutation($id: ID!, $on: Boolean!) { updateConnector(id: $id, input: {active: $on}) { id } }"
)


def quick_changes(db: Database[dict[str, Any]], connector_id: str, statuses: list[str]) -> None:
    """Written straight into the database, back to back: the hub reads them after both."""
    for status in statuses:
        db.connectors.update_one(
            {"_id": ObjectId(connector_id)}, {"$set": {"status": status, "updatedAt": now()}}
        )


def test_two_quick_changes_give_two_events_each_with_its_own_connector(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Quick Changes")
    connector = create_connector(server, organization["id"])
    variables = {"org": organization["id"]}
    with subscribed(server, variables, query=AS_OF) as socket:
        wait_for_subscribers(server, 1)
        set_status(server, connector["id"], "RESERVED")
        start = next_event(socket)["cursor"]
        quick_changes(db, connector["id"], ["Charging", "Faulted", "Available"])
        live = [next_event(socket) for _ in range(3)]
    wait_for_subscribers(server, 0)
    with subscribed(server, {**variables, "after": start}, query=AS_OF) as socket:
        replayed = [next_event(socket) for _ in range(3)]
    for events in (live, replayed):
        assert [(e["status"], e["connector"]["status"]) for e in events] == [
            ("CHARGING", "CHARGING"),
            ("FAULTED", "FAULTED"),
            ("AVAILABLE", "AVAILABLE"),
        ]
    wait_for_subscribers(server, 0)


def test_a_replay_judges_visibility_as_of_each_change(server: Server) -> None:
    organization = create_organization(server, name="Hidden Then Shown")
    hidden = create_connector(server, organization["id"])
    shown = create_connector(server, organization["id"])
    variables = {"org": organization["id"]}
    with subscribed(server, variables, query=AS_OF) as socket:
        wait_for_subscribers(server, 1)
        set_status(server, shown["id"], "RESERVED")
        start = next_event(socket)["cursor"]
    wait_for_subscribers(server, 0)
    # While inactive, the connector's statuses are its organization's business only.
    data(server.query(SET_ACTIVE, {"id": hidden["id"], "on": False}))
    set_status(server, hidden["id"], "FAULTED")
    set_status(server, hidden["id"], "CHARGING")
    data(server.query(SET_ACTIVE, {"id": hidden["id"], "on": True}))
    set_status(server, shown["id"], "AVAILABLE")
    with subscribed(server, {**variables, "after": start}, query=AS_OF) as socket:
        first = next_event(socket)
    # Anonymous: the first change replayed is the visible connector's, not the hidden ones.
    assert (first["connector"]["id"], first["status"]) == (shown["id"], "AVAILABLE")
    wait_for_subscribers(server, 0)
    # The organization's own key sees them, as they were: inactive at the time.
    key = create_key(server, organization["id"])["key"]
    with subscribed(server, {**variables, "after": start}, query=AS_OF, key=key) as socket:
        own = [next_event(socket) for _ in range(2)]
    assert [(e["connector"]["id"], e["status"], e["connector"]["active"]) for e in own] == [
        (hidden["id"], "FAULTED", False),
        (hidden["id"], "CHARGING", False),
    ]
    wait_for_subscribers(server, 0)
