"""The OCPP endpoint: `ws(s)://host/ocpp/{endpoint}`, where charge stations connect.

Before any OCPP message, the handshake is refused with an HTTP status when
the station offers no subprotocol ChargeGraph speaks (403); alike (401), so
that identities cannot be probed, when the endpoint names no station, when
the station or its organization is inactive, or when the organization
requires Basic credentials (OCPP security profile 1: user = the station's
endpoint, password = the organization's `basicAuthPassword`) and they are
missing or wrong (429 for a while past FAILED_HANDSHAKES_PER_MINUTE such
refusals from one address, or FAILED_LOGINS_PER_MINUTE wrong passwords for
one station from one address); when the database cannot be asked or too many
writes wait for it (503). Passwords are checked against the stored scrypt
hash and never logged.

A second connection of the same station replaces the first: in this process
the older WebSocket is closed at once; in another process it finds its lease
taken over at its next renewal (every half heartbeat interval) and closes
then. What the station says is
handled by `graph.chargestations.protocol`; `StationSession` turns it into
writes (connector statuses go through the connectors domain, so subscribers
hear of them through the same change stream as any other write).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable, Mapping
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError
from starlette.responses import Response
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from graph.chargestations import service
from graph.chargestations.models import BootInfo
from graph.chargestations.protocol import (
    Command,
    Commander,
    CommandOutcome,
    MessageRate,
    StarletteConnection,
    StoredStatus,
    choose_subprotocol,
    serve_station,
)
from graph.connectors.enums import ConnectorStatus
from graph.connectors.reports import StatusReports
from graph.core.group_commit import GroupCommit, WriteGivenUp
from graph.core.limits import MAX_WEBSOCKET_MESSAGE_BYTES
from graph.core.rate_limit import TokenBuckets
from graph.core.settings import Settings
from graph.core.tasks import cancel_and_wait, stop_if_cancelled
from graph.core.timestamps import now
from graph.core.visibility import is_active
from graph.organizations import service as organizations

log = logging.getLogger(__name__)

_PROTOCOLS = {"ocpp1.6": "OCPP16", "ocpp2.0.1": "OCPP201"}
# Wrong Basic credentials one client address may send per minute for one station before
# it is refused (429) for that station.
FAILED_LOGINS_PER_MINUTE = 10
# Refused handshakes (unknown, inactive, wrong credentials) one address may cause per minute.
FAILED_HANDSHAKES_PER_MINUTE = 30
# Seconds a station refused because status reports are queued should wait.
BUSY_RETRY_SECONDS = 10
# Seconds a connection no longer admitted stays open for the commands being sent over it.
CLOSE_GRACE_SECONDS = 5.0


class Refused(Exception):
    """The handshake is answered with an HTTP status instead of a WebSocket."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.headers = headers or {}


class StationGateway:
    """The process's OCPP connections: admission, replacement, and the lease sweeper."""

    def __init__(self, settings: Settings, reports: StatusReports, group: GroupCommit) -> None:
        # Stations' writes are stored together (group commit); the length of its
        # queue decides whether new stations are admitted.
        self.reports = reports
        self.group = group
        self.queue_limit = settings.ocpp_queue_limit
        self.heartbeat_seconds = settings.ocpp_heartbeat_seconds
        self.messages_per_minute = settings.ocpp_messages_per_minute
        self.lease = timedelta(seconds=2 * settings.ocpp_heartbeat_seconds)
        # The station's open WebSocket here and its session (which knows its lease's id).
        self._open: dict[ObjectId, tuple[WebSocket, StationSession]] = {}
        # Connections being closed because they are no longer admitted.
        self._closing: set[asyncio.Future[None]] = set()
        # Per station, across its connections to this process.
        self._rates: dict[ObjectId, MessageRate] = {}
        # Wrong passwords per (client address, station): each costs a scrypt hash, and guesses.
        self._failures = TokenBuckets(FAILED_LOGINS_PER_MINUTE)
        # Connections replaced by a newer one of the same station (here, or in another
        # process: the lease was taken over), and handshakes refused as not admitted.
        self.stats = {"replaced": 0, "taken_over": 0, "not_admitted": 0}
        # Refused handshakes of any kind per client address: probing identities.
        self._handshake_failures = TokenBuckets(FAILED_HANDSHAKES_PER_MINUTE)
        # Told (the station as admitted) once its BootNotification is answered, in a task.
        self.booted: Callable[[Mapping[str, Any]], Coroutine[Any, Any, None]] | None = None
        self._after_boot: set[asyncio.Task[None]] = set()

    @property
    def connected_count(self) -> int:
        return len(self._open)

    def session_of(self, station_id: ObjectId) -> StationSession | None:
        """The session of the station's connection to this process, if it has one."""
        held = self._open.get(station_id)
        return held[1] if held is not None else None

    def station_booted(self, station: Mapping[str, Any]) -> None:
        if self.booted is None:
            return
        task = asyncio.create_task(self.booted(station), name="ocpp-after-boot")
        self._after_boot.add(task)
        task.add_done_callback(self._after_boot.discard)

    async def admit(self, endpoint: str, authorization: str | None, address: str) -> dict[str, Any]:
        """The station a handshake may connect as, or Refused.

        An unknown endpoint, an inactive station or organization and wrong or
        missing credentials are answered alike (401), so identities cannot be
        probed; each counts against the address (FAILED_HANDSHAKES_PER_MINUTE),
        and wrong passwords also against the address and that station
        (FAILED_LOGINS_PER_MINUTE): stations behind the same address as a
        guesser are not locked out of their own connections.
        """
        if self.group.pending >= self.queue_limit:
            # The database is behind the connected stations: they come first.
            raise Refused(
                503,
                "the server is busy writing status reports; retry later",
                {"Retry-After": str(BUSY_RETRY_SECONDS)},
            )
        self._refuse_if_over(self._handshake_failures, address, "failed handshakes")
        station = await service.find_for_connection(endpoint)
        settings = (
            await organizations.station_settings(station["organization"])
            if station is not None
            else None
        )
        admitted = (
            station is not None
            and is_active(station.get("active"))
            and settings is not None
            and settings.active
        )
        if station is None or settings is None or not admitted:
            if authorization:
                # As long as checking a password, so a refusal tells nothing by its time either.
                await asyncio.to_thread(organizations.decoy_password_check, authorization)
            self._handshake_failures.take(address, 1)
            self.stats["not_admitted"] += 1
            raise _not_admitted()
        if settings.basic_auth_enabled:
            guess = (address, station["_id"])
            self._refuse_if_over(self._failures, guess, "wrong credentials for this station")
            password = _basic_password(authorization, station["endpointKey"])
            matches = password is not None and await asyncio.to_thread(
                organizations.password_matches, settings.password_hash, password
            )
            if not matches:
                self._failures.take(guess, 1)
                self._handshake_failures.take(address, 1)
                self.stats["not_admitted"] += 1
                raise _not_admitted()
        return station

    @staticmethod
    def _refuse_if_over(buckets: TokenBuckets, caller: Hashable, what: str) -> None:
        wait = buckets.wait_for(caller, 1)
        if wait > 0:
            raise Refused(
                429,
                f"too many {what} from this address",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )

    async def serve(self, websocket: WebSocket) -> None:
        endpoint = websocket.path_params["endpoint"]
        subprotocol = choose_subprotocol(list(websocket.scope.get("subprotocols", [])))
        try:
            if subprotocol is None:
                raise Refused(403, "no OCPP subprotocol ChargeGraph speaks was offered")
            try:
                station = await self.admit(
                    endpoint,
                    websocket.headers.get("authorization"),
                    websocket.client.host if websocket.client is not None else "unknown",
                )
            except PyMongoError as failure:
                raise Refused(
                    503, f"the database is unavailable ({type(failure).__name__})"
                ) from None
        except Refused as refused:
            log.info("OCPP connection of %r refused: %s", endpoint[:60], refused)
            await websocket.send_denial_response(
                Response(str(refused), status_code=refused.status, headers=refused.headers)
            )
            return
        station_id: ObjectId = station["_id"]
        connection_id = secrets.token_hex(8)
        await websocket.accept(subprotocol=subprotocol)
        # Take the lease over first: the older connection's goodbye then no
        # longer matches, so the station never reads offline in between.
        try:
            await service.connected(
                self.group, station_id, connection_id, _PROTOCOLS[subprotocol.lower()], self.lease
            )
        except (PyMongoError, WriteGivenUp) as failure:
            log.warning("station %s: could not record its connection: %s", endpoint[:60], failure)
            # 1011: the server cannot serve now; the station reconnects later.
            await websocket.close(code=1011)
            return
        session = StationSession(self, station, connection_id)
        previous = self._open.get(station_id)
        self._open[station_id] = (websocket, session)
        if previous is not None:
            # The station reconnected (or someone else connected as it): logged and counted,
            # since without Basic auth an identity is all it takes.
            self.stats["replaced"] += 1
            log.warning(
                "station %s: a new connection from %s replaces the open one",
                endpoint[:60],
                websocket.client.host if websocket.client is not None else "unknown",
            )
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await previous[0].close(code=1001)
        try:
            await serve_station(
                StarletteConnection(websocket),
                subprotocol,
                endpoint,
                session,
                max_message_bytes=MAX_WEBSOCKET_MESSAGE_BYTES,
                rate=self._rate(station_id),
                attach=session.attach,
            )
        finally:
            session.closed.set()
            if self._open.get(station_id, (None,))[0] is websocket:
                del self._open[station_id]
            with contextlib.suppress(PyMongoError, WriteGivenUp):
                await service.disconnected(self.group, station_id, connection_id)

    def admission_changed(self, kind: str, object_id: ObjectId, fields: Mapping[str, Any]) -> None:
        """Close this process's connections that the change no longer admits.

        An organization deactivated, or its stations' credentials changed
        (they must connect again with the new ones); a station deactivated.
        """
        # A station is active only with `active` true (graph.core.visibility); an organization
        # until `active` is false.
        deactivated = "active" in fields and (
            not is_active(fields["active"])
            if kind == "chargestation"
            else fields["active"] is False
        )
        if deactivated:
            reason = f"{kind} deactivated"
        elif kind == "organization" and any(
            name == "configurations" or name.startswith("configurations.basicAuth")
            for name in fields
        ):
            reason = "station credentials changed"
        else:
            return
        for station_id, (websocket, session) in list(self._open.items()):
            owner = session.organization if kind == "organization" else station_id
            if owner == object_id:
                log.info("station %s: %s: closing its connection", session.endpoint, reason)
                closing = asyncio.ensure_future(_close_when_quiet(session, websocket, 1008))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)

    def _rate(self, station_id: ObjectId) -> MessageRate | None:
        """The station's message allowance (None: unlimited); idle ones are forgotten."""
        if not self.messages_per_minute:
            return None
        moment = time.monotonic()
        for known in [key for key, rate in self._rates.items() if rate.idle(moment)]:
            if known not in self._open:
                del self._rates[known]
        rate = self._rates.get(station_id)
        if rate is None:
            rate = self._rates[station_id] = MessageRate(self.messages_per_minute)
        return rate

    @contextlib.asynccontextmanager
    async def sweeping(self) -> AsyncIterator[None]:
        """Every process writes down expired leases, so subscribers hear of dead connections;
        connections no longer admitted are closed as soon as the change is read."""
        task = asyncio.create_task(self._sweep(), name="ocpp-leases")
        forget = service.on_admission_change(self.admission_changed)
        try:
            yield
        finally:
            forget()
            await cancel_and_wait(task)
            for booted in list(self._after_boot):
                await cancel_and_wait(booted)
            for websocket, _ in list(self._open.values()):
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await websocket.close(code=1012)

    async def _sweep(self) -> None:
        """Renew this process's leases as they come due, and write down everyone's expired ones.

        Each connection is renewed every half interval, counted from its own
        start, so renewals spread evenly over time instead of arriving as one
        bulk of every station (which held the status reports behind it).
        """
        renew_every = max(1.0, self.heartbeat_seconds / 2)
        # Well within a lease (two intervals), however short the interval.
        expire_every = max(1.0, min(10.0, self.heartbeat_seconds / 2))
        tick = min(1.0, renew_every)
        expired_at = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            moment = time.monotonic()
            try:
                await self._renew(moment - renew_every)
                if moment - expired_at >= expire_every:
                    expired_at = moment
                    expired = await service.expire_leases()
                    if expired:
                        log.info(
                            "%d charge station(s) offline: their connection lease ran out", expired
                        )
            except PyMongoError as error:
                stop_if_cancelled()
                log.warning("could not renew or expire OCPP leases: %s", error)

    async def _renew(self, renewed_before: float) -> None:
        """Renew the leases last renewed before `renewed_before` (monotonic seconds)."""
        due = {
            station: (websocket, session)
            for station, (websocket, session) in self._open.items()
            if session.renewed_at <= renewed_before
        }
        if not due:
            return
        held = await service.renew_leases(
            {
                station: (session.connection_id, session.last_message_at)
                for station, (_, session) in due.items()
            },
            self.lease,
        )
        renewed = time.monotonic()
        for station, (websocket, session) in due.items():
            session.renewed_at = renewed
            if station not in held and self._open.get(station, (None,))[0] is websocket:
                self.stats["taken_over"] += 1
                log.warning(
                    "station %s: its lease is gone (taken over elsewhere or expired): closing",
                    session.endpoint,
                )
                await _close(websocket, 1001)

    def routes(self) -> list[BaseRoute]:
        return [WebSocketRoute("/ocpp/{endpoint}", self.serve)]


async def _close_when_quiet(session: StationSession, websocket: WebSocket, code: int) -> None:
    """Close once the commands being sent are answered (a station being deactivated is
    told it is no longer available first), waiting at most CLOSE_GRACE_SECONDS."""
    await session.quiet(CLOSE_GRACE_SECONDS)
    await _close(websocket, code)


async def _close(websocket: WebSocket, code: int) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=code)


def _not_admitted() -> Refused:
    return Refused(
        401,
        "not admitted: unknown or inactive station, or wrong or missing credentials",
        {"WWW-Authenticate": 'Basic realm="OCPP"'},
    )


def _basic_password(authorization: str | None, endpoint_key: str) -> str | None:
    """The password of an `Authorization: Basic …` header whose user is the station, or None.

    OCPP identities may contain ':', which Basic credentials also use to end
    the user: the user is recognised as the known endpoint, not split off at
    the first ':'.
    """
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, password = decoded[: len(endpoint_key)], decoded[len(endpoint_key) + 1 :]
    if user.lower() != endpoint_key or decoded[len(endpoint_key) : len(endpoint_key) + 1] != ":":
        return None
    return password


class StationSession:
    """What one station's messages do (the protocol's StationBackend)."""

    def __init__(
        self, gateway: StationGateway, station: dict[str, Any], connection_id: str
    ) -> None:
        self.heartbeat_interval = gateway.heartbeat_seconds
        self._reports = gateway.reports
        self._group = gateway.group
        self._station = station
        self._station_id: ObjectId = station["_id"]
        self.organization: ObjectId = station["organization"]
        self.endpoint: str = station["endpoint"]
        self.connection_id = connection_id
        # When the station last spoke: written with the lease renewal, not per message.
        self.last_message_at = now()
        # The boot details stored when it connected (a reconnect usually repeats them).
        self._boot: dict[str, Any] | None = station.get("boot")
        # When its lease was last renewed (monotonic seconds; taken at connection).
        self.renewed_at = time.monotonic()
        self._gateway = gateway
        # Sends commands over this connection, once it is served; `closed` once it ended.
        self._commander: Commander | None = None
        self.closed = asyncio.Event()
        # Commands this process is about to send or sending over this connection.
        self._commands = 0
        self._no_commands = asyncio.Event()
        self._no_commands.set()

    def command_coming(self) -> None:
        self._commands += 1
        self._no_commands.clear()

    def command_done(self) -> None:
        self._commands -= 1
        if self._commands == 0:
            self._no_commands.set()

    async def quiet(self, within: float) -> None:
        """Return once no command is being sent here, or after `within` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_commands.wait(), within)

    def attach(self, commander: Commander) -> None:
        self._commander = commander

    async def execute(self, command: Command, within: float) -> CommandOutcome:
        """Send a command over this connection; FAILED if the connection ends first."""
        if self._commander is None or self.closed.is_set():
            return CommandOutcome("FAILED", reason="the station's connection closed")
        sending = asyncio.create_task(self._commander.execute(command, within))
        ending = asyncio.create_task(self.closed.wait())
        try:
            await asyncio.wait({sending, ending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(ending)
            if not sending.done():
                await cancel_and_wait(sending)
        if sending.cancelled():
            return CommandOutcome(
                "FAILED", reason="the station closed its connection before answering"
            )
        return sending.result()

    async def boot_answered(self) -> None:
        self._gateway.station_booted(self._station)

    async def touched(self) -> None:
        self.last_message_at = now()

    async def boot(
        self, vendor: str, model: str, serial_number: str | None, firmware_version: str | None
    ) -> None:
        boot = BootInfo(
            vendor=vendor, model=model, serialNumber=serial_number, firmwareVersion=firmware_version
        )
        # A station reconnecting sends the same details again: nothing to write then.
        if boot.model_dump() != self._boot:
            await service.booted(self._group, self._station_id, boot)
            self._boot = boot.model_dump()

    async def heartbeat(self) -> None:
        """Every message renews the lease (`touched`): a heartbeat needs nothing more."""

    async def connector_status(
        self, ocpp_connector_id: int, status: StoredStatus, error_code: str | None
    ) -> None:
        known = await self._reports.report(
            self._station_id, ocpp_connector_id, ConnectorStatus(status)
        )
        if not known:
            log.warning(
                "station %s reported %s for connector %d, which it does not have",
                self.endpoint,
                status,
                ocpp_connector_id,
            )
        elif error_code is not None:
            log.info(
                "station %s connector %d: %s (%s)",
                self.endpoint,
                ocpp_connector_id,
                status,
                error_code,
            )

    async def station_status(self, status: StoredStatus, error_code: str | None) -> None:
        await service.station_status(self._group, self._station_id, ConnectorStatus(status))

    async def free_vend(self) -> bool:
        settings = await organizations.station_settings(self.organization)
        return settings is not None and settings.free_vend
