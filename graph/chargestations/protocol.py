"""OCPP-J central-system (back-office) side for charge stations: OCPP 1.6 and 2.0.1.

One WebSocket connection = one station = one :func:`serve_station` call.  The module
depends only on the standard library and the ``ocpp`` package (2.1.0); the Starlette
adapter :class:`StarletteConnection` only uses the duck-typed ``receive``/``send_text``
methods of ``starlette.websockets.WebSocket``.  Storage is the caller's business: it
implements :class:`StationBackend`.

Plugging it in (Starlette)::

    async def ocpp_endpoint(websocket: WebSocket) -> None:
        subprotocol = choose_subprotocol(websocket.scope.get("subprotocols", []))
        if subprotocol is None:
            await websocket.close(code=1002)  # before accept: HTTP 403
            return
        await websocket.accept(subprotocol=subprotocol)
        await serve_station(
            StarletteConnection(websocket),
            subprotocol,
            websocket.path_params["endpoint"],
            backend,
        )

    routes = [WebSocketRoute("/ocpp/{endpoint}", ocpp_endpoint)]

Authentication of the station (Basic auth, TLS client certificates) happens before
``accept`` and is not part of this module.

Handled actions (station -> back office)
----------------------------------------
==============================  ===========================================================
BootNotification                Accepted, ``interval`` = ``backend.heartbeat_interval``,
                                ``currentTime``; ``backend.boot(...)``
Heartbeat                       ``currentTime``; ``backend.heartbeat()``
StatusNotification              ``backend.connector_status`` / ``station_status`` (below)
Authorize                       idTagInfo / idTokenInfo Accepted if ``backend.free_vend()``
                                else Invalid
StartTransaction (1.6)          as Authorize, plus ``transactionId`` from an increasing int
TransactionEvent (2.0.1)        idTokenInfo (only when the request carries an idToken, as the
                                spec requires) Accepted/Invalid as Authorize; its
                                chargingState refines the EVSE status (below)
StopTransaction (1.6),          acknowledged with the minimal valid answer (``{}``)
MeterValues,
FirmwareStatusNotification,
DiagnosticsStatusNotification
(1.6), SecurityEventNotification,
LogStatusNotification,
SignedFirmwareStatusNotification
(1.6 security whitepaper),
NotifyEvent, NotifyReport (2.0.1)
DataTransfer                    ``status: UnknownVendorId`` (both specs: a receiver with no
                                implementation for the vendorId answers UnknownVendorId)
==============================  ===========================================================

NotifyEvent / NotifyReport (2.0.1) with component ``ChargingStation`` (no EVSE) and
variable ``AvailabilityState`` also call ``backend.station_status``.  Every other action
gets a CALLERROR: ``NotImplemented`` when the action is not known in the negotiated OCPP
version, ``NotSupported`` when it is known (e.g. a back-office-to-station action such as
``Reset``, or ``NotifyChargingLimit``) but not handled here.

Status mapping (stored ChargeGraph status strings)
-------------------------------------------------
OCPP 1.6 StatusNotification (``ocpp_connector_id`` = connectorId; connectorId 0 ->
``station_status``; errorCode ``NoError`` -> ``None``, any other errorCode passed on):

==================  ==================
ChargePointStatus   stored status
==================  ==================
Available           "Available"
Preparing           "Preparing"
Charging            "Charging"
SuspendedEVSE       "SuspendedEVSE"
SuspendedEV         "SuspendedEV"
Finishing           "Finishing"
Reserved            "Reserved"
Unavailable         "Unavailable"
Faulted             "Faulted"
==================  ==================

OCPP 2.0.1 (``ocpp_connector_id`` = evseId; error_code is always ``None``; evseId 0 ->
``station_status``):

=======================================  ============================================
ConnectorStatusEnumType / chargingState  stored status
=======================================  ============================================
Available / Reserved / Unavailable /     same string
Faulted
Occupied                                 "Occupied", refined by TransactionEvent:
  chargingState Charging                 "Charging"
  chargingState SuspendedEV              "SuspendedEV"
  chargingState SuspendedEVSE            "SuspendedEVSE"
  chargingState EVConnected              "Preparing"
  chargingState Idle                     refinement dropped -> plain "Occupied"
                                         (Idle means no EV is connected)
  eventType Ended                        "Finishing" while the EVSE is still Occupied
                                         (1.6 meaning: transaction over, connector
                                         not free yet); the next StatusNotification
                                         (e.g. Available) decides from then on
=======================================  ============================================

A refinement only applies while the EVSE's last StatusNotification on this connection
is Occupied (or no StatusNotification was seen yet on this connection; an Ended event is
then ignored); a StatusNotification that leaves Occupied drops it.  TransactionEvents
without ``evse`` are attributed through their transactionId.  An EVSE with several
connectors reports one aggregated status: Occupied > Reserved > Available > Faulted >
Unavailable.  StatusNotifications always reach the backend; TransactionEvents only
when the EVSE's stored status changes.  Whether the station has that connector is the
backend's business.

Malformed frames (the ``ocpp`` package's own ``route_message`` logs and drops unparsable
frames without answering, crashes its loop on unhashable actions, swaps NotImplemented
and NotSupported, queues every unsolicited CALLRESULT forever, and maps schema errors
with 2.0.1 names only; all of this is corrected in ONE place, :class:`graph.compat.ocpp.OcppJRouting`):

============================================  =====================  ======================
frame                                         OCPP 1.6               OCPP 2.0.1
============================================  =====================  ======================
not JSON, not an array, no readable           FormationViolation     RpcFrameworkError
messageId, wrong CALL length, action not a
string
unknown messageTypeId (e.g. 9)                FormationViolation     MessageTypeNotSupported
payload not a JSON object                     FormationViolation     FormatViolation
schema: additionalProperties, other           FormationViolation     FormatViolation
schema: wrong type, maxLength/minLength       TypeConstraintViolation (both)
schema: enum/pattern/minimum/maximum          PropertyConstraintViolation (both)
schema: required                              ProtocolError          OccurrenceConstraint-
                                              ("payload incomplete")   Violation
schema: minItems/maxItems                     OccurenceConstraint-   OccurrenceConstraint-
                                              Violation (1.6 typo)     Violation
action unknown in the version                 NotImplemented         NotImplemented
action known, not handled                     NotSupported           NotSupported
handler/backend raised                        InternalError          InternalError
============================================  =====================  ======================

When the messageId cannot be read the CALLERROR carries messageId ``"-1"``.  CALLRESULT
and CALLERROR frames from the station are never answered (only a CALL may get a
CALLERROR); they are handed to a pending :meth:`ocpp.ChargePoint.call` or dropped.  The
connection stays open in every case.

Commands (back office -> station)
---------------------------------
:func:`serve_station` hands the connection's :class:`Commander` to ``attach``;
``Commander.execute(command, within)`` sends one :class:`Command` and returns a
:class:`CommandOutcome` (it never raises for the station's behaviour):

=====================  ===================================  ================================
Command                OCPP 1.6                             OCPP 2.0.1
=====================  ===================================  ================================
ChangeAvailability     connectorId = target (0: station),   operationalStatus; evse.id =
                       type Operative / Inoperative         target (none: the station)
Reset                  type Soft / Hard                     type OnIdle / Immediate
UnlockConnector        connectorId = target                 evseId = target, connectorId 1
TriggerMessage         requestedMessage StatusNotification  the same, no EVSE: every one
=====================  ===================================  ================================

The answer's status text becomes ACCEPTED (Accepted, Unlocked), SCHEDULED
(Scheduled), NOT_SUPPORTED (NotSupported, NotImplemented) or REJECTED (any
other: Rejected, UnlockFailed, OngoingAuthorizedTransaction, UnknownConnector);
a CALLERROR NotImplemented/NotSupported is NOT_SUPPORTED, any other CALLERROR,
an answer breaking the schema or a lost connection FAILED (with a reason), no
answer within the timeout TIMEOUT. One CALL is outstanding per connection
(OCPP-J): concurrent commands queue, and the timeout counts the wait.

Limits
------
* ``max_message_bytes`` (default 65536, UTF-8 bytes): a larger CALL is answered with
  CALLERROR ``GenericError`` ("Message exceeds N bytes") and the connection stays open;
  a larger non-CALL frame is dropped.  The frame has already been received in full by
  then, so also bound the transport (uvicorn ``ws_max_size``, default 16 MiB), which
  closes with 1009 beyond it.
* ``rate`` (a :class:`MessageRate`, ``None`` disables): a sliding 60-second window
  per station, kept by the caller across the station's connections.  Frames beyond it get CALLERROR ``GenericError`` ("Rate limit
  exceeded ...") without touching the backend; the first rejection of a burst and every
  100th are logged as warnings.  Every frame is followed by an event-loop yield, so a
  flooding station cannot monopolise the loop, and rejected frames cost one regular
  expression on the first 256 characters.
* Frames rejected by either limit do not call ``backend.touched()``.
* Logging: ``graph.chargestations.protocol`` logs connections and rejected frames;
  ``graph.chargestations.protocol.ocpp`` is the package's logger, at WARNING (it logs
  every frame sent at INFO): tracebacks of failing handlers/backends at ERROR.
* 1.6 transactionIds come from one process-wide counter seeded with the Unix time in
  seconds at import: increasing, unique within the process, and increasing across restarts
  unless more than one transaction per second was started on average.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from ocpp import v16, v201
from ocpp.routing import after, on
from ocpp.v16 import call_result as result16
from ocpp.v16 import datatypes as types16
from ocpp.v16 import enums as enums16
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201
from ocpp.v201 import enums as enums201

from graph.compat.ocpp import (
    DIALECT_16,
    DIALECT_201,
    ConnectionLost,
    InvalidAnswer,
    OcppJRouting,
    StationError,
)

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "SUBPROTOCOLS",
    "Command",
    "CommandOutcome",
    "Commander",
    "Connection",
    "MessageRate",
    "StarletteConnection",
    "StationBackend",
    "StationDisconnected",
    "StoredStatus",
    "choose_subprotocol",
    "serve_station",
]

LOGGER = logging.getLogger(__name__)

#: Subprotocols in server preference order.
SUBPROTOCOLS: Final = ("ocpp2.0.1", "ocpp1.6")
DEFAULT_MAX_MESSAGE_BYTES: Final = 65536

StoredStatus = Literal[
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEVSE",
    "SuspendedEV",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
    "Occupied",
]


def choose_subprotocol(offered: list[str]) -> str | None:
    """The subprotocol to accept, spelled as the station offered it, or None.

    Matching is case-insensitive (some stations send ``OCPP1.6``); the server's
    preference (:data:`SUBPROTOCOLS`) wins over the station's order.
    """
    by_name = {name.strip().lower(): name for name in reversed(offered)}
    for name in SUBPROTOCOLS:
        if name in by_name:
            return by_name[name]
    return None


class StationBackend(Protocol):
    """What :func:`serve_station` needs from ChargeGraph; one instance per connection.

    All methods are coroutines.  An exception raised by one is logged and answered with
    CALLERROR InternalError (``touched`` only logs); the connection stays open.
    """

    @property
    def heartbeat_interval(self) -> int:
        """Seconds; sent as ``interval`` in the BootNotification answer.  A plain
        attribute satisfies this too."""
        ...

    async def touched(self) -> None:
        """Any frame was received (after the size and rate limits): renew the
        connection lease and lastMessageAt."""
        ...

    async def boot(
        self,
        vendor: str,
        model: str,
        serial_number: str | None,
        firmware_version: str | None,
    ) -> None:
        """BootNotification (1.6 chargePointSerialNumber, else chargeBoxSerialNumber)."""
        ...

    async def heartbeat(self) -> None:
        """Heartbeat received."""
        ...

    async def boot_answered(self) -> None:
        """The BootNotification was answered: the station may now be sent commands."""
        ...

    async def connector_status(
        self, ocpp_connector_id: int, status: StoredStatus, error_code: str | None
    ) -> None:
        """Status of 1.6 connectorId >= 1 or 2.0.1 evseId >= 1 (see module docstring).
        Unknown ids are the backend's business: just return."""
        ...

    async def station_status(self, status: StoredStatus, error_code: str | None) -> None:
        """Status of the station as a whole (1.6 connectorId 0, 2.0.1 evseId 0 or a
        ChargingStation AvailabilityState report)."""
        ...

    async def free_vend(self) -> bool:
        """Accept any idTag / idToken?  False answers Invalid."""
        ...


class Connection(Protocol):
    """A text WebSocket as :func:`serve_station` uses it.

    ``recv`` returns the next text frame and raises (any exception, preferably
    :class:`StationDisconnected`) once the connection is closed; ``send`` writes a text
    frame.  ``websockets`` connections fit as they are (a binary frame, returned as
    bytes, is decoded as UTF-8); for Starlette use :class:`StarletteConnection`.
    """

    async def recv(self) -> str: ...

    async def send(self, message: str, /) -> None: ...


class StationDisconnected(Exception):
    """The station closed the WebSocket."""

    def __init__(self, code: int = 1000) -> None:
        super().__init__(f"WebSocket closed with code {code}")
        self.code = code


class StarletteConnection:
    """:class:`Connection` over an accepted ``starlette.websockets.WebSocket``."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def recv(self) -> str:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise StationDisconnected(int(message.get("code") or 1000))
        text = message.get("text")
        if text is not None:
            return str(text)
        data = message.get("bytes")
        # OCPP-J uses text frames; a binary frame is read as UTF-8 and then parsed
        # like any other frame (invalid UTF-8 sequences become U+FFFD).
        return bytes(data or b"").decode("utf-8", errors="replace")

    async def send(self, message: str, /) -> None:
        await self.websocket.send_text(message)


# --------------------------------------------------------------------------- errors


class _Transport:
    """The connection as the ``ocpp`` ChargePoint sees it; marks send failures."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def recv(self) -> str:  # unused: serve_station reads the connection itself
        return await self._connection.recv()

    async def send(self, message: str) -> None:
        try:
            await self._connection.send(message)
        except Exception as exc:
            raise ConnectionLost(str(exc)) from exc


# --------------------------------------------------------------------------- handlers


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_transaction_ids = itertools.count(int(time.time()))

_STATUS_16: Final[Mapping[str, StoredStatus]] = {
    "Available": "Available",
    "Preparing": "Preparing",
    "Charging": "Charging",
    "SuspendedEVSE": "SuspendedEVSE",
    "SuspendedEV": "SuspendedEV",
    "Finishing": "Finishing",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
_CONNECTOR_STATUS_201: Final[Mapping[str, StoredStatus]] = {
    "Available": "Available",
    "Occupied": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
_CHARGING_STATE_201: Final[Mapping[str, StoredStatus]] = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "EVConnected": "Preparing",
    # "Idle": no EV connected; drops the refinement.
}
_AGGREGATE_ORDER: Final[tuple[StoredStatus, ...]] = (
    "Occupied",
    "Reserved",
    "Available",
    "Faulted",
    "Unavailable",
)
_MAX_TRACKED: Final = 128  # per connection and table: a station cannot grow memory


class _EvseTracker:
    """2.0.1 EVSE status of one connection: connector statuses + transaction refinement."""

    def __init__(self) -> None:
        self._connectors: dict[int, dict[int, StoredStatus]] = {}
        self._refined: dict[int, StoredStatus] = {}
        self._tx_evse: dict[str, int] = {}
        self._reported: dict[int, StoredStatus] = {}

    @staticmethod
    def _put(table: dict[Any, Any], key: Any, value: Any) -> None:
        if key in table or len(table) < _MAX_TRACKED:
            table[key] = value

    def _base(self, evse_id: int) -> StoredStatus | None:
        connectors = self._connectors.get(evse_id)
        if not connectors:
            return None
        present = set(connectors.values())
        return next((status for status in _AGGREGATE_ORDER if status in present), "Unavailable")

    def _current(self, evse_id: int) -> StoredStatus | None:
        base = self._base(evse_id)
        if base in (None, "Occupied"):
            return self._refined.get(evse_id, base)
        return base

    def status_notification(
        self, evse_id: int, connector_id: int, status: StoredStatus
    ) -> StoredStatus:
        connectors = self._connectors.get(evse_id)
        if connectors is None:
            connectors = {}
            self._put(self._connectors, evse_id, connectors)
        self._put(connectors, connector_id, status)
        if self._base(evse_id) != "Occupied":
            self._refined.pop(evse_id, None)
        current = self._current(evse_id) or status
        self._put(self._reported, evse_id, current)
        return current

    def transaction_event(
        self,
        event_type: str,
        transaction_id: str,
        evse_id: int | None,
        charging_state: str | None,
    ) -> tuple[int, StoredStatus] | None:
        """The (evseId, status) to report, when the stored status changes."""
        if evse_id is None:
            evse_id = self._tx_evse.get(transaction_id)
        if evse_id is None:
            return None
        if event_type == "Ended":
            self._tx_evse.pop(transaction_id, None)
            if self._base(evse_id) == "Occupied":
                self._put(self._refined, evse_id, "Finishing")
            else:
                self._refined.pop(evse_id, None)
        else:
            self._put(self._tx_evse, transaction_id, evse_id)
            refined = _CHARGING_STATE_201.get(charging_state or "")
            if refined is not None:
                self._put(self._refined, evse_id, refined)
            elif charging_state is not None or event_type == "Started":
                self._refined.pop(evse_id, None)  # Idle, or a new transaction
        current = self._current(evse_id)
        if current is None or self._reported.get(evse_id) == current:
            return None
        self._put(self._reported, evse_id, current)
        return evse_id, current


class _StationSession:
    """Per-connection state shared by the version-specific handlers."""

    def __init__(self, backend: StationBackend) -> None:
        self.backend = backend
        self.evses = _EvseTracker()

    async def boot(
        self, vendor: str, model: str, serial: str | None, firmware: str | None
    ) -> tuple[str, int]:
        await self.backend.boot(vendor, model, serial, firmware)
        return _now(), int(self.backend.heartbeat_interval)

    async def heartbeat(self) -> str:
        await self.backend.heartbeat()
        return _now()

    async def accepted(self) -> bool:
        return bool(await self.backend.free_vend())

    async def availability_reports(self, items: list[Any], value_of: Callable[[Any], Any]) -> None:
        """ChargingStation AvailabilityState in NotifyEvent / NotifyReport items."""
        for item in items:
            if not isinstance(item, dict):
                continue
            component, variable = item.get("component") or {}, item.get("variable") or {}
            if (
                component.get("name") == "ChargingStation"
                and not component.get("evse")
                and variable.get("name") == "AvailabilityState"
            ):
                status = _CONNECTOR_STATUS_201.get(str(value_of(item)))
                if status is not None:
                    await self.backend.station_status(status, None)


def _report_value(item: Mapping[str, Any]) -> Any:
    for attribute in item.get("variable_attribute") or []:
        if attribute.get("type", "Actual") == "Actual":
            return attribute.get("value")
    return None


class _CentralSystem16(OcppJRouting, v16.ChargePoint):
    _dialect = DIALECT_16

    def __init__(self, endpoint: str, transport: _Transport, session: _StationSession) -> None:
        super().__init__(endpoint, transport, logger=_PACKAGE_LOGGER)
        self.session = session

    @on(enums16.Action.boot_notification)
    async def on_boot_notification(
        self,
        charge_point_vendor: str,
        charge_point_model: str,
        charge_point_serial_number: str | None = None,
        charge_box_serial_number: str | None = None,
        firmware_version: str | None = None,
        **_: Any,
    ) -> Any:
        serial = charge_point_serial_number or charge_box_serial_number
        now, interval = await self.session.boot(
            charge_point_vendor, charge_point_model, serial, firmware_version
        )
        return result16.BootNotification(
            current_time=now, interval=interval, status=enums16.RegistrationStatus.accepted
        )

    @after(enums16.Action.boot_notification)
    async def after_boot_notification(self, **_: Any) -> None:
        await _guarded("boot_answered", self.id, self.session.backend.boot_answered)

    @on(enums16.Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> Any:
        return result16.Heartbeat(current_time=await self.session.heartbeat())

    @on(enums16.Action.status_notification)
    async def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **_: Any
    ) -> Any:
        stored = _STATUS_16[status]
        error = None if error_code == "NoError" else error_code
        if connector_id == 0:
            await self.session.backend.station_status(stored, error)
        else:
            await self.session.backend.connector_status(connector_id, stored, error)
        return result16.StatusNotification()

    async def _id_tag_info(self) -> Any:
        accepted = await self.session.accepted()
        return types16.IdTagInfo(
            status=enums16.AuthorizationStatus.accepted
            if accepted
            else enums16.AuthorizationStatus.invalid
        )

    @on(enums16.Action.authorize)
    async def on_authorize(self, **_: Any) -> Any:
        return result16.Authorize(id_tag_info=await self._id_tag_info())

    @on(enums16.Action.start_transaction)
    async def on_start_transaction(self, **_: Any) -> Any:
        return result16.StartTransaction(
            transaction_id=next(_transaction_ids), id_tag_info=await self._id_tag_info()
        )

    @on(enums16.Action.stop_transaction)
    async def on_stop_transaction(self, **_: Any) -> Any:
        return result16.StopTransaction()

    @on(enums16.Action.meter_values)
    async def on_meter_values(self, **_: Any) -> Any:
        return result16.MeterValues()

    @on(enums16.Action.data_transfer)
    async def on_data_transfer(self, **_: Any) -> Any:
        return result16.DataTransfer(status=enums16.DataTransferStatus.unknown_vendor_id)

    @on(enums16.Action.firmware_status_notification)
    async def on_firmware_status_notification(self, **_: Any) -> Any:
        return result16.FirmwareStatusNotification()

    @on(enums16.Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, **_: Any) -> Any:
        return result16.DiagnosticsStatusNotification()

    @on(enums16.Action.security_event_notification)
    async def on_security_event_notification(self, **_: Any) -> Any:
        return result16.SecurityEventNotification()

    @on(enums16.Action.log_status_notification)
    async def on_log_status_notification(self, **_: Any) -> Any:
        return result16.LogStatusNotification()

    @on(enums16.Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(self, **_: Any) -> Any:
        return result16.SignedFirmwareStatusNotification()


class _CentralSystem201(OcppJRouting, v201.ChargePoint):
    _dialect = DIALECT_201

    def __init__(self, endpoint: str, transport: _Transport, session: _StationSession) -> None:
        super().__init__(endpoint, transport, logger=_PACKAGE_LOGGER)
        self.session = session

    @on(enums201.Action.boot_notification)
    async def on_boot_notification(self, charging_station: dict[str, Any], **_: Any) -> Any:
        now, interval = await self.session.boot(
            charging_station["vendor_name"],
            charging_station["model"],
            charging_station.get("serial_number"),
            charging_station.get("firmware_version"),
        )
        return result201.BootNotification(
            current_time=now,
            interval=interval,
            status=enums201.RegistrationStatusEnumType.accepted,
        )

    @after(enums201.Action.boot_notification)
    async def after_boot_notification(self, **_: Any) -> None:
        await _guarded("boot_answered", self.id, self.session.backend.boot_answered)

    @on(enums201.Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> Any:
        return result201.Heartbeat(current_time=await self.session.heartbeat())

    @on(enums201.Action.status_notification)
    async def on_status_notification(
        self, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> Any:
        stored = _CONNECTOR_STATUS_201[connector_status]
        if evse_id == 0:
            await self.session.backend.station_status(stored, None)
        else:
            current = self.session.evses.status_notification(evse_id, connector_id, stored)
            await self.session.backend.connector_status(evse_id, current, None)
        return result201.StatusNotification()

    async def _id_token_info(self) -> Any:
        accepted = await self.session.accepted()
        return types201.IdTokenInfoType(
            status=enums201.AuthorizationStatusEnumType.accepted
            if accepted
            else enums201.AuthorizationStatusEnumType.invalid
        )

    @on(enums201.Action.authorize)
    async def on_authorize(self, **_: Any) -> Any:
        return result201.Authorize(id_token_info=await self._id_token_info())

    @on(enums201.Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        transaction_info: dict[str, Any],
        evse: dict[str, Any] | None = None,
        id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        change = self.session.evses.transaction_event(
            event_type,
            transaction_info["transaction_id"],
            evse["id"] if evse else None,
            transaction_info.get("charging_state"),
        )
        if change is not None and change[0] != 0:
            await self.session.backend.connector_status(change[0], change[1], None)
        if id_token is None:
            return result201.TransactionEvent()
        return result201.TransactionEvent(id_token_info=await self._id_token_info())

    @on(enums201.Action.meter_values)
    async def on_meter_values(self, **_: Any) -> Any:
        return result201.MeterValues()

    @on(enums201.Action.data_transfer)
    async def on_data_transfer(self, **_: Any) -> Any:
        return result201.DataTransfer(status=enums201.DataTransferStatusEnumType.unknown_vendor_id)

    @on(enums201.Action.firmware_status_notification)
    async def on_firmware_status_notification(self, **_: Any) -> Any:
        return result201.FirmwareStatusNotification()

    @on(enums201.Action.security_event_notification)
    async def on_security_event_notification(self, **_: Any) -> Any:
        return result201.SecurityEventNotification()

    @on(enums201.Action.log_status_notification)
    async def on_log_status_notification(self, **_: Any) -> Any:
        return result201.LogStatusNotification()

    @on(enums201.Action.notify_event)
    async def on_notify_event(self, event_data: list[Any], **_: Any) -> Any:
        await self.session.availability_reports(event_data, lambda item: item.get("actual_value"))
        return result201.NotifyEvent()

    @on(enums201.Action.notify_report)
    async def on_notify_report(self, report_data: list[Any] | None = None, **_: Any) -> Any:
        await self.session.availability_reports(report_data or [], _report_value)
        return result201.NotifyReport()


#: The package logs every frame sent at INFO and handler tracebacks; keep them apart.
_PACKAGE_LOGGER = logging.getLogger(__name__ + ".ocpp")
# The package logs every frame it sends at INFO: thousands of lines a minute
# for a network. Its warnings and errors (a failing handler) still show.
_PACKAGE_LOGGER.setLevel(logging.WARNING)

_CENTRAL_SYSTEMS: Final[Mapping[str, type[_CentralSystem16] | type[_CentralSystem201]]] = {
    "ocpp1.6": _CentralSystem16,
    "ocpp2.0.1": _CentralSystem201,
}


# --------------------------------------------------------------------------- commands

CommandAction = Literal["ChangeAvailability", "Reset", "UnlockConnector", "TriggerMessage"]


@dataclass(frozen=True)
class Command:
    """One command to a station.

    `target` is the OCPP connectorId (1.6) or evseId (2.0.1) it concerns; None
    means the whole station.
    """

    action: CommandAction
    target: int | None = None
    # ChangeAvailability: Operative (True) or Inoperative (False).
    operative: bool = True
    # Reset: Hard (1.6) / Immediate (2.0.1) rather than Soft / OnIdle.
    hard: bool = False


@dataclass(frozen=True)
class CommandOutcome:
    """How a command ended: ACCEPTED, REJECTED, SCHEDULED, FAILED, TIMEOUT or NOT_SUPPORTED;
    `answer` is the station's own status text, `reason` why it failed."""

    status: str
    answer: str | None = None
    reason: str | None = None


_ANSWERS: Final[Mapping[str, str]] = {
    "Accepted": "ACCEPTED",
    "Unlocked": "ACCEPTED",
    "Scheduled": "SCHEDULED",
    "NotSupported": "NOT_SUPPORTED",
    "NotImplemented": "NOT_SUPPORTED",
}
_UNSUPPORTED_ERRORS: Final = frozenset({"NotImplemented", "NotSupported"})


def _payload_16(command: Command) -> dict[str, Any]:
    if command.action == "ChangeAvailability":
        kind = "Operative" if command.operative else "Inoperative"
        return {"connectorId": command.target or 0, "type": kind}
    if command.action == "Reset":
        return {"type": "Hard" if command.hard else "Soft"}
    if command.action == "UnlockConnector":
        return {"connectorId": command.target}
    trigger: dict[str, Any] = {"requestedMessage": "StatusNotification"}
    if command.target is not None:
        trigger["connectorId"] = command.target
    return trigger


def _payload_201(command: Command) -> dict[str, Any]:
    if command.action == "ChangeAvailability":
        change: dict[str, Any] = {
            "operationalStatus": "Operative" if command.operative else "Inoperative"
        }
        if command.target is not None:
            change["evse"] = {"id": command.target}
        return change
    if command.action == "Reset":
        return {"type": "Immediate" if command.hard else "OnIdle"}
    if command.action == "UnlockConnector":
        return {"evseId": command.target, "connectorId": 1}
    trigger: dict[str, Any] = {"requestedMessage": "StatusNotification"}
    if command.target is not None:
        trigger["evse"] = {"id": command.target}
    return trigger


class Commander:
    """Sends commands over one station connection (see "Commands" above)."""

    def __init__(
        self, station: _CentralSystem16 | _CentralSystem201, payload: Callable[[Command], Any]
    ) -> None:
        self._station = station
        self._payload = payload

    async def execute(self, command: Command, within: float) -> CommandOutcome:
        """Send `command`; `within` seconds from now (waiting for an earlier command included)."""
        try:
            async with asyncio.timeout(within):
                answer = await self._station.request(command.action, self._payload(command), within)
        except TimeoutError:
            return CommandOutcome("TIMEOUT", reason=f"no answer within {within:.1f} s")
        except StationError as error:
            status = "NOT_SUPPORTED" if error.code in _UNSUPPORTED_ERRORS else "FAILED"
            return CommandOutcome(status, reason=f"the station answered CALLERROR {error}")
        except InvalidAnswer as error:
            return CommandOutcome("FAILED", reason=str(error))
        except ConnectionLost as error:
            return CommandOutcome("FAILED", reason=f"the connection was lost: {error}")
        text = str(answer.get("status"))
        return CommandOutcome(_ANSWERS.get(text, "REJECTED"), answer=text)


# --------------------------------------------------------------------------- limits


class MessageRate:
    """At most ``limit`` admitted frames in any sliding ``window`` seconds.

    One per station, kept by the caller across its connections, so reconnecting
    does not renew the allowance.
    """

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._stamps: deque[float] = deque()
        self.rejected = 0

    def idle(self, now: float) -> bool:
        """Nothing admitted within the window: forgetting it changes nothing."""
        return not self._stamps or self._stamps[-1] <= now - self.window

    def admit(self, now: float) -> bool:
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        if len(self._stamps) >= self.limit:
            self.rejected += 1
            return False
        if self.rejected:
            self.rejected = 0
        self._stamps.append(now)
        return True


_CALL_PREFIX = re.compile(r'\A\s*\[\s*2\s*,\s*(?:"((?:[^"\\]|\\.){1,100})")?')


def _call_id(raw: str) -> tuple[bool, str]:
    """(is it a CALL, its messageId or "-1"), read from the start of the frame only."""
    match = _CALL_PREFIX.match(raw[:256])
    if match is None:
        return False, "-1"
    if match.group(1) is None:
        return True, "-1"
    try:
        unique_id = json.loads(f'"{match.group(1)}"')
    except ValueError:
        return True, "-1"
    return True, unique_id if isinstance(unique_id, str) else "-1"


def _too_big(text: str, limit: int) -> bool:
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", errors="surrogatepass")) > limit


async def _guarded(what: str, endpoint: str, action: Callable[[], Awaitable[None]]) -> None:
    try:
        await action()
    except Exception:
        LOGGER.exception("station %s: backend.%s failed", endpoint, what)


# --------------------------------------------------------------------------- serve


async def serve_station(
    connection: Connection,
    subprotocol: str,
    endpoint: str,
    backend: StationBackend,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    rate: MessageRate | None = None,
    attach: Callable[[Commander], None] | None = None,
) -> None:
    """Serve one station over an accepted WebSocket until it closes.

    ``subprotocol`` is the one accepted (see :func:`choose_subprotocol`; case does not
    matter); ``endpoint`` is the station identity from the URL, used in logs.  Returns
    normally once ``connection.recv()`` or ``connection.send()`` raises (the connection
    is gone); cancellation propagates.  Raises ValueError for an unsupported subprotocol.
    Does not close the connection itself. ``attach`` receives the connection's
    :class:`Commander` before the first frame is read.
    """
    cls = _CENTRAL_SYSTEMS.get(subprotocol.strip().lower())
    if cls is None:
        raise ValueError(f"unsupported OCPP subprotocol {subprotocol!r}")
    station = cls(endpoint, _Transport(connection), _StationSession(backend))
    if attach is not None:
        attach(Commander(station, _payload_16 if cls is _CentralSystem16 else _payload_201))
    limiter = rate
    LOGGER.info("station %s connected (%s)", endpoint, subprotocol)
    try:
        while True:
            try:
                raw: str | bytes = await connection.recv()
            except StationDisconnected as closed:
                LOGGER.info("station %s disconnected (code %s)", endpoint, closed.code)
                return
            except Exception as exc:
                LOGGER.info("station %s: connection ended: %r", endpoint, exc)
                return
            if not isinstance(raw, str):
                raw = bytes(raw).decode("utf-8", errors="replace")
            if _too_big(raw, max_message_bytes):
                is_call, unique_id = _call_id(raw)
                LOGGER.warning(
                    "station %s: %d-character frame exceeds %d bytes",
                    endpoint,
                    len(raw),
                    max_message_bytes,
                )
                if is_call:
                    await station.reply_error(
                        unique_id, "GenericError", f"Message exceeds {max_message_bytes} bytes"
                    )
            elif limiter is not None and not limiter.admit(time.monotonic()):
                if limiter.rejected % 100 == 1:
                    LOGGER.warning(
                        "station %s: rate limit of %d messages per minute exceeded "
                        "(%d rejected in this burst)",
                        endpoint,
                        limiter.limit,
                        limiter.rejected,
                    )
                is_call, unique_id = _call_id(raw)
                if is_call:
                    await station.reply_error(
                        unique_id,
                        "GenericError",
                        f"Rate limit exceeded: at most {limiter.limit} messages per minute",
                    )
            else:
                await _guarded("touched", endpoint, backend.touched)
                await station.route_message(raw)
            await asyncio.sleep(0)  # a station with a full receive buffer must yield
    except ConnectionLost as lost:
        LOGGER.info("station %s: send failed, connection gone: %s", endpoint, lost)
