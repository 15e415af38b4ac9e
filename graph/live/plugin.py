"""The live domain as the application sees it: the status hub and its subscription."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pymongo.errors import PyMongoError

from graph.access import service as access
from graph.chargestations import service as chargestations
from graph.connectors import service as connectors
from graph.connectors.replica import ConnectorReplica
from graph.core.context import Services
from graph.core.plugin import Domain
from graph.core.settings import Settings
from graph.core.tasks import cancel_and_wait, stop_if_cancelled
from graph.live.hub import Followed, Replicated, StatusHub
from graph.live.schema import LiveSubscriptions
from graph.organizations import service as organizations
from graph.organizations.replica import OrganizationReplica

log = logging.getLogger(__name__)

# How often keys with open subscriptions are checked for a revocation made by another process.
REVOCATION_CHECK_SECONDS = 2.0


def status_hub(settings: Settings, services: Services) -> StatusHub:
    return StatusHub(
        connectors.collection,
        settings.subscriber_queue_size,
        stations=chargestations.collection,
        replicas=[services.get(ConnectorReplica)],
        organizations=organizations.collection,
        admission=chargestations.admission_changed,
        # Commands to stations reach the process holding the station, and answers the asker.
        followed=[Followed(chargestations.commands_collection, chargestations.command_changed)],
        # Organizations are answered by id from memory (graph.organizations.replica).
        replicated=[Replicated(organizations.collection, services.get(OrganizationReplica))],
    )


async def watch_revocations(hub: StatusHub) -> None:
    """End the subscriptions of keys revoked by other processes (runs for the server's lifetime)."""
    while True:
        await asyncio.sleep(REVOCATION_CHECK_SECONDS)
        in_use = hub.subscribed_keys()
        if not in_use:
            continue
        try:
            live = await access.still_valid(in_use)
        except PyMongoError as error:
            stop_if_cancelled()
            log.warning("could not check API keys for revocation: %s", error)
            continue
        for key_id in in_use - live:
            hub.end_for_key(key_id, access.revoked_error())


@contextlib.asynccontextmanager
async def running_hub(services: Services) -> AsyncIterator[None]:
    """The change stream and the revocation watch, for as long as the application serves."""
    hub = services.get(StatusHub)
    await connectors.keep_change_history()
    await hub.start()
    # The index and the organizations are read once the stream that keeps them current
    # is listening.
    services.get(ConnectorReplica).start_loading()
    services.get(OrganizationReplica).start_loading()
    # Keys revoked by this process end their subscriptions at once.
    forget_listener = access.on_revoked(hub.end_for_key)
    revocations = asyncio.create_task(watch_revocations(hub), name="key-revocations")
    try:
        yield
    finally:
        forget_listener()
        await cancel_and_wait(revocations)
        await hub.stop()


class HubMetrics:
    """The hub's figures as Prometheus metrics."""

    def __init__(self, hub: StatusHub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        stats = self.hub.stats
        for name, key, text in (
            ("chargegraph_live_events", "events", "Changes read from the change stream."),
            ("chargegraph_live_deliveries", "deliveries", "Changes handed to subscribers."),
            (
                "chargegraph_live_dropped_slow",
                "dropped_slow",
                "Subscribers ended with SUBSCRIBER_TOO_SLOW.",
            ),
            (
                "chargegraph_live_replay_reads",
                "replay_reads",
                "Change events read from the database by replays (subscriptions resumed with after).",
            ),
            (
                "chargegraph_change_stream_restarts",
                "stream_restarts",
                "Times the change stream was interrupted and resumed.",
            ),
        ):
            yield CounterMetricFamily(name, text, value=stats[key])
        yield GaugeMetricFamily(
            "chargegraph_subscriptions_open", "Open subscriptions.", value=self.hub.subscriber_count
        )
        yield GaugeMetricFamily(
            "chargegraph_change_stream_lag_seconds",
            "Time from the last change's write (its cluster wall time) to its arrival here.",
            value=self.hub.last_lag,
        )


def health(services: Services) -> dict[str, object]:
    hub = services.get(StatusHub)
    return {"subscribers": hub.subscriber_count, **hub.stats}


DOMAIN = Domain(
    name="live",
    subscriptions=(LiveSubscriptions,),
    services=(status_hub,),
    lifespan=running_hub,
    health=health,
    readiness=lambda services: {"change_stream": services.get(StatusHub).streaming},
    metrics=lambda services: HubMetrics(services.get(StatusHub)),
)
