"""Storing what partners send as Locations (ChargeGraph as eMSP), pushed or pulled.

A Location of party (country_code, party_id) from a partner becomes a charge
station of the organization standing for that partner's party (created on
first use, marked `receivedFrom`); each OCPI Connector of its EVSEs becomes one
ChargeGraph connector of that station, with its EVSE's status. They are
ordinary stations and connectors, so searches, counts and subscriptions serve
them like local ones; API writes to them are refused (graph.core.viewer).

Ids are derived from what names the object in OCPI (partner, party, Location
id, EVSE uid, Connector id; CiStrings, so case-insensitive), so a status PATCH
finds its connectors without a read: it is one update of them (`patch_status`).
Anything else is applied to the partner's copy of the Location
(`ocpi_received_locations`), checked whole, and stored again whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId

from graph.chargestations import service as chargestations
from graph.connectors import service as connectors
from graph.connectors.replica import ConnectorReplica
from graph.core.geo import location_fields
from graph.core.group_commit import GroupCommit
from graph.core.timestamps import now
from graph.core.visibility import is_active
from graph.ocpi.locations import ocpi_time
from graph.ocpi.models import received_locations_collection
from graph.ocpi.protocol import CLIENT_ERROR, OcpiError, member, unknown_object
from graph.ocpi.received import (
    REMOVED,
    STATUS_BACK,
    alpha2,
    check_connector,
    check_evse,
    check_location,
    check_status_patch,
    connector_fields,
    coordinates,
    instant,
    invalid,
)
from graph.organizations import service as organizations

RECEIVED = "received"
# Locations removed a command at a time.
REMOVE_CHUNK = 10_000


def _derived_id(*parts: str) -> ObjectId:
    return ObjectId(hashlib.sha256("\x1f".join(parts).encode()).digest()[:12])


def station_id(partner: ObjectId, country_code: str, party_id: str, location_id: str) -> ObjectId:
    """The charge station a partner's Location is stored as."""
    return _derived_id(
        "location", str(partner), country_code.upper(), party_id.upper(), location_id.upper()
    )


def connector_id(station: ObjectId, evse_uid: str, position: int) -> ObjectId:
    """The ChargeGraph connector an EVSE's `position`-th stored connector is (in the order of
    their OCPI ids, counting only those stored): a status PATCH finds them all from the URL,
    in the connector index."""
    return _derived_id("connector", str(station), evse_uid.upper(), str(position))


def _ocpp_id(evse_uid: str, connector: str) -> int:
    """A number for `ocppId` (OCPI has none): stable, distinct within a station in practice."""
    digest = hashlib.sha256(f"{evse_uid.upper()}\x1f{connector.upper()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2_000_000_000 + 1


def require_party(partner: Mapping[str, Any], country_code: str, party_id: str) -> None:
    """Only the parties the partner registered (its credentials roles) may be written or read."""
    for role in partner.get("roles") or []:
        if (
            str(role.get("country_code", "")).upper() == country_code.upper()
            and str(role.get("party_id", "")).upper() == party_id.upper()
        ):
            return
    raise OcpiError(
        CLIENT_ERROR,
        f"{country_code[:2]}/{party_id[:3]} is not a party you registered with (your "
        "credentials roles); nothing was stored",
        http_status=403,
    )


def _same(body: Mapping[str, Any], name: str, expected: str) -> None:
    """A body id must be the URL's (CiString: compared without case)."""
    given = body.get(name)
    if given is not None and (not isinstance(given, str) or given.upper() != expected.upper()):
        raise invalid(name, f"{str(given)[:40]!r} differs from the URL's {expected[:40]!r}")


def _origin(partner: Mapping[str, Any]) -> dict[str, Any]:
    return {"partner": partner["_id"], "name": partner["name"]}


async def _store(
    partner: Mapping[str, Any],
    station: ObjectId,
    location: dict[str, Any],
    replica: ConnectorReplica,
) -> bool:
    """Store a checked Location whole: its organization, station, connectors and copy;
    True when the copy is new."""
    organization = await organizations.received_party(
        partner["_id"],
        partner["name"],
        location["country_code"].upper(),
        location["party_id"].upper(),
        (location.get("operator") or {}).get("name")
        or f"{location['country_code']}*{location['party_id']}",
    )
    moment = now()
    longitude, latitude = coordinates(location["coordinates"], "coordinates")
    published = location["publish"]
    await chargestations.save_received(
        {
            "_id": station,
            "endpoint": f"ocpi-{station}",
            "endpointKey": f"ocpi-{station}",
            "organization": organization,
            "active": published,
            **location_fields(latitude, longitude),
            "address": {
                "streetAndNumber": location["address"],
                "postalCode": location.get("postal_code"),
                "city": location["city"],
                "country": alpha2(location["country"]),
            },
            "timeZone": location["time_zone"],
            "online": False,
            "receivedFrom": {**_origin(partner), "locationId": location["id"]},
            "createdAt": moment,
            "updatedAt": moment,
        }
    )
    documents = []
    for evse in location.get("evses") or []:
        if evse["status"] == REMOVED:
            continue  # gone: its connectors are deleted below
        status, shown = STATUS_BACK[evse["status"]]
        own_place = evse.get("coordinates")
        if own_place is not None:
            evse_longitude, evse_latitude = coordinates(own_place, "coordinates")
        else:
            evse_longitude, evse_latitude = longitude, latitude
        stored = 0
        # By OCPI id, not as listed: a partner that lists them in another order does not
        # swap the ids of ChargeGraph's connectors.
        for connector in sorted(evse["connectors"], key=lambda given: given["id"].upper()):
            fields = connector_fields(connector)
            if fields is None:
                continue  # a standard ChargeGraph has no value for (docs/ocpi.md)
            made = connector_id(station, evse["uid"], stored)
            stored += 1
            documents.append(
                {
                    "_id": made,
                    "ocppId": _ocpp_id(evse["uid"], connector["id"]),
                    **fields,
                    "status": status,
                    "active": published and shown,
                    **location_fields(evse_latitude, evse_longitude),
                    "stationLocated": own_place is None,
                    "organization": organization,
                    "chargestation": station,
                    "receivedFrom": {
                        **_origin(partner),
                        "evse": evse["uid"],
                        "connector": connector["id"],
                        "status": evse["status"],
                        "lastUpdated": instant(evse, "last_updated", ""),
                    },
                    "createdAt": moment,
                    "updatedAt": moment,
                }
            )
    await connectors.replace_received(station, documents, replica)
    written = await received_locations_collection().replace_one(
        {"_id": station},
        {
            "partner": partner["_id"],
            "countryCode": location["country_code"].upper(),
            "partyId": location["party_id"].upper(),
            "locationId": location["id"],
            "location": location,
            "receivedAt": moment,
        },
        upsert=True,
    )
    return written.upserted_id is not None


# --- forgetting what a partner sent ---------------------------------------------------


async def remove_locations(stations: list[ObjectId], replica: ConnectorReplica) -> None:
    """Forget received Locations (by the stations they became): their connectors (searches
    and subscribers see them deleted), their stations and the partner's copies."""
    # A command of ids at a time stays far below 16 MB.
    for start in range(0, len(stations), REMOVE_CHUNK):
        chunk = stations[start : start + REMOVE_CHUNK]
        await connectors.delete_received({"chargestation": {"$in": chunk}}, replica)
        await chargestations.delete_received({"_id": {"$in": chunk}})
        await received_locations_collection().delete_many({"_id": {"$in": chunk}})


async def forget_unseen(
    partner: Mapping[str, Any], seen: set[ObjectId], before: datetime, replica: ConnectorReplica
) -> int:
    """After a full pull: the partner's Locations it did not send (in `seen`, by station) and
    none pushed since the pull started (`before`) are gone at the partner; forget them."""
    stale = [
        found["_id"]
        async for found in received_locations_collection().find(
            {"partner": partner["_id"], "receivedAt": {"$lt": before}}, projection={"_id": 1}
        )
        if found["_id"] not in seen
    ]
    await remove_locations(stale, replica)
    return len(stale)


async def forget_partner(partner: ObjectId, replica: ConnectorReplica) -> None:
    """Forget everything a partner sent: its parties' organizations, stations and connectors
    (found by organization, so a Location stored only in part goes too) and the copies."""
    parties = await organizations.received_parties(partner)
    if parties:
        await connectors.delete_received({"organization": {"$in": parties}}, replica)
        await chargestations.delete_received({"organization": {"$in": parties}})
    await received_locations_collection().delete_many({"partner": partner})
    await organizations.delete_received(parties)


async def put_location(
    partner: Mapping[str, Any], body: Any, replica: ConnectorReplica, url_ids: Mapping[str, str]
) -> bool:
    """PUT (or a pull) of a whole Location; True when it was new. Checked whole before
    anything is stored; the body's ids must be the URL's."""
    if isinstance(body, dict):
        for name in ("country_code", "party_id", "id"):
            _same(body, name, url_ids[name])
    location = check_location(body)
    require_party(partner, location["country_code"], location["party_id"])
    station = station_id(
        partner["_id"], location["country_code"], location["party_id"], location["id"]
    )
    return await _store(partner, station, location, replica)


async def stored_location(
    partner: Mapping[str, Any], country_code: str, party_id: str, location_id: str
) -> dict[str, Any] | None:
    """The partner's Location as ChargeGraph holds it: the copy, with each EVSE's latest
    status (kept on its connectors) and `last_updated` raised to its newest child."""
    station = station_id(partner["_id"], country_code, party_id, location_id)
    copy = await received_locations_collection().find_one({"_id": station})
    if copy is None:
        return None
    location: dict[str, Any] = copy["location"]
    latest: dict[str, tuple[str, datetime]] = {}
    async for connector in connectors.collection().find(
        {"chargestation": station}, projection={"receivedFrom": 1}
    ):
        origin = connector.get("receivedFrom") or {}
        if "evse" in origin:
            latest[origin["evse"].upper()] = (origin["status"], origin["lastUpdated"])
    newest = instant(location, "last_updated", "")
    for evse in location.get("evses") or []:
        found = latest.get(evse["uid"].upper())
        if found is not None and found[1] > instant(evse, "last_updated", ""):
            evse["status"] = found[0]
            evse["last_updated"] = ocpi_time(found[1])
        newest = max(newest, instant(evse, "last_updated", ""))
    location["last_updated"] = ocpi_time(newest)
    return location


async def stored_object(
    partner: Mapping[str, Any], path: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored Location the URL names and the object within it it names, or 2003."""
    require_party(partner, path["country_code"], path["party_id"])
    location = await stored_location(
        partner, path["country_code"], path["party_id"], path["location_id"]
    )
    if location is None:
        raise unknown_object("Location", path["location_id"], RECEIVED)
    found = location
    if "evse_uid" in path:
        found = member(location.get("evses") or [], "uid", path["evse_uid"], "EVSE", RECEIVED)
    if "connector_id" in path:
        found = member(found["connectors"], "id", path["connector_id"], "Connector", RECEIVED)
    return location, found


async def put_member(
    partner: Mapping[str, Any], path: Mapping[str, str], body: Any, replica: ConnectorReplica
) -> None:
    """PUT of one EVSE or one Connector of a stored Location (added or replaced whole)."""
    require_party(partner, path["country_code"], path["party_id"])
    location = await stored_location(
        partner, path["country_code"], path["party_id"], path["location_id"]
    )
    if location is None:
        raise unknown_object("Location", path["location_id"], RECEIVED)
    if "connector_id" in path:
        if isinstance(body, dict):
            _same(body, "id", path["connector_id"])
        given = check_connector(body, "")
        evse = member(location.get("evses") or [], "uid", path["evse_uid"], "EVSE", RECEIVED)
        _replace(evse["connectors"], "id", given)
        changed = [evse]
    else:
        if isinstance(body, dict):
            _same(body, "uid", path["evse_uid"])
        given = check_evse(body, "")
        location.setdefault("evses", [])
        _replace(location["evses"], "uid", given)
        changed = []
    _bump(location, given["last_updated"], *changed)
    await _store(partner, _station(partner, path), check_location(location), replica)


def _replace(members: list[dict[str, Any]], key: str, member: dict[str, Any]) -> None:
    for number, present in enumerate(members):
        if str(present.get(key, "")).upper() == str(member[key]).upper():
            members[number] = member
            return
    members.append(member)


def _bump(location: dict[str, Any], moment: str, *parents: dict[str, Any]) -> None:
    """A child changed: its parents' `last_updated` become at least its own (as 2.2.1 says)."""
    changed = instant({"at": moment}, "at", "")
    for parent in (location, *parents):
        if changed > instant(parent, "last_updated", ""):
            parent["last_updated"] = moment


def _station(partner: Mapping[str, Any], path: Mapping[str, str]) -> ObjectId:
    return station_id(partner["_id"], path["country_code"], path["party_id"], path["location_id"])


async def patch_status(
    partner: Mapping[str, Any],
    path: Mapping[str, str],
    body: Mapping[str, Any],
    replica: ConnectorReplica,
    group: GroupCommit,
) -> bool:
    """The hot path: an EVSE status PATCH (`{status, last_updated}`) as one update of each of
    the EVSE's connectors (found in the connector index by their derived ids, without a
    read), written with the other writes waiting in the group commit. A status older than
    the stored one changes nothing. False when it must take the general path (`patch`): a
    REMOVED EVSE, one not in the index (unknown, or only just stored by another process),
    or one whose connectors are inactive (PLANNED, or of an unpublished Location)."""
    require_party(partner, path["country_code"], path["party_id"])
    status, moment = check_status_patch(body)
    index = replica.current()
    if status == REMOVED or index is None:
        return False
    value, shown = STATUS_BACK[status]
    station = _station(partner, path)
    found = []
    for position in itertools.count():
        connector = index.get(connector_id(station, path["evse_uid"], position))
        if connector is None:
            break
        found.append(connector)
    if not found or (shown and not all(is_active(c.get("active")) for c in found)):
        return False
    changes = {
        "status": value,
        "active": shown,
        "receivedFrom.status": status,
        "receivedFrom.lastUpdated": moment,
    }
    condition = {"receivedFrom.lastUpdated": {"$lte": moment}}
    await asyncio.gather(
        *(connectors.update_received_together(group, c["_id"], condition, changes) for c in found)
    )
    return True


async def patch(
    partner: Mapping[str, Any], path: Mapping[str, str], body: Any, replica: ConnectorReplica
) -> None:
    """PATCH of a Location, an EVSE or a Connector: the fields given replace the stored ones
    (none can be removed), the parents' `last_updated` follow, and the Location is checked
    whole and stored again. A PATCH older than the object is acknowledged and ignored."""
    if not isinstance(body, dict):
        raise invalid("body", "must be an object")
    moment = instant(body, "last_updated", "")
    location, target = await stored_object(partner, path)
    if "connector_id" in path:
        _same(body, "id", path["connector_id"])
    elif "evse_uid" in path:
        _same(body, "uid", path["evse_uid"])
    else:
        for name, key in (("country_code",) * 2, ("party_id",) * 2, ("id", "location_id")):
            _same(body, name, path[key])
    if moment < instant(target, "last_updated", ""):
        return
    target.update(body)
    parents = []
    if "connector_id" in path:
        parents.append(member(location["evses"], "uid", path["evse_uid"], "EVSE", RECEIVED))
    _bump(location, body["last_updated"], *parents)
    await _store(partner, _station(partner, path), check_location(location), replica)
