"""Status reports of charge stations: found without a read, written together.

A thousand stations each reporting every ten seconds made a hundred
find-and-modify commands a second, each with its own session, round trip and
server bookkeeping; the embedded database spent most of its time around the
writes rather than in them. A report is now an update by `_id` handed to the
process's group commit (`graph.core.group_commit`): it waits while the
previous bulk is written, is stored with the others that arrived meanwhile,
and the station is answered once its own write is acknowledged.

- Nothing is merged away: two reports of one connector are two writes, in
  order, in consecutive bulks, so subscribers hear both.
- The connector a report names (station, OCPP connector id) is found in the
  connector index, through a map from (station, OCPP id) to connector id
  filled once per station; while the index loads, by one read. The write's
  filter repeats the station and the id, so a connector moved meanwhile is
  not written by mistake. Reporting the current status again writes nothing
  (`status: {$ne: …}`), so it makes no event.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from graph.connectors.enums import ConnectorStatus
from graph.connectors.models import connectors_collection
from graph.connectors.replica import ConnectorReplica
from graph.core.group_commit import GroupCommit
from graph.core.timestamps import now


class StatusReports:
    """Stores the status reports of this process's stations."""

    def __init__(self, replica: ConnectorReplica, group: GroupCommit) -> None:
        self.replica = replica
        self.group = group
        # (station, OCPP connector id) -> connector id, learnt from the index.
        self._ids: dict[tuple[ObjectId, int], ObjectId] = {}

    async def report(self, station: ObjectId, ocpp_id: int, status: ConnectorStatus) -> bool:
        """Store a station's report; returns once it is stored, False for an unknown connector."""
        stored = await self._connector(station, ocpp_id)
        if stored is None:
            return False
        moment = now()
        changed = stored.get("status") != status.value

        def written(session: AsyncClientSession) -> None:
            # The index has it before the station is answered (read your own write).
            if changed:
                document = {**stored, "status": status.value, "updatedAt": moment}
                self.replica.wrote(stored["_id"], document, session)

        await self.group.update(
            connectors_collection(),
            {
                "_id": stored["_id"],
                "chargestation": station,
                "ocppId": ocpp_id,
                "status": {"$ne": status.value},
            },
            {"$set": {"status": status.value, "updatedAt": moment}},
            key=stored["_id"],
            written=written,
        )
        return True

    async def _connector(self, station: ObjectId, ocpp_id: int) -> dict[str, Any] | None:
        """The connector a station names, as stored: from the index when it is loaded."""
        index = self.replica.current()
        if index is None:
            return await connectors_collection().find_one(
                {"chargestation": station, "ocppId": ocpp_id}
            )
        known = self._ids.get((station, ocpp_id))
        found = index.get(known) if known is not None else None
        if found is not None and (found.get("chargestation"), found.get("ocppId")) == (
            station,
            ocpp_id,
        ):
            return found
        # First report of this station here, or its connectors changed: learn them again.
        self._ids.pop((station, ocpp_id), None)
        for row in index.select({"chargestation": station}, None, limit=10_000):
            if "ocppId" in row:
                self._ids[(station, row["ocppId"])] = row["_id"]
        known = self._ids.get((station, ocpp_id))
        return index.get(known) if known is not None else None
