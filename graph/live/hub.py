"""The status hub: the process's single change stream on the connectors collection.

Status changes are read once from MongoDB, whichever process (or tool) wrote
them, and handed to every matching subscriber through its own bounded queue,
so a slow subscriber can only lose its own subscription, never delay others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from graph.connectors.enums import ConnectorStatus

log = logging.getLogger(__name__)

# Only updates that touch `status`, and whole-document replacements, can change it.
_PIPELINE: list[dict[str, Any]] = [
    {
        "$match": {
            "$or": [
                {
                    "operationType": "update",
                    "updateDescription.updatedFields.status": {"$exists": True},
                },
                {"operationType": "replace"},
            ]
        }
    }
]


@dataclass(frozen=True)
class StatusChange:
    """One real status change, as read from the change stream."""

    connector: dict[str, Any]
    status: ConnectorStatus
    previous_status: ConnectorStatus | None
    changed_at: datetime


class SubscriberTooSlow(Exception):
    """The subscriber did not keep up and its queue overflowed."""


@dataclass(eq=False)
class Subscriber:
    """One subscription's filter and queue."""

    connector_ids: frozenset[ObjectId] | None
    organization_id: ObjectId | None
    queue: asyncio.Queue[StatusChange | None]
    overflowed: bool = field(default=False)

    def wants(self, change: StatusChange) -> bool:
        connector = change.connector
        if self.connector_ids is not None and connector["_id"] not in self.connector_ids:
            return False
        return self.organization_id is None or connector.get("organization") == self.organization_id

    async def changes(self) -> AsyncIterator[StatusChange]:
        """The matching changes, until the hub closes or the queue overflows."""
        while True:
            change = await self.queue.get()
            if change is None:
                if self.overflowed:
                    raise SubscriberTooSlow
                return
            yield change


class StatusHub:
    """Owns the change stream and the set of live subscribers of this process."""

    def __init__(
        self,
        collection: Callable[[], AsyncCollection[dict[str, Any]]],
        queue_size: int = 1000,
    ) -> None:
        self._collection = collection
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._resume_token: Any = None
        self.dropped_slow_subscribers = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        """Open the change stream; returns once it is listening."""
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="status-hub")
        await ready.wait()

    async def stop(self) -> None:
        """Close the stream and complete every subscription."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for subscriber in list(self._subscribers):
            self._close(subscriber)
        self._subscribers.clear()

    def subscribe(
        self, connector_ids: frozenset[ObjectId] | None, organization_id: ObjectId | None
    ) -> Subscriber:
        subscriber = Subscriber(connector_ids, organization_id, asyncio.Queue(self._queue_size))
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def _close(self, subscriber: Subscriber) -> None:
        # Make room for the end marker: a closed subscriber needs no pending events.
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(None)

    def publish(self, change: StatusChange) -> None:
        """Hand a change to every matching subscriber without waiting for any of them."""
        for subscriber in list(self._subscribers):
            if not subscriber.wants(change):
                continue
            try:
                subscriber.queue.put_nowait(change)
            except asyncio.QueueFull:
                self.dropped_slow_subscribers += 1
                log.warning(
                    "dropping a subscriber whose %d queued events were not read", self._queue_size
                )
                subscriber.overflowed = True
                self._subscribers.discard(subscriber)
                self._close(subscriber)

    async def _run(self, ready: asyncio.Event) -> None:
        delay = 0.1
        while True:
            try:
                async with await self._collection().watch(
                    _PIPELINE,
                    full_document="updateLookup",
                    full_document_before_change="whenAvailable",
                    resume_after=self._resume_token,
                ) as stream:
                    ready.set()
                    delay = 0.1
                    while True:
                        event = await stream.try_next()
                        self._resume_token = stream.resume_token
                        if event is None:
                            await asyncio.sleep(0.02)
                            continue
                        change = _status_change(event)
                        if change is not None:
                            self.publish(change)
            except PyMongoError as error:
                ready.set()
                log.warning(
                    "status change stream interrupted (%s); resuming in %.1fs", error, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


def _status_change(event: dict[str, Any]) -> StatusChange | None:
    """A StatusChange for a change event, or None when the status did not really change."""
    document = event.get("fullDocument")
    if document is None:  # deleted before the lookup
        return None
    if event["operationType"] == "update":
        status = event["updateDescription"]["updatedFields"]["status"]
    else:
        status = document.get("status")
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
        )
    except ValueError:
        # Written around the API with a value it does not know: not an event.
        log.warning("ignoring connector %s with unknown status %r", document["_id"], status)
        return None
