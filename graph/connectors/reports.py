"""Status reports of charge stations, written together (group commit).

A thousand stations each reporting every ten seconds made a hundred
find-and-modify commands a second, each with its own session, round trip and
server bookkeeping; the embedded database spent most of its time around the
writes rather than in them. Here reports wait in the process while one bulk
write is in flight, then the ones that arrived meanwhile are written together
in one unordered `bulk_write`. A station's report is answered (its
CALLRESULT sent) only once the bulk holding it is acknowledged.

- Nothing is merged away: two reports of one connector waiting together are
  two writes in two consecutive bulks, in order, so subscribers hear both.
- The connector a report names (station, OCPP connector id) is found in the
  connector index when it is loaded, else by one read per bulk; the write
  filter repeats the station and the id, so a connector moved meanwhile is
  not written by mistake. Reporting the current status again writes nothing
  (`status: {$ne: …}`), so it makes no event.
- A slow database is not an error: reports wait (the queue's length is
  `pending`, which the OCPP endpoint compares with its limit before
  admitting new stations). A bulk that fails because the database is
  unavailable is retried until the oldest report in it has waited
  `give_up_seconds` (CHARGEGRAPH_DB_TIMEOUT_SECONDS); only then do its
  reports fail, with an error that says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.errors import PyMongoError

from graph.connectors.enums import ConnectorStatus
from graph.connectors.models import connectors_collection
from graph.connectors.replica import ConnectorReplica
from graph.core.error_policy import database_unavailable
from graph.core.tasks import cancel_and_wait
from graph.core.timestamps import now

log = logging.getLogger(__name__)

# Reports written in one bulk at most.
MAX_BULK = 500
# Pause between tries while the database is unavailable.
RETRY_SECONDS = 0.5


class ReportFailed(Exception):
    """The database stayed unavailable for longer than a report may wait."""


@dataclass
class _Report:
    station: ObjectId
    ocpp_id: int
    status: ConnectorStatus
    queued: float = field(default_factory=time.monotonic)
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class StatusReports:
    """The process's queue of station status reports and the task that writes them."""

    def __init__(self, replica: ConnectorReplica, give_up_seconds: float) -> None:
        self.replica = replica
        self.give_up_seconds = give_up_seconds
        self._queue: list[_Report] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Reports in the bulk being written now.
        self._writing = 0
        self.stats = {"reports": 0, "bulks": 0, "retries": 0, "failed": 0}

    @property
    def pending(self) -> int:
        """Reports waiting to be written or acknowledged."""
        return len(self._queue) + self._writing

    async def report(self, station: ObjectId, ocpp_id: int, status: ConnectorStatus) -> bool:
        """Write a station's report; returns once it is stored, False for an unknown connector."""
        item = _Report(station, ocpp_id, status)
        self._queue.append(item)
        self._arrived.set()
        return await asyncio.shield(item.done)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ocpp-status-reports")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        for item in self._queue:
            if not item.done.done():
                item.done.set_exception(ReportFailed("the server is stopping"))
        self._queue.clear()

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._queue:
                batch, rest = _one_per_connector(self._queue[:MAX_BULK])
                self._queue[:MAX_BULK] = rest
                self._writing = len(batch)
                try:
                    await self._write_until_stored(batch)
                finally:
                    self._writing = 0

    async def _write_until_stored(self, batch: list[_Report]) -> None:
        while True:
            try:
                known = await self._write(batch)
            except PyMongoError as error:
                if not database_unavailable(error):
                    log.exception("status reports could not be written")
                    self._fail(batch, error)
                    return
                waited = time.monotonic() - min(item.queued for item in batch)
                if waited >= self.give_up_seconds:
                    log.warning("status reports failed after %.1f s: %s", waited, error)
                    self._fail(batch, ReportFailed(f"the database is unavailable: {error}"))
                    return
                self.stats["retries"] += 1
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.stats["bulks"] += 1
            self.stats["reports"] += len(batch)
            for item, found in zip(batch, known, strict=True):
                if not item.done.done():
                    item.done.set_result(found)
            return

    def _fail(self, batch: Iterable[_Report], error: BaseException) -> None:
        for item in batch:
            self.stats["failed"] += 1
            if not item.done.done():
                item.done.set_exception(error)

    async def _write(self, batch: list[_Report]) -> list[bool]:
        """One unordered bulk for the batch; whether each report named a known connector."""
        connectors = await self._connectors({item.station for item in batch})
        moment = now()
        writes: list[tuple[_Report, dict[str, Any]]] = []
        for item in batch:
            stored = connectors.get((item.station, item.ocpp_id))
            if stored is not None:
                writes.append((item, stored))
        if writes:
            collection = connectors_collection()
            async with self.replica.session() as session:
                await collection.bulk_write(
                    [
                        UpdateOne(
                            {
                                "_id": stored["_id"],
                                "chargestation": item.station,
                                "ocppId": item.ocpp_id,
                                "status": {"$ne": item.status.value},
                            },
                            {"$set": {"status": item.status.value, "updatedAt": moment}},
                        )
                        for item, stored in writes
                    ],
                    ordered=False,
                    session=session,
                )
                for item, stored in writes:
                    if stored.get("status") != item.status.value:
                        document = {**stored, "status": item.status.value, "updatedAt": moment}
                        self.replica.wrote(stored["_id"], document, session)
        return [(item.station, item.ocpp_id) in connectors for item in batch]

    async def _connectors(
        self, stations: set[ObjectId]
    ) -> dict[tuple[ObjectId, int], dict[str, Any]]:
        """The stations' connectors by (station, OCPP id): from the index when it is loaded."""
        query = {"chargestation": {"$in": sorted(stations)}}
        index = self.replica.current()
        if index is not None:
            rows = index.select(query, None, limit=len(stations) * 1000)
        else:
            rows = await connectors_collection().find(query).to_list()
        return {(row["chargestation"], row["ocppId"]): row for row in rows if "ocppId" in row}


def _one_per_connector(queue: list[_Report]) -> tuple[list[_Report], list[_Report]]:
    """The first report of each connector, and the later ones (kept in order for the next bulk)."""
    seen: set[tuple[ObjectId, int]] = set()
    now_items: list[_Report] = []
    later: list[_Report] = []
    for item in queue:
        key = (item.station, item.ocpp_id)
        if key in seen:
            later.append(item)
        else:
            seen.add(key)
            now_items.append(item)
    return now_items, later
