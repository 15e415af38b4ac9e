"""GraphQL types of API keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry


@strawberry.type(
    description="An API key of an organization. The key itself is shown only once, when created."
)
class ApiKey:
    id: strawberry.ID = strawberry.field(description="The key's id (not the key).")
    name: str = strawberry.field(description="What the key is for, as named by its creator.")
    prefix: str = strawberry.field(
        description="The key's first characters, to tell keys apart; not enough to use it."
    )
    created_at: datetime = strawberry.field(description="When the key was created.")
    created_by: strawberry.ID | None = strawberry.field(
        description=(
            "The id of the organization key that created this key; null when an administrator "
            "did. Revoke a leaked key and the keys it created."
        )
    )
    last_used_at: datetime | None = strawberry.field(
        description="When the key last authenticated a request (to the minute); null if never."
    )

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> ApiKey:
        creator = doc.get("createdBy")
        return cls(
            id=strawberry.ID(str(doc["_id"])),
            name=doc["name"],
            prefix=doc["prefix"],
            created_at=doc["createdAt"],
            created_by=strawberry.ID(str(creator)) if creator else None,
            last_used_at=doc.get("lastUsedAt"),
        )


@strawberry.type(description="A new API key. Store `key` now: it cannot be shown again.")
class CreatedApiKey:
    key: str = strawberry.field(
        description="The secret key, for 'Authorization: Bearer <key>'. Shown only this once."
    )
    api_key: ApiKey = strawberry.field(description="The key's public record.")


@strawberry.type(
    description=(
        "A client application's key (a mobile app, a website): read-only, counted against its "
        "own search allowance instead of its users' addresses. Shown only once, when created."
    )
)
class AppKey:
    id: strawberry.ID = strawberry.field(description="The key's id (not the key).")
    name: str = strawberry.field(
        description="The application's name, as shown in logs and metrics."
    )
    prefix: str = strawberry.field(description="The key's first characters, to tell keys apart.")
    searches_per_minute: int = strawberry.field(
        description="Searches (and new subscriptions) per minute allowed to the application."
    )
    created_at: datetime = strawberry.field(description="When the key was created.")
    last_used_at: datetime | None = strawberry.field(
        description="When the key last authenticated a request (to the minute); null if never."
    )

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> AppKey:
        return cls(
            id=strawberry.ID(str(doc["_id"])),
            name=doc["name"],
            prefix=doc["prefix"],
            searches_per_minute=doc.get("searchesPerMinute") or 0,
            created_at=doc["createdAt"],
            last_used_at=doc.get("lastUsedAt"),
        )


@strawberry.type(description="A new app key. Store `key` now: it cannot be shown again.")
class CreatedAppKey:
    key: str = strawberry.field(
        description="The secret key, for 'Authorization: Bearer <key>'. Shown only this once."
    )
    app_key: AppKey = strawberry.field(description="The key's public record.")
