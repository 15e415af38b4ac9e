"""Connector business rules: validation, uniqueness, status changes.

Reads go straight to the collection and skip ODM validation (hot paths);
inserts go through the Beanie document so the stored shape is declared once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import bson
from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from graph.connectors.enums import ConnectorStatus
from graph.connectors.index import ConnectorIndex
from graph.connectors.models import (
    RETIRED_INDEXES,
    ConnectorDocument,
    connectors_collection,
    stored_values,
)
from graph.connectors.replica import ConnectorReplica
from graph.connectors.types import Connector, CreateConnectorInput
from graph.core.errors import BadUserInput, Conflict
from graph.core.geo import Box, box_condition, location_fields
from graph.core.group_commit import GroupCommit
from graph.core.ids import parse_id
from graph.core.inputs import require_value
from graph.core.listeners import AsyncListeners
from graph.core.timestamps import now, update_stamped
from graph.core.validators import check_latitude, check_longitude
from graph.core.viewer import (
    RECEIVED_FROM,
    RECEIVED_ONLY,
    Viewer,
    not_written,
    require_key,
    require_manager,
    write_scope,
)
from graph.core.visibility import can_see, find_visible
from graph.organizations import service as organizations

log = logging.getLogger(__name__)

_ENDPOINT = re.compile(r"[A-Za-z0-9]{4}", re.ASCII)
MAX_POWER_KW = 10_000.0
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
# Endpoints tried for one received connector before giving up (each taken one is a try).
_ENDPOINT_ATTEMPTS = 50


collection = connectors_collection


# --- validation -----------------------------------------------------------


def check_endpoint(value: str, field: str) -> str:
    """Four ASCII letters or digits; returned in the stored (lowercase) form."""
    if not _ENDPOINT.fullmatch(value):
        raise BadUserInput(
            f"{field} must be exactly 4 letters or digits (A-Z, 0-9), got {value[:20]!r}",
            field=field,
        )
    return value.lower()


def check_ocpp_id(value: int, field: str) -> int:
    if value < 1:
        raise BadUserInput(f"{field} must be 1 or higher, got {value}", field=field)
    return value


def check_power(value: float, field: str) -> float:
    if not math.isfinite(value) or value <= 0 or value > MAX_POWER_KW:
        raise BadUserInput(
            f"{field} must be above 0 and at most {MAX_POWER_KW:g} kW, got {value}", field=field
        )
    return value


MAX_VOLTAGE = 1500
MAX_AMPERAGE = 3000


def _rating_check(unit: str, highest: int) -> Any:
    def check(value: int, field: str) -> int:
        if not 1 <= value <= highest:
            raise BadUserInput(
                f"{field} must be between 1 and {highest} {unit}, got {value}", field=field
            )
        return value

    return check


# Update input field → (stored field, check). One table serves create and update.
_CHECKS: dict[str, tuple[str, Any]] = {
    "endpoint": ("endpoint", check_endpoint),
    "ocpp_id": ("ocppId", check_ocpp_id),
    "power": ("power", check_power),
    "max_voltage": ("maxVoltage", _rating_check("V", MAX_VOLTAGE)),
    "max_amperage": ("maxAmperage", _rating_check("A", MAX_AMPERAGE)),
    "type": ("type", None),
    "format": ("format", None),
    "power_type": ("power_type", None),
    "active": ("active", None),
    "status": ("status", None),
}

_PUBLIC_NAMES = {
    "ocpp_id": "ocppId",
    "power_type": "powerType",
    "max_voltage": "maxVoltage",
    "max_amperage": "maxAmperage",
    "organization_id": "organizationId",
    "chargestation_id": "chargestationId",
}


@dataclass(frozen=True)
class StationReference:
    """What a connector needs to know of the charge station it is attached to."""

    organization: ObjectId
    # The station's stored position (`location` and `geo`), or None when it has none.
    position: dict[str, Any] | None


StationLookup = Callable[[ObjectId], Awaitable[StationReference | None]]
_station_lookups: list[StationLookup] = []


# Told (the caller, the stored connector) after a write of `active` to a connector attached
# to a charge station: that domain tells the station (ChangeAvailability).
activity_listeners: AsyncListeners[[Viewer, Mapping[str, Any]]] = AsyncListeners()
on_activity_change = activity_listeners.add
# Told of each connector deleted through the API, with the document as it was stored:
# roaming keeps it as a removed EVSE.
deletion_listeners: AsyncListeners[[Mapping[str, Any]]] = AsyncListeners()
on_deletion = deletion_listeners.add


def find_stations_with(lookup: StationLookup) -> None:
    """How connectors find the charge station they are attached to (set by that domain)."""
    _station_lookups.append(lookup)


async def _station(station_id: ObjectId) -> StationReference | None:
    for lookup in _station_lookups:
        found = await lookup(station_id)
        if found is not None:
            return found
    return None


async def _changes(
    viewer: Viewer,
    fields: Mapping[str, Any],
    path: str,
    current: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate given input fields; returns the `$set` and `$unset` parts of an update.

    The organization a connector is given to must be one the caller manages.
    `current` is the stored connector when it is an update.
    """
    to_set: dict[str, Any] = {}
    to_unset: dict[str, Any] = {}
    for name, value in fields.items():
        field = f"{path}.{_PUBLIC_NAMES.get(name, name)}"
        if name == "chargestation_id":
            continue  # placed below, once the organization is known
        if name == "coordinates":
            if value is None:
                to_unset.update(location="", geo="")
            else:
                to_set.update(
                    location_fields(
                        check_latitude(value.latitude, f"{field}.latitude"),
                        check_longitude(value.longitude, f"{field}.longitude"),
                    )
                )
            continue
        if name in ("max_voltage", "max_amperage") and value is None:
            to_unset[_CHECKS[name][0]] = ""
            continue
        require_value(value, field)
        if name == "organization_id":
            organization = parse_id(value, field)
            require_manager(viewer, organization, field, "assigning connectors")
            await organizations.require(organization, field)
            to_set["organization"] = organization
            continue
        stored, check = _CHECKS[name]
        to_set[stored] = check(value, field) if check else value
    await _place_at_station(fields, path, to_set, to_unset, current or {})
    return stored_values(to_set), to_unset


async def _place_at_station(
    fields: Mapping[str, Any],
    path: str,
    to_set: dict[str, Any],
    to_unset: dict[str, Any],
    current: Mapping[str, Any],
) -> None:
    """Attach to (or detach from) a charge station of the same organization.

    A connector with no position of its own stands at its station's position
    (`stationLocated`), and moves with the station.
    """
    if not fields.keys() & {"chargestation_id", "organization_id", "coordinates"}:
        return
    field = f"{path}.chargestationId"
    station_id = current.get("chargestation")
    if "chargestation_id" in fields:
        given = fields["chargestation_id"]
        station_id = parse_id(given, field) if given is not None else None
    own_position = (
        fields["coordinates"] is not None
        if "coordinates" in fields
        else bool(current.get("location")) and not current.get("stationLocated", False)
    )
    if station_id is None:
        if current.get("chargestation") is not None:
            to_unset["chargestation"] = ""
        if current.get("stationLocated"):
            if not own_position:
                to_unset.update(location="", geo="")
            to_set["stationLocated"] = False
        return
    to_set["chargestation"] = station_id
    organization = to_set.get("organization", current.get("organization"))
    station = await _station(station_id)
    if station is None or station.organization != organization:
        raise BadUserInput(
            f"{field} must be a charge station of the connector's organization", field=field
        )
    if own_position:
        to_set["stationLocated"] = False
    elif station.position is not None:
        to_unset.pop("location", None)
        to_unset.pop("geo", None)
        to_set.update(station.position, stationLocated=True)
    else:
        to_set["stationLocated"] = True


def _conflict(error: DuplicateKeyError, to_set: Mapping[str, Any]) -> Conflict:
    """The uniqueness rule a write broke: the endpoint, or the ocppId within a station."""
    if "chargestation_ocpp_unique" in str(error):
        return Conflict(
            f"input.ocppId {to_set.get('ocppId')} is already used by another connector of "
            "this charge station",
            field="input.ocppId",
        )
    return Conflict(
        f"input.endpoint {to_set.get('endpoint')!r} is already used by another connector",
        field="input.endpoint",
    )


# --- reads ----------------------------------------------------------------


async def get(
    viewer: Viewer, connector_id: ObjectId, index: ConnectorIndex | None = None
) -> Connector | None:
    """One connector the caller may see, from the index when it is loaded."""
    if index is None:
        return await find_visible(
            collection(), {"_id": connector_id}, viewer, Connector.from_document
        )
    document = index.get(connector_id)
    return Connector.from_document(document) if document and can_see(viewer, document) else None


async def get_by_endpoint(viewer: Viewer, endpoint: str) -> Connector | None:
    """Case-insensitive lookup; a malformed endpoint is refused, not merely missing."""
    query = {"endpoint": check_endpoint(endpoint, "endpoint")}
    return await find_visible(collection(), query, viewer, Connector.from_document)


# --- writes ---------------------------------------------------------------


async def create(
    viewer: Viewer, data: CreateConnectorInput, replica: ConnectorReplica
) -> Connector:
    require_key(viewer, "createConnector")
    fields = {
        "organization_id": data.organization_id,
        "endpoint": data.endpoint,
        "ocpp_id": data.ocpp_id,
        "type": data.type,
        "format": data.format,
        "power_type": data.power_type,
        "power": data.power,
        "max_voltage": data.max_voltage,
        "max_amperage": data.max_amperage,
        "active": data.active,
        "status": data.status,
        "coordinates": data.coordinates,
        "chargestation_id": data.chargestation_id,
    }
    to_set, _ = await _changes(viewer, fields, "input")
    moment = now()
    document = {**to_set, "createdAt": moment, "updatedAt": moment}
    async with replica.session() as session:
        try:
            inserted = await ConnectorDocument.model_validate(document).insert(session=session)
        except DuplicateKeyError as error:
            raise _conflict(error, to_set) from None
        stored = {"_id": inserted.id, **stored_values(inserted.model_dump(exclude={"id"}))}
        replica.wrote(inserted.id, stored, session)
    return Connector.from_document(stored)


async def update(
    viewer: Viewer, connector_id: ObjectId, fields: Mapping[str, Any], replica: ConnectorReplica
) -> Connector:
    target = {"_id": connector_id, **write_scope(viewer, "updateConnector")}
    current = None
    if fields.keys() & {"chargestation_id", "organization_id", "coordinates"}:
        # Placement depends on what is stored (organization, station, own position).
        current = await collection().find_one(target)
        if current is None:
            raise await not_written(collection(), viewer, "connector", connector_id)
    to_set, to_unset = await _changes(viewer, fields, "input", current)
    if current is not None and not to_set and not to_unset:
        return Connector.from_document(current)
    async with replica.session() as session:
        try:
            doc = await update_stamped(collection(), target, to_set, to_unset, session)
        except DuplicateKeyError as error:
            raise _conflict(error, to_set) from None
        if doc is None:
            raise await not_written(collection(), viewer, "connector", connector_id)
        replica.wrote(connector_id, doc, session)
    if "active" in fields and doc.get("chargestation") is not None:
        await activity_listeners.tell(viewer, doc)
    return Connector.from_document(doc)


async def set_status(
    viewer: Viewer, connector_id: ObjectId, status: ConnectorStatus, replica: ConnectorReplica
) -> Connector:
    """Change the status; writing the current status again changes nothing."""
    target = {"_id": connector_id, **write_scope(viewer, "setConnectorStatus")}
    async with replica.session() as session:
        doc = await _write_status(target, status, session)
        if doc is not None:
            replica.wrote(connector_id, doc, session)
        else:
            doc = await collection().find_one(target)
    if doc is None:
        raise await not_written(collection(), viewer, "connector", connector_id)
    return Connector.from_document(doc)


async def _write_status(
    target: Mapping[str, Any], status: ConnectorStatus, session: AsyncClientSession
) -> dict[str, Any] | None:
    """Set a status unless it is the current one; the connector after it, or None."""
    return await collection().find_one_and_update(
        {**target, "status": {"$ne": status.value}},
        {"$set": {"status": status.value, "updatedAt": now()}},
        return_document=ReturnDocument.AFTER,
        session=session,
    )


async def stored(connector_id: ObjectId, scope: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored connector, if it is within `scope` (a `write_scope`)."""
    return await collection().find_one({"_id": connector_id, **scope})


async def count_for_chargestation(station_id: ObjectId) -> str | None:
    """What of a station's connectors remain, for its deletion guard."""
    remaining = await collection().count_documents({"chargestation": station_id})
    return f"{remaining} connector(s)" if remaining else None


async def follow_station(
    station_id: ObjectId, position: dict[str, Any] | None, replica: ConnectorReplica
) -> None:
    """A station moved: its connectors without a position of their own move with it."""
    placed = {"chargestation": station_id, "stationLocated": True}
    if position is None:
        update = {"$unset": {"location": "", "geo": ""}, "$set": {"updatedAt": now()}}
    else:
        update = {"$set": {**position, "updatedAt": now()}}
    async with replica.session() as session:
        await collection().update_many(placed, update, session=session)
        # Read back so the index (and so the next search) has them at once.
        async for doc in collection().find(placed, session=session):
            replica.wrote(doc["_id"], doc, session)


async def count_for_organization(organization_id: ObjectId) -> str | None:
    """What of an organization's connectors remain, for its deletion guard."""
    remaining = await collection().count_documents({"organization": organization_id})
    return f"{remaining} connector(s)" if remaining else None


async def find_documents(
    index: ConnectorIndex | None, query: dict[str, Any], box: Box | None, limit: int
) -> list[dict[str, Any]]:
    """Stored connectors matching `query` (and inside `box`), at most `limit`, from the index
    when it is loaded, in no promised order."""
    if index is not None:
        return index.select(query, box, limit)
    condition = query if box is None else {**query, **box_condition(box)}
    return await collection().find(condition, limit=limit).to_list()


async def retire_indexes() -> None:
    """Drop the indexes earlier versions declared that no query uses (`RETIRED_INDEXES`)."""
    present = {index["name"] async for index in await collection().list_indexes()}
    for name in RETIRED_INDEXES:
        if name in present:
            await collection().drop_index(name)
            log.info("dropped the connectors index %s: no query uses it", name)


async def keep_change_history() -> None:
    """Let change events carry the connector as it was (pre-images), for `previousStatus`.

    Needs MongoDB 6.0 or newer; on older servers events report no previous status.
    """
    try:
        await collection().database.command(
            "collMod", collection().name, changeStreamPreAndPostImages={"enabled": True}
        )
    except OperationFailure as error:
        log.warning("change-stream pre-images unavailable (%s): previousStatus may be null", error)


# --- connectors received from roaming partners (written by graph.ocpi) ---------------------


def _received_endpoint(connector_id: ObjectId, attempt: int) -> str:
    """A 4-character endpoint for a received connector, derived from its id (`attempt`
    picks another when that one is taken)."""
    digest = hashlib.sha256(connector_id.binary + attempt.to_bytes(2, "big")).digest()
    number = int.from_bytes(digest[:8], "big")
    return "".join(_BASE36[number // 36**place % 36] for place in range(4))


# Connectors deleted a command at a time: a command of ids stays far below 16 MB.
_DELETE_CHUNK = 10_000


async def _delete_received(
    gone: list[ObjectId], replica: ConnectorReplica, session: AsyncClientSession
) -> None:
    for start in range(0, len(gone), _DELETE_CHUNK):
        chunk = gone[start : start + _DELETE_CHUNK]
        await collection().delete_many({"_id": {"$in": chunk}, **RECEIVED_ONLY}, session=session)
        for connector in chunk:
            replica.wrote(connector, None, session)


async def delete_received(query: Mapping[str, Any], replica: ConnectorReplica) -> None:
    """Delete the connectors received from roaming partners that `query` selects (searches
    and subscribers see them deleted); connectors of this network are never selected."""
    async with replica.session() as session:
        gone = [
            found["_id"]
            async for found in collection().find(
                {**query, **RECEIVED_ONLY}, projection={"_id": 1}, session=session
            )
        ]
        await _delete_received(gone, replica, session)


# Set by the write, not by the partner: no reason on their own to write a connector again.
_WRITTEN_FIELDS = ("endpoint", "createdAt", "updatedAt")


def _as_stored(stored: Mapping[str, Any] | None, document: Mapping[str, Any]) -> bool:
    """Whether every field of `document` is stored as it is (compared as BSON, which keeps
    instants to the millisecond)."""
    return stored is not None and all(
        bson.encode({"v": value}) == bson.encode({"v": stored.get(name)})
        for name, value in document.items()
        if name not in _WRITTEN_FIELDS
    )


async def replace_received(
    station_id: ObjectId, documents: list[dict[str, Any]], replica: ConnectorReplica
) -> None:
    """Make `documents` (each with its `_id`) the connectors of a station received from a
    roaming partner: each that is new or differs is written whole, and the station's
    others are deleted. One that is as stored is not written: its `updatedAt` stays, so
    apps syncing with `updatedSince` and subscribers see only what changed.

    Endpoints are ChargeGraph's (four characters, unique): a connector keeps the one it
    has; a new one gets one derived from its id, another if that is taken.
    """
    keep = {document["_id"] for document in documents}
    async with replica.session() as session:
        present = {
            found["_id"]: found
            async for found in collection().find({"chargestation": station_id}, session=session)
        }
        await _delete_received(
            [
                connector
                for connector, stored in present.items()
                if connector not in keep and stored.get(RECEIVED_FROM) is not None
            ],
            replica,
            session,
        )
        attempts = dict.fromkeys(keep, 0)
        waiting = [
            document
            for document in documents
            if not _as_stored(present.get(document["_id"]), document)
        ]
        while waiting:
            for document in waiting:
                stored = present.get(document["_id"])
                document["endpoint"] = (
                    stored["endpoint"]
                    if stored is not None
                    else _received_endpoint(document["_id"], attempts[document["_id"]])
                )
            writes = [
                UpdateOne(
                    {"_id": document["_id"]},
                    {
                        "$set": {k: v for k, v in document.items() if k != "createdAt"},
                        "$setOnInsert": {"createdAt": document["createdAt"]},
                    },
                    upsert=True,
                )
                for document in waiting
            ]
            try:
                await collection().bulk_write(writes, ordered=False, session=session)
                taken = []
            except BulkWriteError as error:
                failures = error.details.get("writeErrors", [])
                if any(
                    failure.get("code") != 11000 or "endpoint" not in failure.get("errmsg", "")
                    for failure in failures
                ):
                    raise
                taken = [waiting[failure["index"]] for failure in failures]
            for document in waiting:
                if document not in taken:
                    replica.wrote(document["_id"], document, session)
            for document in taken:
                attempts[document["_id"]] += 1
                if attempts[document["_id"]] > _ENDPOINT_ATTEMPTS:
                    raise Conflict(f"no free endpoint for connector {document['_id']}")
            waiting = taken


async def update_received_together(
    group: GroupCommit,
    connector_id: ObjectId,
    condition: Mapping[str, Any],
    changes: Mapping[str, Any],
) -> None:
    """One update of a received connector (a partner's EVSE status), written in the bulk of
    the process's group commit with the writes that arrived meanwhile; returns once it is
    acknowledged. The connector index learns of it from the change stream."""
    await group.update(
        collection(),
        {"_id": connector_id, **RECEIVED_ONLY, **condition},
        {"$set": {**changes, "updatedAt": now()}},
        key=connector_id,
    )


async def delete(viewer: Viewer, connector_id: ObjectId, replica: ConnectorReplica) -> ObjectId:
    async with replica.session() as session:
        deleted = await collection().find_one_and_delete(
            {"_id": connector_id, **write_scope(viewer, "deleteConnector")}, session=session
        )
        if deleted is None:
            raise await not_written(collection(), viewer, "connector", connector_id)
        replica.wrote(connector_id, None, session)
    await deletion_listeners.tell(deleted)
    return connector_id
