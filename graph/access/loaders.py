"""Batched reads of API keys."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from bson import ObjectId

from graph.access.models import api_keys_collection
from graph.access.types import ApiKey
from graph.core.loaders import Loader


class ApiKeysByOrganization(Loader[ObjectId, list[ApiKey]]):
    """The live keys of several organizations in one round trip, oldest first."""

    async def fetch(self, keys: Sequence[ObjectId]) -> list[list[ApiKey]]:
        found: dict[ObjectId, list[ApiKey]] = defaultdict(list)
        rows = api_keys_collection().find(
            {"organization": {"$in": list(keys)}, "revokedAt": None}, sort=[("_id", 1)]
        )
        async for row in rows:
            found[row["organization"]].append(ApiKey.from_document(row))
        return [found[key] for key in keys]
