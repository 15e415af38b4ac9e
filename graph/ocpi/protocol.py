"""OCPI 2.2.1 transport: the response envelope, status codes, tokens and their encoding."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

VERSION = "2.2.1"

SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
SERVER_ERROR = 3000
UNABLE_TO_USE_CLIENT_API = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003

# A credentials token: printable, non-whitespace ASCII, at most 64 characters.
TOKEN_PATTERN = re.compile(r"^[\x21-\x7e]{1,64}$")
# X-Request-ID is echoed for every request by the application (graph.core.observability).
_ECHOED_HEADERS = ("X-Correlation-ID",)


class OcpiError(Exception):
    """A refused OCPI request: its OCPI status code, HTTP status and message."""

    def __init__(self, status_code: int, message: str, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.http_status = http_status
        self.message = message


def unknown_object(kind: str, name: str, held: str) -> OcpiError:
    """2003 (HTTP 404): no such Location, EVSE or Connector is `held` ("published", ...)."""
    return OcpiError(UNKNOWN_LOCATION, f"no {kind} {name[:40]!r} is {held}", http_status=404)


def member(
    members: list[dict[str, Any]], key: str, name: str, kind: str, held: str
) -> dict[str, Any]:
    """The EVSE or Connector among `members` whose `key` is `name` (ids are CiStrings:
    compared without case), or 2003."""
    for found in members:
        if str(found.get(key, "")).upper() == name.upper():
            return found
    raise unknown_object(kind, name, held)


def timestamp() -> str:
    """The current instant as OCPI writes it: RFC 3339, UTC, `Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(
    request: Request,
    data: Any = None,
    *,
    status_code: int = SUCCESS,
    message: str = "Success",
    http_status: int = 200,
) -> JSONResponse:
    """An OCPI answer: `{data, status_code, status_message, timestamp}` with the request's ids."""
    body: dict[str, Any] = {
        "status_code": status_code,
        "status_message": message,
        "timestamp": timestamp(),
    }
    if data is not None:
        body["data"] = data
    headers = {name: request.headers[name] for name in _ECHOED_HEADERS if name in request.headers}
    return _Answer(body, status_code=http_status, headers=headers)


class _Answer(JSONResponse):
    """JSON in UTF-8 written by orjson: a page of 100 Locations took milliseconds with the
    standard library's encoder."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # what orjson does not take (integers beyond 64 bits)
            return super().render(content)


def refusal(request: Request, error: OcpiError) -> JSONResponse:
    """The envelope of a refused request."""
    return envelope(
        request, status_code=error.status_code, message=error.message, http_status=error.http_status
    )


def new_token() -> str:
    """A credentials token this server issues (256 random bits, 43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """How an issued token is stored: its SHA-256 (the token is random, so a fast hash is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


def authorization(token: str, *, raw: bool = False) -> str:
    """The Authorization header carrying `token`: Base64 as 2.2.1 says, or raw for older peers."""
    value = token if raw else base64.b64encode(token.encode()).decode()
    return f"Token {value}"


def partner_headers(
    token: str, raw: bool, *, sender: tuple[str, str], to_role: Mapping[str, Any]
) -> dict[str, str]:
    """The headers of a call to a partner's functional module: its token, fresh request and
    correlation ids, and the routing headers (`OCPI-from-*` = `sender`'s country and party,
    `OCPI-to-*` = the partner's role, when it named one)."""
    headers = {
        "Authorization": authorization(token, raw=raw),
        "X-Request-ID": uuid.uuid4().hex,
        "X-Correlation-ID": uuid.uuid4().hex,
        "OCPI-from-country-code": sender[0],
        "OCPI-from-party-id": sender[1],
    }
    if to_role.get("country_code") and to_role.get("party_id"):
        headers["OCPI-to-country-code"] = str(to_role["country_code"])
        headers["OCPI-to-party-id"] = str(to_role["party_id"])
    return headers


def presented_tokens(request: Request) -> list[str]:
    """The tokens an Authorization header may mean: its Base64 decoding, then the raw value."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    candidates = []
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if TOKEN_PATTERN.match(decoded):
        candidates.append(decoded)
    if TOKEN_PATTERN.match(value):
        candidates.append(value)
    return candidates
