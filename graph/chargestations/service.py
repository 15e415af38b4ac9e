"""Charge station rules: validation, access, and the state of each station's OCPP connection.

Reads go straight to the collection (no ODM validation on hot paths); inserts
go through the Beanie document so the stored shape is declared once.

Connections. `online` is written when a connection opens and when it ends.
A server process that dies cannot write the end, so every connection also
holds a lease (`leaseUntil`, two heartbeat intervals), which the process
renews for all its open connections (`renew_leases`) while the WebSockets
are open: stations that keep their connection alive with WebSocket pings
rather than Heartbeat messages stay online. `is_online` reads a station
whose lease ran out as offline at once, and `expire_leases` (run by every
process) writes it down, which tells subscribers. Each connection has an id:
a newer connection of the same station takes the lease over, and the older
one, finding it gone at the next renewal, closes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import available_timezones

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from graph.chargestations.models import (
    BootInfo,
    ChargestationDocument,
    StationCommandDocument,
    chargestations_collection,
)
from graph.chargestations.types import (
    Chargestation,
    ChargestationFilter,
    CreateChargestationInput,
)
from graph.connectors import service as connectors
from graph.connectors.enums import ConnectorStatus
from graph.connectors.replica import ConnectorReplica
from graph.core.errors import BadUserInput, Conflict
from graph.core.geo import location_fields
from graph.core.group_commit import GroupCommit
from graph.core.ids import parse_id
from graph.core.inputs import require_value
from graph.core.listeners import AsyncListeners, Listeners
from graph.core.pagination import Connection, id_ordered_page
from graph.core.timestamps import now, update_stamped
from graph.core.validators import check_latitude, check_longitude
from graph.core.viewer import (
    LOCAL_ONLY,
    RECEIVED_ONLY,
    Viewer,
    not_written,
    require_key,
    require_manager,
    write_scope,
)
from graph.core.visibility import ACTIVE, active_condition, find_visible, is_active, visible_query
from graph.organizations import service as organizations

# OCPP 2.0.1 identifierString: what a station identity may contain.
_ENDPOINT = re.compile(r"[A-Za-z0-9*\-_=:+|@.]{1,48}", re.ASCII)


# Told when what decides a station's admission changes in the database (an
# organization's activity or station credentials, a station's activity): the
# process's OCPP gateway closes the connections no longer admitted.
admission_listeners: Listeners[[str, ObjectId, Mapping[str, Any]]] = Listeners()
on_admission_change = admission_listeners.add


def admission_changed(kind: str, object_id: ObjectId, fields: Mapping[str, Any]) -> None:
    """An update of an organization (`kind` "organization") or a station ("chargestation")."""
    admission_listeners.tell(kind, object_id, fields)


# Told of every insert and update of a command to a station, whichever process wrote it
# (the change stream's events, as they are): the process holding the station sends new
# commands, the one that asked hears the answer.
command_listeners: Listeners[[Mapping[str, Any]]] = Listeners()
on_command_change = command_listeners.add
command_changed = command_listeners.tell

# Told (the caller, the stored station) just before an active station is deactivated, while
# its connection is still open: the station is told it is no longer available.
deactivation_listeners: AsyncListeners[[Viewer, Mapping[str, Any]]] = AsyncListeners()
on_deactivation = deactivation_listeners.add


def collection() -> AsyncCollection[dict[str, Any]]:
    return chargestations_collection()


def commands_collection() -> AsyncCollection[dict[str, Any]]:
    """Commands to stations (`graph.chargestations.commands`)."""
    return StationCommandDocument.get_pymongo_collection()


# --- validation -----------------------------------------------------------


def check_endpoint(value: str, field: str) -> str:
    """1 to 48 characters of OCPP 2.0.1's identifierString."""
    if not _ENDPOINT.fullmatch(value):
        raise BadUserInput(
            f"{field} must be 1 to 48 characters of A-Z a-z 0-9 * - _ = : + | @ . , got "
            f"{value[:60]!r}",
            field=field,
        )
    return value


def _position(coordinates: Any, field: str) -> dict[str, Any]:
    return location_fields(
        check_latitude(coordinates.latitude, f"{field}.latitude"),
        check_longitude(coordinates.longitude, f"{field}.longitude"),
    )


def _endpoint_conflict(endpoint: str) -> Conflict:
    return Conflict(
        f"input.endpoint {endpoint!r} is already used by another charge station",
        field="input.endpoint",
    )


# --- reads ----------------------------------------------------------------


async def get(viewer: Viewer, station_id: ObjectId) -> Chargestation | None:
    return await find_visible(
        collection(), {"_id": station_id}, viewer, Chargestation.from_document
    )


async def get_by_endpoint(viewer: Viewer, endpoint: str) -> Chargestation | None:
    """Case-insensitive lookup; a malformed endpoint is refused, not merely missing."""
    query = {"endpointKey": check_endpoint(endpoint, "endpoint").lower()}
    station = await find_visible(collection(), query, viewer, Chargestation.from_document)
    # The identity is not public (see Chargestation.endpoint): nor is a lookup by it.
    return station if station is not None and viewer.manages(station.organization_id) else None


def station_query(filter: ChargestationFilter | None, field: str = "filter") -> dict[str, Any]:
    """The MongoDB filter for a ChargestationFilter (flat, so indexes serve it)."""
    query: dict[str, Any] = {}
    if filter is None:
        return query
    if filter.organization_id is not None:
        query["organization"] = parse_id(filter.organization_id, f"{field}.organizationId")
    if filter.active is not None:
        query["active"] = active_condition(filter.active)
    if filter.online is not None:
        connected = {"online": True, "leaseUntil": {"$gt": now()}}
        if filter.online:
            query.update(connected)
        else:
            query["$nor"] = [connected]
    return query


async def page(
    viewer: Viewer, query: dict[str, Any], first: int, after: str | None
) -> Connection[Chargestation]:
    """One page of the stations matching `query` that the caller may see, in id order."""
    return await id_ordered_page(
        collection(), visible_query(query, viewer), first, after, Chargestation.from_document
    )


async def by_ids(ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    rows = await collection().find({"_id": {"$in": ids}}).to_list()
    return {row["_id"]: row for row in rows}


async def reference(station_id: ObjectId) -> connectors.StationReference | None:
    """What a connector attached to this station needs to know of it."""
    doc = await collection().find_one(
        {"_id": station_id}, projection={"organization": 1, "location": 1, "geo": 1}
    )
    if doc is None:
        return None
    position = {"location": doc["location"], "geo": doc["geo"]} if doc.get("location") else None
    return connectors.StationReference(organization=doc["organization"], position=position)


async def count_for_organization(organization_id: ObjectId) -> str | None:
    """What of an organization's stations remain, for its deletion guard."""
    remaining = await collection().count_documents({"organization": organization_id})
    return f"{remaining} charge station(s)" if remaining else None


# --- writes ---------------------------------------------------------------


def check_time_zone(value: str, field: str) -> str:
    """An IANA time zone name such as Europe/Amsterdam, or BAD_USER_INPUT naming `field`."""
    if value not in available_timezones():
        raise BadUserInput(
            f"{field} must be an IANA time zone such as Europe/Amsterdam, got {value[:40]!r}",
            field=field,
        )
    return value


async def create(viewer: Viewer, data: CreateChargestationInput) -> Chargestation:
    require_key(viewer, "createChargestation")
    organization = parse_id(data.organization_id, "input.organizationId")
    require_manager(viewer, organization, "input.organizationId", "createChargestation")
    await organizations.require(organization, "input.organizationId")
    endpoint = check_endpoint(data.endpoint, "input.endpoint")
    position = _position(data.coordinates, "input.coordinates") if data.coordinates else {}
    address = organizations.address_changes(data.address, "input.address") if data.address else {}
    time_zone = (
        check_time_zone(data.time_zone, "input.timeZone") if data.time_zone is not None else None
    )
    moment = now()
    document = ChargestationDocument.model_validate(
        {
            "endpoint": endpoint,
            "endpointKey": endpoint.lower(),
            "organization": organization,
            "active": data.active,
            **position,
            "address": address,
            "timeZone": time_zone,
            "createdAt": moment,
            "updatedAt": moment,
        }
    )
    try:
        await document.insert()
    except DuplicateKeyError:
        raise _endpoint_conflict(endpoint) from None
    return Chargestation.from_document({"_id": document.id, **document.model_dump(exclude={"id"})})


async def update(
    viewer: Viewer, station_id: ObjectId, fields: Mapping[str, Any], replica: ConnectorReplica
) -> Chargestation:
    target = {"_id": station_id, **write_scope(viewer, "updateChargestation")}
    to_set: dict[str, Any] = {}
    to_unset: dict[str, Any] = {}
    for name, value in fields.items():
        field = f"input.{name}"
        if name == "coordinates":
            if value is None:
                to_unset.update(location="", geo="")
            else:
                to_set.update(_position(value, field))
            continue
        if name == "address":
            to_set.update(organizations.address_update(value, field))
            continue
        if name == "time_zone":
            if value is None:
                to_unset["timeZone"] = ""
            else:
                to_set["timeZone"] = check_time_zone(value, "input.timeZone")
            continue
        require_value(value, field)
        if name == "endpoint":
            endpoint = check_endpoint(value, field)
            to_set.update(endpoint=endpoint, endpointKey=endpoint.lower())
        elif name == "active":
            to_set["active"] = value
    if to_set.get("active") is False:
        # Told while it is still admitted: deactivating it then ends its connection.
        current = await collection().find_one(target)
        if current is not None and is_active(current.get("active")):
            await deactivation_listeners.tell(viewer, current)
    try:
        doc = await update_stamped(collection(), target, to_set, to_unset)
    except DuplicateKeyError:
        raise _endpoint_conflict(to_set["endpoint"]) from None
    if doc is None:
        raise await not_written(collection(), viewer, "charge station", station_id)
    if "coordinates" in fields:
        await connectors.follow_station(station_id, _stored_position(doc), replica)
    return Chargestation.from_document(doc)


def _stored_position(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    return {"location": doc["location"], "geo": doc["geo"]} if doc.get("location") else None


async def delete(viewer: Viewer, station_id: ObjectId) -> ObjectId:
    """Delete a station that no connector belongs to any more."""
    scope = write_scope(viewer, "deleteChargestation")
    if await collection().count_documents({"_id": station_id, **scope}, limit=1) == 0:
        raise await not_written(collection(), viewer, "charge station", station_id)
    remaining = await connectors.count_for_chargestation(station_id)
    if remaining:
        raise Conflict(
            f"charge station {station_id} still has {remaining}; delete or detach them first",
            field="id",
        )
    result = await collection().delete_one({"_id": station_id, **scope})
    if result.deleted_count == 0:
        raise await not_written(collection(), viewer, "charge station", station_id)
    # Its command history goes with it (each names the station it was sent to).
    await commands_collection().delete_many({"station": station_id})
    return station_id


# --- stations received from roaming partners (written by graph.ocpi) ----------------------


async def delete_received(query: Mapping[str, Any]) -> None:
    """Delete the stations received from roaming partners that `query` selects (their
    connectors first); stations of this network are never selected."""
    await collection().delete_many({**query, **RECEIVED_ONLY})


async def save_received(document: Mapping[str, Any]) -> None:
    """Write a station received from a roaming partner whole (created on first write)."""
    fields = {key: value for key, value in document.items() if key not in ("_id", "createdAt")}
    await collection().update_one(
        {"_id": document["_id"]},
        {"$set": fields, "$setOnInsert": {"createdAt": document["createdAt"]}},
        upsert=True,
    )


# --- the OCPP connection --------------------------------------------------


async def find_for_connection(endpoint: str) -> dict[str, Any] | None:
    """The station a connection URL names (any case), or None."""
    if not _ENDPOINT.fullmatch(endpoint):
        return None
    # A station received from a roaming partner is not connected here: none may claim it.
    return await collection().find_one({"endpointKey": endpoint.lower(), **LOCAL_ONLY})


async def connected(
    group: GroupCommit, station_id: ObjectId, connection_id: str, protocol: str, lease: timedelta
) -> None:
    """A connection opened: it holds the station's lease from now on (stored together with
    other stations' writes)."""
    moment = now()
    await asyncio.gather(
        group.update(
            collection(),
            {"_id": station_id},
            {
                "$set": {
                    "connection": connection_id,
                    "protocol": protocol,
                    "leaseUntil": moment + lease,
                    "lastConnectedAt": moment,
                    "lastMessageAt": moment,
                }
            },
            key=station_id,
        ),
        # `online` is written only when it changes: each write of it is an event.
        group.update(
            collection(),
            {"_id": station_id, "online": {"$ne": True}},
            {"$set": {"online": True}},
            key=station_id,
        ),
    )


async def renew_leases(
    held: dict[ObjectId, tuple[str, datetime]], lease: timedelta
) -> set[ObjectId]:
    """Extend the leases of this process's connections (station -> connection id and when
    the station last spoke, written here rather than for every message).

    Returns the stations whose lease is still this process's: a station that
    connected again elsewhere, whose lease ran out, or that was deactivated,
    is no longer (its connection is then closed).
    """
    if not held:
        return set()
    until = now() + lease
    await collection().bulk_write(
        [
            # A station deactivated meanwhile loses its lease (and so its connection).
            UpdateOne(
                {"_id": station, "connection": connection, "active": ACTIVE},
                {"$set": {"leaseUntil": until, "lastMessageAt": spoke}},
            )
            for station, (connection, spoke) in held.items()
        ],
        ordered=False,
    )
    rows = collection().find(
        {"_id": {"$in": list(held)}}, projection={"connection": 1, "active": 1}
    )
    return {
        row["_id"]
        async for row in rows
        if row.get("connection") == held[row["_id"]][0] and is_active(row.get("active"))
    }


async def disconnected(group: GroupCommit, station_id: ObjectId, connection_id: str) -> None:
    """A connection ended; the station is offline unless a newer connection holds it."""
    await group.update(
        collection(),
        {"_id": station_id, "connection": connection_id},
        {"$set": {"online": False, "connection": None, "lastDisconnectedAt": now()}},
        key=station_id,
    )


async def expire_leases() -> int:
    """Write down as offline every station whose lease ran out (its process died)."""
    moment = now()
    result = await collection().update_many(
        {"online": True, "leaseUntil": {"$lte": moment}},
        {"$set": {"online": False, "connection": None, "lastDisconnectedAt": moment}},
    )
    return result.modified_count


async def booted(group: GroupCommit, station_id: ObjectId, boot: BootInfo) -> None:
    await group.update(
        collection(),
        {"_id": station_id},
        {"$set": {"boot": boot.model_dump(), "updatedAt": now()}},
        key=station_id,
    )


async def station_status(group: GroupCommit, station_id: ObjectId, status: ConnectorStatus) -> None:
    """The station reported a status for itself as a whole; the same status again writes nothing."""
    await group.update(
        collection(),
        {"_id": station_id, "status": {"$ne": status.value}},
        {"$set": {"status": status.value, "updatedAt": now()}},
        key=station_id,
    )
