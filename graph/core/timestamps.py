"""Instants as the API stores and shows them: UTC, millisecond precision."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import strawberry
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection


def now() -> datetime:
    """The current instant, truncated to what BSON keeps (milliseconds).

    Truncating here means a value serialises the same before and after a
    round trip through the database.
    """
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as in `2020-05-04T08:09:19.009Z`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_datetime(value: object) -> datetime:
    """Read an ISO 8601 instant sent by a client."""
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "DateTime must be an ISO 8601 instant, e.g. 2020-05-04T08:09:19.009Z"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError("DateTime must carry a time zone, e.g. a trailing Z")
    return parsed.astimezone(UTC)


DateTime = strawberry.scalar(
    name="DateTime",
    description=(
        "An instant in ISO 8601, always in UTC with milliseconds and a trailing Z, "
        "e.g. 2020-05-04T08:09:19.009Z."
    ),
    serialize=format_datetime,
    parse_value=parse_datetime,
)


async def update_stamped(
    collection: AsyncCollection[dict[str, Any]],
    target: Mapping[str, Any],
    to_set: Mapping[str, Any],
    to_unset: Mapping[str, Any],
    session: AsyncClientSession | None = None,
) -> dict[str, Any] | None:
    """Apply a partial update with a new `updatedAt`; the document after it (None: no match).

    Nothing to change writes nothing (and keeps `updatedAt`): the stored
    document is read instead. Uniqueness violations raise DuplicateKeyError.
    """
    if not to_set and not to_unset:
        return await collection.find_one(target, session=session)
    update: dict[str, Any] = {"$set": {**to_set, "updatedAt": now()}}
    if to_unset:
        update["$unset"] = dict(to_unset)
    return await collection.find_one_and_update(
        target, update, return_document=ReturnDocument.AFTER, session=session
    )
