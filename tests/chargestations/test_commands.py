"""Operators command stations: reset, unlock, status requests and availability following `active`.

Real servers on the shared embedded database; stations are the `ocpp` package's own
ChargePoint classes (1.6 and 2.0.1) answering as each test tells them
(`tests.support.ocpp.CommandedStation16/201`). What is checked is what an operator sees
(the mutation's answer, `availabilityCommand`, the history) and what the station receives.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.access import ask, create_app_key, create_key
from tests.support.ocpp import (
    Version,
    boot,
    commanded,
    create_station,
    eventually,
    gql,
    station,
    station_endpoint,
)
from tests.support.server import (
    ADMIN_KEY,
    Server,
    create_connector,
    create_organization,
    data,
    error,
    metric,
    server_fixture,
)

TIMEOUT = 3  # CHARGEGRAPH_OCPP_COMMAND_TIMEOUT_SECONDS of both servers
VERSIONS: list[Version] = ["1.6", "2.0.1"]

server = server_fixture(
    "The module's server, with a short command timeout.",
    CHARGEGRAPH_OCPP_COMMAND_TIMEOUT_SECONDS=str(TIMEOUT),
    CHARGEGRAPH_OCPP_HEARTBEAT_SECONDS="2",
)
other_server = server_fixture(
    "A second process on the same database: mutations there reach stations connected here.",
    CHARGEGRAPH_OCPP_COMMAND_TIMEOUT_SECONDS=str(TIMEOUT),
    CHARGEGRAPH_OCPP_HEARTBEAT_SECONDS="2",
)

COMMAND_FIELDS = """
    id action status stationAnswer reason operative resetType requestedBy requestedAt answeredAt
    chargestation { id } connector { id }
"""
RESET = f"""
mutation($id: ID!, $type: ResetType) {{
  resetChargestation(id: $id, type: $type) {{ {COMMAND_FIELDS} }}
}}
"""
UNLOCK = f"mutation($id: ID!) {{ unlockConnector(id: $id) {{ {COMMAND_FIELDS} }} }}"
STATUS_REPORT = f"mutation($id: ID!) {{ requestStatusReport(id: $id) {{ {COMMAND_FIELDS} }} }}"
SET_ACTIVE = f"""
mutation($id: ID!, $active: Boolean!) {{
  updateConnector(id: $id, input: {{ active: $active }}) {{
    id active availabilityCommand {{ {COMMAND_FIELDS} }}
  }}
}}
"""
SET_STATION_ACTIVE = f"""
mutation($id: ID!, $active: Boolean!) {{
  updateChargestation(id: $id, input: {{ active: $active }}) {{
    id active availabilityCommand {{ {COMMAND_FIELDS} }}
  }}
}}
"""
AVAILABILITY = f"""
query($id: ID!) {{ connector(id: $id) {{ status availabilityCommand {{ {COMMAND_FIELDS} }} }} }}
"""
HISTORY = f"""
query($id: ID!, $first: Int, $after: String) {{
  chargestation(id: $id) {{
    commands(first: $first, after: $after) {{
      totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {COMMAND_FIELDS} }} }}
    }}
  }}
}}
"""


@pytest.fixture(scope="module")
def organization(server: Server) -> dict[str, Any]:
    return create_organization(server, name="Commanded Stations B.V.")


async def station_with_connector(
    server: Server, organization: dict[str, Any], ocpp_id: int = 2
) -> tuple[dict[str, Any], dict[str, Any]]:
    created = await create_station(server, organization["id"], station_endpoint("CMD"))
    connector = await asyncio.to_thread(
        create_connector,
        server,
        organization["id"],
        ocppId=ocpp_id,
        chargestationId=created["id"],
    )
    return created, connector


async def command(
    server: Server, query: str, variables: dict[str, Any], name: str
) -> dict[str, Any]:
    answer: dict[str, Any] = (await gql(server, query, variables))[name]
    return answer


def nothing_pending(db: Database[dict[str, Any]], station_id: str) -> bool:
    return (
        db.station_commands.count_documents({"station": ObjectId(station_id), "status": "PENDING"})
        == 0
    )


# ------------------------------------------------------------------ answers, both versions


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("behaviour", "status", "station_answer"),
    [
        ("Accepted", "ACCEPTED", "Accepted"),
        ("Rejected", "REJECTED", "Rejected"),
        ("error:NotImplemented", "NOT_SUPPORTED", None),
        ("error:NotSupported", "NOT_SUPPORTED", None),
        ("error:InternalError", "FAILED", None),
        ("garbage", "FAILED", None),
        ("silent", "TIMEOUT", None),
    ],
)
async def test_reset_ends_as_the_station_answers(
    server: Server,
    organization: dict[str, Any],
    db: Database[dict[str, Any]],
    version: Version,
    behaviour: str,
    status: str,
    station_answer: str | None,
) -> None:
    created, _ = await station_with_connector(server, organization)
    async with station(server, created["endpoint"], version, charge_point=commanded(version)) as cs:
        cs.cp.behaviour["Reset"] = behaviour  # type: ignore[union-attr]
        result = await command(
            server, RESET, {"id": created["id"], "type": "HARD"}, "resetChargestation"
        )
        assert (result["status"], result["stationAnswer"]) == (status, station_answer)
        assert (result["action"], result["resetType"], result["requestedBy"]) == (
            "Reset",
            "HARD",
            "admin",
        )
        assert result["chargestation"] == {"id": created["id"]} and result["connector"] is None
        assert result["answeredAt"] is not None
        if status in ("FAILED", "TIMEOUT"):
            assert result["reason"], result
        # The station received the reset its version names.
        expected = {"type": "Hard"} if version == "1.6" else {"type": "Immediate"}
        assert cs.cp.received == [("Reset", expected)]  # type: ignore[union-attr]
        if behaviour in ("garbage", "error:InternalError"):
            # The connection is still usable: the next command is answered.
            cs.cp.behaviour["Reset"] = "Accepted"  # type: ignore[union-attr]
            again = await command(server, RESET, {"id": created["id"]}, "resetChargestation")
            assert (again["status"], again["resetType"]) == ("ACCEPTED", "SOFT")
    assert nothing_pending(db, created["id"])


@pytest.mark.parametrize("version", VERSIONS)
async def test_unlock_names_the_connector_and_keeps_the_stations_words(
    server: Server, organization: dict[str, Any], version: Version
) -> None:
    created, connector = await station_with_connector(server, organization, ocpp_id=3)
    async with station(server, created["endpoint"], version, charge_point=commanded(version)) as cs:
        cs.cp.behaviour["UnlockConnector"] = "Unlocked"  # type: ignore[union-attr]
        unlocked = await command(server, UNLOCK, {"id": connector["id"]}, "unlockConnector")
        assert (unlocked["status"], unlocked["stationAnswer"]) == ("ACCEPTED", "Unlocked")
        assert unlocked["connector"] == {"id": connector["id"]}
        cs.cp.behaviour["UnlockConnector"] = "UnlockFailed"  # type: ignore[union-attr]
        failed = await command(server, UNLOCK, {"id": connector["id"]}, "unlockConnector")
        assert (failed["status"], failed["stationAnswer"]) == ("REJECTED", "UnlockFailed")
        expected = {"connector_id": 3} if version == "1.6" else {"evse_id": 3, "connector_id": 1}
        assert cs.cp.received == [("UnlockConnector", expected)] * 2  # type: ignore[union-attr]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_status_report_request_brings_fresh_statuses(
    server: Server, organization: dict[str, Any], version: Version
) -> None:
    created, connector = await station_with_connector(server, organization, ocpp_id=1)
    reported = "Charging" if version == "1.6" else "Occupied"
    async with station(server, created["endpoint"], version, charge_point=commanded(version)) as cs:
        cs.cp.reports[1] = reported  # type: ignore[union-attr]
        result = await command(server, STATUS_REPORT, {"id": created["id"]}, "requestStatusReport")
        assert (result["action"], result["status"]) == ("TriggerMessage", "ACCEPTED")
        assert cs.cp.received == [("TriggerMessage", {"requested_message": "StatusNotification"})]  # type: ignore[union-attr]
        # The report that follows updates the connector as any report does.
        await eventually(
            lambda: gql(server, AVAILABILITY, {"id": connector["id"]}),
            lambda found: found["connector"]["status"] == reported.upper(),
        )


# ------------------------------------------------------------------ availability follows `active`


async def availability_ends(server: Server, connector_id: str) -> dict[str, Any]:
    """The connector's latest availability command, once the station has answered it."""
    found = await eventually(
        lambda: gql(server, AVAILABILITY, {"id": connector_id}),
        lambda found: found["connector"]["availabilityCommand"]["status"] != "PENDING",
    )
    shown: dict[str, Any] = found["connector"]["availabilityCommand"]
    return shown


@pytest.mark.parametrize("version", VERSIONS)
async def test_active_is_sent_as_availability(
    server: Server, organization: dict[str, Any], version: Version
) -> None:
    created, connector = await station_with_connector(server, organization, ocpp_id=2)
    async with station(server, created["endpoint"], version, charge_point=commanded(version)) as cs:
        cs.cp.behaviour["ChangeAvailability"] = "Scheduled"  # type: ignore[union-attr]
        off = (await gql(server, SET_ACTIVE, {"id": connector["id"], "active": False}))[
            "updateConnector"
        ]
        # The write answers at once; the station's answer follows.
        assert off["active"] is False
        assert (off["availabilityCommand"]["action"], off["availabilityCommand"]["operative"]) == (
            "ChangeAvailability",
            False,
        )
        shown = await availability_ends(server, connector["id"])
        assert (shown["operative"], shown["status"], shown["stationAnswer"]) == (
            False,
            "SCHEDULED",
            "Scheduled",
        )
        assert shown["connector"] == {"id": connector["id"]} and shown["requestedBy"] == "admin"
        cs.cp.behaviour["ChangeAvailability"] = "Accepted"  # type: ignore[union-attr]
        await gql(server, SET_ACTIVE, {"id": connector["id"], "active": True})
        await eventually(
            lambda: availability_ends(server, connector["id"]),
            lambda shown: (shown["operative"], shown["status"]) == (True, "ACCEPTED"),
        )
        # Writing the same value again sends nothing: the station already agrees.
        again = await gql(server, SET_ACTIVE, {"id": connector["id"], "active": True})
        assert (
            again["updateConnector"]["availabilityCommand"]["id"]
            == (await availability_ends(server, connector["id"]))["id"]
        )
        if version == "1.6":
            expected = [
                {"connector_id": 2, "type": "Inoperative"},
                {"connector_id": 2, "type": "Operative"},
            ]
        else:
            expected = [
                {"operational_status": "Inoperative", "evse": {"id": 2}},
                {"operational_status": "Operative", "evse": {"id": 2}},
            ]
        assert [payload for _, payload in cs.cp.received] == expected  # type: ignore[union-attr]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_station_offline_when_deactivated_is_told_at_its_next_boot(
    server: Server, organization: dict[str, Any], version: Version
) -> None:
    created, connector = await station_with_connector(server, organization, ocpp_id=1)
    off = (await gql(server, SET_ACTIVE, {"id": connector["id"], "active": False}))[
        "updateConnector"
    ]
    assert off["availabilityCommand"]["status"] == "OFFLINE"
    async with station(server, created["endpoint"], version, charge_point=commanded(version)) as cs:
        assert cs.cp.received == []  # type: ignore[union-attr]
        await boot(cs, version)
        await eventually(
            lambda: gql(server, AVAILABILITY, {"id": connector["id"]}),
            lambda found: found["connector"]["availabilityCommand"]["status"] == "ACCEPTED",
        )
        shown = (await gql(server, AVAILABILITY, {"id": connector["id"]}))["connector"][
            "availabilityCommand"
        ]
        assert (shown["operative"], shown["requestedBy"]) == (False, "reconciliation")
        assert [action for action, _ in cs.cp.received] == ["ChangeAvailability"]  # type: ignore[union-attr]
        # A second boot finds the station in line: nothing more is sent.
        await boot(cs, version)
        await asyncio.sleep(0.5)
        assert len(cs.cp.received) == 1  # type: ignore[union-attr]


async def test_deactivating_a_station_makes_it_inoperative_and_reactivation_undoes_it(
    server: Server, organization: dict[str, Any]
) -> None:
    created, _ = await station_with_connector(server, organization)
    async with station(server, created["endpoint"], "1.6", charge_point=commanded("1.6")) as cs:
        await boot(cs, "1.6")
        off = (await gql(server, SET_STATION_ACTIVE, {"id": created["id"], "active": False}))[
            "updateChargestation"
        ]
        assert off["active"] is False and off["availabilityCommand"]["operative"] is False
        # Told first, then its connection is ended (an inactive station is not admitted).
        await asyncio.wait_for(cs.ws.wait_closed(), 15)
        assert cs.cp.received == [  # type: ignore[union-attr]
            ("ChangeAvailability", {"connector_id": 0, "type": "Inoperative"})
        ]
    shown = (await gql(server, SET_STATION_ACTIVE, {"id": created["id"], "active": True}))[
        "updateChargestation"
    ]["availabilityCommand"]
    assert (shown["operative"], shown["status"], shown["connector"]) == (False, "ACCEPTED", None)
    async with station(server, created["endpoint"], "1.6", charge_point=commanded("1.6")) as cs:
        await boot(cs, "1.6")
        await eventually(
            lambda: asyncio.sleep(0, result=list(cs.cp.received)),  # type: ignore[union-attr]
            lambda received: (
                received == [("ChangeAvailability", {"connector_id": 0, "type": "Operative"})]
            ),
        )


# ------------------------------------------------------------------ offline, queueing, closing


async def test_a_station_that_is_not_connected_answers_offline_at_once(
    server: Server, organization: dict[str, Any], db: Database[dict[str, Any]]
) -> None:
    created, connector = await station_with_connector(server, organization)
    for query, variables, name in (
        (RESET, {"id": created["id"]}, "resetChargestation"),
        (UNLOCK, {"id": connector["id"]}, "unlockConnector"),
        (STATUS_REPORT, {"id": created["id"]}, "requestStatusReport"),
    ):
        result = await command(server, query, variables, name)
        assert (result["status"], result["answeredAt"] is not None) == ("OFFLINE", True)
        assert result["reason"] == "the station is not connected"
    assert nothing_pending(db, created["id"])


async def test_two_commands_at_once_are_queued_and_each_gets_its_own_answer(
    server: Server, organization: dict[str, Any]
) -> None:
    created, connector = await station_with_connector(server, organization, ocpp_id=4)
    async with station(server, created["endpoint"], "2.0.1", charge_point=commanded("2.0.1")) as cs:
        cs.cp.behaviour.update(Reset="Rejected", UnlockConnector="Unlocked")  # type: ignore[union-attr]
        reset, unlock = await asyncio.gather(
            command(server, RESET, {"id": created["id"]}, "resetChargestation"),
            command(server, UNLOCK, {"id": connector["id"]}, "unlockConnector"),
        )
        assert (reset["status"], reset["stationAnswer"]) == ("REJECTED", "Rejected")
        assert (unlock["status"], unlock["stationAnswer"]) == ("ACCEPTED", "Unlocked")
        assert sorted(action for action, _ in cs.cp.received) == ["Reset", "UnlockConnector"]  # type: ignore[union-attr]


async def test_a_station_closing_mid_command_fails_it_and_the_next_connection_works(
    server: Server, organization: dict[str, Any], db: Database[dict[str, Any]]
) -> None:
    created, _ = await station_with_connector(server, organization)
    async with station(server, created["endpoint"], "1.6", charge_point=commanded("1.6")) as cs:
        cs.cp.behaviour["Reset"] = "close"  # type: ignore[union-attr]
        result = await command(server, RESET, {"id": created["id"]}, "resetChargestation")
        assert result["status"] == "FAILED" and "closed" in result["reason"], result
    async with station(server, created["endpoint"], "1.6", charge_point=commanded("1.6")):
        again = await command(server, RESET, {"id": created["id"]}, "resetChargestation")
        assert again["status"] == "ACCEPTED"
    assert nothing_pending(db, created["id"])


# ------------------------------------------------------------------ any process


async def test_a_command_asked_of_another_process_reaches_the_station(
    server: Server, other_server: Server, organization: dict[str, Any], db: Database[dict[str, Any]]
) -> None:
    created, connector = await station_with_connector(server, organization, ocpp_id=2)
    async with station(server, created["endpoint"], "2.0.1", charge_point=commanded("2.0.1")) as cs:
        cs.cp.behaviour["UnlockConnector"] = "Unlocked"  # type: ignore[union-attr]
        unlocked = await command(other_server, UNLOCK, {"id": connector["id"]}, "unlockConnector")
        assert (unlocked["status"], unlocked["stationAnswer"]) == ("ACCEPTED", "Unlocked")
        # Availability, from the other process, too; and the station got each exactly once.
        await gql(other_server, SET_ACTIVE, {"id": connector["id"], "active": False})
        assert (await availability_ends(other_server, connector["id"]))["status"] == "ACCEPTED"
        assert [action for action, _ in cs.cp.received] == ["UnlockConnector", "ChangeAvailability"]  # type: ignore[union-attr]
        # Silence is a TIMEOUT there as here, and leaves nothing pending.
        cs.cp.behaviour["Reset"] = "silent"  # type: ignore[union-attr]
        silent = await command(other_server, RESET, {"id": created["id"]}, "resetChargestation")
        assert silent["status"] == "TIMEOUT"
    assert nothing_pending(db, created["id"])
    assert (
        metric(
            other_server,
            "chargegraph_ocpp_commands_total",
            action="UnlockConnector",
            status="ACCEPTED",
        )
        >= 1
    )


async def test_the_requester_ends_a_command_whose_holder_died(
    mongo_uri: str,
    db_name: str,
    tmp_path_factory: pytest.TempPathFactory,
    server: Server,
    organization: dict[str, Any],
    db: Database[dict[str, Any]],
) -> None:
    from tests.support.server import module_server

    created, _ = await station_with_connector(server, organization)
    with module_server(
        mongo_uri, db_name, tmp_path_factory, CHARGEGRAPH_OCPP_COMMAND_TIMEOUT_SECONDS=str(TIMEOUT)
    ) as holder:
        async with station(holder, created["endpoint"], "1.6", charge_point=commanded("1.6")) as cs:
            cs.cp.behaviour["Reset"] = "silent"  # type: ignore[union-attr]
            asked = asyncio.create_task(
                command(server, RESET, {"id": created["id"]}, "resetChargestation")
            )
            await eventually(
                lambda: asyncio.sleep(0, result=len(cs.cp.received)),  # type: ignore[union-attr]
                lambda count: count == 1,
            )
            assert holder.process is not None
            os.kill(holder.process.pid, signal.SIGKILL)
            result = await asyncio.wait_for(asked, 30)
    assert result["status"] == "TIMEOUT"
    assert nothing_pending(db, created["id"])


async def test_commands_left_pending_by_a_dead_requester_are_swept(
    server: Server, organization: dict[str, Any], db: Database[dict[str, Any]]
) -> None:
    created, _ = await station_with_connector(server, organization)
    past = datetime.now(UTC) - timedelta(minutes=5)
    stale = db.station_commands.insert_one(
        {
            "station": ObjectId(created["id"]),
            "organization": ObjectId(organization["id"]),
            "connector": None,
            "action": "Reset",
            "target": None,
            "operative": None,
            "resetType": "SOFT",
            "status": "PENDING",
            "requestedBy": "a process that died",
            "requestedAt": past,
            "answeredAt": None,
            "deadline": past,
            "sentBy": None,
        }
    ).inserted_id
    ended = await eventually(
        lambda: asyncio.to_thread(db.station_commands.find_one, {"_id": stale}),
        lambda doc: doc is not None and doc["status"] != "PENDING",
        within=20,
    )
    assert ended is not None
    assert ended["status"] == "TIMEOUT" and ended["answeredAt"] is not None


# ------------------------------------------------------------------ who may, and bad input


async def test_who_may_command_a_station(
    server: Server, organization: dict[str, Any], db: Database[dict[str, Any]]
) -> None:
    created, connector = await station_with_connector(server, organization)
    other = create_organization(server, name="Someone Else")
    own_key = create_key(server, organization["id"])
    other_key = create_key(server, other["id"])["key"]
    app_key = create_app_key(server, "Driver App")["key"]
    before = db.station_commands.count_documents({"station": ObjectId(created["id"])})
    refusals = {
        None: "UNAUTHENTICATED",
        app_key: "FORBIDDEN",
        other_key: "NOT_FOUND",
    }
    for key, code in refusals.items():
        for query, variables in (
            (RESET, {"id": created["id"]}),
            (UNLOCK, {"id": connector["id"]}),
            (STATUS_REPORT, {"id": created["id"]}),
        ):
            _, body = await asyncio.to_thread(ask, server, key, query, variables)
            refused = error(body)
            assert refused["extensions"]["code"] == code, (key, query, refused)
            if code == "NOT_FOUND":
                # Exactly what an unknown id gets: nothing tells the station exists.
                unknown_id = str(ObjectId())
                _, unknown = await asyncio.to_thread(ask, server, key, query, {"id": unknown_id})
                assert error(unknown)["extensions"] == refused["extensions"]
                assert error(unknown)["message"].replace(unknown_id, "?") == refused[
                    "message"
                ].replace(variables["id"], "?")
    assert db.station_commands.count_documents({"station": ObjectId(created["id"])}) == before
    # The station's own organization may, and the history names its key, never the key.
    _, body = await asyncio.to_thread(ask, server, own_key["key"], RESET, {"id": created["id"]})
    assert data(body)["resetChargestation"]["requestedBy"] == own_key["apiKey"]["name"]
    _, history = await asyncio.to_thread(
        ask, server, own_key["key"], HISTORY, {"id": created["id"]}
    )
    assert own_key["key"] not in str(history)
    # Another organization does not see the history.
    _, hidden = await asyncio.to_thread(ask, server, other_key, HISTORY, {"id": created["id"]})
    assert error(hidden)["extensions"]["code"] == "FORBIDDEN"


async def test_bad_ids_are_refused_naming_the_argument(
    server: Server, organization: dict[str, Any], db: Database[dict[str, Any]]
) -> None:
    before = db.station_commands.count_documents({})
    loose = create_connector(server, organization["id"])
    cases = [
        (RESET, {"id": "nope"}, "BAD_USER_INPUT"),
        (RESET, {"id": str(ObjectId())}, "NOT_FOUND"),
        (UNLOCK, {"id": str(ObjectId())}, "NOT_FOUND"),
        (UNLOCK, {"id": loose["id"]}, "BAD_USER_INPUT"),
        (STATUS_REPORT, {"id": str(ObjectId())}, "NOT_FOUND"),
    ]
    for query, variables, code in cases:
        _, body = await asyncio.to_thread(ask, server, ADMIN_KEY, query, variables)
        refused = error(body)
        assert (refused["extensions"]["code"], refused["extensions"]["field"]) == (code, "id"), (
            refused
        )
        assert refused["message"].startswith("id"), refused
    _, body = await asyncio.to_thread(
        ask, server, ADMIN_KEY, RESET, {"id": str(ObjectId()), "type": "GENTLE"}
    )
    unknown_type = error(body)
    assert unknown_type["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$type" in unknown_type["message"], unknown_type
    assert db.station_commands.count_documents({}) == before


async def test_the_history_is_newest_first_and_pages(
    server: Server, organization: dict[str, Any]
) -> None:
    created, connector = await station_with_connector(server, organization)
    async with station(server, created["endpoint"], "1.6", charge_point=commanded("1.6")):
        await command(server, RESET, {"id": created["id"]}, "resetChargestation")
        await command(server, UNLOCK, {"id": connector["id"]}, "unlockConnector")
        await command(server, STATUS_REPORT, {"id": created["id"]}, "requestStatusReport")
    first = (await gql(server, HISTORY, {"id": created["id"], "first": 2}))["chargestation"][
        "commands"
    ]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] is True
    assert [edge["node"]["action"] for edge in first["edges"]] == [
        "TriggerMessage",
        "UnlockConnector",
    ]
    rest = (
        await gql(
            server,
            HISTORY,
            {"id": created["id"], "first": 2, "after": first["pageInfo"]["endCursor"]},
        )
    )["chargestation"]["commands"]
    assert [edge["node"]["action"] for edge in rest["edges"]] == ["Reset"]
    assert rest["pageInfo"]["hasNextPage"] is False
