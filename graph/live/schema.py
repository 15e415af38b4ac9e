"""The `connectorStatusChanged` and `chargestationOnlineChanged` subscriptions.

Opening one is a sequence of named steps, each a function of its own, run in
order by `opened`: `recheck_key` (a long-lived connection's key may have been
revoked), the filter (`status_filter` / `online_filter` validate the
arguments), `charge` (a subscription costs one search), `check_room` (a cap
per connection; `opened` also holds one of the caller's subscription slots),
then following the hub (`follow`: subscribe, send the
snapshot from `current_statuses` if asked, then the changes; `follow_online`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncGenerator, Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from bson import ObjectId, Timestamp

from graph.access.service import Authenticator
from graph.chargestations.types import Chargestation
from graph.connectors import service
from graph.connectors.enums import ConnectorStatus
from graph.connectors.index import ConnectorIndex
from graph.connectors.replica import ConnectorReplica
from graph.connectors.types import BoundsInput, Connector
from graph.core.context import Context, Info
from graph.core.errors import BadUserInput
from graph.core.geo import Box
from graph.core.ids import parse_id, parse_ids
from graph.core.rate_limit import RateLimiter, caller_of
from graph.core.validators import check_latitude, check_longitude, check_radius, viewport
from graph.core.viewer import Viewer
from graph.core.visibility import visible_query
from graph.live import cursors
from graph.live.filters import Circle, OnlineFilter, StatusFilter
from graph.live.hub import MAX_REPLAY_CHANGES, OnlineChange, StatusChange, StatusHub

MAX_CURRENT = 5000
MAX_IDS = 1000
FilterT = TypeVar("FilterT")
EventT = TypeVar("EventT")
MAX_SUBSCRIPTIONS_PER_CONNECTION = 20
# A replay costs its caller one search for every this many changes it reads.
REPLAY_CHANGES_PER_SEARCH = 100


@strawberry.type(
    description="A connector's status: a change, or its current status when `initial`."
)
class ConnectorStatusEvent:
    connector: Connector = strawberry.field(description="The connector, as it is after the change.")
    status: ConnectorStatus = strawberry.field(
        description="The new (or, when initial, current) status."
    )
    previous_status: ConnectorStatus | None = strawberry.field(
        description="The status before the change; null for initial events or when unknown."
    )
    changed_at: datetime = strawberry.field(
        description="When the change was written (for initial events: when the connector last changed)."
    )
    initial: bool = strawberry.field(
        description="True for the current-status events sent first with `includeCurrent`."
    )
    cursor: str = strawberry.field(
        description=(
            "This event's position in the change history (for initial events: where the "
            "snapshot was read). Keep the last one received; after a reconnect, subscribe "
            "with `after: <cursor>` to receive every change missed meanwhile."
        )
    )
    # Execution results of this event, shared by subscribers asking the same
    # question (see graph.core.execution).
    shared_results: strawberry.Private[dict[Hashable, Any]] = dataclasses.field(
        default_factory=dict
    )

    @classmethod
    def from_change(cls, change: StatusChange) -> ConnectorStatusEvent:
        return cls(
            connector=Connector.from_document(change.connector),
            status=change.status,
            previous_status=change.previous_status,
            changed_at=change.changed_at,
            initial=change.initial,
            cursor=change.cursor,
        )

    @classmethod
    def shared(cls, change: StatusChange) -> ConnectorStatusEvent:
        """One event object per change, whichever subscribers receive it."""
        event = change.memo.get("event")
        if event is None:
            event = change.memo["event"] = cls.from_change(change)
        return event  # type: ignore[no-any-return]


@strawberry.type(description="A charge station's OCPP connection opened or ended.")
class ChargestationOnlineEvent:
    chargestation: Chargestation = strawberry.field(description="The station, as it is now.")
    online: bool = strawberry.field(description="True: it connected; false: it is gone.")
    changed_at: datetime = strawberry.field(description="When the change was written.")
    # Execution results shared by subscribers asking the same question (graph.core.execution).
    shared_results: strawberry.Private[dict[Hashable, Any]] = dataclasses.field(
        default_factory=dict
    )

    @classmethod
    def shared(cls, change: OnlineChange) -> ChargestationOnlineEvent:
        """One event object per change, whichever subscribers receive it."""
        event = change.memo.get("event")
        if event is None:
            event = change.memo["event"] = cls(
                chargestation=Chargestation.from_document(change.chargestation),
                online=change.online,
                changed_at=change.changed_at,
            )
        return event  # type: ignore[no-any-return]


@strawberry.input(description="A circle on the map.")
class NearInput:
    latitude: float = strawberry.field(description="Centre, degrees north (-90 to 90).")
    longitude: float = strawberry.field(description="Centre, degrees east (-180 to 180).")
    radius_meters: float = strawberry.field(description="Radius in metres, 0 to 100000.")


def _optional_id(value: strawberry.ID | None, field: str) -> ObjectId | None:
    return parse_id(value, field) if value is not None else None


def _id_set(values: list[strawberry.ID] | None, field: str) -> frozenset[ObjectId] | None:
    if values is None:
        return None
    if len(values) > MAX_IDS:
        raise BadUserInput(
            f"{field} may name at most {MAX_IDS} ids, got {len(values)}", field=field
        )
    return frozenset(parse_ids(values, field))


def online_filter(
    viewer: Viewer,
    organization_id: strawberry.ID | None,
    chargestation_ids: list[strawberry.ID] | None,
) -> OnlineFilter:
    """Validate the station subscription's arguments into one filter."""
    return OnlineFilter(
        organization_id=_optional_id(organization_id, "organizationId"),
        chargestation_ids=_id_set(chargestation_ids, "chargestationIds"),
        viewer=viewer,
    )


def status_filter(
    viewer: Viewer,
    connector_ids: list[strawberry.ID] | None,
    organization_id: strawberry.ID | None,
    near: NearInput | None,
    bounds: BoundsInput | None,
    chargestation_id: strawberry.ID | None = None,
) -> StatusFilter:
    """Validate the subscription's arguments into one filter."""
    circle = None
    if near is not None:
        circle = Circle(
            check_latitude(near.latitude, "near.latitude"),
            check_longitude(near.longitude, "near.longitude"),
            check_radius(near.radius_meters, "near.radiusMeters"),
        )
    box: Box | None = None
    if bounds is not None:
        box = viewport(bounds.south, bounds.west, bounds.north, bounds.east, "bounds")
    return StatusFilter(
        connector_ids=_id_set(connector_ids, "connectorIds"),
        organization_id=_optional_id(organization_id, "organizationId"),
        chargestation_id=_optional_id(chargestation_id, "chargestationId"),
        near=circle,
        bounds=box,
        viewer=viewer,
    )


async def current_statuses(
    watched: StatusFilter, position: str, index: ConnectorIndex | None = None
) -> list[StatusChange]:
    """The current status of every watched connector, refusing more than MAX_CURRENT.

    `position` is the cursor of the moment before the read (the index is
    current up to the hub's position, plus this process's own writes).
    """
    limit = MAX_CURRENT * 2
    query = visible_query(watched.query(), watched.viewer)
    if query is None:
        return []
    rows = await service.find_documents(index, query, watched.area(), limit)
    matching = [row for row in rows if watched.matches(row)]
    # A full read may have left matches unread: refuse rather than send a partial picture.
    if len(matching) > MAX_CURRENT or len(rows) == limit:
        raise BadUserInput(
            f"includeCurrent would send more than {MAX_CURRENT} connectors; narrow the subscription "
            "with connectorIds, organizationId, near or bounds",
            field="includeCurrent",
        )
    return [
        StatusChange(
            connector=row,
            status=ConnectorStatus(row["status"]),
            previous_status=None,
            changed_at=row["updatedAt"],
            initial=True,
            cursor=position,
        )
        for row in matching
    ]


async def recheck_key(context: Context) -> None:
    """A connection lives long: refuse its key if it was revoked since it connected."""
    await context.services.get(Authenticator).recheck(context.viewer)


def charge(limiter: RateLimiter, viewer: Viewer, address: str) -> None:
    """A subscription costs one search when it starts (it may read current statuses)."""
    limiter.charge(viewer, address, writes=0, searches=1)


def check_room(open_subscriptions: int) -> None:
    """Refuse a subscription beyond the cap per connection."""
    if open_subscriptions >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
        raise BadUserInput(
            f"at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions may be open on one "
            "connection; complete one first"
        )


def start_from(after: str | None, include_current: bool) -> cursors.Position | None:
    """Validate where a status subscription starts: after a cursor, or now (with a snapshot)."""
    if after is None:
        return None
    if include_current:
        raise BadUserInput(
            "includeCurrent and after cannot be combined: after replays the changes since a "
            "cursor, includeCurrent starts with a snapshot",
            field="includeCurrent",
        )
    return cursors.decode(after)


@contextmanager
def replay_allowance(
    limiter: RateLimiter | None, viewer: Viewer, address: str
) -> Iterator[Callable[[], None]]:
    """A replay holds one of its caller's replay slots, and pays as it reads.

    Yields what to call for each change read: one search is charged for every
    REPLAY_CHANGES_PER_SEARCH changes (admins: nothing). A caller whose
    allowance runs out mid-replay gets RATE_LIMITED and can resume from the
    last cursor it received.
    """
    if limiter is None or viewer.is_admin:
        yield lambda: None
        return
    read = 0

    def pay() -> None:
        nonlocal read
        read += 1
        if read % REPLAY_CHANGES_PER_SEARCH == 0:
            charge(limiter, viewer, address)

    with limiter.replays.hold(caller_of(viewer, address)):
        yield pay


async def follow(
    hub: StatusHub,
    watched: StatusFilter,
    include_current: bool,
    after: cursors.Position | None = None,
    index: ConnectorIndex | None = None,
    limiter: RateLimiter | None = None,
    address: str = "",
) -> AsyncGenerator[ConnectorStatusEvent, None]:
    """The snapshot or the replay (if asked), then every matching change, until the hub ends it.

    The seam between a replay and the hub: the hub subscription is made first,
    so every change read by the hub from then on waits in its queue; the
    replay then reads the history after the cursor through a stream of its own
    until it reaches the end. The queued changes are then sent, skipping those
    the replay covered: changes are ordered by cluster time, so a queued change
    at or before the last time the replay read (or the cursor's own time) was
    already sent or is older than the cursor. Nothing falls between (the queue
    began before the replay ended) and nothing is sent twice.
    """
    # Subscribe before reading current statuses or history, so no change falls in between.
    subscriber = hub.subscribe(watched, watched.viewer.key_id)
    # The history a replay sent (up to this cluster time): queued changes within it are skipped.
    covered: Timestamp | None = None
    try:
        if after is not None:
            covered = after.time
            with replay_allowance(limiter, watched.viewer, address) as pay:
                async with contextlib.aclosing(hub.replay(after, watched)) as history:
                    async for replayed in history:
                        pay()
                        covered = max(covered, replayed.cluster_time)
                        if watched.matches(replayed.connector):
                            yield ConnectorStatusEvent.from_change(replayed)
        elif include_current:
            position = hub.position
            for current in await current_statuses(
                watched, cursors.encode(position) if position is not None else "", index
            ):
                yield ConnectorStatusEvent.from_change(current)
        async for change in subscriber.changes():
            assert isinstance(change, StatusChange)
            if covered is not None and change.cluster_time <= covered:
                continue
            yield ConnectorStatusEvent.shared(change)
    finally:
        hub.unsubscribe(subscriber)


async def follow_online(
    hub: StatusHub, watched: OnlineFilter
) -> AsyncGenerator[ChargestationOnlineEvent, None]:
    """Every matching station connection change, until the hub ends it."""
    subscriber = hub.subscribe(watched, watched.viewer.key_id)
    try:
        async for change in subscriber.changes():
            assert isinstance(change, OnlineChange)
            yield ChargestationOnlineEvent.shared(change)
    finally:
        hub.unsubscribe(subscriber)


async def opened(
    context: Context,
    watched: Callable[[], FilterT],
    events: Callable[[FilterT], AsyncGenerator[EventT, None]],
) -> AsyncGenerator[EventT, None]:
    """Open a subscription, step by step (the module docstring), and relay its events."""
    await recheck_key(context)
    chosen = watched()
    charge(context.limiter, context.viewer, context.client_address)
    check_room(context.open_subscriptions)
    held = (
        contextlib.nullcontext()
        if context.viewer.is_admin
        else context.limiter.subscriptions.hold(caller_of(context.viewer, context.client_address))
    )
    with held:
        context.open_subscriptions += 1
        try:
            # Closed explicitly: a client that goes away must release the hub at
            # once, not when the garbage collector finds the generator.
            async with contextlib.aclosing(events(chosen)) as stream:
                async for event in stream:
                    yield event
        finally:
            context.open_subscriptions -= 1


@strawberry.type
class LiveSubscriptions:
    @strawberry.subscription(
        description=(
            "Status changes of connectors as they are written, from any server process or straight "
            "into the database. Writing the current status again is not a change. All given "
            "conditions must hold; with none, every connector the caller may see is watched "
            "(inactive connectors: only by their organization's keys and admins). Every event "
            "has a cursor: after a reconnect, subscribe with `after` to receive what was missed. "
            "A subscription that falls too far behind ends with SUBSCRIBER_TOO_SLOW (resume "
            "with `after`); if changes may have been lost it ends with STATUS_HISTORY_LOST: "
            "subscribe again with includeCurrent: true. "
            f"At most {MAX_SUBSCRIPTIONS_PER_CONNECTION} run on one connection; one opened with "
            "an API key ends with UNAUTHENTICATED when the key is revoked."
        )
    )
    async def connector_status_changed(
        self,
        info: Info,
        connector_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description=f"Only these connectors (at most {MAX_IDS})."),
        ] = None,
        organization_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only connectors of this organization."),
        ] = None,
        chargestation_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only connectors of this charge station."),
        ] = None,
        near: Annotated[
            NearInput | None,
            strawberry.argument(description="Only connectors within this circle."),
        ] = None,
        bounds: Annotated[
            BoundsInput | None,
            strawberry.argument(description="Only connectors inside this map viewport."),
        ] = None,
        include_current: Annotated[
            bool,
            strawberry.argument(
                description=(
                    "First send the current status of every watched connector (at most "
                    f"{MAX_CURRENT}), marked initial, then the changes."
                )
            ),
        ] = False,
        after: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "Resume: first send, in order, every matching change written after this "
                    "cursor (an event's `cursor`), then continue live with no gap and no "
                    f"repeat. At most {MAX_REPLAY_CHANGES} changes and one day back; beyond, "
                    "or when the database no longer keeps them, the subscription ends with "
                    "STATUS_HISTORY_LOST: subscribe with includeCurrent instead."
                )
            ),
        ] = None,
    ) -> AsyncGenerator[ConnectorStatusEvent, None]:
        context = info.context
        hub = context.services.get(StatusHub)
        start = start_from(after, include_current)
        async for event in opened(
            context,
            lambda: status_filter(
                context.viewer, connector_ids, organization_id, near, bounds, chargestation_id
            ),
            lambda watched: follow(
                hub,
                watched,
                include_current,
                start,
                ConnectorReplica.of(context),
                context.limiter,
                context.client_address,
            ),
        ):
            yield event

    @strawberry.subscription(
        description=(
            "Charge stations going online (their OCPP connection opened) or offline (it ended, "
            "or its lease ran out because its server process died). All given conditions must "
            "hold; with none, every station the caller may see is watched (inactive ones: only "
            "by their organization's keys and admins). Same limits and endings as "
            "connectorStatusChanged."
        )
    )
    async def chargestation_online_changed(
        self,
        info: Info,
        organization_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only stations of this organization."),
        ] = None,
        chargestation_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description=f"Only these stations (at most {MAX_IDS})."),
        ] = None,
    ) -> AsyncGenerator[ChargestationOnlineEvent, None]:
        context = info.context
        hub = context.services.get(StatusHub)
        async for event in opened(
            context,
            lambda: online_filter(context.viewer, organization_id, chargestation_ids),
            lambda watched: follow_online(hub, watched),
        ):
            yield event
