"""The OCPI domain as the application sees it: partners, the /ocpi endpoints, removed EVSEs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.routing import BaseRoute

from graph.connectors import service as connectors
from graph.core.context import Services
from graph.core.plugin import Domain
from graph.core.settings import Settings
from graph.ocpi.catalogue import keep_removed
from graph.ocpi.models import OcpiPartnerDocument, RemovedEvseDocument
from graph.ocpi.routes import OcpiEndpoints
from graph.ocpi.schema import OcpiMutations, OcpiQueries
from graph.ocpi.settings import OcpiSettings


def endpoints(settings: Settings, services: Services) -> OcpiEndpoints:
    return OcpiEndpoints(OcpiSettings(), services)


def routes(services: Services) -> list[BaseRoute]:
    return services.get(OcpiEndpoints).routes()


@contextlib.asynccontextmanager
async def keeping_removed_evses(services: Services) -> AsyncIterator[None]:
    """Connectors deleted while the application serves are kept as removed EVSEs."""
    forget = connectors.on_deletion(keep_removed)
    try:
        yield
    finally:
        forget()


DOMAIN = Domain(
    name="ocpi",
    queries=(OcpiQueries,),
    mutations=(OcpiMutations,),
    documents=(OcpiPartnerDocument, RemovedEvseDocument),
    services=(endpoints,),
    routes=routes,
    lifespan=keeping_removed_evses,
)
