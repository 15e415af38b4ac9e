"""Faults, end to end: real server processes, a real database process, real fail points.

Each test starts its own database (SecantusDB with test commands, so
`configureFailPoint` works) and its own `chargegraph serve` process(es) on it,
breaks something the way production breaks, and checks what a user would
notice: error codes, HTTP statuses, readiness, and above all that a
subscriber who resumes with its cursor misses nothing and sees nothing twice.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient, UpdateOne
from websockets.exceptions import ConnectionClosed

from tests.support.faults import (
    BULKY,
    BULKY_QUERY,
    MARKER,
    STORED,
    Answer,
    Follower,
    Followers,
    Writer,
    chained,
    deployment,
    explained_by,
    fail_point,
    fail_point_off,
    handshaken,
    post,
    readiness,
    rss_bytes,
    running_server,
    send_signal,
    wait_until,
)
from tests.support.live import (
    RESUMABLE,
    SET_STATUS,
    SUBSCRIPTION,
    health,
    next_event,
    set_status,
    start,
    subscribed,
    subscription_error,
    wait_for_subscribers,
)
from tests.support.server import (
    children_of,
    create_connector,
    create_organization,
    data,
)

ORGANIZATION_QUERY = "query($id: ID!) { organization(id: $id) { id name } }"
ORGANIZATIONS_QUERY = "{ organizations(first: 5) { edges { node { id name } } } }"
CONNECTOR_QUERY = "query($id: ID!) { connector(id: $id) { id status power } }"
UPDATE_CONNECTOR = (
    "mutation($id: ID!, $input: UpdateConnectorInput!) "
    "{ updateConnector(id: $id, input: $input) { power } }"
)


def assert_unavailable(answer: Answer) -> None:
    """What a client sees of a database that cannot serve: a coded error it can retry."""
    assert answer.status == 503, answer
    assert answer.headers.get("retry-after") == "2", answer.headers
    assert len(answer.body["errors"]) == 1, answer.body
    extensions = answer.body["errors"][0]["extensions"]
    assert extensions == {"code": "SERVICE_UNAVAILABLE", "retryAfter": 2}, answer.body


def event_pair(event: dict[str, Any]) -> tuple[str | None, str]:
    return event["previousStatus"], event["status"]


# ------------------------------------------------------------- 1. history lost


def test_history_lost_ends_subscriptions_and_resumes_and_later_ones_work(tmp_path: Path) -> None:
    """(a) The hub's stream loses its history: its subscribers end with STATUS_HISTORY_LOST and
    new ones work. (b) A resume whose history is gone ends at once; it works once it is back."""
    with deployment(tmp_path) as running:
        database, api = running.database, running.api
        organization = create_organization(api, name="History Lost")
        connector = create_connector(api, organization["id"])
        watched = {"org": organization["id"]}
        # (a)
        with subscribed(api, watched, query=RESUMABLE) as watching:
            wait_for_subscribers(api, 1)
            set_status(api, connector["id"], "CHARGING")
            seen = next_event(watching)
            # The hub's next getMore: the database says the history after its token is gone.
            fail_point(database.uri, ["getMore"], 286)
            ended = subscription_error(watching)
        assert ended["extensions"]["code"] == "STATUS_HISTORY_LOST", ended
        wait_for_subscribers(api, 0)
        # As told: subscribe again with includeCurrent, and changes flow again.
        with subscribed(api, {**watched, "current": True}, query=RESUMABLE) as again:
            snapshot = next_event(again)
            wait_for_subscribers(api, 1)
            set_status(api, connector["id"], "FAULTED")
            later = next_event(again)
        wait_for_subscribers(api, 0)
        # (b) Away since `seen`; the replay's change stream cannot be opened.
        resume = {**watched, "after": seen["cursor"]}
        with handshaken(api) as connection:
            fail_point(database.uri, ["aggregate"], 286)
            start(connection, "1", resume, RESUMABLE)
            refused = subscription_error(connection, timeout=5)
        wait_for_subscribers(api, 0)
        # The same cursor works once the database has the history again.
        with subscribed(api, resume, query=RESUMABLE) as resumed:
            replayed = next_event(resumed)
            wait_for_subscribers(api, 1)
            set_status(api, connector["id"], "AVAILABLE")
            live = next_event(resumed)
    assert (snapshot["initial"], snapshot["status"]) == (True, "CHARGING")
    assert (later["initial"], *event_pair(later)) == (False, "CHARGING", "FAULTED")
    assert refused["extensions"]["code"] == "STATUS_HISTORY_LOST", refused
    assert event_pair(replayed) == ("CHARGING", "FAULTED")
    assert event_pair(live) == ("FAULTED", "AVAILABLE")


# ------------------------------------------------------ 2. database crash


def test_a_database_crash_loses_no_acknowledged_change_for_any_subscriber(
    tmp_path: Path,
) -> None:
    """50 dashboards follow an organization while a tool writes 50 statuses a second straight
    into MongoDB (journaled) and the database is SIGKILLed and restarted on its data.

    An acknowledged change must reach every dashboard exactly once, in order per connector.
    A write that raised may or may not have been applied (the crash may come after the commit
    and before the answer): it may appear, once and at its place, or not at all. Nothing else
    may appear. A dashboard that is ended meanwhile resumes with its last cursor.
    """
    with deployment(tmp_path) as running:
        database, api = running.database, running.api
        organization = create_organization(api, name="Crash Survivors")
        ids = [create_connector(api, organization["id"])["id"] for _ in range(5)]
        followers = [Follower(api.ws_url, organization["id"], len(ids)) for _ in range(50)]
        group = Followers(followers, timeout=90).start()
        writer = Writer(database.uri, "faults", ids, interval=0.1)
        try:
            wait_until(lambda: all(f.cursor for f in followers), 30, "every follower's snapshot")
            wait_for_subscribers(api, len(followers))
            writer.start()
            wait_until(lambda: writer.acknowledged >= 50, 30, "writes before the crash")
            send_signal(database.pid, signal.SIGKILL)
            wait_until(lambda: not database.running(), 10, "the database to die")
            wait_until(lambda: writer.failed >= 3, 15, "writes to fail")
            database.start()
            restarted = writer.acknowledged
            wait_until(lambda: writer.acknowledged >= restarted + 50, 30, "writes after it")
            writer.finish()
            group.join()
        finally:
            writer.halt()
            group.stop()
    assert writer.failed >= 3
    for number, follower in enumerate(followers):
        received = follower.statuses()
        assert set(received) <= set(ids)
        for connector_id, writes in writer.written.items():
            changes = received.get(connector_id, [])
            statuses = [status for _, status in changes]
            assert explained_by(statuses, writes), (
                f"follower {number} (ended: {follower.endings}), connector {connector_id}: "
                f"received {statuses}, written {[(w.status, w.changed) for w in writes]}"
            )
            assert chained(changes, "AVAILABLE"), (number, changes)
        assert len({event.cursor for event in follower.events}) == len(follower.events)
        # Ended only by the fault, never by a bug (an INTERNAL_SERVER_ERROR, a refused cursor).
        assert set(follower.endings) <= {
            "STATUS_HISTORY_LOST",
            "SERVICE_UNAVAILABLE",
            "ConnectionClosedError",
            "ConnectionClosedOK",
        }, follower.endings


# ------------------------------------------------------- 3. database paused


def test_a_paused_database_answers_unavailable_fast_and_subscriptions_survive(
    tmp_path: Path,
) -> None:
    """The database stops answering (SIGSTOP): queries and /readyz answer while it is still
    stopped, the ones that need it with a coded "unavailable", the ones the index serves
    normally; and the subscription carries on once it is back.

    Checked by order, not by time: the database is resumed only once both answers are in
    (or after a long safety stop, when the server never answers), and every answer must
    come before the resume. It stays stopped at least `pause`, so the subscription lives
    through a real outage."""
    pause = 10.0
    # Only so a server that never answers cannot hang the test: not a time limit on answers.
    safety = 120.0
    with deployment(tmp_path) as running:
        database, api = running.database, running.api
        organization = create_organization(api, name="Paused")
        connector = create_connector(api, organization["id"])
        with subscribed(api, {"org": organization["id"]}, query=RESUMABLE) as watching:
            wait_for_subscribers(api, 1)
            set_status(api, connector["id"], "CHARGING")
            next_event(watching)
            # What happened, in the order it happened.
            happened: list[tuple[str, Any]] = []
            lock = threading.Lock()

            def note(what: str, value: Any) -> None:
                with lock:
                    happened.append((what, value))

            def ask() -> None:
                # The page of organizations is read from the database; the connector from
                # the process's connector index and the organization by id from its
                # organizations replica, which need no database to answer.
                for query, variables in (
                    (ORGANIZATIONS_QUERY, {}),
                    (CONNECTOR_QUERY, {"id": connector["id"]}),
                    (ORGANIZATION_QUERY, {"id": organization["id"]}),
                ):
                    note("answer", post(api, query, variables))

            def check_ready() -> None:
                note("ready", readiness(api))

            send_signal(database.pid, signal.SIGSTOP)
            stopped_at = time.monotonic()
            threads = [threading.Thread(target=target) for target in (ask, check_ready)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(max(0.0, stopped_at + safety - time.monotonic()))
            # The outage lasts at least `pause`, whatever the answers.
            time.sleep(max(0.0, stopped_at + pause - time.monotonic()))
            note("resumed", None)
            send_signal(database.pid, signal.SIGCONT)
            for thread in threads:
                thread.join(60)
            wait_until(lambda: readiness(api) == 200, 30, "/readyz to answer 200 again")
            set_status(api, connector["id"], "FAULTED")
            after = next_event(watching, timeout=30)
    assert event_pair(after) == ("CHARGING", "FAULTED")
    order = [what for what, _ in happened]
    during = happened[: order.index("resumed")]
    answered = [value for what, value in during if what == "answer"]
    readied = [value for what, value in during if what == "ready"]
    assert len(answered) == 3 and readied == [503], (
        f"not everything answered while the database was stopped: {happened}"
    )
    assert_unavailable(answered[0])
    served = answered[1]
    assert served.status == 200, served
    assert served.body["data"]["connector"]["status"] == "CHARGING"
    held = answered[2]
    assert held.status == 200, held
    assert held.body["data"]["organization"] == {"id": organization["id"], "name": "Paused"}


# ------------------------------------------- 4. interrupted stream, failed writes


def test_an_interrupted_stream_resumes_and_refused_writes_change_nothing(tmp_path: Path) -> None:
    """A getMore fails with a network error: the hub resumes, the subscriber misses nothing.
    Then every write fails with "not primary": mutations answer SERVICE_UNAVAILABLE (503)."""
    with deployment(tmp_path) as running:
        database, api = running.database, running.api
        organization = create_organization(api, name="Blip")
        connector = create_connector(api, organization["id"])
        client: MongoClient[dict[str, Any]] = MongoClient(database.uri, journal=True)
        with subscribed(api, {"org": organization["id"]}, query=RESUMABLE) as watching:
            wait_for_subscribers(api, 1)
            set_status(api, connector["id"], "CHARGING")
            first = next_event(watching)
            restarts = health(api)["stream_restarts"]
            fail_point(database.uri, ["getMore"], 6)  # HostUnreachable: worth resuming
            # Written while the stream is (about to be) interrupted.
            client.faults.connectors.update_one(
                {"_id": ObjectId(connector["id"])}, {"$set": {"status": "Faulted"}}
            )
            wait_until(
                lambda: health(api)["stream_restarts"] > restarts, 15, "the stream to resume"
            )
            set_status(api, connector["id"], "AVAILABLE")
            events = [first, next_event(watching, 15), next_event(watching, 15)]

            stored = client.faults.connectors.find_one({"_id": ObjectId(connector["id"])})
            # NotPrimary / ShutdownInProgress on every write, so the driver's retry fails too.
            fail_point(database.uri, ["update", "findAndModify"], 91, "alwaysOn")
            try:
                # Both at once: each waits out the driver's retry.
                with ThreadPoolExecutor(2) as pool:
                    asked = pool.submit(
                        post, api, SET_STATUS, {"id": connector["id"], "status": "CHARGING"}
                    )
                    update = post(
                        api, UPDATE_CONNECTOR, {"id": connector["id"], "input": {"power": 22.0}}
                    )
                    status = asked.result()
            finally:
                fail_point_off(database.uri)
            unchanged = client.faults.connectors.find_one({"_id": ObjectId(connector["id"])})
            # The driver takes the "not primary" answers for a stepdown and looks for a primary
            # again (with a fail point rather than a real stepdown, until its next heartbeat).
            wait_until(lambda: readiness(api) == 200, 30, "/readyz to answer 200 again")
            # Nothing was announced either: the next event is the next real change.
            set_status(api, connector["id"], "PREPARING")
            following = next_event(watching)
        client.close()
    assert [event_pair(event) for event in events] == [
        ("AVAILABLE", "CHARGING"),
        ("CHARGING", "FAULTED"),
        ("FAULTED", "AVAILABLE"),
    ]
    assert len({event["cursor"] for event in events}) == 3
    assert_unavailable(status)
    assert_unavailable(update)
    assert unchanged == stored
    assert event_pair(following) == ("AVAILABLE", "PREPARING")


# ------------------------------------------------------ 5. server killed


def test_a_subscriber_of_a_killed_server_resumes_on_another_without_loss(
    tmp_path: Path,
) -> None:
    with deployment(tmp_path, servers=2) as running:
        database, (first, second) = running.database, running.servers
        organization = create_organization(first, name="Failover")
        ids = [create_connector(first, organization["id"])["id"] for _ in range(3)]
        writer = Writer(database.uri, "faults", ids, interval=0.05)
        received: dict[str, list[tuple[str | None, str]]] = {i: [] for i in ids}
        cursors: list[str] = []

        def record(event: dict[str, Any]) -> None:
            received[event["connector"]["id"]].append(event_pair(event))
            cursors.append(event["cursor"])

        variables = {"org": organization["id"], "current": True}
        with subscribed(first, variables, query=RESUMABLE) as watching:
            cursor = [next_event(watching) for _ in ids][-1]["cursor"]
            wait_for_subscribers(first, 1)
            writer.start()
            try:
                with pytest.raises(ConnectionClosed):
                    while True:
                        event = next_event(watching)
                        record(event)
                        cursor = event["cursor"]
                        if len(cursors) == 20:
                            send_signal(
                                first.process.pid if first.process else None, signal.SIGKILL
                            )
                first.stop()
                seen_on_first = len(cursors)
                resume = {"org": organization["id"], "after": cursor}
                with subscribed(second, resume, query=RESUMABLE) as again:
                    moved = writer.acknowledged
                    wait_until(lambda: writer.acknowledged >= moved + 20, 30, "more writes")
                    writer.finish()
                    while not all(
                        changes and changes[-1][1] == MARKER for changes in received.values()
                    ):
                        record(next_event(again))
            finally:
                writer.halt()
    assert writer.failed == 0
    assert seen_on_first >= 20
    assert {i: [status for _, status in changes] for i, changes in received.items()} == (
        writer.certain()
    )
    assert all(chained(changes, "AVAILABLE") for changes in received.values()), received
    assert len(set(cursors)) == len(cursors)


# ---------------------------------------------------------- 6. stuck client


def test_a_stuck_client_is_dropped_and_memory_stays_bounded(tmp_path: Path) -> None:
    with deployment(tmp_path, CHARGEGRAPH_SUBSCRIBER_QUEUE="20") as running:
        database, api = running.database, running.api
        assert api.process is not None
        organization = create_organization(api, name="Stuck")
        ids = [create_connector(api, organization["id"])["id"] for _ in range(10)]
        event_size = len(json.dumps(data(post(api, BULKY_QUERY, {"id": ids[0]}).body)))
        client: MongoClient[dict[str, Any]] = MongoClient(database.uri)
        statuses = ["CHARGING", "AVAILABLE"]
        written = 0
        with (
            subscribed(api, {"org": organization["id"]}) as fast,
            subscribed(api, {"org": organization["id"]}, 4096, BULKY) as stuck,
        ):
            wait_for_subscribers(api, 2)
            before = rss_bytes(api.process.pid)
            deadline = time.monotonic() + 60
            round_ = 0
            # Far more than 100 MB for the stuck client, unless it is dropped first.
            while (
                health(api)["dropped_slow"] == 0
                and written * event_size < 300_000_000
                and time.monotonic() < deadline
            ):
                status = statuses[round_ % 2]
                client.faults.connectors.bulk_write(
                    [
                        UpdateOne({"_id": ObjectId(i)}, {"$set": {"status": STORED[status]}})
                        for i in ids
                    ]
                )
                got = [next_event(fast) for _ in ids]
                assert sorted(event["connector"]["id"] for event in got) == sorted(ids)
                assert {event["status"] for event in got} == {status}
                written += len(ids)
                round_ += 1
            after = rss_bytes(api.process.pid)
            dropped = health(api)["dropped_slow"]
            # The fast one still receives every change.
            set_status(api, ids[0], "FAULTED")
            last = next_event(fast)
            sent = f"{written} events ({written * event_size / 1e6:.0f} MB) for the stuck client"
            assert after - before < 100_000_000, f"RSS {before} -> {after} bytes after {sent}"
            assert dropped == 1, f"not dropped after {sent}"
            # The stuck client, reading at last, finds out why it was ended.
            ended = subscription_error(stuck)
        client.close()
    assert ended["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW", ended
    assert last["status"] == "FAULTED"


# ------------------------------------------------- 7. SIGTERM, database gone


def test_sigterm_with_the_database_gone_closes_subscriptions_and_exits(tmp_path: Path) -> None:
    with deployment(tmp_path) as running:
        database, api = running.database, running.api
        assert api.process is not None
        with subscribed(api, {}) as watching:
            wait_for_subscribers(api, 1)
            send_signal(database.pid, signal.SIGKILL)
            wait_until(lambda: readiness(api) == 503, 15, "/readyz to notice")
            api.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    watching.recv(timeout=15)
            status = api.process.wait(timeout=15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012, closed.value
    assert status == 0


# ---------------------------------------------- 8. embedded database watched


def test_the_embedded_database_is_restarted_when_it_dies(tmp_path: Path) -> None:
    """No MONGODB_URI: the server owns its database process and restarts it on its data."""
    with running_server(tmp_path, args=["--data-dir", str(tmp_path / "data")]) as api:
        process = api.process
        assert process is not None
        organization = create_organization(api, name="Watched")
        connector = create_connector(api, organization["id"])
        (database_pid,) = children_of(process.pid)
        # Every answer while the database is down: (asked, answered: seconds after the
        # kill; what; HTTP status).
        seen: list[tuple[float, float, str, int]] = []
        stop = threading.Event()

        def observe() -> None:
            while not stop.is_set():
                asked = time.monotonic() - killed_at
                status = readiness(api)
                seen.append((asked, time.monotonic() - killed_at, "/readyz", status))
                asked = time.monotonic() - killed_at
                answer = post(api, CONNECTOR_QUERY, {"id": connector["id"]})
                codes = sorted(e["extensions"]["code"] for e in answer.body.get("errors", []))
                what = f"query {codes}" if codes else "query"
                seen.append((asked, time.monotonic() - killed_at, what, answer.status))

        with subscribed(api, {"ids": [connector["id"]]}, query=SUBSCRIPTION) as watching:
            wait_for_subscribers(api, 1)
            send_signal(database_pid, signal.SIGKILL)
            killed_at = time.monotonic()
            observer = threading.Thread(target=observe)
            observer.start()
            try:
                wait_until(
                    lambda: children_of(process.pid) not in ([], [database_pid]),
                    30,
                    "a new database process",
                )
                wait_until(lambda: readiness(api) == 200, 30, "/readyz to answer 200 again")
            finally:
                stop.set()
                observer.join(60)
            found = data(post(api, CONNECTOR_QUERY, {"id": connector["id"]}).body)
            set_status(api, connector["id"], "CHARGING")
            after = next_event(watching, timeout=30)
    assert found["connector"] == {"id": connector["id"], "status": "AVAILABLE", "power": 7.2}
    assert (after["previousStatus"], after["status"]) == ("AVAILABLE", "CHARGING")
    # Nothing failed otherwise than as "unavailable" ...
    assert all(
        (what, status) in {("/readyz", 200), ("/readyz", 503), ("query", 200)}
        or (what, status) == ("query ['SERVICE_UNAVAILABLE']", 503)
        for _, _, what, status in seen
    ), seen
    # ... and the outage was told, as `Database.watch_embedded` promises: "meanwhile requests
    # answer SERVICE_UNAVAILABLE and /readyz says not ready".
    assert any(status == 503 for *_, status in seen), (
        "the outage never showed; (asked, answered, what), every answer 200: "
        f"{[(round(asked, 2), round(answered, 2), what) for asked, answered, what, _ in seen]}"
    )
