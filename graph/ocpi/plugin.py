"""The OCPI domain as the application sees it: partners, the /ocpi endpoints, removed EVSEs,
pushing Location changes to partners, and pulling partners' Locations."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.routing import BaseRoute

from graph.connectors import service as connectors
from graph.connectors.replica import ConnectorReplica
from graph.core.context import Services
from graph.core.plugin import Domain
from graph.core.settings import Settings
from graph.core.tasks import cancel_and_wait, report_end
from graph.ocpi.catalogue import keep_removed
from graph.ocpi.models import (
    OcpiPartnerDocument,
    PushDocument,
    ReceivedLocationDocument,
    RemovedEvseDocument,
)
from graph.ocpi.pull import LocationPull
from graph.ocpi.push import LocationPush, PushMetrics
from graph.ocpi.routes import OcpiEndpoints
from graph.ocpi.schema import OcpiMutations, OcpiQueries
from graph.ocpi.settings import OcpiSettings


def endpoints(settings: Settings, services: Services) -> OcpiEndpoints:
    return OcpiEndpoints(OcpiSettings(), services)


def location_push(settings: Settings, services: Services) -> LocationPush:
    return LocationPush(OcpiSettings(), services.get(ConnectorReplica))


def location_pull(settings: Settings, services: Services) -> LocationPull:
    return LocationPull(OcpiSettings(), services.get(ConnectorReplica))


def routes(services: Services) -> list[BaseRoute]:
    return services.get(OcpiEndpoints).routes()


@contextlib.asynccontextmanager
async def running(services: Services) -> AsyncIterator[None]:
    """While the application serves: connectors deleted are kept as removed EVSEs,
    connector changes are pushed to partners, and partners' Locations are pulled."""
    forget_deletions = connectors.on_deletion(keep_removed)
    push = services.get(LocationPush)
    forget_changes = services.get(ConnectorReplica).changes.add(push.changed)
    pushing = asyncio.create_task(push.run(), name="ocpi-location-push")
    pulling = asyncio.create_task(services.get(LocationPull).run(), name="ocpi-location-pull")
    for task in (pushing, pulling):
        task.add_done_callback(report_end)
    try:
        yield
    finally:
        forget_changes()
        forget_deletions()
        await cancel_and_wait(pulling)
        await cancel_and_wait(pushing)


DOMAIN = Domain(
    name="ocpi",
    queries=(OcpiQueries,),
    mutations=(OcpiMutations,),
    documents=(
        OcpiPartnerDocument,
        RemovedEvseDocument,
        PushDocument,
        ReceivedLocationDocument,
    ),
    services=(endpoints, location_push, location_pull),
    routes=routes,
    lifespan=running,
    metrics=lambda services: PushMetrics(
        services.get(LocationPush), services.get(LocationPull).pulled
    ),
)
