"""Where drivers look: connectors near a point, and connectors in a map viewport.

Drivers are never offered inactive connectors: an absent `active` filter means
active only, and `active: false` finds only what the caller may see (its own
organization's inactive connectors; everything for admins).
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from graph.connectors import service
from graph.connectors.filters import connector_query
from graph.connectors.types import (
    Connector,
    ConnectorFilter,
    NearbyConnectorConnection,
    NearbyConnectorEdge,
)
from graph.core.errors import BadUserInput
from graph.core.geo import Box, box_around, box_condition, haversine_m, ring_cells, rings
from graph.core.pagination import (
    Connection,
    PageInfo,
    decode_cursor,
    encode_cursor,
)
from graph.core.viewer import Viewer
from graph.core.visibility import visible_query

# Rings beyond this (15 x 15 cells, about 1 km) cost more than reading the circle's box.
MAX_RING = 7


def drivers_query(filter: ConnectorFilter | None) -> dict[str, Any]:
    """The filter as a search uses it: active connectors unless `active` is given."""
    query = connector_query(filter)
    query.setdefault("active", True)
    return query


def _nearby_cursor(distance: float, connector_id: ObjectId) -> str:
    return encode_cursor(repr(distance), str(connector_id))


def _decode_nearby_cursor(cursor: str) -> tuple[float, ObjectId]:
    distance, connector_id = decode_cursor(cursor, 2)
    try:
        return float(distance), ObjectId(connector_id)
    except (ValueError, InvalidId):
        raise BadUserInput("after is not a cursor returned by this list", field="after") from None


async def _hits(
    latitude: float, longitude: float, radius_m: float, condition: dict[str, Any]
) -> list[tuple[float, ObjectId]]:
    """(distance, id) of the connectors matching `condition` within the radius."""
    hits = []
    # Positions only: whole documents are read for the one page returned.
    rows = service.collection().find(condition, projection={"geo.lat": 1, "geo.lng": 1})
    async for row in rows:
        distance = haversine_m(latitude, longitude, row["geo"]["lat"], row["geo"]["lng"])
        if distance <= radius_m:
            hits.append((distance, row["_id"]))
    return hits


async def _nearest(
    latitude: float,
    longitude: float,
    radius_m: float,
    query: dict[str, Any],
    wanted: int,
    after: tuple[float, ObjectId] | None,
) -> tuple[list[tuple[float, ObjectId]], bool]:
    """Up to `wanted` nearest hits after `after`, and whether that is all of them.

    Rings of small cells are read outwards until `wanted` hits lie closer than
    any unread cell could be, so a dense city reads a few hundred documents
    rather than every connector within the radius.
    """
    found: list[tuple[float, ObjectId]] = []
    inner, outer = 0, 1
    while rings(latitude, longitude) is not None and outer <= MAX_RING:
        ring = ring_cells(latitude, longitude, inner, outer)
        found += await _hits(
            latitude, longitude, radius_m, {**query, "geo.ring": {"$in": ring.cells}}
        )
        if ring.safe_m >= radius_m:
            break
        settled = sorted(
            hit for hit in found if hit[0] <= ring.safe_m and (after is None or hit > after)
        )
        if len(settled) >= wanted:
            return settled[:wanted], False
        inner, outer = outer + 1, outer * 2 + 1
    else:
        # Near a pole, or a radius too wide for rings: read the whole circle's box.
        box = box_condition(box_around(latitude, longitude, radius_m))
        found = await _hits(latitude, longitude, radius_m, {**query, **box})
    remaining = sorted(hit for hit in found if after is None or hit > after)
    return remaining[:wanted], len(remaining) <= wanted


async def nearby(
    viewer: Viewer,
    latitude: float,
    longitude: float,
    radius_m: float,
    wanted: dict[str, Any],
    first: int,
    after: str | None,
) -> NearbyConnectorConnection:
    """Connectors within `radius_m` of a point, nearest first, paged by (distance, id)."""
    query = visible_query(wanted, viewer)
    chosen: list[tuple[float, ObjectId]] = []
    complete = True
    if query is not None:
        after_key = _decode_nearby_cursor(after) if after is not None else None
        chosen, complete = await _nearest(
            latitude, longitude, radius_m, query, first + 1, after_key
        )
    page = chosen[:first]
    documents = {}
    if page:
        rows = service.collection().find(
            {"_id": {"$in": [connector_id for _, connector_id in page]}}
        )
        documents = {row["_id"]: row async for row in rows}
    edges = [
        NearbyConnectorEdge(
            cursor=_nearby_cursor(distance, connector_id),
            node=Connector.from_document(documents[connector_id]),
            distance_meters=distance,
        )
        for distance, connector_id in page
        if connector_id in documents  # deleted between the two reads
    ]

    async def count_total() -> int:
        if query is None:
            return 0
        box = box_condition(box_around(latitude, longitude, radius_m))
        return len(await _hits(latitude, longitude, radius_m, {**query, **box}))

    return NearbyConnectorConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=not complete or len(chosen) > first,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count_total=count_total,
    )


async def in_bounds(
    viewer: Viewer, box: Box, query: dict[str, Any], first: int, after: str | None
) -> Connection[Connector]:
    """Connectors inside a map viewport, in id order (like every other list)."""
    return await service.page(viewer, {**query, **box_condition(box)}, first, after)
