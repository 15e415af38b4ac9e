"""The charge stations domain as the application sees it: its schema and the OCPP endpoint."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.routing import BaseRoute

from graph.chargestations import service
from graph.chargestations.commands import StationCommands
from graph.chargestations.endpoint import StationGateway
from graph.chargestations.models import ChargestationDocument, StationCommandDocument
from graph.chargestations.schema import (
    ChargestationMutations,
    ChargestationQueries,
    StationCommandMutations,
)
from graph.connectors import service as connectors
from graph.connectors.replica import ConnectorReplica
from graph.connectors.reports import StatusReports
from graph.core.context import Services
from graph.core.group_commit import GroupCommit
from graph.core.plugin import Domain
from graph.core.settings import Settings
from graph.organizations import service as organizations

# A connector attached to a station is checked against it and stands at its position.
connectors.find_stations_with(service.reference)
# An organization is deleted only once its stations are gone.
organizations.refuse_deletion_when(service.count_for_organization)


def gateway(settings: Settings, services: Services) -> StationGateway:
    return StationGateway(settings, services.get(StatusReports), services.get(GroupCommit))


def station_commands(settings: Settings, services: Services) -> StationCommands:
    return StationCommands(settings, services.get(StationGateway), services.get(ConnectorReplica))


def routes(services: Services) -> list[BaseRoute]:
    return services.get(StationGateway).routes()


@contextlib.asynccontextmanager
async def running(services: Services) -> AsyncIterator[None]:
    """The OCPP connections' leases, and commands to stations."""
    async with services.get(StationGateway).sweeping(), services.get(StationCommands).running():
        yield


def health(services: Services) -> dict[str, object]:
    gateway = services.get(StationGateway)
    return {"ocpp_stations": gateway.connected_count, "ocpp_connections": dict(gateway.stats)}


class StationMetrics:
    """Connected stations as a Prometheus gauge, and the figures of their connections and
    of the commands sent to them."""

    def __init__(self, gateway: StationGateway, commands: StationCommands) -> None:
        self.gateway = gateway
        self.commands = commands

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "chargegraph_ocpp_stations_connected",
            "Charge stations connected to this process over OCPP.",
            value=self.gateway.connected_count,
        )
        replaced = CounterMetricFamily(
            "chargegraph_ocpp_connections_replaced",
            "Station connections closed because a newer one of the same station took over, "
            "by where the newer one is (here: this process; elsewhere: the lease was taken over).",
            labels=["where"],
        )
        replaced.add_metric(["here"], self.gateway.stats["replaced"])
        replaced.add_metric(["elsewhere"], self.gateway.stats["taken_over"])
        yield replaced
        yield CounterMetricFamily(
            "chargegraph_ocpp_handshakes_not_admitted",
            "Station handshakes refused as unknown, inactive or with wrong credentials.",
            value=self.gateway.stats["not_admitted"],
        )
        commands = CounterMetricFamily(
            "chargegraph_ocpp_commands",
            "Commands to stations asked of this process, by OCPP action and how they ended.",
            labels=["action", "status"],
        )
        for (action, status), count in sorted(self.commands.finished.items()):
            commands.add_metric([action, status], count)
        yield commands


DOMAIN = Domain(
    name="chargestations",
    queries=(ChargestationQueries,),
    mutations=(ChargestationMutations, StationCommandMutations),
    documents=(ChargestationDocument, StationCommandDocument),
    services=(gateway, station_commands),
    routes=routes,
    lifespan=running,
    health=health,
    metrics=lambda services: StationMetrics(
        services.get(StationGateway), services.get(StationCommands)
    ),
)
