"""Positions in the change history, as opaque cursors a client can hand back.

A cursor holds the change stream's resume token and the cluster time of the
last change at or before it (changes written without a transaction each have
their own cluster time, so times order them), as a BSON document in URL-safe
base64. Clients store it and send it back as `after`; they never look inside.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import bson
from bson import Timestamp
from bson.errors import BSONError

from graph.core.errors import BadUserInput

# A resume token is a few hundred bytes; anything much longer is not one.
MAX_CURSOR_LENGTH = 2048


BEGINNING = Timestamp(0, 0)


@dataclass(frozen=True)
class Position:
    """Where a cursor points: a resume token, and the time of the last change it covers."""

    token: Mapping[str, Any]
    time: Timestamp


def encode(position: Position) -> str:
    document = {"token": dict(position.token), "time": position.time}
    return base64.urlsafe_b64encode(bson.encode(document)).decode().rstrip("=")


def decode(cursor: str, field: str = "after") -> Position:
    """The position in a cursor made by `encode`; BAD_USER_INPUT naming `field` otherwise."""
    refused = BadUserInput(f"{field} is not a cursor returned by this subscription", field=field)
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        document = bson.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, BSONError, ValueError, IndexError):
        raise refused from None
    token, time = document.get("token"), document.get("time")
    if not isinstance(token, dict) or not isinstance(token.get("_data"), str):
        raise refused
    if not isinstance(time, Timestamp):
        raise refused
    return Position(token, time)
