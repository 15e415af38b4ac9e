"""Every GraphQL operation in docs/guide.md runs, as written, against a real server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from graph.core.timestamps import now
from tests.support.live import next_event, subscribed, wait_for_subscribers
from tests.support.server import ADMIN_KEY, Server, create_connector, data

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide.md"


def snippets() -> dict[str, str]:
    """The guide's GraphQL operations by name, in the order they appear."""
    text = GUIDE.read_text()
    blocks = re.findall(r"```graphql\n(.*?)```", text, re.DOTALL)
    named = {}
    for block in blocks:
        found = re.match(r"\s*(query|mutation|subscription)\s+(\w+)", block)
        assert found is not None, f"an unnamed operation in the guide:\n{block}"
        named[found.group(2)] = block
    return named


def test_the_guide_names_each_operation_once() -> None:
    blocks = re.findall(r"```graphql\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert len(snippets()) == len(blocks) >= 10


def test_every_operation_in_the_guide_works(server: Server, db: Database[dict[str, Any]]) -> None:
    operations = snippets()
    first = re.search(r'"query": "(.*?)"', GUIDE.read_text())
    assert first is not None
    assert "connectors" in data(server.query(first.group(1), key=None))

    def run(name: str, variables: dict[str, Any] | None = None, key: str | None = ADMIN_KEY) -> Any:
        return data(server.query(operations.pop(name), variables or {}, key=key))

    organization = run("CreateOrganization")["createOrganization"]["id"]
    operator = run("CreateKey", {"org": organization})["createApiKey"]["key"]
    station = run("CreateStation", {"org": organization}, key=operator)["createChargestation"]
    connector = run(
        "CreateConnector", {"org": organization, "station": station["id"]}, key=operator
    )["createConnector"]
    assert connector["coordinates"] == {"latitude": 52.3676, "longitude": 4.9041}
    app_key = run("CreateAppKey")["createAppKey"]["key"]
    # The station has not connected: each command answers OFFLINE, and is kept.
    reset = run("ResetStation", {"station": station["id"]}, key=operator)["resetChargestation"]
    assert (reset["action"], reset["status"], reset["requestedBy"]) == (
        "Reset",
        "OFFLINE",
        "back office",
    )
    for name, field in (
        ("UnlockCable", "unlockConnector"),
        ("TakeOutOfService", "updateConnector"),
    ):
        answer = run(name, {"connector": connector["id"]}, key=operator)[field]
        assert (answer.get("availabilityCommand") or answer)["status"] == "OFFLINE"
    report = run("RequestStatusReport", {"station": station["id"]}, key=operator)
    assert report["requestStatusReport"]["status"] == "OFFLINE"
    history = run("CommandHistory", {"station": station["id"]}, key=operator)["chargestation"]
    assert [edge["node"]["action"] for edge in history["commands"]["edges"]] == [
        "TriggerMessage",
        "ChangeAvailability",
        "UnlockConnector",
        "Reset",
    ]
    # Back in service for the recipes that follow.
    data(
        server.query(
            "mutation($id: ID!) { updateConnector(id: $id, input: { active: true }) { id } }",
            {"id": connector["id"]},
        )
    )
    nearby = run("Nearby", {"lat": 52.3676, "lng": 4.9041}, key=app_key)["nearbyConnectors"]
    assert [edge["node"]["id"] for edge in nearby["edges"]] == [connector["id"]]
    network = run("Network", {"org": organization}, key=operator)["organization"]
    assert network["chargestations"]["edges"][0]["node"]["endpoint"] == "CS-AMS-0001"
    # A second connector at the station: one cluster of two at city zoom, none apart at 21.
    neighbour = create_connector(
        server, organization, chargestationId=station["id"], ocppId=2, type="CCS2", power=50.0
    )
    amsterdam = {"south": 52.3, "west": 4.8, "north": 52.45, "east": 5.0}
    clustered = run("MapClusters", {"bounds": amsterdam, "zoom": 12}, key=app_key)
    (cluster,) = clustered["connectorClusters"]["clusters"]
    assert (cluster["count"], cluster["expansionZoom"]) == (2, 21)
    members = run("ClusterMembers", {"id": cluster["id"]}, key=app_key)["clusterConnectors"]
    assert {edge["node"]["id"] for edge in members["edges"]} == {connector["id"], neighbour["id"]}
    data(server.query("mutation($id: ID!) { deleteConnector(id: $id) }", {"id": neighbour["id"]}))

    with subscribed(
        server, {"org": organization}, query=operations.pop("Live"), key=operator
    ) as live:
        wait_for_subscribers(server, 1)
        assert run("SetStatus", {"connector": connector["id"]}, key=operator)
        event = next_event(live)
    assert event["status"] == "CHARGING" and event["cursor"]
    changed = run("ChangedSince", {"since": connector["createdAt"]}, key=app_key)["connectors"]
    assert [edge["node"]["status"] for edge in changed["edges"]] == ["CHARGING"]

    stations = operations.pop("Stations")
    with subscribed(server, {"org": organization}, query=stations, key=operator) as watching:
        wait_for_subscribers(server, 1)
        # A station connecting, as the OCPP endpoint records it.
        db.chargestations.update_one(
            {"_id": ObjectId(station["id"])}, {"$set": {"online": True, "leaseUntil": now()}}
        )
        message = next_event(watching, field="chargestationOnlineChanged")
    assert message["online"] is True
    assert operations == {}, f"operations in the guide not run: {sorted(operations)}"
