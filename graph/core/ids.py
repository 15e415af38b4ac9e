"""Public ids are MongoDB ObjectIds written as 24 hexadecimal characters."""

from __future__ import annotations

from collections.abc import Sequence

from bson import ObjectId
from bson.errors import InvalidId

from graph.core.errors import BadUserInput


def parse_id(value: str, field: str) -> ObjectId:
    """Turn a client-supplied id into an ObjectId, refusing anything malformed."""
    if not isinstance(value, str) or len(value) != 24:
        raise BadUserInput(f"{field} must be a 24-character hexadecimal id", field=field)
    try:
        return ObjectId(value)
    except InvalidId:
        raise BadUserInput(f"{field} must be a 24-character hexadecimal id", field=field) from None


def parse_ids(values: Sequence[str], field: str) -> list[ObjectId]:
    """Parse a list of ids, naming the list in the error when one is malformed."""
    return [parse_id(value, field) for value in values]
