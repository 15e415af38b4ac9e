"""A collection held in memory, kept current by the process's change stream.

What is generic in the connector index and the organizations replica lives
here: reading the collection whole, holding the changes that arrive
meanwhile, feeding it the change stream's events and the process's own
writes. What is held (a `Store`) is the domain's.

Order of events at start: the process's change stream opens first (the
status hub, `graph.live`), then the collection is read from MongoDB; changes
that arrive while it loads are held and applied after the read, so nothing
written in between is missed (applying a change twice is harmless: events
carry the whole document as it is now). While the store loads (or reloads
after the change history was lost), readers use the database: answers stay
right, only slower, and `/readyz` says "not ready" so a load balancer can
wait.

The process's own writes reach the store before the mutation answers
(`wrote`), with the cluster time of the write, so the client reads its own
write at once and an older change event still on its way cannot undo it
(`OwnWrites`). Other processes see a change once their change stream
delivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from bson import ObjectId, Timestamp
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from graph.core.context import Services
from graph.core.long_reads import LongReads
from graph.core.tasks import cancel_and_wait, stop_if_cancelled

log = logging.getLogger(__name__)

LOAD_BATCH = 5_000
# Operations after which a collection's stored documents are all gone.
_GONE = ("drop", "rename", "dropDatabase")


class Store(Protocol):
    """What a replica holds: fed change events and the process's own writes."""

    @property
    def count(self) -> int: ...

    def apply_change(self, event: Mapping[str, Any]) -> None: ...

    def apply_write(
        self, key: ObjectId, document: Mapping[str, Any] | None, at: Timestamp | None
    ) -> None: ...


StoreT = TypeVar("StoreT", bound=Store)
StoreT_co = TypeVar("StoreT_co", bound=Store, covariant=True)


class Builder(Protocol[StoreT_co]):
    """Makes a store from the documents read, batch after batch."""

    def add(self, batch: Sequence[Mapping[str, Any]]) -> None: ...

    def finish(self) -> StoreT_co: ...


class OwnWrites:
    """The cluster times of this process's own writes, by document id.

    A change event older than such a write would undo it (the write is
    applied already), so it is skipped; the write's own event, or any later
    one, ends the watch.
    """

    def __init__(self) -> None:
        self._at: dict[ObjectId, Timestamp] = {}

    def wrote(self, key: ObjectId, at: Timestamp | None) -> None:
        if at is not None:
            self._at[key] = at

    def outdated(self, key: ObjectId, event: Mapping[str, Any]) -> bool:
        """Is this change event older than this process's last write of `key`?"""
        written = self._at.get(key)
        if written is None:
            return False
        if event["clusterTime"] < written:
            return True
        del self._at[key]
        return False


def event_key(event: Mapping[str, Any]) -> ObjectId | None:
    """The id of the document a change event is about (None: not an ObjectId, or none)."""
    key = (event.get("documentKey") or {}).get("_id")
    return key if isinstance(key, ObjectId) else None


class Documents:
    """Stored documents by id, as they are: the store of a small collection.

    It is its own builder (`add`, `finish`): a fresh one is filled by a load.
    """

    def __init__(self) -> None:
        self._by_id: dict[ObjectId, Mapping[str, Any]] = {}
        self._own = OwnWrites()

    @property
    def count(self) -> int:
        return len(self._by_id)

    def add(self, batch: Sequence[Mapping[str, Any]]) -> None:
        for document in batch:
            self._by_id[document["_id"]] = self.kept(document)

    def kept(self, document: Mapping[str, Any]) -> Mapping[str, Any]:
        """What is held of a document (a store may leave out what readers never need)."""
        return document

    def finish(self) -> Documents:
        return self

    def get(self, key: ObjectId) -> Mapping[str, Any] | None:
        return self._by_id.get(key)

    def get_many(self, keys: Iterable[ObjectId]) -> dict[ObjectId, Mapping[str, Any]]:
        by_id = self._by_id
        return {key: by_id[key] for key in keys if key in by_id}

    def apply_write(
        self, key: ObjectId, document: Mapping[str, Any] | None, at: Timestamp | None
    ) -> None:
        self._put(key, document)
        self._own.wrote(key, at)

    def apply_change(self, event: Mapping[str, Any]) -> None:
        operation = event["operationType"]
        if operation in _GONE:
            self._by_id.clear()
            return
        key = event_key(event)
        if key is None or self._own.outdated(key, event):
            return
        if operation == "delete":
            self._put(key, None)
        elif operation in ("insert", "update", "replace"):
            document = event.get("fullDocument")
            if document is not None:  # None: deleted since; its delete event follows
                self._put(key, document)

    def _put(self, key: ObjectId, document: Mapping[str, Any] | None) -> None:
        if document is None:
            self._by_id.pop(key, None)
        else:
            self._by_id[key] = self.kept(document)


class Replica(Generic[StoreT]):
    """Holds one collection's store; `current()` is what readers use (None: ask the database)."""

    # Names the store in logs and figures ("connector index").
    title = "replica"

    def __init__(
        self,
        services: Services,
        collection: Callable[[], AsyncCollection[dict[str, Any]]],
        builder: Callable[[], Builder[StoreT]],
        enabled: bool = True,
    ) -> None:
        # The process's services: the database's LongReads are there once it is connected.
        self._services = services
        self._collection = collection
        self._builder = builder
        self.enabled = enabled
        self.store: StoreT = builder().finish()
        self.loaded = False
        # Changes and own writes that arrived while a load was reading (and, until the
        # first load, since the stream opened).
        self._held: list[tuple[str, Any]] | None = [] if enabled else None
        self._task: asyncio.Task[None] | None = None
        self.stats: dict[str, float] = {"loads": 0, "load_seconds": 0.0, "changes": 0}

    def current(self) -> StoreT | None:
        return self.store if self.enabled and self.loaded else None

    @property
    def ready(self) -> bool:
        return self.loaded or not self.enabled

    # --- loading ----------------------------------------------------------------

    def start_loading(self) -> None:
        """(Re)load from the database in the background; readers use the database meanwhile."""
        if not self.enabled:
            return
        if self._task is not None:
            self._task.cancel()
        self.loaded = False
        self._held = []
        self._task = asyncio.create_task(self._load(), name=self.title.replace(" ", "-") + "-load")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _load(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._read_all()
                return
            except PyMongoError as error:
                stop_if_cancelled()
                log.warning("%s: load failed (%s); retrying in %.1fs", self.title, error, delay)
            except Exception:
                stop_if_cancelled()
                # Not ready until loaded, and changes are held meanwhile: never give up.
                log.exception("%s: load failed; retrying in %.1fs", self.title, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _read_all(self) -> None:
        started = time.monotonic()
        builder = self._builder()
        batch: list[Mapping[str, Any]] = []
        read = 0
        client, database = self._services.get(LongReads).open()
        try:
            documents = database[self._collection().name].find({}, batch_size=LOAD_BATCH)
            async for document in documents:
                batch.append(document)
                if len(batch) == LOAD_BATCH:
                    builder.add(batch)
                    read += len(batch)
                    batch = []
                    self.progress(read)
        finally:
            await client.close()
        # A newer load replaced this one (its cancellation may have been lost in the close).
        stop_if_cancelled()
        if asyncio.current_task() is not self._task:
            return
        builder.add(batch)
        store = builder.finish()
        # No await from here on: what was held is applied and the store swapped at once.
        for kind, item in self._held or []:
            if kind == "change":
                store.apply_change(item)
            else:
                store.apply_write(*item)
        self._held = None
        self.store = store
        self.loaded = True
        self.stats["loads"] += 1
        self.stats["load_seconds"] = round(time.monotonic() - started, 3)
        self.report_loaded()

    def progress(self, read: int) -> None:
        """Told after each batch read while loading (a large store logs its progress)."""

    def report_loaded(self) -> None:
        log.info(
            "%s loaded: %d documents in %.1fs",
            self.title,
            self.store.count,
            self.stats["load_seconds"],
        )

    # --- feeding -----------------------------------------------------------------

    def apply_change(self, event: Mapping[str, Any]) -> None:
        """A change event of the collection, in stream order."""
        if not self.enabled:
            return
        self.stats["changes"] += 1
        if self._held is not None:
            self._held.append(("change", event))
        else:
            self.store.apply_change(event)

    def history_lost(self) -> None:
        """The change stream missed changes: only a fresh read can be trusted.

        Called once the new stream is open, so every change after the read is seen.
        """
        if self.enabled:
            log.warning("%s: change history lost; reloading from the database", self.title)
            self.start_loading()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncClientSession]:
        """A session to write in, so `wrote` learns the write's cluster time."""
        async with self._collection().database.client.start_session(
            causal_consistency=False
        ) as session:
            yield session

    def wrote(
        self,
        key: ObjectId,
        document: Mapping[str, Any] | None,
        session: AsyncClientSession,
    ) -> None:
        """This process wrote a document (None: deleted it); the store has it at once."""
        if not self.enabled:
            return
        at: Timestamp | None = session.operation_time
        if self._held is not None:
            self._held.append(("write", (key, document, at)))
        else:
            self.store.apply_write(key, document, at)

    # --- figures -------------------------------------------------------------------

    def health(self) -> dict[str, object]:
        return {"enabled": self.enabled, "loaded": self.loaded, **self.stats}
