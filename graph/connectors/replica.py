"""The process's connector index as a service: loading it, feeding it, telling who may use it.

Order of events at start: the process's change stream opens first (the
status hub, `graph.live`), then the index is read from MongoDB; changes that
arrive while it loads are held and applied after the read, so nothing
written in between is missed (applying a change twice is harmless: events
carry the whole document as it is now). While the index loads (or rebuilds
after the change history was lost), searches use the database: answers stay
right, only slower, and `/readyz` says "not ready" so a load balancer can
wait.

The process's own writes reach the index before the mutation answers
(`wrote`), with the cluster time of the write, so the client reads its own
write at once and an older change event still on its way cannot undo it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from bson import ObjectId, Timestamp
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from graph.connectors.index import ConnectorIndex, IndexBuilder
from graph.connectors.models import connectors_collection
from graph.core.context import Context, Services
from graph.core.listeners import Listeners
from graph.core.long_reads import LongReads
from graph.core.tasks import cancel_and_wait, stop_if_cancelled

log = logging.getLogger(__name__)

LOAD_BATCH = 5_000
# Progress is logged every this many connectors.
LOG_EVERY = 200_000


class ConnectorReplica:
    """Holds the index; `current()` is what searches use (None: ask the database)."""

    def __init__(self, services: Services, enabled: bool = True) -> None:
        # The process's services: the database's LongReads are there once it is connected.
        self._services = services
        self.enabled = enabled
        self.index = ConnectorIndex()
        self.loaded = False
        # Changes and own writes that arrived while a load was reading (and, until the
        # first load, since the stream opened).
        self._held: list[tuple[str, Any]] | None = [] if enabled else None
        self._task: asyncio.Task[None] | None = None
        self.stats: dict[str, float] = {"loads": 0, "load_seconds": 0.0, "changes": 0}
        # Told of every change event of the connectors collection, in stream order, whether
        # or not the index is enabled (roaming pushes changes to partners from them).
        self.changes: Listeners[[Mapping[str, Any]]] = Listeners()

    @staticmethod
    def of(context: Context) -> ConnectorIndex | None:
        """The index a request may search, or None when it must read the database."""
        return context.services.get(ConnectorReplica).current()

    def current(self) -> ConnectorIndex | None:
        return self.index if self.enabled and self.loaded else None

    @property
    def ready(self) -> bool:
        return self.loaded or not self.enabled

    # --- loading ----------------------------------------------------------------

    def start_loading(self) -> None:
        """(Re)load from the database in the background; searches use the database meanwhile."""
        if not self.enabled:
            return
        if self._task is not None:
            self._task.cancel()
        self.loaded = False
        self._held = []
        self._task = asyncio.create_task(self._load(), name="connector-index-load")

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
                log.warning("connector index: load failed (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _read_all(self) -> None:
        started = time.monotonic()
        builder = IndexBuilder()
        batch: list[Mapping[str, Any]] = []
        read = 0
        client, database = self._services.get(LongReads).open()
        try:
            documents = database[connectors_collection().name].find({}, batch_size=LOAD_BATCH)
            async for document in documents:
                batch.append(document)
                if len(batch) == LOAD_BATCH:
                    builder.add(batch)
                    read += len(batch)
                    batch = []
                    if read % LOG_EVERY == 0:
                        log.info("connector index: %d connectors read", read)
        finally:
            await client.close()
        builder.add(batch)
        index = builder.finish()
        # No await from here on: what was held is applied and the index swapped at once.
        for kind, item in self._held or []:
            if kind == "change":
                index.apply_change(item)
            else:
                index.apply_write(*item)
        self._held = None
        self.index = index
        self.loaded = True
        seconds = time.monotonic() - started
        self.stats["loads"] += 1
        self.stats["load_seconds"] = round(seconds, 3)
        log.info(
            "connector index loaded: %d connectors in %.1fs, %.0f bytes per connector",
            index.count,
            seconds,
            index.bytes_per_connector(),
        )

    # --- feeding -----------------------------------------------------------------

    def apply_change(self, event: Mapping[str, Any]) -> None:
        """A change event of the connectors collection, in stream order."""
        self.changes.tell(event)
        if not self.enabled:
            return
        self.stats["changes"] += 1
        if self._held is not None:
            self._held.append(("change", event))
        else:
            self.index.apply_change(event)

    def history_lost(self) -> None:
        """The change stream missed changes: only a fresh read can be trusted.

        Called once the new stream is open, so every change after the read is seen.
        """
        if self.enabled:
            log.warning("connector index: change history lost; reloading from the database")
            self.start_loading()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncClientSession]:
        """A session to write a connector in, so `wrote` learns the write's cluster time."""
        async with connectors_collection().database.client.start_session(
            causal_consistency=False
        ) as session:
            yield session

    def wrote(
        self,
        connector_id: ObjectId,
        document: Mapping[str, Any] | None,
        session: AsyncClientSession,
    ) -> None:
        """This process wrote a connector (None: deleted it); the index has it at once."""
        if not self.enabled:
            return
        at: Timestamp | None = session.operation_time
        if self._held is not None:
            self._held.append(("write", (connector_id, document, at)))
        else:
            self.index.apply_write(connector_id, document, at)

    # --- figures -------------------------------------------------------------------

    def health(self) -> dict[str, object]:
        index = self.index
        return {
            "enabled": self.enabled,
            "loaded": self.loaded,
            "connectors": index.count,
            "bytes_per_connector": round(index.bytes_per_connector(), 1),
            **self.stats,
        }
