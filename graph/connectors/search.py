"""Where drivers look, and how lists are paged: nearby, in a viewport, filtered lists.

Each question is answered from the process's connector index when it is
loaded (`graph.connectors.index`), else from the database; both engines take
the same MongoDB filter, built once by `graph.connectors.filters` and
narrowed by `graph.core.visibility`, and give the same answers (the tests
compare them).

Drivers are never offered inactive connectors: an absent `active` filter means
active only, and `active: false` finds only what the caller may see (its own
organization's inactive connectors; everything for admins).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from bson import ObjectId
from bson.errors import InvalidId

from graph.connectors import clusters, service
from graph.connectors.enums import ConnectorStatus
from graph.connectors.filters import connector_query
from graph.connectors.index import ConnectorIndex, instant, millis
from graph.connectors.types import (
    Bounds,
    Connector,
    ConnectorCluster,
    ConnectorClusters,
    ConnectorFilter,
    ConnectorOrder,
    Coordinates,
    NearbyConnectorConnection,
    NearbyConnectorEdge,
    StatusCount,
)
from graph.core.errors import BadUserInput
from graph.core.geo import Box, box_around, box_condition, haversine_m, ring_cells, rings
from graph.core.pagination import (
    Connection,
    PageInfo,
    decode_cursor,
    decode_id_cursor,
    empty_connection,
    encode_cursor,
    id_cursor,
    id_ordered_page,
    page_from_rows,
    page_of,
)
from graph.core.viewer import Viewer
from graph.core.visibility import ACTIVE, visible_query

KeyT = TypeVar("KeyT")

# Rings beyond this (15 x 15 cells, about 1 km) cost more than reading the circle's box.
MAX_RING = 7


def drivers_query(filter: ConnectorFilter | None) -> dict[str, Any]:
    """The filter as a search uses it: active connectors unless `active` is given."""
    query = connector_query(filter)
    query.setdefault("active", ACTIVE)
    return query


def _counted(count: Callable[[], int]) -> Callable[[], Awaitable[int]]:
    """A total computed from the index, in the shape `Connection` awaits."""

    async def total() -> int:
        return count()

    return total


# --- nearby ------------------------------------------------------------------


def _nearby_cursor(distance: float, connector_id: ObjectId) -> str:
    return encode_cursor(repr(distance), str(connector_id))


def _decode_keyed_cursor(cursor: str, read: Callable[[str], KeyT]) -> tuple[KeyT, ObjectId]:
    """A (sort key, id) cursor: `read` turns the key's text back into its value."""
    key, connector_id = decode_cursor(cursor, 2)
    try:
        return read(key), ObjectId(connector_id)
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


async def _nearest_in_database(
    latitude: float,
    longitude: float,
    radius_m: float,
    query: dict[str, Any],
    wanted: int,
    after: tuple[float, ObjectId] | None,
) -> tuple[list[tuple[float, dict[str, Any]]], bool]:
    """Up to `wanted` nearest (distance, document) after `after`, and whether that is all.

    Rings of small cells are read outwards until `wanted` hits lie closer than
    any unread cell could be, so a dense city reads a few hundred documents
    rather than every connector within the radius.
    """
    found: list[tuple[float, ObjectId]] = []
    inner, outer = 0, 1
    chosen: list[tuple[float, ObjectId]] | None = None
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
            chosen, complete = settled[:wanted], False
            break
        inner, outer = outer + 1, outer * 2 + 1
    else:
        # Near a pole, or a radius too wide for rings: read the whole circle's box.
        box = box_condition(box_around(latitude, longitude, radius_m))
        found = await _hits(latitude, longitude, radius_m, {**query, **box})
    if chosen is None:
        remaining = sorted(hit for hit in found if after is None or hit > after)
        chosen, complete = remaining[:wanted], len(remaining) <= wanted
    documents = {}
    if chosen:
        rows = service.collection().find({"_id": {"$in": [hit[1] for hit in chosen]}})
        documents = {row["_id"]: row async for row in rows}
    # A connector deleted between the two reads is left out.
    return [(d, documents[i]) for d, i in chosen if i in documents], complete


async def nearby(
    viewer: Viewer,
    index: ConnectorIndex | None,
    latitude: float,
    longitude: float,
    radius_m: float,
    wanted: dict[str, Any],
    first: int,
    after: str | None,
) -> NearbyConnectorConnection:
    """Connectors within `radius_m` of a point, nearest first, paged by (distance, id)."""
    query = visible_query(wanted, viewer)
    after_key = _decode_keyed_cursor(after, float) if after is not None else None
    chosen: list[tuple[float, dict[str, Any]]] = []
    more = False
    if query is not None and index is not None:
        page = index.nearby(query, latitude, longitude, radius_m, first, after_key)
        chosen, more = page.hits, page.more
    elif query is not None:
        chosen, complete = await _nearest_in_database(
            latitude, longitude, radius_m, query, first + 1, after_key
        )
        more = not complete or len(chosen) > first
    edges = [
        NearbyConnectorEdge(
            cursor=_nearby_cursor(distance, document["_id"]),
            node=Connector.from_document(document),
            distance_meters=distance,
        )
        for distance, document in chosen[:first]
    ]

    async def count_total() -> int:
        if query is None:
            return 0
        if index is not None:
            return index.count_nearby(query, latitude, longitude, radius_m)
        box = box_condition(box_around(latitude, longitude, radius_m))
        return len(await _hits(latitude, longitude, radius_m, {**query, **box}))

    return NearbyConnectorConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
        count_total=count_total,
    )


# --- lists -------------------------------------------------------------------


def _updated_cursor(connector: Connector) -> str:
    return encode_cursor(str(millis(connector.updated_at)), str(connector.id))


async def listing(
    viewer: Viewer,
    index: ConnectorIndex | None,
    wanted: dict[str, Any],
    first: int,
    after: str | None,
    order: ConnectorOrder = ConnectorOrder.CREATED_AT,
    box: Box | None = None,
) -> Connection[Connector]:
    """One page of the connectors matching `wanted` (and inside `box`) that the caller may see."""
    query = visible_query(wanted, viewer)
    if order is ConnectorOrder.UPDATED_AT:
        return await _by_update(index, query, first, after)
    if index is None:
        with_box = query if query is None or box is None else {**query, **box_condition(box)}
        return await id_ordered_page(
            service.collection(), with_box, first, after, Connector.from_document
        )
    after_id = decode_id_cursor(after) if after is not None else None
    if query is None:
        return empty_connection()
    matched = query
    page = index.page(matched, first, after_id, box)
    rows = [Connector.from_document(document) for document in page.documents]
    total = _counted(lambda: index.count_matching(matched, box))
    return page_of(rows, page.more, id_cursor, total)


async def _by_update(
    index: ConnectorIndex | None, query: dict[str, Any] | None, first: int, after: str | None
) -> Connection[Connector]:
    """A page in `updatedAt` order (ties by id), for apps syncing what changed."""
    after_key = _decode_keyed_cursor(after, int) if after is not None else None
    if query is None:
        return empty_connection()
    matched = query
    if index is not None:
        page = index.page_by_update(matched, first, after_key)
        rows = [Connector.from_document(document) for document in page.documents]
        total = _counted(lambda: index.count_matching(matched))
        return page_of(rows, page.more, _updated_cursor, total)
    condition = dict(matched)
    if after_key is not None:
        moment, connector_id = after_key
        since = {"$gt": instant(moment)}
        later = [
            {"updatedAt": since},
            {"updatedAt": instant(moment), "_id": {"$gt": connector_id}},
        ]
        condition = {"$and": [matched, {"$or": later}]}
    documents = (
        await service.collection()
        .find(condition, sort=[("updatedAt", 1), ("_id", 1)], limit=first + 1)
        .to_list()
    )

    async def count_total() -> int:
        return await service.collection().count_documents(matched)

    return page_from_rows(
        [Connector.from_document(document) for document in documents],
        first,
        _updated_cursor,
        count_total,
    )


# --- clusters ------------------------------------------------------------------


async def _located_index(
    index: ConnectorIndex | None, query: dict[str, Any], box: Box
) -> tuple[ConnectorIndex, dict[str, Any]]:
    """The index and the query to cluster with: without a loaded index, the matches in the
    box read from the database into an index of their own (the query already applied)."""
    if index is not None:
        return index, query
    documents = await service.collection().find({**query, **box_condition(box)}).to_list()
    return ConnectorIndex.from_documents([documents]), {}


async def connector_clusters(
    viewer: Viewer,
    index: ConnectorIndex | None,
    wanted: dict[str, Any],
    box: Box,
    zoom: int,
) -> ConnectorClusters:
    """The matching connectors the caller may see in `box`, clustered for a map at `zoom`."""
    cells = clusters.cell_range(box, clusters.check_zoom(zoom))
    query = visible_query(wanted, viewer)
    if query is None:
        return ConnectorClusters(clusters=[], connectors=[], total_count=0)
    source, matched = await _located_index(index, query, box)
    found = clusters.cluster(source, matched, box, zoom, cells)
    return ConnectorClusters(
        clusters=[
            ConnectorCluster(
                id=strawberry.ID(clusters.cluster_id(figures, wanted, box)),
                coordinates=Coordinates(latitude=figures.latitude, longitude=figures.longitude),
                count=figures.count,
                counts_by_status=[
                    StatusCount(status=status, count=figures.statuses[str(status.value)])
                    for status in ConnectorStatus
                    if figures.statuses.get(str(status.value))
                ],
                max_power_kw=figures.max_power,
                expansion_zoom=figures.expansion_zoom,
                bounds=Bounds(
                    south=figures.south, west=figures.west, north=figures.north, east=figures.east
                ),
            )
            for figures in found.clusters
        ],
        connectors=[Connector.from_document(document) for document in found.connectors],
        total_count=found.total,
    )


async def cluster_connectors(
    viewer: Viewer, index: ConnectorIndex | None, cluster: str, first: int, after: str | None
) -> Connection[Connector]:
    """A page of a cluster's members, in creation order."""
    key = clusters.read_cluster_id(cluster)
    after_id = decode_id_cursor(after) if after is not None else None
    query = visible_query(key.query, viewer)
    if query is None:
        raise BadUserInput("id names a cluster this caller cannot see", field="id")
    source, matched = await _located_index(index, query, clusters.cell_box(key))
    members = clusters.cluster_members(source, key, matched)
    rows = members if after_id is None else members[members >= source.after(after_id)]
    page = clusters.first_rows(rows, first)
    nodes = [Connector.from_document(document) for document in source.documents(page)]
    return page_of(nodes, len(rows) > first, id_cursor, _counted(lambda: len(members)))
