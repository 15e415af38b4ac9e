"""Batched reads of organizations."""

from __future__ import annotations

from collections.abc import Sequence

from bson import ObjectId

from graph.core.loaders import Loader
from graph.organizations import service
from graph.organizations.replica import OrganizationReplica
from graph.organizations.types import Organization


class OrganizationById(Loader[ObjectId, Organization]):
    """All organizations of a page in one round trip."""

    async def fetch(self, keys: Sequence[ObjectId]) -> list[Organization | BaseException]:
        # A connector whose organization is missing is a broken reference,
        # reported as an error on that field rather than failing the whole page.
        found = await service.by_ids(list(set(keys)), OrganizationReplica.of(self.context))
        return [
            found.get(key)
            or LookupError(f"organization {key} referenced by a connector is missing")
            for key in keys
        ]
