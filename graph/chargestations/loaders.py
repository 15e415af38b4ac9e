"""Batched reads of charge stations, and the fields other domains answer with them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bson import ObjectId

from graph.chargestations import commands, service
from graph.chargestations.types import Chargestation, StationCommand
from graph.core.context import Context
from graph.core.loaders import Loader
from graph.core.pagination import (
    Connection,
    check_page_size,
    decode_id_cursor,
    id_cursor,
    page_from_rows,
)
from graph.core.visibility import can_see


class ChargestationDocumentById(Loader[ObjectId, dict[str, Any] | None]):
    """The stored stations of a page in one round trip (None where one is missing)."""

    async def fetch(self, keys: Sequence[ObjectId]) -> list[dict[str, Any] | None]:
        found = await service.by_ids(list(set(keys)))
        return [found.get(key) for key in keys]


async def visible_chargestation(context: Context, station_id: ObjectId) -> Chargestation | None:
    """`Connector.chargestation`: the station, if the caller may see it."""
    doc = await ChargestationDocumentById.on(context).load(station_id)
    if doc is None or not can_see(context.viewer, doc):
        return None
    return Chargestation.from_document(doc)


async def organization_page(
    context: Context, organization_id: ObjectId, first: int, after: str | None
) -> Connection[Chargestation]:
    """`Organization.chargestations`: the organization's stations the caller may see."""
    return await service.page(
        context.viewer, {"organization": organization_id}, check_page_size(first), after
    )


async def command_page(
    station_id: ObjectId, first: int, after: str | None
) -> Connection[StationCommand]:
    """`Chargestation.commands`: its commands, newest first."""
    first = check_page_size(first)
    before = decode_id_cursor(after) if after is not None else None
    rows = await commands.history(station_id, first, before)

    async def count_total() -> int:
        return await commands.count(station_id)

    return page_from_rows(
        [StationCommand.from_document(row) for row in rows], first, id_cursor, count_total
    )


AvailabilityKey = tuple[ObjectId, ObjectId | None]


class LatestAvailabilityCommand(Loader[AvailabilityKey, dict[str, Any] | None]):
    """The latest ChangeAvailability of each (station, connector or None: the station)."""

    async def fetch(self, keys: Sequence[AvailabilityKey]) -> list[dict[str, Any] | None]:
        found = await commands.latest_availability(keys)
        return [found.get(key) for key in keys]


async def latest_availability_command(
    context: Context, station_id: ObjectId, connector_id: ObjectId | None
) -> StationCommand | None:
    """`availabilityCommand` of a connector (or of a station, connector None)."""
    doc = await LatestAvailabilityCommand.on(context).load((station_id, connector_id))
    return StationCommand.from_document(doc) if doc is not None else None
