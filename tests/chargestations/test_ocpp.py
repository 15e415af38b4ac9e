"""Charge stations over OCPP, end to end.

Real `chargegraph serve` processes on the shared embedded database; stations are
the `ocpp` package's own ChargePoint classes (1.6 and 2.0.1) over real WebSockets,
malformed frames go through plain `websockets`. What is checked is what a user
sees: handshake answers, OCPP answers, GraphQL fields and subscription events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from bson import ObjectId
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from pymongo.database import Database
from websockets.exceptions import ConnectionClosed, InvalidStatus

from graph.chargestations.endpoint import FAILED_HANDSHAKES_PER_MINUTE
from tests.support.access import ask, create_key
from tests.support.ocpp import (
    ONLINE_SUBSCRIPTION,
    STATUS_SUBSCRIPTION,
    Version,
    basic_auth,
    create_station,
    eventually,
    exchange,
    gql,
    next_event,
    raw_station,
    read_station,
    station,
    station_endpoint,
    subscription,
)
from tests.support.server import (
    ADMIN_KEY,
    Server,
    create_connector,
    create_organization,
    data,
    server_fixture,
)

HEARTBEAT = 2  # seconds: the interval sent at boot; a lease lasts two of them
SWEEP = max(1.0, min(10.0, HEARTBEAT / 2))  # how often every process expires leases
RATE_LIMIT = 5  # messages per minute on the rate-limited server

NEARBY = """
query($lat: Float!, $lng: Float!, $filter: ConnectorFilter) {
  nearbyConnectors(latitude: $lat, longitude: $lng, radiusMeters: 500, filter: $filter) {
    edges { node { id } }
  }
}
"""
CONNECTOR_STATUS = "query($id: ID!) { connector(id: $id) { status } }"
FREE_VEND = """
mutation($id: ID!, $free: Boolean!) {
  updateOrganization(id: $id, input: { configurations: { freeVend: $free } }) {
    configurations { freeVend }
  }
}
"""


server = server_fixture(
    "The module's server, with a short heartbeat so leases run out within seconds.",
    CHARGEGRAPH_OCPP_HEARTBEAT_SECONDS=str(HEARTBEAT),
)


limited_server = server_fixture(
    "Another server on the same database that lets a station send 5 messages a minute.",
    CHARGEGRAPH_OCPP_HEARTBEAT_SECONDS=str(HEARTBEAT),
    CHARGEGRAPH_OCPP_MESSAGES_PER_MINUTE=str(RATE_LIMIT),
)


@pytest.fixture(scope="module")
def organization(server: Server) -> dict[str, Any]:
    return create_organization(server, name="Stations B.V.")


def somewhere() -> dict[str, float]:
    """A random position: with the organization filter, nearby searches see this test's connectors."""
    return {"latitude": random.uniform(-60, 60), "longitude": random.uniform(-170, 170)}


def timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def add_connector(
    server: Server, organization_id: str, station_id: str, ocpp_id: int
) -> dict[str, Any]:
    return await asyncio.to_thread(
        create_connector, server, organization_id, ocppId=ocpp_id, chargestationId=station_id
    )


async def available_nearby(
    server: Server, position: dict[str, float], organization_id: str
) -> set[str]:
    found = await gql(
        server,
        NEARBY,
        {
            "lat": position["latitude"],
            "lng": position["longitude"],
            "filter": {"organizationId": organization_id, "availableOnly": True},
        },
    )
    return {edge["node"]["id"] for edge in found["nearbyConnectors"]["edges"]}


async def connector_status(server: Server, connector_id: str) -> str:
    found = await gql(server, CONNECTOR_STATUS, {"id": connector_id})
    status: str = found["connector"]["status"]
    return status


async def health_of(server: Server) -> dict[str, Any]:
    report: dict[str, Any] = (
        await asyncio.to_thread(httpx.get, f"{server.base_url}/healthz", timeout=10)
    ).json()
    return report


def change(event: dict[str, Any]) -> tuple[str, str | None, str]:
    return (event["connector"]["id"], event["previousStatus"], event["status"])


# --------------------------------------------------------------------------- 1.6


async def test_a_16_station_boots_beats_and_reports_its_connectors(
    server: Server, organization: dict[str, Any]
) -> None:
    org = organization["id"]
    position = somewhere()
    created = await create_station(server, org, coordinates=position)
    first = await add_connector(server, org, created["id"], 1)
    second = await add_connector(server, org, created["id"], 2)
    both = {first["id"], second["id"]}

    async with (
        subscription(server, STATUS_SUBSCRIPTION, {"station": created["id"]}) as events,
        station(server, created["endpoint"], "1.6") as cs,
    ):
        boot = await cs.call(
            call16.BootNotification(
                charge_point_vendor="Alfen",
                charge_point_model="Eve Single Pro",
                charge_point_serial_number="ACE0012345",
                firmware_version="4.12.0",
            )
        )
        assert (boot.status, boot.interval) == ("Accepted", HEARTBEAT)
        beat = await cs.call(call16.Heartbeat())
        assert abs(parse_time(beat.current_time) - datetime.now(UTC)) < timedelta(minutes=1)

        shown = await read_station(server, created["id"])
        assert {
            key: shown[key]
            for key in ("vendor", "model", "serialNumber", "firmwareVersion", "protocol", "online")
        } == {
            "vendor": "Alfen",
            "model": "Eve Single Pro",
            "serialNumber": "ACE0012345",
            "firmwareVersion": "4.12.0",
            "protocol": "OCPP16",
            "online": True,
        }
        assert await available_nearby(server, position, org) == both

        async def report(connector_id: int, status: str, error_code: str = "NoError") -> None:
            answer = await cs.call(
                call16.StatusNotification(
                    connector_id=connector_id, error_code=error_code, status=status
                )
            )
            assert isinstance(answer, result16.StatusNotification), answer

        await report(1, "Charging")
        assert await connector_status(server, first["id"]) == "CHARGING"
        assert await available_nearby(server, position, org) == {second["id"]}
        await report(1, "Charging")  # the same status again: no event
        await report(2, "Faulted", "GroundFailure")
        assert await connector_status(server, second["id"]) == "FAULTED"
        assert await available_nearby(server, position, org) == set()

        await report(0, "Unavailable")  # the station as a whole, not a connector
        assert (await read_station(server, created["id"]))["status"] == "UNAVAILABLE"
        await report(7, "Available")  # a connector the station does not have
        assert isinstance(await cs.call(call16.Heartbeat()), result16.Heartbeat)

        await report(1, "Available")
        assert await available_nearby(server, position, org) == {first["id"]}

        received = [change(await next_event(events)) for _ in range(3)]

    assert received == [
        (first["id"], "AVAILABLE", "CHARGING"),
        (second["id"], "AVAILABLE", "FAULTED"),
        (first["id"], "CHARGING", "AVAILABLE"),
    ]
    shown = await read_station(server, created["id"])
    assert shown["status"] == "UNAVAILABLE"
    assert sorted(
        (count["status"], count["count"]) for count in shown["connectorCountsByStatus"]
    ) == [("AVAILABLE", 1), ("FAULTED", 1)]


# --------------------------------------------------------------------------- 2.0.1


async def test_a_201_station_reports_occupied_refined_by_its_transaction(
    server: Server, organization: dict[str, Any]
) -> None:
    org = organization["id"]
    created = await create_station(server, org, coordinates=somewhere())
    evse = await add_connector(server, org, created["id"], 1)
    sequence = iter(range(100))

    async with (
        subscription(server, STATUS_SUBSCRIPTION, {"station": created["id"]}) as events,
        station(server, created["endpoint"], "2.0.1") as cs,
    ):
        boot = await cs.call(
            call201.BootNotification(
                charging_station={
                    "vendor_name": "ABB",
                    "model": "Terra AC",
                    "serial_number": "TAC-77",
                    "firmware_version": "1.8.3",
                },
                reason="PowerUp",
            )
        )
        assert (boot.status, boot.interval) == ("Accepted", HEARTBEAT)

        async def status_notification(status: str) -> None:
            answer = await cs.call(
                call201.StatusNotification(
                    timestamp=timestamp(), connector_status=status, evse_id=1, connector_id=1
                )
            )
            assert isinstance(answer, result201.StatusNotification), answer

        async def transaction_event(kind: str, charging_state: str | None) -> None:
            info: dict[str, Any] = {"transaction_id": "tx-201"}
            if charging_state is not None:
                info["charging_state"] = charging_state
            answer = await cs.call(
                call201.TransactionEvent(
                    event_type=kind,
                    timestamp=timestamp(),
                    trigger_reason="ChargingStateChanged",
                    seq_no=next(sequence),
                    transaction_info=info,
                    evse={"id": 1, "connector_id": 1} if kind == "Started" else None,
                )
            )
            assert isinstance(answer, result201.TransactionEvent), answer

        steps: list[tuple[Callable[[], Any], str]] = [
            (lambda: status_notification("Occupied"), "OCCUPIED"),
            (lambda: transaction_event("Started", "EVConnected"), "PREPARING"),
            (lambda: transaction_event("Updated", "Charging"), "CHARGING"),
            (lambda: transaction_event("Updated", "SuspendedEV"), "SUSPENDED_EV"),
            (lambda: transaction_event("Updated", "SuspendedEVSE"), "SUSPENDED_EVSE"),
            (lambda: transaction_event("Ended", None), "FINISHING"),
            (lambda: status_notification("Available"), "AVAILABLE"),
        ]
        shown_statuses = []
        for step, _ in steps:
            await step()
            shown_statuses.append(await connector_status(server, evse["id"]))
        received = [change(await next_event(events)) for _ in steps]

    expected = [status for _, status in steps]
    assert shown_statuses == expected
    assert received == [
        (evse["id"], before, after)
        for before, after in zip(["AVAILABLE", *expected[:-1]], expected, strict=True)
    ]
    shown = await read_station(server, created["id"])
    assert (shown["protocol"], shown["vendor"], shown["model"], shown["serialNumber"]) == (
        "OCPP201",
        "ABB",
        "Terra AC",
        "TAC-77",
    )


# --------------------------------------------------------------------------- handshake

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def gatekeeping(server: Server) -> dict[str, str]:
    """Stations for the handshake tests, by role: their endpoints."""
    open_org = create_organization(server, name="Open Doors")
    dormant = create_organization(server, name="Dormant", active=False)
    guarded = create_organization(
        server,
        name="Guarded",
        configurations={"basicAuthEnabled": True, "basicAuthPassword": PASSWORD},
    )

    def make(organization: dict[str, Any], **fields: Any) -> str:
        values = {"organizationId": organization["id"], "endpoint": station_endpoint(), **fields}
        created = server.query(
            "mutation($input: CreateChargestationInput!) { createChargestation(input: $input) { endpoint } }",
            {"input": values},
        )
        endpoint: str = data(created)["createChargestation"]["endpoint"]
        return endpoint

    return {
        "open": make(open_org),
        "inactive": make(open_org, active=False),
        "dormant": make(dormant),
        "guarded": make(guarded),
        "other guarded": make(guarded),
        "guarded with colon": make(guarded, endpoint=f"CS:{station_endpoint('colon')}"),
    }


@pytest.mark.parametrize(
    ("role", "subprotocols", "credentials", "status"),
    [
        # Unknown, inactive and wrong credentials are answered alike: no probing identities.
        pytest.param("nobody", ["ocpp1.6"], None, 401, id="unknown endpoint"),
        pytest.param("inactive", ["ocpp1.6"], None, 401, id="inactive station"),
        pytest.param("dormant", ["ocpp1.6"], None, 401, id="inactive organization"),
        pytest.param(
            "nobody", ["ocpp1.6"], ("self", "a-guess"), 401, id="unknown endpoint with a password"
        ),
        pytest.param("open", ["ocpp1.5"], None, 403, id="only an unsupported subprotocol"),
        pytest.param("open", None, None, 403, id="no subprotocol"),
        pytest.param("guarded", ["ocpp1.6"], None, 401, id="missing credentials"),
        pytest.param("guarded", ["ocpp1.6"], ("self", "wrong-password"), 401, id="wrong password"),
        pytest.param(
            "guarded", ["ocpp1.6"], ("other guarded", PASSWORD), 401, id="another station's user"
        ),
    ],
)
async def test_a_handshake_is_refused_with_an_http_status(
    server: Server,
    gatekeeping: dict[str, str],
    role: str,
    subprotocols: list[str] | None,
    credentials: tuple[str, str] | None,
    status: int,
) -> None:
    endpoint = gatekeeping.get(role, "CS-nobody-here")
    headers = None
    if credentials is not None:
        user, password = credentials
        headers = basic_auth(endpoint if user == "self" else gatekeeping[user], password)
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(
            f"ws://127.0.0.1:{server.port}/ocpp/{endpoint}",
            subprotocols=subprotocols,  # type: ignore[arg-type]
            additional_headers=headers,
            proxy=None,
        )
    assert refused.value.response.status_code == status
    if status == 401:
        assert refused.value.response.headers["WWW-Authenticate"] == 'Basic realm="OCPP"'
        assert refused.value.response.body == (
            b"not admitted: unknown or inactive station, or wrong or missing credentials"
        )


@pytest.mark.parametrize(
    "role", ["guarded", pytest.param("guarded with colon", id="endpoint containing a colon")]
)
async def test_the_right_password_with_the_endpoint_as_user_is_accepted(
    server: Server, gatekeeping: dict[str, str], role: str
) -> None:
    endpoint = gatekeeping[role]
    try:
        connecting = station(server, endpoint, "1.6", basic_auth(endpoint, PASSWORD))
        async with connecting as cs:
            boot = await cs.call(
                call16.BootNotification(charge_point_vendor="V", charge_point_model="M")
            )
            assert boot.status == "Accepted"
            assert cs.ws.subprotocol == "ocpp1.6"
    except InvalidStatus as refused:
        # The API lets an endpoint contain ':' (OCPP identifierString), but the Basic
        # user-id is cut at its first ':', so such a station can never authenticate.
        raise AssertionError(
            f"station {endpoint!r} with the right credentials was refused with HTTP "
            f"{refused.response.status_code}"
        ) from None


# --------------------------------------------------------------------------- connections


REPLACEMENTS = 12  # the old connection's end races the new one's start: try it several times


async def test_a_second_connection_replaces_the_first_and_the_station_stays_online(
    server: Server, organization: dict[str, Any]
) -> None:
    created = await create_station(server, organization["id"])
    marker = await create_station(server, organization["id"])
    watched = {"ids": [created["id"], marker["id"]]}

    async with subscription(server, ONLINE_SUBSCRIPTION, watched) as events:
        async with contextlib.AsyncExitStack() as connections:
            current = await connections.enter_async_context(station(server, created["endpoint"]))
            await current.call(
                call16.BootNotification(charge_point_vendor="V", charge_point_model="M")
            )
            connected = await next_event(events)
            assert (connected["chargestation"]["id"], connected["online"]) == (created["id"], True)

            replaced_before = (await health_of(server))["ocpp_connections"]["replaced"]
            for _ in range(REPLACEMENTS):
                newer = await connections.enter_async_context(station(server, created["endpoint"]))
                await asyncio.wait_for(current.ws.wait_closed(), 10)
                assert current.ws.close_code == 1001
                with pytest.raises(ConnectionClosed):
                    await current.call(call16.Heartbeat())
                assert isinstance(await newer.call(call16.Heartbeat()), result16.Heartbeat)
                assert (await read_station(server, created["id"]))["online"] is True
                current = newer
            # Every replacement is counted (and logged): it may be someone else connecting.
            replaced = (await health_of(server))["ocpp_connections"]["replaced"]
            assert replaced - replaced_before == REPLACEMENTS

            # Events come in write order: whatever the replacements wrote about the
            # station comes before the marker station's connection.
            async with station(server, marker["endpoint"]):
                between = []
                while (event := await next_event(events))["chargestation"]["id"] != marker["id"]:
                    between.append(event["online"])
            shown = await read_station(server, created["id"])
            assert shown["online"] is True
            assert between == [], (
                f"{REPLACEMENTS} replacements of a connected station told subscribers "
                f"online = {between} (expected no event): the replaced connection's end "
                "was written as the station going offline"
            )

        gone = await next_event(events)
        while gone["chargestation"]["id"] != created["id"]:
            gone = await next_event(events)
    assert gone["online"] is False


async def test_subscribers_hear_a_station_connect_and_disconnect(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    own = create_organization(server, name="Watched Network")
    created = await create_station(server, own["id"])
    station_id = ObjectId(created["id"])

    async def lease_until() -> datetime:
        doc = await asyncio.to_thread(db.chargestations.find_one, {"_id": station_id})
        assert doc is not None
        until: datetime = doc["leaseUntil"]
        return until

    async with subscription(server, ONLINE_SUBSCRIPTION, {"org": own["id"]}) as events:
        async with station(server, created["endpoint"], "2.0.1") as cs:
            connected = await next_event(events)
            assert connected["online"] is True
            assert connected["chargestation"] == {
                "id": created["id"],
                "endpoint": created["endpoint"],
                "online": True,
            }
            shown = await read_station(server, created["id"])
            assert (shown["online"], shown["protocol"]) == (True, "OCPP201")

            # The station keeps talking until its lease is renewed: still online, no new event.
            first_lease = await lease_until()

            async def beat_and_read() -> datetime:
                await cs.call(call201.Heartbeat())
                return await lease_until()

            await eventually(beat_and_read, lambda until: until > first_lease, interval=0.2)
        disconnected = await next_event(events)

    assert (disconnected["online"], disconnected["chargestation"]["online"]) == (False, False)
    shown = await read_station(server, created["id"])
    assert shown["online"] is False
    assert parse_time(shown["lastDisconnectedAt"]) >= parse_time(shown["lastConnectedAt"])


async def test_a_killed_server_leaves_its_stations_offline_within_the_lease(
    server: Server,
    organization: dict[str, Any],
    db: Database[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    doomed = Server(
        env=dict(server.env),
        args=[],
        log_path=tmp_path_factory.mktemp("doomed") / "server.log",
    )
    await asyncio.to_thread(doomed.start)
    try:
        created = await create_station(server, organization["id"])
        async with (
            subscription(server, ONLINE_SUBSCRIPTION, {"ids": [created["id"]]}) as events,
            station(doomed, created["endpoint"]) as cs,
        ):
            await cs.call(call16.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            assert (await next_event(events))["online"] is True
            assert doomed.process is not None
            doomed.process.send_signal(signal.SIGKILL)
            killed_at = datetime.now(UTC)
            gone = await next_event(events, within=4 * HEARTBEAT + SWEEP + 30)
        assert (gone["chargestation"]["id"], gone["online"]) == (created["id"], False)
        shown = await read_station(server, created["id"])
        assert shown["online"] is False
        # The bound docs/ocpp.md states, from the server's own records: the lease
        # ends two intervals after its last renewal (before the kill), and the
        # station is written offline at the first expiry sweep after that,
        # never before. One more sweep period absorbs a sweep's own delay.
        stored = db.chargestations.find_one({"_id": ObjectId(created["id"])})
        assert stored is not None
        lease_ended = stored["leaseUntil"]
        written_offline = stored["lastDisconnectedAt"]
        assert lease_ended <= killed_at + timedelta(seconds=2 * HEARTBEAT)
        assert lease_ended <= written_offline <= lease_ended + timedelta(seconds=2 * SWEEP)
    finally:
        if doomed.process is not None:
            doomed.process.kill()
            doomed.process.wait(30)
            doomed.process = None


# --------------------------------------------------------------------------- malformed frames


def _cases() -> list[Any]:
    boot_missing = {
        "1.6": ["BootNotification", {"chargePointVendor": "V"}],
        "2.0.1": ["BootNotification", {"reason": "PowerUp"}],
    }
    wrong_type = {
        "1.6": [
            "StatusNotification",
            {"connectorId": "one", "errorCode": "NoError", "status": "Available"},
        ],
        "2.0.1": [
            "StatusNotification",
            {
                "timestamp": "2025-01-01T00:00:00Z",
                "connectorStatus": "Available",
                "evseId": "one",
                "connectorId": 1,
            },
        ],
    }
    unsupported = {
        "1.6": ["Reset", {"type": "Hard"}],
        "2.0.1": ["Reset", {"type": "Immediate"}],
    }
    cases = []
    for version in ("1.6", "2.0.1"):
        framework = "FormationViolation" if version == "1.6" else "RpcFrameworkError"
        table = [
            ("not JSON", "this is not json", "-1", framework),
            ("not an array", '{"a": 1}', "-1", framework),
            (
                "message type 9",
                '[9, "m9", "Heartbeat", {}]',
                "m9",
                framework if version == "1.6" else "MessageTypeNotSupported",
            ),
            (
                "wrong type",
                json.dumps([2, "m1", *wrong_type[version]]),
                "m1",
                "TypeConstraintViolation",
            ),
            (
                "required field missing",
                json.dumps([2, "m2", *boot_missing[version]]),
                "m2",
                "ProtocolError" if version == "1.6" else "OccurrenceConstraintViolation",
            ),
            ("unknown action", '[2, "m3", "FooBar", {}]', "m3", "NotImplemented"),
            (
                "unsupported action",
                json.dumps([2, "m4", *unsupported[version]]),
                "m4",
                "NotSupported",
            ),
        ]
        cases += [pytest.param(version, *case[1:], id=f"{version} {case[0]}") for case in table]
    return cases


@pytest.mark.parametrize(("version", "frame", "message_id", "code"), _cases())
async def test_a_malformed_frame_gets_its_callerror_and_the_connection_stays(
    server: Server,
    organization: dict[str, Any],
    version: Version,
    frame: str,
    message_id: str,
    code: str,
) -> None:
    created = await create_station(server, organization["id"])
    async with raw_station(server, created["endpoint"], version) as ws:
        answer = await exchange(ws, frame)
        assert answer[:3] == [4, message_id, code], answer
        assert len(answer) == 5 and isinstance(answer[3], str) and isinstance(answer[4], dict)
        beat = await exchange(ws, '[2, "after", "Heartbeat", {}]')
    assert beat[:2] == [3, "after"] and "currentTime" in beat[2], beat


# --------------------------------------------------------------------------- free vend


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_charging_is_authorized_only_with_free_vend(server: Server, version: Version) -> None:
    own = create_organization(server, name=f"Vending {version}")
    created = await create_station(server, own["id"])
    transactions = iter(range(100))

    async def answers(cs: Any) -> list[str]:
        if version == "1.6":
            authorized = await cs.call(call16.Authorize(id_tag="RFID-0001"))
            started = await cs.call(
                call16.StartTransaction(
                    connector_id=1, id_tag="RFID-0001", meter_start=0, timestamp=timestamp()
                )
            )
            assert isinstance(started.transaction_id, int)
            return [authorized.id_tag_info["status"], started.id_tag_info["status"]]
        token = {"id_token": "RFID-0001", "type": "ISO14443"}
        authorized = await cs.call(call201.Authorize(id_token=token))
        started = await cs.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp=timestamp(),
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={"transaction_id": f"tx-{next(transactions)}"},
                evse={"id": 1, "connector_id": 1},
                id_token=token,
            )
        )
        return [authorized.id_token_info["status"], started.id_token_info["status"]]

    async with station(server, created["endpoint"], version) as cs:
        before = await answers(cs)
        changed = await gql(server, FREE_VEND, {"id": own["id"], "free": True})
        assert changed["updateOrganization"]["configurations"]["freeVend"] is True
        after = await answers(cs)
    assert all(status in ("Invalid", "Blocked") for status in before), before
    assert after == ["Accepted", "Accepted"]


# --------------------------------------------------------------------------- rate limit


async def test_a_station_beyond_its_rate_limit_gets_generic_errors_and_others_are_served(
    limited_server: Server, organization: dict[str, Any]
) -> None:
    noisy = await create_station(limited_server, organization["id"])
    quiet = await create_station(limited_server, organization["id"])
    async with raw_station(limited_server, noisy["endpoint"]) as ws:
        answers = [
            await exchange(ws, f'[2, "r{index}", "Heartbeat", {{}}]')
            for index in range(RATE_LIMIT + 2)
        ]
        async with raw_station(limited_server, quiet["endpoint"]) as other:
            served = await exchange(other, '[2, "q0", "Heartbeat", {}]')
    assert [answer[0] for answer in answers[:RATE_LIMIT]] == [3] * RATE_LIMIT
    for index, rejected in enumerate(answers[RATE_LIMIT:], start=RATE_LIMIT):
        assert rejected[:3] == [4, f"r{index}", "GenericError"], rejected
        assert "Rate limit" in rejected[3]
    assert served[:2] == [3, "q0"]


async def test_reconnecting_does_not_renew_a_stations_allowance(
    limited_server: Server, organization: dict[str, Any]
) -> None:
    noisy = await create_station(limited_server, organization["id"])
    async with raw_station(limited_server, noisy["endpoint"]) as ws:
        for index in range(RATE_LIMIT):
            assert (await exchange(ws, f'[2, "a{index}", "Heartbeat", {{}}]'))[0] == 3
    async with raw_station(limited_server, noisy["endpoint"]) as ws:
        again = await exchange(ws, '[2, "b0", "Heartbeat", {}]')
    assert again[:3] == [4, "b0", "GenericError"], again


async def test_deactivating_a_station_ends_its_open_connection(
    server: Server, organization: dict[str, Any]
) -> None:
    created = await create_station(server, organization["id"])
    async with raw_station(server, created["endpoint"]) as ws:
        assert (await exchange(ws, '[2, "h1", "Heartbeat", {}]'))[0] == 3
        data(
            server.query(
                "mutation($id: ID!) { updateChargestation(id: $id, input: {active: false}) { id } }",
                {"id": created["id"]},
            )
        )
        # The station is told it is no longer available (it does not answer here), then
        # its connection is closed.
        frames = []
        with pytest.raises(ConnectionClosed):
            while True:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
        assert [frame[2:] for frame in frames] == [
            ["ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}]
        ]


async def test_repeated_wrong_passwords_are_refused_for_a_while(
    limited_server: Server,
) -> None:
    guarded = create_organization(
        limited_server,
        name="Guessed",
        configurations={"basicAuthEnabled": True, "basicAuthPassword": PASSWORD},
    )
    endpoint = (await create_station(limited_server, guarded["id"]))["endpoint"]
    statuses = []
    for _ in range(11):
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                f"ws://127.0.0.1:{limited_server.port}/ocpp/{endpoint}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                additional_headers=basic_auth(endpoint, "not-the-password"),
                proxy=None,
            )
        statuses.append(refused.value.response.status_code)
    assert statuses == [401] * 10 + [429]
    # Counted per station: another station of the same organization, from the same
    # address, still connects with the right password.
    other = (await create_station(limited_server, guarded["id"]))["endpoint"]
    async with station(limited_server, other, headers=basic_auth(other, PASSWORD)) as cs:
        assert isinstance(await cs.call(call16.Heartbeat()), result16.Heartbeat)


probed_server = server_fixture(
    "A server of its own for counting refused handshakes per address.",
    CHARGEGRAPH_OCPP_HEARTBEAT_SECONDS=str(HEARTBEAT),
)


async def test_an_address_probing_identities_is_refused_for_a_while(
    probed_server: Server,
) -> None:
    statuses = []
    for number in range(FAILED_HANDSHAKES_PER_MINUTE + 1):
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                f"ws://127.0.0.1:{probed_server.port}/ocpp/CS-probe-{number}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                proxy=None,
            )
        statuses.append(refused.value.response.status_code)
    assert statuses == [401] * FAILED_HANDSHAKES_PER_MINUTE + [429]
    assert int(refused.value.response.headers["Retry-After"]) > 0
    counted = await health_of(probed_server)
    assert counted["ocpp_connections"]["not_admitted"] == FAILED_HANDSHAKES_PER_MINUTE


BOOT_DETAILS = (
    "query($id: ID!) { chargestation(id: $id) { vendor model serialNumber firmwareVersion } }"
)


async def test_boot_details_are_shown_only_to_the_stations_organization(
    server: Server, organization: dict[str, Any]
) -> None:
    created = await create_station(server, organization["id"])
    async with station(server, created["endpoint"]) as cs:
        await cs.call(
            call16.BootNotification(
                charge_point_vendor="Alfen",
                charge_point_model="Eve",
                charge_point_serial_number="ACE0099999",
                firmware_version="4.1",
            )
        )
    own_key = await asyncio.to_thread(create_key, server, organization["id"])
    other = await asyncio.to_thread(create_organization, server, name="Curious Neighbour")
    other_key = await asyncio.to_thread(create_key, server, other["id"])
    shown = {
        "vendor": "Alfen",
        "model": "Eve",
        "serialNumber": "ACE0099999",
        "firmwareVersion": "4.1",
    }
    hidden = dict.fromkeys(shown)
    for key, expected in (
        (None, hidden),
        (other_key["key"], hidden),
        (own_key["key"], shown),
        (ADMIN_KEY, shown),
    ):
        status, body = await asyncio.to_thread(
            ask, server, key, BOOT_DETAILS, {"id": created["id"]}
        )
        assert status == 200 and data(body)["chargestation"] == expected, key
