"""The organizations domain as the application sees it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from graph.core.context import Services
from graph.core.plugin import Domain
from graph.core.settings import Settings
from graph.organizations.models import OrganizationDocument
from graph.organizations.replica import OrganizationReplica
from graph.organizations.schema import OrganizationMutations, OrganizationQueries


def organization_replica(settings: Settings, services: Services) -> OrganizationReplica:
    # Loading starts once the change stream that feeds it is open (graph.live).
    return OrganizationReplica(services, enabled=settings.search == "index")


@contextlib.asynccontextmanager
async def running(services: Services) -> AsyncIterator[None]:
    """The replica stops with the application."""
    try:
        yield
    finally:
        await services.get(OrganizationReplica).stop()


DOMAIN = Domain(
    name="organizations",
    queries=(OrganizationQueries,),
    mutations=(OrganizationMutations,),
    documents=(OrganizationDocument,),
    services=(organization_replica,),
    lifespan=running,
    health=lambda services: {"organization_replica": services.get(OrganizationReplica).health()},
    readiness=lambda services: {"organization_replica": services.get(OrganizationReplica).ready},
)
