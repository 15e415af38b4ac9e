"""The DataLoaders of one request (or, without caching, of one WebSocket)."""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId
from strawberry.dataloader import DataLoader

from graph.access.service import keys_by_organization
from graph.access.types import ApiKey
from graph.connectors.enums import ConnectorStatus
from graph.connectors.loaders import (
    CountKey,
    OrganizationPageKey,
    StatusCountKey,
    count_by_organization,
    page_by_organization,
    status_counts_by_organization,
)
from graph.connectors.types import Connector
from graph.core.pagination import Connection
from graph.organizations.loaders import organizations_by_id
from graph.organizations.types import Organization


@dataclass
class Loaders:
    """Batching (and, for one HTTP request, caching) of the reads resolvers repeat."""

    organization_by_id: DataLoader[ObjectId, Organization]
    organization_connectors: DataLoader[OrganizationPageKey, Connection[Connector]]
    organization_connector_count: DataLoader[CountKey, int]
    status_counts: DataLoader[StatusCountKey, list[tuple[ConnectorStatus, int]]]
    api_keys: DataLoader[ObjectId, list[ApiKey]]

    @classmethod
    def create(cls, cache: bool = True) -> Loaders:
        """Fresh loaders. A WebSocket lives for hours, so its loaders batch but never cache."""
        counts = DataLoader(load_fn=count_by_organization, cache=cache)
        return cls(
            organization_by_id=DataLoader(load_fn=organizations_by_id, cache=cache),  # type: ignore[arg-type]
            organization_connectors=DataLoader(
                load_fn=page_by_organization(counts.load), cache=cache
            ),
            organization_connector_count=counts,
            status_counts=DataLoader(load_fn=status_counts_by_organization, cache=cache),
            api_keys=DataLoader(load_fn=keys_by_organization, cache=cache),
        )
