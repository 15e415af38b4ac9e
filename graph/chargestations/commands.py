"""Commands to charge stations, from whichever process is asked to whichever holds the station.

A command is a document (`StationCommandDocument`) before it is a message:

1. The process that takes the request stores it PENDING with a deadline
   (`CHARGEGRAPH_OCPP_COMMAND_TIMEOUT_SECONDS` from now), or OFFLINE at once
   when the station is not connected.
2. The process holding the station's connection sends it: at once when that
   is the requesting process, otherwise when its change stream shows the
   insert. Claiming (`sentBy`, set only while unset) makes the send happen
   exactly once even while two processes briefly both think they hold the
   station (a reconnect moving it).
3. The holder stores the station's answer; the requester hears of it through
   its own change stream, answers the mutation, logs one line and counts it.
4. Nothing stays PENDING: the holder stores TIMEOUT at the deadline, the
   requester shortly after if the holder died, and every process's lease
   sweep (`expire`) if the requester died too.

Availability follows the connectors' `active` flags (`needs_availability`):
after `active` changes, and whenever a station has booted, a ChangeAvailability
goes out where the station's last answer does not match what is wanted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from graph.chargestations import service
from graph.chargestations.endpoint import StationGateway, StationSession
from graph.chargestations.protocol import Command, CommandOutcome
from graph.chargestations.service import commands_collection as collection
from graph.chargestations.types import is_online
from graph.connectors import service as connectors
from graph.connectors.replica import ConnectorReplica
from graph.core.errors import BadUserInput, ClientError, NotFound
from graph.core.settings import Settings
from graph.core.tasks import cancel_and_wait, stop_if_cancelled
from graph.core.timestamps import now
from graph.core.viewer import Viewer, received_refusal, require_key, write_scope
from graph.core.visibility import is_active

log = logging.getLogger(__name__)

PENDING = "PENDING"
# How long after the deadline the requester waits for the holder's answer to arrive,
# and the sweep waits for the requester, before writing TIMEOUT themselves.
ANSWER_GRACE = timedelta(seconds=2)
# More connectors than any station has (OCPP 1.6 connectorId and 2.0.1 evseId are small).
MAX_CONNECTORS = 1000
# How often every process looks for commands left pending past their deadline.
EXPIRY_SWEEP_SECONDS = 5.0
# Who `requestedBy` names for the commands that bring a station in line by itself.
RECONCILIATION = "reconciliation"
# Answers after which a ChangeAvailability is in effect (or will be, after a session).
_IN_EFFECT = frozenset({"ACCEPTED", "SCHEDULED", PENDING})


async def history(
    station_id: ObjectId, first: int, before: ObjectId | None
) -> list[dict[str, Any]]:
    """A station's commands, newest first: `first` of them (one more tells of a next page)."""
    query: dict[str, Any] = {"station": station_id}
    if before is not None:
        query["_id"] = {"$lt": before}
    return await collection().find(query, sort=[("_id", -1)], limit=first + 1).to_list()


async def count(station_id: ObjectId) -> int:
    return await collection().count_documents({"station": station_id})


async def latest_availability(
    keys: Iterable[tuple[ObjectId, ObjectId | None]],
) -> dict[tuple[ObjectId, ObjectId | None], dict[str, Any]]:
    """The latest ChangeAvailability of each (station, connector or None: the station)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    rows = await collection().aggregate(
        [
            {
                "$match": {
                    "action": "ChangeAvailability",
                    "$or": [
                        {"station": station, "connector": connector}
                        for station, connector in wanted
                    ],
                }
            },
            {"$sort": {"_id": -1}},
            {
                "$group": {
                    "_id": {"s": "$station", "c": "$connector"},
                    "latest": {"$first": "$$ROOT"},
                }
            },
        ]
    )
    found = {}
    async for row in rows:
        found[(row["_id"]["s"], row["_id"].get("c"))] = row["latest"]
    return found


def needs_availability(wanted_operative: bool, latest: Mapping[str, Any] | None) -> bool:
    """Whether a ChangeAvailability must go out so the station matches what is wanted.

    Stations start operative: with no command ever sent, only inactive ones need
    one. Otherwise, when the last one asked for something else, or did not take
    effect (rejected, failed, offline, timed out).
    """
    if latest is None:
        return not wanted_operative
    return latest.get("operative") != wanted_operative or latest["status"] not in _IN_EFFECT


class StationCommands:
    """This process's side of commands: asking, sending for the stations it holds, answering."""

    def __init__(
        self, settings: Settings, gateway: StationGateway, replica: ConnectorReplica
    ) -> None:
        self.timeout = timedelta(seconds=settings.ocpp_command_timeout_seconds)
        self.gateway = gateway
        self.replica = replica
        # Commands asked here whose answer is awaited from another process.
        self._waiting: dict[ObjectId, asyncio.Future[None]] = {}
        self._sending: set[asyncio.Task[None]] = set()
        # Commands asked here, by (action, final status): the Prometheus counter.
        self.finished: Counter[tuple[str, str]] = Counter()

    async def send(
        self,
        requested_by: str,
        station: Mapping[str, Any],
        command: Command,
        connector_id: ObjectId | None = None,
        reset_type: str | None = None,
    ) -> dict[str, Any]:
        """Send `command` to `station` and return the stored command once it has ended."""
        doc, session = await self._ask(requested_by, station, command, connector_id, reset_type)
        if doc["status"] != PENDING:
            self._record(doc, station)
            return doc
        return await self._finish(doc, session, station)

    async def send_in_background(
        self,
        requested_by: str,
        station: Mapping[str, Any],
        command: Command,
        connector_id: ObjectId | None = None,
    ) -> dict[str, Any]:
        """Store `command` (PENDING, or OFFLINE when the station is not connected) and return
        it; it is sent, and its answer stored, after this returns."""
        doc, session = await self._ask(requested_by, station, command, connector_id, None)
        if doc["status"] != PENDING:
            self._record(doc, station)
        else:
            task = asyncio.create_task(self._finish_quietly(doc, session, station))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return doc

    async def _ask(
        self,
        requested_by: str,
        station: Mapping[str, Any],
        command: Command,
        connector_id: ObjectId | None,
        reset_type: str | None,
    ) -> tuple[dict[str, Any], StationSession | None]:
        """Store the command: OFFLINE at once, or PENDING (then it must be finished); with
        the session of the station's connection here, if it has one."""
        asked = now()
        doc: dict[str, Any] = {
            "_id": ObjectId(),
            "station": station["_id"],
            "organization": station["organization"],
            "connector": connector_id,
            "action": command.action,
            "target": command.target,
            "operative": command.operative if command.action == "ChangeAvailability" else None,
            "resetType": reset_type,
            "status": PENDING,
            "stationAnswer": None,
            "reason": None,
            "requestedBy": requested_by,
            "requestedAt": asked,
            "answeredAt": None,
            "deadline": asked + self.timeout,
            "sentBy": None,
        }
        session = self.gateway.session_of(station["_id"])
        if session is None and not is_online(station):
            doc.update(status="OFFLINE", answeredAt=asked, reason="the station is not connected")
            await collection().insert_one(doc)
            return doc, None
        # Known before the insert can be read back from the change stream.
        self._waiting[doc["_id"]] = asyncio.get_running_loop().create_future()
        if session is not None:
            session.command_coming()
        try:
            await collection().insert_one(doc)
        except BaseException:
            self._waiting.pop(doc["_id"], None)
            if session is not None:
                session.command_done()
            raise
        return doc, session

    async def _finish(
        self, doc: dict[str, Any], session: StationSession | None, station: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Send it over this process's connection, or wait for the holder's answer."""
        try:
            if session is not None:
                await self._deliver(doc, session)
            else:
                await self._await_answer(doc, self._waiting[doc["_id"]])
        finally:
            self._waiting.pop(doc["_id"], None)
        ended = await collection().find_one({"_id": doc["_id"]}) or doc
        self._record(ended, station)
        return ended

    async def _finish_quietly(
        self, doc: dict[str, Any], session: StationSession | None, station: Mapping[str, Any]
    ) -> None:
        try:
            await self._finish(doc, session, station)
        except PyMongoError as error:
            # The sweep records TIMEOUT: nothing stays pending.
            log.warning("command %s: could not be finished: %s", doc["_id"], error)

    def _record(self, doc: Mapping[str, Any], station: Mapping[str, Any]) -> None:
        """One log line and one count per command, in the process that was asked."""
        self.finished[(doc["action"], doc["status"])] += 1
        told = doc.get("stationAnswer") or doc.get("reason")
        log.info(
            "command %s to station %s%s by %s: %s%s",
            doc["action"],
            station.get("endpoint", station["_id"]),
            f" (connector {doc['target']})" if doc.get("target") is not None else "",
            doc["requestedBy"],
            doc["status"],
            f" ({told})" if told else "",
        )

    async def _await_answer(self, doc: Mapping[str, Any], answered: asyncio.Future[None]) -> None:
        """Wait for the holder's answer; past the deadline (and a grace), write TIMEOUT."""
        wait = (doc["deadline"] + ANSWER_GRACE - now()).total_seconds()
        try:
            await asyncio.wait_for(answered, max(0.0, wait))
        except TimeoutError:
            await _end_pending(
                {"_id": doc["_id"]}, "no process holding the station's connection answered in time"
            )

    async def _deliver(self, doc: Mapping[str, Any], session: StationSession) -> None:
        """Claim the command for this connection, send it, and store how it ended (the
        session was told `command_coming` for it)."""
        try:
            await self._claim_and_send(doc, session)
        finally:
            session.command_done()

    async def _claim_and_send(self, doc: Mapping[str, Any], session: StationSession) -> None:
        claimed = await collection().find_one_and_update(
            {"_id": doc["_id"], "status": PENDING, "sentBy": None},
            {"$set": {"sentBy": session.connection_id}},
            return_document=ReturnDocument.AFTER,
        )
        if claimed is None:
            return
        within = (doc["deadline"] - now()).total_seconds()
        if within <= 0:
            outcome = CommandOutcome("TIMEOUT", reason="its deadline passed before it was sent")
        else:
            outcome = await session.execute(_command_of(doc), within)
        await collection().update_one(
            {"_id": doc["_id"], "status": PENDING},
            {
                "$set": {
                    "status": outcome.status,
                    "stationAnswer": outcome.answer,
                    "reason": outcome.reason,
                    "answeredAt": now(),
                }
            },
        )

    def changed(self, event: Mapping[str, Any]) -> None:
        """A command was inserted or updated in any process (the change stream's event)."""
        if event["operationType"] == "insert":
            doc = event.get("fullDocument")
            if doc is None or doc.get("status") != PENDING or doc["_id"] in self._waiting:
                return
            session = self.gateway.session_of(doc["station"])
            if session is not None:
                session.command_coming()
                task = asyncio.create_task(self._deliver_safely(doc, session))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        elif "status" in event["updateDescription"]["updatedFields"]:
            answered = self._waiting.get(event["documentKey"]["_id"])
            if answered is not None and not answered.done():
                answered.set_result(None)

    async def _deliver_safely(self, doc: Mapping[str, Any], session: StationSession) -> None:
        try:
            await self._deliver(doc, session)
        except PyMongoError as error:
            # The requester (or the sweep) records TIMEOUT: nothing stays pending.
            log.warning("command %s: could not be sent or its answer stored: %s", doc["_id"], error)

    async def reconcile(
        self,
        requested_by: str,
        station: Mapping[str, Any],
        connectors: Iterable[Mapping[str, Any]],
        whole_station: bool = True,
        wait: bool = True,
    ) -> list[dict[str, Any]]:
        """Bring the station's availability in line: each of `connectors` (stored documents)
        and, with `whole_station`, the station's own (wanted operative while it is active).
        Returns the commands sent (ended, or only stored when not `wait`ing)."""
        station_id = station["_id"]
        wanted: list[tuple[ObjectId | None, int | None, bool]] = []
        if whole_station:
            wanted.append((None, None, is_active(station.get("active"))))
        wanted += [(doc["_id"], doc["ocppId"], is_active(doc.get("active"))) for doc in connectors]
        latest = await latest_availability((station_id, connector) for connector, _, _ in wanted)
        sent = []
        for connector, target, operative in wanted:
            if needs_availability(operative, latest.get((station_id, connector))):
                command = Command("ChangeAvailability", target, operative=operative)
                send = self.send if wait else self.send_in_background
                sent.append(await send(requested_by, station, command, connector))
        return sent

    # --- what callers ask ------------------------------------------------

    async def reset(self, viewer: Viewer, station_id: ObjectId, hard: bool) -> dict[str, Any]:
        station = await _commandable_station(viewer, station_id, "resetChargestation")
        return await self.send(
            viewer.requester,
            station,
            Command("Reset", hard=hard),
            reset_type="HARD" if hard else "SOFT",
        )

    async def request_status_report(self, viewer: Viewer, station_id: ObjectId) -> dict[str, Any]:
        station = await _commandable_station(viewer, station_id, "requestStatusReport")
        return await self.send(viewer.requester, station, Command("TriggerMessage"))

    async def unlock(self, viewer: Viewer, connector_id: ObjectId) -> dict[str, Any]:
        require_key(viewer, "unlockConnector")
        connector = await connectors.stored(connector_id, write_scope(viewer, "unlockConnector"))
        if connector is None:
            raise await _not_commandable(connectors.collection(), "connector", connector_id)
        if connector.get("chargestation") is None:
            raise BadUserInput(
                f"id: connector {connector_id} belongs to no charge station: there is "
                "nothing to unlock it",
                field="id",
            )
        station = await _commandable_station(viewer, connector["chargestation"], "unlockConnector")
        return await self.send(
            viewer.requester,
            station,
            Command("UnlockConnector", connector["ocppId"]),
            connector_id,
        )

    # --- availability following `active` -------------------------------

    async def connector_activity_changed(
        self, viewer: Viewer, connector: Mapping[str, Any]
    ) -> None:
        """`active` was written to a connector of a station: tell the station if needed."""
        station = (await service.by_ids([connector["chargestation"]])).get(
            connector["chargestation"]
        )
        if station is not None:
            await self.reconcile(
                viewer.requester, station, [connector], whole_station=False, wait=False
            )

    async def station_deactivating(self, viewer: Viewer, station: Mapping[str, Any]) -> None:
        """Stored before the deactivation is (so the process holding the station reads it
        first, sends it, and closes the connection once it is answered)."""
        command = Command("ChangeAvailability", None, operative=False)
        await self.send_in_background(viewer.requester, station, command)

    async def station_booted(self, station: Mapping[str, Any]) -> None:
        """A station connected here (admitted, so active) and booted: bring its availability
        in line. Its connectors come from the connector index when it is loaded."""
        try:
            attached = await connectors.find_documents(
                self.replica.current(), {"chargestation": station["_id"]}, None, MAX_CONNECTORS
            )
            await self.reconcile(RECONCILIATION, station, attached)
        except PyMongoError as error:
            log.warning("station %s: availability not reconciled: %s", station["_id"], error)

    async def expire(self) -> int:
        """Write TIMEOUT on commands left PENDING well past their deadline (their requester died)."""
        return await _end_pending(
            {"deadline": {"$lt": now() - ANSWER_GRACE * 2}},
            "neither the station's process nor the requester was there to finish it",
            many=True,
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Listen for commands, `active` changes and boots; sweep stale commands."""
        forget = [
            service.on_command_change(self.changed),
            service.on_deactivation(self.station_deactivating),
            connectors.on_activity_change(self.connector_activity_changed),
        ]
        self.gateway.booted = self.station_booted
        sweep = asyncio.create_task(self._sweep(), name="ocpp-command-expiry")
        try:
            yield
        finally:
            self.gateway.booted = None
            for undo in forget:
                undo()
            await cancel_and_wait(sweep)
            for task in list(self._sending):
                await cancel_and_wait(task)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_SWEEP_SECONDS)
            try:
                expired = await self.expire()
            except PyMongoError as error:
                stop_if_cancelled()
                log.warning("could not expire stale station commands: %s", error)
                continue
            if expired:
                log.warning("%d station command(s) left pending past their deadline", expired)


async def _end_pending(condition: Mapping[str, Any], reason: str, many: bool = False) -> int:
    update = {"$set": {"status": "TIMEOUT", "reason": reason, "answeredAt": now()}}
    query = {**condition, "status": PENDING}
    if many:
        result = await collection().update_many(query, update)
    else:
        result = await collection().update_one(query, update)
    return result.modified_count


def _command_of(doc: Mapping[str, Any]) -> Command:
    return Command(
        doc["action"],
        doc.get("target"),
        operative=doc.get("operative") is not False,
        hard=doc.get("resetType") == "HARD",
    )


async def _commandable_station(viewer: Viewer, station_id: ObjectId, action: str) -> dict[str, Any]:
    """The station, if the caller may command it: NOT_FOUND alike for an unknown station and
    another organization's, so nothing about other organizations leaks."""
    station = await service.collection().find_one(
        {"_id": station_id, **write_scope(viewer, action)}
    )
    if station is None:
        raise await _not_commandable(service.collection(), "charge station", station_id)
    return station


async def _not_commandable(
    collection: AsyncCollection[dict[str, Any]], what: str, object_id: ObjectId
) -> ClientError:
    """FORBIDDEN for an object received from a roaming partner (its source is the partner),
    else NOT_FOUND alike for an unknown object and another organization's."""
    return await received_refusal(collection, what, object_id) or NotFound(
        f"id: no {what} {object_id} among those this key may command", field="id"
    )
