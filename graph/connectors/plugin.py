"""The connectors domain as the application sees it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from graph.connectors import service
from graph.connectors.models import ConnectorDocument
from graph.connectors.replica import ConnectorReplica
from graph.connectors.reports import StatusReports
from graph.connectors.schema import ConnectorMutations, ConnectorQueries
from graph.core.context import Services
from graph.core.group_commit import GroupCommit
from graph.core.plugin import Domain
from graph.core.settings import Settings
from graph.organizations import service as organizations

# An organization is deleted only once its connectors are gone.
organizations.refuse_deletion_when(service.count_for_organization)


def connector_replica(settings: Settings, services: Services) -> ConnectorReplica:
    # Loading starts once the change stream that feeds it is open (graph.live).
    return ConnectorReplica(services, enabled=settings.search == "index")


def group_commit(settings: Settings, services: Services) -> GroupCommit:
    # The process's writes that may wait a few milliseconds (stations' reports and leases).
    return GroupCommit(settings.db_timeout_seconds)


def status_reports(settings: Settings, services: Services) -> StatusReports:
    return StatusReports(services.get(ConnectorReplica), services.get(GroupCommit))


@contextlib.asynccontextmanager
async def running(services: Services) -> AsyncIterator[None]:
    """The group commit runs, and the replica stops, with the application."""
    await service.retire_indexes()
    group = services.get(GroupCommit)
    group.start()
    try:
        yield
    finally:
        await group.stop()
        await services.get(ConnectorReplica).stop()


class IndexMetrics:
    """The connector index's figures as Prometheus metrics."""

    def __init__(self, replica: ConnectorReplica) -> None:
        self.replica = replica

    def collect(self) -> Iterator[Metric]:
        index = self.replica.index
        yield GaugeMetricFamily(
            "chargegraph_connector_index_connectors",
            "Connectors held by this process's in-memory index.",
            value=index.count,
        )
        yield GaugeMetricFamily(
            "chargegraph_connector_index_bytes",
            "Memory held by the connector index's arrays, grid and intern tables.",
            value=index.nbytes(),
        )
        yield GaugeMetricFamily(
            "chargegraph_connector_index_loaded",
            "1 when searches are answered from the index, 0 while it loads (the database answers).",
            value=1 if self.replica.current() is not None else 0,
        )
        yield CounterMetricFamily(
            "chargegraph_connector_index_loads",
            "Times the index was read whole from the database (start, lost change history).",
            value=self.replica.stats["loads"],
        )


DOMAIN = Domain(
    name="connectors",
    queries=(ConnectorQueries,),
    mutations=(ConnectorMutations,),
    documents=(ConnectorDocument,),
    services=(connector_replica, group_commit, status_reports),
    lifespan=running,
    health=lambda services: {
        "connector_index": services.get(ConnectorReplica).health(),
        "group_commit": {
            "pending": services.get(GroupCommit).pending,
            **services.get(GroupCommit).stats,
        },
    },
    readiness=lambda services: {"connector_index": services.get(ConnectorReplica).ready},
    metrics=lambda services: IndexMetrics(services.get(ConnectorReplica)),
)
