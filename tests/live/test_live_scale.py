"""Live status beyond one process: scale-out, database restarts, slow clients, catch-up."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient, UpdateOne
from pymongo.database import Database
from websockets.exceptions import ConnectionClosed

from graph.embedded import EmbeddedDatabase, free_port
from tests.support.live import (
    SET_STATUS,
    health,
    next_event,
    subscribed,
    subscription_error,
    wait_for_subscribers,
)
from tests.support.server import Server, create_connector, create_organization, data, server_env

# Each event of this subscription is about 10 kB, so a client that stops
# reading fills the sockets' buffers after a few hundred events.
BULKY = (
    "subscription($org: ID) { connectorStatusChanged(organizationId: $org) { status "
    + " ".join(
        f"c{index}: connector {{ id endpoint status type format powerType power createdAt updatedAt "
        "ocppId organization { id name createdAt } }"
        for index in range(40)
    )
    + " } }"
)


@pytest.fixture(scope="module")
def second_server(
    mongo_uri: str, db_name: str, server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Another ChargeGraph process on the same database, as behind a load balancer."""
    running = Server(
        env=server_env(MONGODB_URI=mongo_uri, CHARGEGRAPH_DB=db_name),
        args=[],
        log_path=tmp_path_factory.mktemp("second") / "server.log",
    ).start()
    yield running
    running.stop()


def test_a_change_made_through_one_process_reaches_subscribers_of_another(
    server: Server, second_server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Scaled Out")
    connector = create_connector(server, organization["id"])
    with subscribed(second_server, {"org": organization["id"]}) as connection:
        wait_for_subscribers(second_server, 1)
        data(server.query(SET_STATUS, {"id": connector["id"], "status": "CHARGING"}))
        through_api = next_event(connection)
        db.connectors.update_one(
            {"_id": ObjectId(connector["id"])}, {"$set": {"status": "Finishing"}}
        )
        straight_in = next_event(connection)
    assert (through_api["previousStatus"], through_api["status"]) == ("AVAILABLE", "CHARGING")
    assert (straight_in["previousStatus"], straight_in["status"]) == ("CHARGING", "FINISHING")


def test_include_current_sends_every_watched_status_first(server: Server) -> None:
    organization = create_organization(server, name="Catch Up")
    statuses = ["AVAILABLE", "CHARGING", "FAULTED"]
    connectors = [
        create_connector(server, organization["id"], status=status) for status in statuses
    ]
    with subscribed(server, {"org": organization["id"], "current": True}) as connection:
        initial = [next_event(connection) for _ in connectors]
        wait_for_subscribers(server, 1)
        data(server.query(SET_STATUS, {"id": connectors[0]["id"], "status": "RESERVED"}))
        live = next_event(connection)
    assert sorted(
        (event["connector"]["id"], event["status"], event["initial"]) for event in initial
    ) == sorted(
        (connector["id"], status, True)
        for connector, status in zip(connectors, statuses, strict=True)
    )
    assert all(event["previousStatus"] is None for event in initial)
    assert (live["initial"], live["previousStatus"], live["status"]) == (
        False,
        "AVAILABLE",
        "RESERVED",
    )


def test_area_subscriptions_see_only_their_area(server: Server) -> None:
    organization = create_organization(server, name="Mapped")
    inside = create_connector(
        server, organization["id"], coordinates={"latitude": 48.8566, "longitude": 2.3522}
    )
    outside = create_connector(
        server, organization["id"], coordinates={"latitude": 48.95, "longitude": 2.3522}
    )
    near = {"latitude": 48.8566, "longitude": 2.3522, "radiusMeters": 2000}
    bounds = {"south": 48.8, "west": 2.3, "north": 48.9, "east": 2.4}
    for variables in ({"near": near}, {"bounds": bounds}):
        with subscribed(server, variables) as connection:
            wait_for_subscribers(server, 1)
            for connector in (outside, inside):
                current = data(
                    server.query(
                        "query($id: ID!) { connector(id: $id) { status } }", {"id": connector["id"]}
                    )
                )
                following = (
                    "CHARGING" if current["connector"]["status"] != "CHARGING" else "AVAILABLE"
                )
                data(server.query(SET_STATUS, {"id": connector["id"], "status": following}))
            event = next_event(connection)
            assert event["connector"]["id"] == inside["id"]
        wait_for_subscribers(server, 0)


def test_bad_area_is_refused(server: Server) -> None:
    with subscribed(
        server, {"near": {"latitude": 95, "longitude": 0, "radiusMeters": 10}}
    ) as connection:
        refused = subscription_error(connection)
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "near.latitude"}
    assert "near.latitude" in refused["message"]


def test_a_stuck_subscriber_does_not_delay_a_fast_one(
    mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    """A client that stops reading never holds up another: round after round of changes, the
    fast client has every change of a round, in order, before the next round is written,
    while the stuck client's backlog grows until the server closes it as too slow; and it
    goes on so once the stuck client is gone."""
    slow_server = Server(
        env=server_env(
            MONGODB_URI=mongo_uri, CHARGEGRAPH_DB=db_name, CHARGEGRAPH_SUBSCRIBER_QUEUE="50"
        ),
        args=[],
        log_path=tmp_path / "server.log",
    ).start()
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        organization = create_organization(slow_server, name="Busy")
        connectors = [create_connector(slow_server, organization["id"]) for _ in range(10)]
        ids = [ObjectId(connector["id"]) for connector in connectors]
        statuses = ["Charging", "Available"]

        def round_of_changes(fast: Any, round_: int) -> None:
            """Write a round of changes; the fast client then has exactly that round."""
            client[db_name].connectors.bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"status": statuses[round_ % 2]}}) for i in ids]
            )
            got = [next_event(fast) for _ in ids]
            assert sorted(event["connector"]["id"] for event in got) == sorted(map(str, ids))
            assert {event["status"] for event in got} == {statuses[round_ % 2].upper()}, got

        with subscribed(slow_server, {"org": organization["id"]}) as fast:
            wait_for_subscribers(slow_server, 1)
            with subscribed(slow_server, {"org": organization["id"]}, 4096, BULKY) as stuck:
                wait_for_subscribers(slow_server, 2)
                # Up to 2,000 bulky events (about 24 MB) for a client that never reads them.
                served_while_stuck = 0
                for round_ in range(200):
                    round_of_changes(fast, round_)
                    if health(slow_server)["dropped_slow"]:
                        break
                    served_while_stuck += 1
                # The stuck client was closed as too slow, not before the fast one had been
                # served many rounds beside it (its buffers and queue hold hundreds of events).
                assert health(slow_server)["dropped_slow"] == 1
                assert served_while_stuck >= 5, served_while_stuck
                wait_for_subscribers(slow_server, 1)
                # Once it reads, it learns why it was closed (after what it had been sent).
                closing = subscription_error(stuck, timeout=30)
                assert closing["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW", closing
            # The fast client goes on as before (each round changes every status again).
            for later in range(round_ + 1, round_ + 6):
                round_of_changes(fast, later)
    finally:
        client.close()
        slow_server.stop()


def test_events_written_while_the_database_restarts_are_delivered(tmp_path: Path) -> None:
    database = EmbeddedDatabase(tmp_path / "db", port=free_port())
    uri = database.start()
    api = Server(
        env=server_env(MONGODB_URI=uri, CHARGEGRAPH_DB="restarts"),
        args=[],
        log_path=tmp_path / "server.log",
    ).start()
    try:
        organization = create_organization(api, name="Resilient")
        connector = create_connector(api, organization["id"])
        with subscribed(api, {"ids": [connector["id"]]}) as connection:
            wait_for_subscribers(api, 1)
            database.stop()
            database.start()
            # Written straight away, before the server's stream has necessarily reconnected.
            client: MongoClient[dict[str, Any]] = MongoClient(uri)
            client.restarts.connectors.update_one(
                {"_id": ObjectId(connector["id"])}, {"$set": {"status": "Charging"}}
            )
            client.close()
            first = next_event(connection, timeout=30)
            data(api.query(SET_STATUS, {"id": connector["id"], "status": "FINISHING"}))
            second = next_event(connection, timeout=30)
        assert (first["previousStatus"], first["status"]) == ("AVAILABLE", "CHARGING")
        assert (second["previousStatus"], second["status"]) == ("CHARGING", "FINISHING")
    finally:
        api.stop()
        database.stop()


def test_shutdown_closes_subscriptions_and_the_embedded_database(tmp_path: Path) -> None:
    api = Server(
        env=server_env(),
        args=["--data-dir", str(tmp_path / "data")],
        log_path=tmp_path / "server.log",
    )
    api.start()
    assert api.process is not None
    children = Path(f"/proc/{api.process.pid}/task/{api.process.pid}/children").read_text().split()
    with subscribed(api, {}) as connection:
        wait_for_subscribers(api, 1)
        api.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                connection.recv(timeout=10)
    # 1012: "service restart", so clients reconnect (to another process).
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert api.stop() == 0
    assert "Application shutdown complete" in api.log()
    for child in children:
        assert (
            not Path(f"/proc/{child}").exists()
            or "zombie" in Path(f"/proc/{child}/status").read_text()
        )
