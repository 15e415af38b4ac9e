"""The status hub: the process's single change stream, on the database.

It follows two kinds of change: connectors' statuses, and charge stations
going online or offline. Each is read once from MongoDB, whichever process
(or tool) wrote it, and handed to every matching subscriber through its own
bounded queue.
Publishing never waits for a subscriber, so a slow one can only lose its own
subscription (closed with SUBSCRIBER_TOO_SLOW), never delay the others.

After an interruption the stream resumes from its last resume token, so
changes written meanwhile are still delivered. If the database no longer has
them, every subscriber is closed with STATUS_HISTORY_LOST: it should
resubscribe with `includeCurrent: true`.

Every status change carries its cursor (its resume token, see
`graph.live.cursors`). `replay` reads the history after a cursor through a
change stream of its own, for a subscriber that resumes (`graph.live.schema`
hands it over to the hub without a gap).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bson import ObjectId, Timestamp
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure, PyMongoError

from graph.compat.pymongo import next_change
from graph.connectors.enums import ConnectorStatus
from graph.core.error_policy import database_unavailable
from graph.core.errors import BadUserInput, ClientError
from graph.core.geo import box_ranges
from graph.core.tasks import cancel_and_wait, stop_if_cancelled
from graph.live import cursors
from graph.live.filters import OnlineFilter, StatusFilter

log = logging.getLogger(__name__)


def _pipeline(
    connectors: str,
    stations: str,
    organizations: str,
    followed: Sequence[str] = (),
    replicated: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every connector change (the connector index replicates them all; only those touching
    `status` become status events); station updates that touch `online` (a station's
    connection) or `active`; organization updates (rare; what decides whether a station
    is admitted is told to the OCPP gateway); inserts and updates of the `followed`
    collections (commands to stations travel between processes that way); every change of
    the `replicated` collections (the organizations replica)."""
    return [
        {
            "$match": {
                "$or": [
                    {"ns.coll": connectors},
                    *({"ns.coll": name} for name in replicated),
                    {
                        "ns.coll": stations,
                        "operationType": "update",
                        "$or": [
                            {"updateDescription.updatedFields.online": {"$exists": True}},
                            {"updateDescription.updatedFields.active": {"$exists": True}},
                        ],
                    },
                    {"ns.coll": organizations, "operationType": "update"},
                    *(
                        {"ns.coll": name, "operationType": {"$in": ["insert", "update"]}}
                        for name in followed
                    ),
                ]
            }
        }
    ]


def _replay_pipeline(connectors: str, watched: StatusFilter) -> list[dict[str, Any]]:
    """Only the status changes of what a subscription watches.

    The first stage uses only what a change event carries before its document
    is looked up (MongoDB applies it while reading the oplog); the second
    narrows by the looked-up document (organization, station, area).
    """
    conditions = watched.query()
    ids = conditions.pop("_id", None)
    before_lookup: dict[str, Any] = {
        "ns.coll": connectors,
        "$or": [
            {"operationType": "replace"},
            {
                "operationType": "update",
                "updateDescription.updatedFields.status": {"$exists": True},
            },
        ],
    }
    if ids is not None:
        before_lookup["documentKey._id"] = ids
    area = watched.area()
    if area is not None:
        conditions.update(box_ranges(area))
    stages: list[dict[str, Any]] = [{"$match": before_lookup}]
    if conditions:
        # Judged on the connector as it was at the change: its pre-image (a status
        # change moves nothing), else the looked-up document.
        stages.append(
            {
                "$match": {
                    "$or": [
                        {f"fullDocumentBeforeChange.{f}": v for f, v in conditions.items()},
                        {
                            "fullDocumentBeforeChange": None,
                            **{f"fullDocument.{f}": v for f, v in conditions.items()},
                        },
                    ]
                }
            }
        )
    return stages


# MongoDB's codes for a resume token whose history is gone from the oplog.
_HISTORY_LOST = {280, 286}
# A replay reads at most this many changes (network-wide) and this far back.
MAX_REPLAY_CHANGES = 10_000
MAX_REPLAY_AGE = timedelta(hours=24)


class SubscriberTooSlow(ClientError):
    """The client did not read events as fast as they came."""

    code = "SUBSCRIBER_TOO_SLOW"


class StatusHistoryLost(ClientError):
    """Changes may have been missed while the change stream was interrupted."""

    code = "STATUS_HISTORY_LOST"


@dataclass(frozen=True)
class StatusChange:
    """One status change: a real change from the stream, or a current status (`initial`)."""

    connector: dict[str, Any]
    status: ConnectorStatus
    previous_status: ConnectorStatus | None
    changed_at: datetime
    initial: bool = False
    # The position in the change history just after this change (for initial
    # events: where the snapshot was read), and the change's cluster time.
    cursor: str = ""
    cluster_time: Timestamp = cursors.BEGINNING
    # Whatever serves the change to many subscribers may keep per-change work here.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class OnlineChange:
    """A charge station's connection opened (`online`) or ended."""

    chargestation: dict[str, Any]
    online: bool
    changed_at: datetime
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


Change = StatusChange | OnlineChange


class ChangeReplica(Protocol):
    """Something kept current from a collection's changes the hub reads (the connector index,
    the organizations replica)."""

    def apply_change(self, event: Mapping[str, Any]) -> None: ...

    def history_lost(self) -> None: ...


@dataclass(frozen=True)
class _End:
    error: ClientError | None = None


@dataclass(eq=False)
class Subscriber:
    """One subscription's filter and queue."""

    filter: StatusFilter | OnlineFilter
    queue: asyncio.Queue[Change | _End]
    # The organization API key it was opened with, if any: revoking it ends the subscription.
    key_id: ObjectId | None = None
    closed: bool = field(default=False)

    async def changes(self) -> AsyncIterator[Change]:
        """The matching changes, until the hub ends the subscription."""
        while True:
            item = await self.queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item


@dataclass(frozen=True)
class Replicated:
    """A collection (besides the connectors) whose every change the hub's stream reads for a
    replica of it."""

    collection: Callable[[], AsyncCollection[dict[str, Any]]]
    replica: ChangeReplica


@dataclass(frozen=True)
class Followed:
    """A collection whose inserts and updates the hub's stream also reads, and who is told."""

    collection: Callable[[], AsyncCollection[dict[str, Any]]]
    tell: Callable[[Mapping[str, Any]], None]


class StatusHub:
    """Owns the change stream and the live subscribers of this process."""

    def __init__(
        self,
        collection: Callable[[], AsyncCollection[dict[str, Any]]],
        queue_size: int = 1000,
        stations: Callable[[], AsyncCollection[dict[str, Any]]] | None = None,
        replicas: Sequence[ChangeReplica] = (),
        organizations: Callable[[], AsyncCollection[dict[str, Any]]] | None = None,
        admission: Callable[[str, ObjectId, Mapping[str, Any]], None] | None = None,
        followed: Sequence[Followed] = (),
        replicated: Sequence[Replicated] = (),
    ) -> None:
        self._collection = collection
        self._stations = stations
        self._organizations = organizations
        # Told of organization updates and station activity changes (OCPP admission).
        self._admission = admission
        # Other collections whose inserts and updates are told to a listener, as they are.
        self._followed = tuple(followed)
        # Told of every connector change, in order, and of lost history.
        self._replicas = tuple(replicas)
        # Told of every change of their collection, in order, and of lost history.
        self._replicated = tuple(replicated)
        self._history_lost = False
        # History losses in a row, with no successful read between them.
        self._losses = 0
        self._queue_size = queue_size
        # Subscribers indexed by what they watch, so an event is offered only to
        # those that may want it.
        self._by_connector: dict[ObjectId, set[Subscriber]] = defaultdict(set)
        self._by_organization: dict[ObjectId, set[Subscriber]] = defaultdict(set)
        self._by_chargestation: dict[ObjectId, set[Subscriber]] = defaultdict(set)
        self._others: set[Subscriber] = set()
        self._online: set[Subscriber] = set()
        self._by_key: dict[ObjectId, set[Subscriber]] = defaultdict(set)
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self._resume_token: Any = None
        # The cluster time of the last change read (what `position` covers).
        self._last_time = cursors.BEGINNING
        self.stats = {
            "events": 0,
            "deliveries": 0,
            "dropped_slow": 0,
            "stream_restarts": 0,
            "replay_reads": 0,
        }
        # Whether the stream is open now (False while it is being resumed).
        self.streaming = False
        # Seconds between the last event's write and its arrival here.
        self.last_lag = 0.0

    @property
    def subscriber_count(self) -> int:
        return self._count

    @property
    def position(self) -> cursors.Position | None:
        """Now, in the history: every change after it reaches subscribers made from here on."""
        if self._resume_token is None:
            return None
        return cursors.Position(self._resume_token, self._last_time)

    def _watch(self, pipeline: list[dict[str, Any]] | None = None, **where: Any) -> Any:
        """A change stream on the database, for the changes the hub follows (or `pipeline`'s)."""
        collection = self._collection()
        stations = self._stations().name if self._stations is not None else ""
        organizations = self._organizations().name if self._organizations is not None else ""
        return collection.database.watch(
            pipeline
            if pipeline is not None
            else _pipeline(
                collection.name,
                stations,
                organizations,
                [follow.collection().name for follow in self._followed],
                [replicated.collection().name for replicated in self._replicated],
            ),
            full_document="updateLookup",
            full_document_before_change="whenAvailable",
            **where,
        )

    async def replay(
        self, after: cursors.Position, watched: StatusFilter
    ) -> AsyncGenerator[StatusChange, None]:
        """Every status change after a cursor that may match `watched`, in order, until the
        history is read to its end.

        The database filters the history (`_replay_pipeline`): a replay reads
        only the changes of what it watches, not the whole network's. The
        caller still applies `watched.matches` (visibility is judged here).
        Raises STATUS_HISTORY_LOST when the database no longer has that history,
        or when it holds more than MAX_REPLAY_CHANGES changes or reaches back
        further than MAX_REPLAY_AGE (a snapshot is then the better start), and
        BAD_USER_INPUT when the cursor is not one the database can read.
        """
        collection = self._collection()
        try:
            pipeline = _replay_pipeline(collection.name, watched)
            async with await self._watch(pipeline, start_after=after.token) as stream:
                read = 0
                while True:
                    event = await next_change(stream)
                    if event is None:
                        return
                    read += 1
                    self.stats["replay_reads"] += 1
                    if read > MAX_REPLAY_CHANGES:
                        raise StatusHistoryLost(
                            f"more than {MAX_REPLAY_CHANGES} changes were written since this "
                            "cursor; subscribe again with includeCurrent: true"
                        )
                    if event["wallTime"] < datetime.now(UTC) - MAX_REPLAY_AGE:
                        raise StatusHistoryLost(
                            "this cursor is older than a day; subscribe again with "
                            "includeCurrent: true"
                        )
                    change = _status_change(event)
                    if change is not None:
                        yield change
        except OperationFailure as error:
            if error.code in _HISTORY_LOST:
                raise StatusHistoryLost(
                    "the changes after this cursor are no longer kept; subscribe again with "
                    "includeCurrent: true"
                ) from None
            if database_unavailable(error):
                raise
            # Anything else the database says about the token we gave it: the
            # cursor was not one of ours (codes vary: 9, 260, 50811, ...).
            raise BadUserInput(
                "after is not a cursor returned by this subscription", field="after"
            ) from None

    async def start(self) -> None:
        """Open the change stream; returns once it is listening."""
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="status-hub")
        await ready.wait()

    async def stop(self) -> None:
        """Close the stream and complete every subscription."""
        await cancel_and_wait(self._task)
        self._task = None
        self._end_all(None)

    def subscribe(
        self, watched: StatusFilter | OnlineFilter, key_id: ObjectId | None = None
    ) -> Subscriber:
        subscriber = Subscriber(watched, asyncio.Queue(self._queue_size), key_id)
        self._bucket(subscriber).add(subscriber)
        if key_id is not None:
            self._by_key[key_id].add(subscriber)
        self._count += 1
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber.closed:
            return
        subscriber.closed = True
        bucket = self._bucket(subscriber)
        bucket.discard(subscriber)
        if not bucket:
            # An empty index entry is dropped, or every id ever watched would stay.
            index, key = self._place(subscriber)
            if index is not None and key is not None:
                index.pop(key, None)
        if subscriber.key_id is not None:
            keyed = self._by_key[subscriber.key_id]
            keyed.discard(subscriber)
            if not keyed:
                del self._by_key[subscriber.key_id]
        self._count -= 1

    def subscribed_keys(self) -> set[ObjectId]:
        """The API keys that have open subscriptions in this process."""
        return set(self._by_key)

    def end_for_key(self, key_id: ObjectId, error: ClientError) -> None:
        """End every subscription opened with an API key (it was revoked)."""
        for subscriber in list(self._by_key.get(key_id, ())):
            self._end(subscriber, error)

    def _place(
        self, subscriber: Subscriber
    ) -> tuple[dict[ObjectId, set[Subscriber]] | None, ObjectId | None]:
        """The index a subscriber is kept in and its key there (None: an unindexed set)."""
        watched = subscriber.filter
        if isinstance(watched, OnlineFilter):
            return None, None
        if watched.connector_ids is not None:
            # Indexed under its id only when it watches exactly one connector.
            if len(watched.connector_ids) == 1:
                return self._by_connector, next(iter(watched.connector_ids))
            return None, None
        if watched.organization_id is not None:
            return self._by_organization, watched.organization_id
        if watched.chargestation_id is not None:
            return self._by_chargestation, watched.chargestation_id
        return None, None

    def _bucket(self, subscriber: Subscriber) -> set[Subscriber]:
        index, key = self._place(subscriber)
        if index is None:
            return self._online if isinstance(subscriber.filter, OnlineFilter) else self._others
        assert key is not None
        return index[key]

    def _end(self, subscriber: Subscriber, error: ClientError | None) -> None:
        self.unsubscribe(subscriber)
        # A closed subscription needs no pending events: make room for the end.
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(_End(error))

    def _end_all(self, error: ClientError | None) -> None:
        everyone = self._others | self._online
        for buckets in (self._by_connector, self._by_organization, self._by_chargestation):
            for bucket in buckets.values():
                everyone |= bucket
        for subscriber in everyone:
            self._end(subscriber, error)
        self._by_connector.clear()
        self._by_organization.clear()
        self._by_chargestation.clear()

    def publish(self, change: Change) -> None:
        """Hand a change to every matching subscriber without waiting for any of them."""
        self.stats["events"] += 1
        if isinstance(change, OnlineChange):
            document = change.chargestation
            candidates = list(self._online)
        else:
            document = change.connector
            candidates = [
                *self._by_connector.get(document["_id"], ()),
                *self._by_organization.get(document.get("organization"), ()),  # type: ignore[arg-type]
                *self._by_chargestation.get(document.get("chargestation"), ()),  # type: ignore[arg-type]
                *self._others,
            ]
        for subscriber in candidates:
            if not subscriber.filter.matches(document):
                continue
            try:
                subscriber.queue.put_nowait(change)
                self.stats["deliveries"] += 1
            except asyncio.QueueFull:
                self.stats["dropped_slow"] += 1
                log.warning("closing a subscriber that left %d events unread", self._queue_size)
                self._end(
                    subscriber,
                    SubscriberTooSlow(
                        f"more than {self._queue_size} events were waiting unread; "
                        "subscribe again with after: <the last cursor received> to catch up"
                    ),
                )

    async def _run(self, ready: asyncio.Event) -> None:
        delay = 0.1
        while True:
            try:
                collection = self._collection()
                followed = {follow.collection().name: follow.tell for follow in self._followed}
                replicated = {one.collection().name: one.replica for one in self._replicated}
                async with await self._watch(resume_after=self._resume_token) as stream:
                    # Known from the first answer, so `position` is right from the start.
                    self._resume_token = stream.resume_token or self._resume_token
                    if self._history_lost:
                        # Re-read only now that the new stream sees every later change.
                        self._history_lost = False
                        for replica in (*self._replicas, *replicated.values()):
                            replica.history_lost()
                    ready.set()
                    self.streaming = True
                    while True:
                        event = await next_change(stream)
                        # A read succeeded: the next interruption starts over from a short wait.
                        self._losses = 0
                        delay = 0.1
                        self._resume_token = stream.resume_token
                        if event is None:
                            await asyncio.sleep(0.01)
                            continue
                        self.last_lag = max(0.0, time.time() - event["wallTime"].timestamp())
                        self._last_time = event["clusterTime"]
                        change: Change | None = None
                        kind = event["ns"].get("coll")
                        if kind == collection.name:
                            for replica in self._replicas:
                                replica.apply_change(event)
                            change = _status_change(event)
                        elif kind in followed:
                            followed[kind](event)
                        else:
                            if kind in replicated:
                                replicated[kind].apply_change(event)
                            self._tell_admission(event)
                            change = _online_change(event)
                        if change is not None:
                            self.publish(change)
                            # Let subscribers send before the next event of a burst,
                            # so queues hold bursts only while a client is stuck.
                            await asyncio.sleep(0)
            except OperationFailure as error:
                stop_if_cancelled()
                ready.set()
                if error.code not in _HISTORY_LOST:
                    await self._retry_after(error, delay)
                    delay = min(delay * 2, 5.0)
                    continue
                log.error("status changes were lost while the stream was interrupted: %s", error)
                self._resume_token = None
                self._history_lost = True
                self._end_all(
                    StatusHistoryLost(
                        "status changes may have been missed while the server was cut off "
                        "from the database; subscribe again with includeCurrent: true"
                    )
                )
                # Reopened at once, so a client told to resubscribe misses nothing
                # more; but a history lost again before any read must not spin the loop.
                self._losses += 1
                if self._losses > 1:
                    # Each reopen reloads the replicas: wait longer each time it repeats.
                    await self._retry_after(error, delay)
                    delay = min(delay * 2, 5.0)
            except PyMongoError as error:
                stop_if_cancelled()
                ready.set()
                await self._retry_after(error, delay)
                delay = min(delay * 2, 5.0)

    def _tell_admission(self, event: Mapping[str, Any]) -> None:
        """Organization updates and station activity changes, for the OCPP gateway."""
        if self._admission is None or event["operationType"] != "update":
            return
        fields = event["updateDescription"]["updatedFields"]
        if self._organizations is not None and event["ns"]["coll"] == self._organizations().name:
            self._admission("organization", event["documentKey"]["_id"], fields)
        elif (
            self._stations is not None
            and event["ns"]["coll"] == self._stations().name
            and "active" in fields
        ):
            self._admission("chargestation", event["documentKey"]["_id"], fields)

    async def _retry_after(self, error: Exception, delay: float) -> None:
        self.streaming = False
        self.stats["stream_restarts"] += 1
        log.warning("status change stream interrupted (%s); resuming in %.1fs", error, delay)
        await asyncio.sleep(delay)


def _online_change(event: dict[str, Any]) -> OnlineChange | None:
    """An OnlineChange for a station's change event (None when it was deleted meanwhile)."""
    document = event.get("fullDocument")
    if document is None or event["operationType"] != "update":
        return None
    if "online" not in event["updateDescription"]["updatedFields"]:
        return None
    wall_time: datetime = event["wallTime"]
    return OnlineChange(
        chargestation=document,
        online=bool(event["updateDescription"]["updatedFields"]["online"]),
        changed_at=wall_time.replace(microsecond=wall_time.microsecond // 1000 * 1000),
    )


def as_of_change(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The document as it was right after the change an event reports.

    An update's pre-image with the update's own fields applied: the
    looked-up `fullDocument` is the document as it is when the event is read,
    which may be several changes later (and SecantusDB's post-images are that
    too). Without a pre-image (MongoDB before 6.0), the looked-up document.
    """
    before = event.get("fullDocumentBeforeChange")
    if event.get("operationType") != "update" or before is None:
        document = event.get("fullDocument")
        return dict(document) if document is not None else None
    after = copy.deepcopy(dict(before))
    description = event.get("updateDescription") or {}
    for path, value in (description.get("updatedFields") or {}).items():
        _set_path(after, path.split("."), value)
    for path in description.get("removedFields") or ():
        _set_path(after, path.split("."), _REMOVED)
    return after


_REMOVED = object()


def _set_path(target: Any, parts: list[str], value: Any) -> None:
    """Set (or with _REMOVED, remove) a dotted path in a document, through arrays too."""
    part, rest = parts[0], parts[1:]
    if isinstance(target, list):
        if not part.isdigit():
            return
        index = int(part)
        while len(target) <= index:
            target.append(None)
        if not rest:
            target[index] = None if value is _REMOVED else value
            return
        if not isinstance(target[index], dict | list):
            target[index] = {}
        _set_path(target[index], rest, value)
        return
    if not isinstance(target, dict):
        return
    if not rest:
        if value is _REMOVED:
            target.pop(part, None)
        else:
            target[part] = value
        return
    if not isinstance(target.get(part), dict | list):
        if value is _REMOVED:
            return
        target[part] = {}
    _set_path(target[part], rest, value)


def _status_change(event: dict[str, Any]) -> StatusChange | None:
    """A StatusChange for a change event, or None when the status did not really change."""
    document = as_of_change(event)
    if document is None:  # deleted before the lookup (no pre-image), or a deletion
        return None
    if event["operationType"] == "update":
        updated = event["updateDescription"]["updatedFields"]
        if "status" not in updated:
            return None
        status = updated["status"]
    elif event["operationType"] == "replace":
        status = document.get("status")
    else:  # an insertion is no change of status
        return None
    before = event.get("fullDocumentBeforeChange") or {}
    previous = before.get("status")
    if previous == status:
        return None
    wall_time: datetime = event["wallTime"]
    try:
        return StatusChange(
            connector=document,
            status=ConnectorStatus(status),
            previous_status=ConnectorStatus(previous) if previous else None,
            changed_at=wall_time.replace(microsecond=wall_time.microsecond // 1000 * 1000),
            cursor=cursors.encode(cursors.Position(event["_id"], event["clusterTime"])),
            cluster_time=event["clusterTime"],
        )
    except ValueError:
        # Written around the API with a value it does not know: not an event.
        log.warning("ignoring connector %s with unknown status %r", document["_id"], status)
        return None
