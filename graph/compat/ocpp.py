"""The `ocpp` package's internals ChargeGraph relies on (ocpp 2.1), and its corrections.

`ocpp.ChargePoint.route_message` is replaced by `OcppJRouting.route_message`
(mixed in before `ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint`), which
relies on these attributes of the package's ChargePoint:

- `_handle_call(msg: Call)`: handler dispatch, camelCase <-> snake_case,
  InternalError for a raising handler, response validation;
- `_send(message: str)`, `_call_lock`, `_response_queue`, `route_map`, `id`;
- `_get_specific_response(unique_id, timeout)`: the answer to one CALL sent by
  `OcppJRouting.request` (commands to the station).

`tests/core/test_compat.py` fails if an upgrade removes or renames them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator
from ocpp.v16 import enums as enums16
from ocpp.v201 import enums as enums201

__all__ = [
    "DIALECT_16",
    "DIALECT_201",
    "ConnectionLost",
    "Dialect",
    "InvalidAnswer",
    "OcppJRouting",
    "StationError",
]

LOGGER = logging.getLogger("graph.chargestations.protocol")


@dataclass(frozen=True)
class Dialect:
    """CALLERROR codes that differ between OCPP-J 1.6 and 2.0.1."""

    version: str
    actions: frozenset[str]  # every action the version defines, either direction
    format_violation: str
    rpc_framework: str
    message_type: str
    required_missing: str
    occurrence: str


DIALECT_16 = Dialect(
    version="1.6",
    actions=frozenset(action.value for action in enums16.Action),
    format_violation="FormationViolation",
    rpc_framework="FormationViolation",
    message_type="FormationViolation",
    required_missing="ProtocolError",
    occurrence="OccurenceConstraintViolation",  # sic: 1.6 errata, "will not be fixed"
)
DIALECT_201 = Dialect(
    version="2.0.1",
    actions=frozenset(action.value for action in enums201.Action),
    format_violation="FormatViolation",
    rpc_framework="RpcFrameworkError",
    message_type="MessageTypeNotSupported",
    required_missing="OccurrenceConstraintViolation",
    occurrence="OccurrenceConstraintViolation",
)

_TYPE_ERRORS: Final = frozenset({"type", "maxLength", "minLength"})
_PROPERTY_ERRORS: Final = frozenset(
    {"enum", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
)
_OCCURRENCE_ERRORS: Final = frozenset({"minItems", "maxItems", "uniqueItems"})


class ConnectionLost(Exception):
    """Sending failed: the WebSocket is gone."""


class StationError(Exception):
    """The station answered a CALL with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code


class InvalidAnswer(Exception):
    """The station's CALLRESULT does not follow the action's schema."""


def _clip(text: str, limit: int = 255) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OcppJRouting:
    """THE one place where the ``ocpp`` package's frame handling is corrected.

    Overrides ``ocpp.ChargePoint.route_message`` (mixed in before
    ``ocpp.v16.ChargePoint`` / ``ocpp.v201.ChargePoint``).  The package's version:

    * logs and drops frames ``ocpp.messages.unpack`` rejects (not JSON, not an array,
      unknown messageTypeId, wrong length) instead of answering a CALLERROR;
    * raises out of the loop for an unhashable action (``[2, "1", [], {}]``);
    * answers an unknown action with NotSupported and a known unhandled one with
      NotImplemented (the spec says the opposite);
    * maps schema errors with 2.0.1 names only (FormatViolation in 1.6, ProtocolError
      for a missing field in 2.0.1) and calls ``handler(**payload)`` on non-objects;
    * turns a failing response validation into a misleading CALLERROR code;
    * queues every CALLRESULT/CALLERROR, wanted or not, in an unbounded queue.

    Here the frame is checked first; a valid CALL goes to the package's
    ``_handle_call`` (handler dispatch, camelCase <-> snake_case, InternalError for a
    raising handler, response validation), the one private method relied upon.
    """

    _dialect: Dialect

    if TYPE_CHECKING:  # provided by ocpp.ChargePoint
        id: str
        logger: logging.Logger
        route_map: dict[str, dict[str, Any]]
        _call_lock: asyncio.Lock
        _response_queue: asyncio.Queue[Any]

        async def _send(self, message: str) -> None: ...

        async def _handle_call(self, msg: Call) -> Any: ...

        async def _get_specific_response(self, unique_id: str, seconds: float) -> Any: ...

    async def request(
        self, action: str, payload: dict[str, Any], answer_within: float
    ) -> dict[str, Any]:
        """Send a CALL to the station and return its CALLRESULT payload (camelCase).

        One CALL is outstanding at a time (the package's call lock; OCPP-J allows
        one per direction), so concurrent requests queue; `answer_within` (seconds)
        counts from the moment this one is sent. Raises StationError for a CALLERROR,
        InvalidAnswer for an answer that breaks the schema, TimeoutError, or
        ConnectionLost.
        """
        call = Call(str(uuid.uuid4()), action, payload)
        async with self._call_lock:
            await self._send(call.to_json())
            response = await self._get_specific_response(call.unique_id, answer_within)
        if isinstance(response, CallError):
            raise StationError(str(response.error_code), str(response.error_description or ""))
        answer = response.payload
        if not isinstance(answer, dict):
            raise InvalidAnswer(f"the {action} answer is not a JSON object")
        validator = get_validator(MessageType.CallResult, action, self._dialect.version)
        problem = next(iter(validator.iter_errors(answer)), None)
        if problem is not None:
            raise InvalidAnswer(
                f"the {action} answer breaks its schema: {getattr(problem, 'message', problem)}"
            )
        return answer

    async def reply_error(
        self, unique_id: str, code: str, description: str, cause: str | None = None
    ) -> None:
        details = {"cause": _clip(cause, 1000)} if cause else {}
        await self._send(CallError(unique_id, code, _clip(description), details).to_json())

    async def _reject(
        self,
        unique_id: str | None,
        code: str,
        description: str,
        raw: str,
        cause: str | None = None,
    ) -> None:
        reason = f"{description}: {cause}" if cause else description
        LOGGER.warning("station %s: %s (%s): %.200r", self.id, code, reason, raw)
        await self.reply_error(unique_id or "-1", code, description, cause)

    async def route_message(self, raw_msg: str) -> None:
        dialect = self._dialect
        try:
            frame = json.loads(raw_msg)
        except (ValueError, RecursionError):
            await self._reject(None, dialect.rpc_framework, "Message is not valid JSON", raw_msg)
            return
        if not isinstance(frame, list) or not frame:
            await self._reject(
                None, dialect.rpc_framework, "Message is not a non-empty JSON array", raw_msg
            )
            return
        type_id = frame[0]
        unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) and frame[1] else None
        if type(type_id) is not int:
            await self._reject(
                unique_id, dialect.rpc_framework, "MessageTypeId is not an integer", raw_msg
            )
        elif type_id in (MessageType.CallResult, MessageType.CallError):
            self._take_response(frame, raw_msg)
        elif type_id != MessageType.Call:
            await self._reject(
                unique_id,
                dialect.message_type,
                f"MessageTypeId {type_id} is not supported",
                raw_msg,
            )
        elif unique_id is None:
            await self._reject(None, dialect.rpc_framework, "MessageId could not be read", raw_msg)
        elif len(frame) != 4 or not isinstance(frame[2], str):
            await self._reject(
                unique_id,
                dialect.rpc_framework,
                "CALL must be [2, messageId, action, payload] with a string action",
                raw_msg,
            )
        elif not isinstance(frame[3], dict):
            await self._reject(
                unique_id, dialect.format_violation, "Payload is not a JSON object", raw_msg
            )
        else:
            await self._route_call(Call(unique_id, frame[2], frame[3]), raw_msg)

    def _take_response(self, frame: list[Any], raw: str) -> None:
        """Hand a CALLRESULT/CALLERROR to a pending ``call()``; otherwise drop it.

        A malformed one whose messageId can be read still ends the pending call
        (as an answer with no payload: `request` reports it as invalid) rather
        than leaving it to time out.
        """
        unique_id = frame[1] if len(frame) > 1 else None
        shape_ok = isinstance(unique_id, str) and (
            (frame[0] == MessageType.CallResult and len(frame) == 3)
            or (frame[0] == MessageType.CallError and len(frame) == 5)
        )
        if not shape_ok and isinstance(unique_id, str) and self._call_lock.locked():
            LOGGER.info("station %s: malformed response %.200r", self.id, raw)
            self._response_queue.put_nowait(CallResult(unique_id, None))
            return
        if not shape_ok or not self._call_lock.locked():
            LOGGER.info(
                "station %s: dropped unsolicited or malformed response %.200r", self.id, raw
            )
            return
        if frame[0] == MessageType.CallResult:
            self._response_queue.put_nowait(CallResult(frame[1], frame[2]))
        else:
            self._response_queue.put_nowait(CallError(*frame[1:]))

    async def _route_call(self, msg: Call, raw: str) -> None:
        dialect = self._dialect
        if msg.action not in self.route_map:
            if msg.action in dialect.actions:
                code, text = "NotSupported", f"{msg.action} is recognized but not supported"
            else:
                code, text = "NotImplemented", f"{msg.action} is not known by the receiver"
            LOGGER.info("station %s: %s for %s", self.id, code, msg.action)
            await self.reply_error(msg.unique_id, code, text)
            return
        problem = self._schema_problem(msg)
        if problem is not None:
            code, cause = problem
            await self._reject(
                msg.unique_id, code, f"Payload for {msg.action} is invalid", raw, cause
            )
            return
        try:
            # Validates again (cached validator, cheap), runs the handler, answers.
            await self._handle_call(msg)
        except ConnectionLost:
            raise
        except Exception:
            # The handler itself is guarded by the package; this is the response
            # failing its schema or a serialisation bug: our fault, not the station's.
            LOGGER.exception("station %s: could not answer %s", self.id, msg.action)
            await self.reply_error(msg.unique_id, "InternalError", "Could not build the response")

    def _schema_problem(self, msg: Call) -> tuple[str, str] | None:
        dialect = self._dialect
        validator = get_validator(MessageType.Call, msg.action, dialect.version)
        error = next(iter(validator.iter_errors(msg.payload)), None)
        if error is None:
            return None
        kind = str(getattr(error, "validator", ""))
        cause = str(getattr(error, "message", error))
        if kind in _TYPE_ERRORS:
            return "TypeConstraintViolation", cause
        if kind in _PROPERTY_ERRORS:
            return "PropertyConstraintViolation", cause
        if kind == "required":
            return dialect.required_missing, cause
        if kind in _OCCURRENCE_ERRORS:
            return dialect.occurrence, cause
        return dialect.format_violation, cause
