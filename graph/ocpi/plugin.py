"""The OCPI domain as the application sees it: partners and the /ocpi endpoints."""

from __future__ import annotations

from starlette.routing import BaseRoute

from graph.core.context import Services
from graph.core.plugin import Domain
from graph.core.settings import Settings
from graph.ocpi.models import OcpiPartnerDocument
from graph.ocpi.routes import OcpiEndpoints
from graph.ocpi.schema import OcpiMutations, OcpiQueries
from graph.ocpi.settings import OcpiSettings


def endpoints(settings: Settings, services: Services) -> OcpiEndpoints:
    return OcpiEndpoints(OcpiSettings())


def routes(services: Services) -> list[BaseRoute]:
    return services.get(OcpiEndpoints).routes()


DOMAIN = Domain(
    name="ocpi",
    queries=(OcpiQueries,),
    mutations=(OcpiMutations,),
    documents=(OcpiPartnerDocument,),
    services=(endpoints,),
    routes=routes,
)
