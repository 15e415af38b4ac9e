"""The stored API key: a hash and a display prefix, never the key itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection


class ApiKeyDocument(Document):
    """One API key: an organization's, or a client application's (`kind: "app"`)."""

    kind: str = "organization"
    # None for app keys, which belong to no organization.
    organization: PydanticObjectId | None = None
    name: str
    # App keys: searches per minute allowed to requests with the key.
    searchesPerMinute: int | None = None
    # The key's first characters, so people can tell their keys apart.
    prefix: str
    # SHA-256 of the whole key (hex). Keys are 256-bit random, so a fast hash
    # is enough: there is nothing to guess by brute force.
    hash: str
    createdAt: datetime
    # The organization key that created this one (None when an administrator did).
    createdBy: PydanticObjectId | None = None
    lastUsedAt: datetime | None = None
    revokedAt: datetime | None = None

    class Settings:
        name = "api_keys"
        indexes = [
            IndexModel([("hash", ASCENDING)], name="hash", unique=True),
            IndexModel([("organization", ASCENDING)], name="organization"),
        ]


def api_keys_collection() -> AsyncCollection[dict[str, Any]]:
    """The raw api_keys collection."""
    return ApiKeyDocument.get_pymongo_collection()
