"""Where drivers look: connectors near a point, and connectors in a map viewport.

Drivers are never offered inactive connectors: an absent `active` filter means
active only, and `active: false` finds nothing for callers who may not see
inactive connectors.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from graph.connectors import service
from graph.connectors.filters import connector_query
from graph.connectors.geo import Box, box_around, box_condition, haversine_m
from graph.connectors.types import (
    Connector,
    ConnectorFilter,
    NearbyConnectorConnection,
    NearbyConnectorEdge,
)
from graph.core.pagination import (
    Connection,
    PageInfo,
    decode_cursor,
    encode_cursor,
    page_from_rows,
)
from graph.errors import BadUserInput

MAX_RADIUS_M = 100_000.0


def drivers_query(filter: ConnectorFilter | None) -> dict[str, Any] | None:
    """The filter as drivers may use it; None when it can match nothing they may see."""
    query = connector_query(filter)
    query.setdefault("active", True)
    if query["active"] is False:
        return None
    return query


def _nearby_cursor(distance: float, connector_id: ObjectId) -> str:
    return encode_cursor(repr(distance), str(connector_id))


def _decode_nearby_cursor(cursor: str) -> tuple[float, ObjectId]:
    distance, connector_id = decode_cursor(cursor, 2)
    try:
        return float(distance), ObjectId(connector_id)
    except (ValueError, InvalidId):
        raise BadUserInput("after is not a cursor returned by this list", field="after") from None


def check_radius(radius_m: float) -> float:
    if not math.isfinite(radius_m) or not 0 <= radius_m <= MAX_RADIUS_M:
        raise BadUserInput(
            f"radiusMeters must be between 0 and {MAX_RADIUS_M:g}, got {radius_m}",
            field="radiusMeters",
        )
    return radius_m


async def nearby(
    latitude: float,
    longitude: float,
    radius_m: float,
    query: dict[str, Any] | None,
    first: int,
    after: str | None,
) -> NearbyConnectorConnection:
    """Connectors within `radius_m` of a point, nearest first, paged by (distance, id)."""
    hits: list[tuple[float, ObjectId]] = []
    if query is not None:
        condition = {**query, **box_condition(box_around(latitude, longitude, radius_m))}
        # Positions only: whole documents are read for the one page returned.
        candidates = service.collection().find(condition, projection={"geo.lat": 1, "geo.lng": 1})
        async for row in candidates:
            distance = haversine_m(latitude, longitude, row["geo"]["lat"], row["geo"]["lng"])
            if distance <= radius_m:
                hits.append((distance, row["_id"]))
        hits.sort()
    start = bisect.bisect_right(hits, _decode_nearby_cursor(after)) if after is not None else 0
    chosen = hits[start : start + first]
    documents = {}
    if chosen:
        rows = service.collection().find(
            {"_id": {"$in": [connector_id for _, connector_id in chosen]}}
        )
        documents = {row["_id"]: row async for row in rows}
    edges = [
        NearbyConnectorEdge(
            cursor=_nearby_cursor(distance, connector_id),
            node=Connector.from_document(documents[connector_id]),
            distance_meters=distance,
        )
        for distance, connector_id in chosen
        if connector_id in documents  # deleted between the two reads
    ]
    return NearbyConnectorConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=start + first < len(hits),
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=len(hits),
    )


async def in_bounds(
    box: Box, query: dict[str, Any] | None, first: int, after: str | None
) -> Connection[Connector]:
    """Connectors inside a map viewport, in id order (like every other list)."""
    if query is None:
        return page_from_rows([], first, Connector.cursor, _none)
    return await service.page({**query, **box_condition(box)}, first, after)


async def _none() -> int:
    return 0


def viewport(south: float, west: float, north: float, east: float) -> Box:
    """A validated map viewport; `west > east` is a box across the antimeridian."""
    service.check_latitude(south, "south")
    service.check_latitude(north, "north")
    service.check_longitude(west, "west")
    service.check_longitude(east, "east")
    if south > north:
        raise BadUserInput(f"south ({south}) must not be north of north ({north})", field="south")
    return Box(south, west, north, east)
