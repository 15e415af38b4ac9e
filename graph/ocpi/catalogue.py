"""What ChargeGraph publishes over OCPI, read from the stores: the sites behind its Locations.

Organizations and stations are read from MongoDB (few documents); connectors
come from the connector index when it is loaded (`connectors.find_documents`).
Connectors deleted through the API are kept as removed EVSEs
(`ocpi_removed_evses`), told by the connectors domain as they are deleted;
a connector deleted straight in MongoDB leaves no tombstone.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from bson import ObjectId

from graph.chargestations import service as chargestations
from graph.connectors import service as connectors
from graph.connectors.index import ConnectorIndex
from graph.core.timestamps import now
from graph.core.visibility import ACTIVE, is_active
from graph.ocpi.locations import Site, publishable
from graph.ocpi.models import removed_evses_collection
from graph.organizations import service as organizations

# Connectors read for one pull at most (every connector of every published station).
MAX_CONNECTORS = 10_000_000


async def keep_removed(connector: Mapping[str, Any]) -> None:
    """Keep a deleted station connector as a removed EVSE (connectors of no station are never
    published, so they need none)."""
    if connector.get("chargestation") is None:
        return
    await removed_evses_collection().replace_one(
        {"_id": connector["_id"]},
        {
            "chargestation": connector["chargestation"],
            "organization": connector["organization"],
            "connector": dict(connector),
            "removedAt": now(),
        },
        upsert=True,
    )


async def published_sites(
    index: ConnectorIndex | None, station_ids: Sequence[ObjectId] | None = None
) -> list[Site]:
    """Every publishable site (or those of `station_ids`), oldest station first."""
    if station_ids is None:
        parties = await _parties()
        if not parties:
            return []
        query = {"organization": {"$in": list(parties)}, "active": ACTIVE}
        stations = await _stations(query)
        tombstones = await _tombstones([station["_id"] for station in stations])
    else:
        # By id alone, the rest checked here: an index lookup per id, where adding the
        # organization and activity made the embedded server test each id list against
        # every station (bench.ocpi's profile). The three reads need nothing of each
        # other, so they are in flight together.
        parties, stations, tombstones = await asyncio.gather(
            _parties(), _stations({"_id": {"$in": list(station_ids)}}), _tombstones(station_ids)
        )
    stations = [
        station
        for station in stations
        if station.get("organization") in parties and is_active(station.get("active"))
    ]
    if not stations:
        return []
    ids = [station["_id"] for station in stations]
    attached: dict[ObjectId, list[dict[str, Any]]] = defaultdict(list)
    for connector in await connectors.find_documents(
        index, {"chargestation": {"$in": ids}}, None, MAX_CONNECTORS
    ):
        attached[connector["chargestation"]].append(connector)
    moment = now()
    sites = []
    for station in stations:
        lease = station.get("leaseUntil")
        site = Site(
            station=station,
            organization=parties[station["organization"]],
            connectors=sorted(attached[station["_id"]], key=lambda connector: connector["_id"]),
            tombstones=tombstones[station["_id"]],
            online=station.get("online") is True and lease is not None and lease > moment,
        )
        if publishable(site):
            sites.append(site)
    return sites


async def _parties() -> dict[ObjectId, dict[str, Any]]:
    """The active organizations with an OCPI identity, by id."""
    return {
        document["_id"]: document
        async for document in organizations.collection().find(
            {"ocpi.countryCode": {"$type": "string"}, "active": ACTIVE},
            projection={"name": 1, "ocpi": 1},
        )
    }


async def _stations(query: Mapping[str, Any]) -> list[dict[str, Any]]:
    return await chargestations.collection().find(query, sort=[("_id", 1)]).to_list()


async def _tombstones(station_ids: Sequence[ObjectId]) -> dict[ObjectId, list[dict[str, Any]]]:
    """The removed EVSEs of these stations, by station."""
    removed: dict[ObjectId, list[dict[str, Any]]] = defaultdict(list)
    async for tombstone in removed_evses_collection().find(
        {"chargestation": {"$in": list(station_ids)}}
    ):
        removed[tombstone["chargestation"]].append(tombstone)
    return removed
