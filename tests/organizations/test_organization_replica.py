"""Organizations read by id from each process's replica: a process answers its own writes at
once, and another process answers them once its change stream has delivered them.

Two `chargegraph serve` processes share the module's database; one writes, both read
(`organization(id)`, and the `organization` of a connector and of a charge station).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from tests.support.faults import deployment, fail_point, fail_point_off
from tests.support.server import (
    Server,
    create_chargestation,
    create_connector,
    create_organization,
    data,
    module_server,
)

# Generous: a change reaches the other process in milliseconds, a loaded CI machine is slow.
DELIVERY_WAIT = 30.0

UPDATE = """mutation($id: ID!, $input: UpdateOrganizationInput!) {
  updateOrganization(id: $id, input: $input) { id name active }
}"""
DELETE = "mutation($id: ID!) { deleteOrganization(id: $id) }"
READ = """query($organization: ID!, $connector: ID!, $station: ID!) {
  organization(id: $organization) { id name active }
  connector(id: $connector) { organization { id name active } }
  chargestation(id: $station) { organization { id name active } }
}"""
READ_ORGANIZATION = "query($id: ID!) { organization(id: $id) { id name active } }"


@pytest.fixture(scope="module")
def processes(
    mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """A writing process and another one on the same database, both loaded."""
    with (
        module_server(mongo_uri, db_name, tmp_path_factory) as writer,
        module_server(mongo_uri, db_name, tmp_path_factory) as other,
    ):
        for process in (writer, other):
            wait_for(lambda process=process: replica(process)["loaded"], "the replica to load")
        yield writer, other


def replica(server: Server) -> dict[str, Any]:
    """The organizations replica's figures in /healthz."""
    held: dict[str, Any] = httpx.get(f"{server.base_url}/healthz", timeout=10).json()[
        "organization_replica"
    ]
    return held


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DELIVERY_WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {DELIVERY_WAIT:.0f}s waiting for {what}")
        time.sleep(0.05)


def read(server: Server, ids: dict[str, str]) -> dict[str, Any]:
    """The organization by id and as its connector's and its station's."""
    return data(server.query(READ, ids))


def everywhere(organization: dict[str, Any] | None) -> dict[str, Any]:
    """The answer of READ when each of its three reads finds `organization`."""
    return {
        "organization": organization,
        "connector": {"organization": organization},
        "chargestation": {"organization": organization},
    }


def test_a_rename_and_a_deactivation_reach_the_other_process(
    processes: tuple[Server, Server],
) -> None:
    writer, other = processes
    organization = create_organization(writer, name="Replicated Org")
    ids = {
        "organization": organization["id"],
        "connector": create_connector(writer, organization["id"])["id"],
        "station": create_chargestation(writer, organization["id"])["id"],
    }
    created = {"id": organization["id"], "name": "Replicated Org", "active": True}
    assert read(writer, ids) == everywhere(created)
    wait_for(lambda: read(other, ids) == everywhere(created), "the other process to see it")
    changes_before = replica(other)["changes"]

    renamed = {**created, "name": "Renamed Org"}
    answer = data(
        writer.query(UPDATE, {"id": ids["organization"], "input": {"name": "Renamed Org"}})
    )
    assert answer["updateOrganization"] == renamed
    # The writing process answers its own write at once.
    assert read(writer, ids) == everywhere(renamed)
    wait_for(lambda: read(other, ids) == everywhere(renamed), "the rename to reach the other")

    inactive = {**renamed, "active": False}
    data(writer.query(UPDATE, {"id": ids["organization"], "input": {"active": False}}))
    assert read(writer, ids) == everywhere(inactive)
    wait_for(lambda: read(other, ids) == everywhere(inactive), "the deactivation to reach it")
    # The other process learned them from its change stream, into its replica.
    assert replica(other)["changes"] >= changes_before + 2


def test_a_deletion_reaches_the_other_process(processes: tuple[Server, Server]) -> None:
    writer, other = processes
    organization = create_organization(writer, name="Doomed Org")
    ids = {"id": organization["id"]}
    expected = {"id": organization["id"], "name": "Doomed Org", "active": True}
    wait_for(
        lambda: data(other.query(READ_ORGANIZATION, ids))["organization"] == expected,
        "the other process to see it",
    )
    assert data(writer.query(DELETE, ids))["deleteOrganization"] == organization["id"]
    # Gone at once for the writer, soon for the other.
    assert data(writer.query(READ_ORGANIZATION, ids))["organization"] is None
    wait_for(
        lambda: data(other.query(READ_ORGANIZATION, ids))["organization"] is None,
        "the deletion to reach the other process",
    )


def test_an_organization_written_around_the_api_is_seen_once_delivered(
    processes: tuple[Server, Server], db: Database[dict[str, Any]]
) -> None:
    """A change written straight into MongoDB reaches both processes through their streams."""
    writer, other = processes
    organization = create_organization(writer, name="Outside Org")
    ids = {"id": organization["id"]}
    db.organizations.update_one({"_id": ObjectId(organization["id"])}, {"$set": {"name": "Inside"}})
    for process in (writer, other):
        wait_for(
            lambda process=process: (
                data(process.query(READ_ORGANIZATION, ids))["organization"]
                == {"id": organization["id"], "name": "Inside", "active": True}
            ),
            "the change written around the API to be seen",
        )


def test_a_lost_change_history_reloads_the_replica(tmp_path: Path) -> None:
    """The change stream fails with ChangeStreamHistoryLost (286), so it starts again from
    now: a rename written meanwhile is never delivered, and only reading the organizations
    again finds it."""
    with deployment(tmp_path) as started:
        server = started.api
        wait_for(lambda: replica(server)["loaded"], "the replica to load")
        organization = create_organization(server, name="Before The Loss")
        ids = {"id": organization["id"]}
        loads = replica(server)["loads"]
        restarts = health(server)["stream_restarts"]
        client: MongoClient[dict[str, Any]] = MongoClient(started.database.uri)
        try:
            fail_point(started.database.uri, ["getMore"], 286, "alwaysOn")
            try:
                # The stream has failed again after starting anew: it reads nothing now.
                wait_for(lambda: health(server)["stream_restarts"] > restarts, "the stream to fail")
                client["faults"].organizations.update_one(
                    {"_id": ObjectId(organization["id"])}, {"$set": {"name": "During The Loss"}}
                )
            finally:
                fail_point_off(started.database.uri)
        finally:
            client.close()
        wait_for(
            lambda: (
                data(server.query(READ_ORGANIZATION, ids))["organization"]
                == {"id": organization["id"], "name": "During The Loss", "active": True}
            ),
            "the rename to be read again",
        )
        assert replica(server)["loads"] > loads


HELD = """query($organization: ID!, $connector: ID!) {
  organization(id: $organization) { name }
  connector(id: $connector) { organization { name } }
}"""


def test_own_writes_at_once_others_once_delivered(tmp_path: Path) -> None:
    """Both processes' change streams are cut off (every getMore and aggregate fails, the
    hub keeps retrying from its resume token): the writing process still answers its own
    rename at once, from its replica; the other answers the name its replica holds until
    its stream is back and delivers the rename."""
    with deployment(tmp_path, servers=2) as started:
        writer, other = started.servers
        for process in (writer, other):
            wait_for(lambda process=process: replica(process)["loaded"], "the replica to load")
        organization = create_organization(writer, name="Before The Cut")
        ids = {
            "organization": organization["id"],
            "connector": create_connector(writer, organization["id"])["id"],
        }

        def names(process: Server) -> set[str]:
            answer = data(process.query(HELD, ids))
            return {answer["organization"]["name"], answer["connector"]["organization"]["name"]}

        wait_for(lambda: names(other) == {"Before The Cut"}, "the other process to see it")
        restarts = [health(process)["stream_restarts"] for process in (writer, other)]
        fail_point(started.database.uri, ["getMore", "aggregate"], 6, "alwaysOn")
        try:
            for process, before in zip((writer, other), restarts, strict=True):
                wait_for(
                    lambda process=process, before=before: (
                        health(process)["stream_restarts"] > before
                    ),
                    "the change stream to be cut off",
                )
            rename = {"id": organization["id"], "input": {"name": "After The Cut"}}
            data(writer.query(UPDATE, rename))
            assert names(writer) == {"After The Cut"}
            # Not from the database: from the replica, which has not been told yet.
            assert names(other) == {"Before The Cut"}
        finally:
            fail_point_off(started.database.uri)
        wait_for(lambda: names(other) == {"After The Cut"}, "the rename to reach the other")
        assert names(writer) == {"After The Cut"}


def health(server: Server) -> dict[str, Any]:
    figures: dict[str, Any] = httpx.get(f"{server.base_url}/healthz", timeout=10).json()
    return figures
