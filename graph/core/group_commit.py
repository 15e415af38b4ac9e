"""Writes that may wait a few milliseconds, written together (group commit).

Charge stations cause many small writes (their status reports, their
connection's lease, their boot details). Written one by one, each is a
command with its own round trip, connection from the pool and server
bookkeeping; a thousand stations reconnecting at once exhausted the pool and
the embedded server fell seconds behind. Here a write waits in the process
while the previous bulk is in flight; then everything that arrived meanwhile
is written in one unordered `bulk_write` per collection. Each caller returns
once the bulk holding its write is acknowledged.

- Order per document: two writes to the same document (same collection and
  `key`) never share a bulk; the later one goes in the next bulk.
- A slow database is not an error: writes wait. A bulk that fails because the
  database is unavailable is retried until its oldest write has waited
  `give_up_seconds`; only then do its callers get the error.
- `pending` is how many writes wait (the OCPP endpoint admits no new
  stations past a limit, so connected ones are served first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from graph.core.error_policy import database_unavailable
from graph.core.tasks import cancel_and_wait, stop_if_cancelled

log = logging.getLogger(__name__)

# Writes in one round at the most (all collections together).
MAX_ROUND = 1000
# Pause between tries while the database is unavailable.
RETRY_SECONDS = 0.5

Written = Callable[[AsyncClientSession], None]


class WriteGivenUp(Exception):
    """The database stayed unavailable for longer than a write may wait."""


@dataclass
class _Write:
    collection: AsyncCollection[dict[str, Any]]
    operation: UpdateOne
    key: Hashable
    written: Written | None
    queued: float = field(default_factory=time.monotonic)
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    """The process's queue of writes that are stored together, and the task that writes them."""

    def __init__(self, give_up_seconds: float) -> None:
        self.give_up_seconds = give_up_seconds
        self._queue: list[_Write] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The round being written now.
        self._round: list[_Write] = []
        self.stats = {"writes": 0, "bulks": 0, "retries": 0, "failed": 0}

    @property
    def pending(self) -> int:
        """Writes waiting to be stored (queued or in the bulk being written)."""
        return len(self._queue) + len(self._round)

    async def update(
        self,
        collection: AsyncCollection[dict[str, Any]],
        filter: dict[str, Any],
        update: dict[str, Any],
        key: Hashable,
        written: Written | None = None,
    ) -> None:
        """Store an `update_one`; returns once it is acknowledged.

        `key` names the document (writes with the same key keep their order);
        `written(session)` runs right after the acknowledgement, with the
        session the bulk was written in (its operation time is the write's).
        """
        item = _Write(collection, UpdateOne(filter, update), (collection.name, key), written)
        self._queue.append(item)
        self._arrived.set()
        await asyncio.shield(item.done)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        self._fail([*self._round, *self._queue], WriteGivenUp("the server is stopping"))
        self._round = []
        self._queue.clear()

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._queue:
                self._round, later = _one_per_key(self._queue[:MAX_ROUND])
                self._queue[:MAX_ROUND] = later
                await self._write_until_stored(self._round)
                self._round = []

    async def _write_until_stored(self, batch: list[_Write]) -> None:
        while True:
            try:
                await self._write(batch)
            except PyMongoError as error:
                stop_if_cancelled()
                if not database_unavailable(error):
                    log.exception("grouped writes could not be stored")
                    self._fail(batch, error)
                    return
                waited = time.monotonic() - min(item.queued for item in batch)
                if waited >= self.give_up_seconds:
                    log.warning("grouped writes given up after %.1f s: %s", waited, error)
                    self._fail(batch, WriteGivenUp(f"the database is unavailable: {error}"))
                    return
                self.stats["retries"] += 1
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.stats["bulks"] += 1
            self.stats["writes"] += len(batch)
            for item in batch:
                if not item.done.done():
                    item.done.set_result(None)
            return

    async def _write(self, batch: list[_Write]) -> None:
        """One unordered bulk per collection, all in flight together."""
        by_collection: dict[str, list[_Write]] = defaultdict(list)
        for item in batch:
            by_collection[item.collection.name].append(item)
        await asyncio.gather(*(self._bulk(items) for items in by_collection.values()))

    @staticmethod
    async def _bulk(items: list[_Write]) -> None:
        collection = items[0].collection
        async with collection.database.client.start_session(causal_consistency=False) as session:
            await collection.bulk_write(
                [item.operation for item in items], ordered=False, session=session
            )
            for item in items:
                if item.written is not None:
                    item.written(session)

    def _fail(self, batch: Iterable[_Write], error: BaseException) -> None:
        for item in batch:
            self.stats["failed"] += 1
            if not item.done.done():
                item.done.set_exception(error)


def _one_per_key(queue: list[_Write]) -> tuple[list[_Write], list[_Write]]:
    """The first write of each document, and the later ones (in order, for the next round)."""
    seen: set[Hashable] = set()
    now_items: list[_Write] = []
    later: list[_Write] = []
    for item in queue:
        if item.key in seen:
            later.append(item)
        else:
            seen.add(item.key)
            now_items.append(item)
    return now_items, later
