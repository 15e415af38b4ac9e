"""Connector clusters for a map: a whole country in a few hundred markers, for any filter.

A map at country zoom cannot show a million connectors. `cluster` groups the
connectors matching a filter inside a viewport into cells of a square grid of
64 screen pixels at the map's zoom (Web Mercator, 256-pixel tiles: 4 cells
across a tile, 2^(zoom+2) across the world): a cell holding two or more
becomes a cluster (count, count per status, centroid, box, highest power,
the zoom at which it splits), a cell holding one gives that connector itself.

Why a grid, and why this one:

- Fixed cells in world coordinates make clusters independent of the
  viewport: the same data at the same zoom gives the same cells wherever the
  map is panned, and a cell at one zoom is exactly four at the next (a
  quadtree), so clusters nest as the user zooms in and `expansionZoom` is
  exact: the first zoom at which its members fall in two cells.
- The filter is applied to rows, never precomputed: a filter (any mix of
  status, type, power, organization, visibility) becomes one boolean mask,
  and per-cell figures are reductions of that mask over runs of rows. No
  structure is kept per filter combination.
- The rows are kept in a space-filling-curve order (`SpatialOrder`): sorted
  by the Morton (Z-order) code of their Mercator position at 22 bits per
  axis (zoom 20's cells). In that order every cell of every zoom is one
  contiguous run of rows, found by two binary searches. A viewport is a few
  hundred runs; the mask is computed over the runs (one slice when they cover
  most of their span, as a country view does, else the runs' rows), and each
  cell's figures are `reduceat` reductions over its run of matching rows:
  a handful of vectorised passes over the matching rows, however many cells.
- The columns a filter reads and the figures read are copied in that order
  (about 75 bytes a connector), so those passes read memory in sequence
  rather than jumping through the id-ordered index. The copy is built on
  first use, and kept current by the index's `watch` hook: a change that does
  not move a connector (a status report, the common case) is copied in place;
  a connector added, moved or renumbered makes the next question rebuild the
  order (one argsort: 200 to 260 ms at a million connectors here).

Cells on the viewport's edge are checked against the exact box, as
`connectorsInBounds` checks it, so the counts add up to its `totalCount` for
the same bounds and filter. A cluster id carries the zoom, the cell, the
filter, a digest of its members' ids and (only for a cell the viewport cuts)
the viewport: `cluster_members` finds the same members again, or says the
cluster changed.
"""

from __future__ import annotations

import base64
import binascii
import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import bson
import numpy as np

from graph.connectors.filters import is_connector_query
from graph.connectors.index import ENUMS, ConnectorIndex, Matcher
from graph.core.errors import BadUserInput
from graph.core.geo import Box

Ints = np.ndarray[Any, np.dtype[np.int64]]

MAX_ZOOM = 20
# 256-pixel tiles cut in 4 x 4 cells of 64 pixels: a cell at zoom z is a quadtree node at z + 2.
LEVELS_PER_TILE = 2
CELL_PX = 64
BITS = MAX_ZOOM + LEVELS_PER_TILE
# A viewport spans at most this many cells each way: 2,176 pixels, a 1920 x 1080 screen
# with room to spare (a larger screen asks one zoom lower). It bounds what one answer
# may hold, which the operation's cost counts (graph.core.cost.at_most).
MAX_CELLS_ACROSS = 34
MAX_VIEWPORT_PX = MAX_CELLS_ACROSS * CELL_PX
# Cells one answer may touch: a column more (a box straddles cell edges) and a row more
# each side (rounding at the edges); each holds one cluster or one lone connector.
MAX_CELLS = (MAX_CELLS_ACROSS + 1) * (MAX_CELLS_ACROSS + 3)
# Web Mercator's latitude limit: rows beyond it are drawn on the map's edge.
MAX_LATITUDE = 85.05112877980659
# The index's columns a filter may read (graph.connectors.filters, graph.core.visibility)
# and those the figures read, copied in curve order.
MIRRORED = (
    "alive",
    "active",
    "organization",
    "status",
    "type",
    "format",
    "power_type",
    "power",
    "updatedAt",
    "lat",
    "lng",
)
_ID_VERSION = 1


def mercator(latitude: Any, longitude: Any) -> tuple[Any, Any]:
    """Web Mercator x, y in [0, 1] (y grows southwards), vectorised."""
    x = (np.asarray(longitude, dtype=np.float64) + 180.0) / 360.0
    sine = np.sin(np.radians(np.clip(latitude, -MAX_LATITUDE, MAX_LATITUDE)))
    y = 0.5 - np.log((1.0 + sine) / (1.0 - sine)) / (4.0 * math.pi)
    return x, y


def _grid(value: Any, level: int) -> Any:
    """Grid column or row (of 2^level) of Mercator coordinates."""
    size = 1 << level
    return np.clip(np.floor(value * size), 0, size - 1).astype(np.int64)


def _spread(value: Any) -> Any:
    """The bits of `value` (< 2^32) moved to the even bit positions."""
    v = np.asarray(value, dtype=np.int64) & 0xFFFFFFFF
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        v = (v | (v << shift)) & mask
    return v


def morton(column: Any, row: Any) -> Any:
    return _spread(column) | (_spread(row) << 1)


def curve_keys(latitude: Any, longitude: Any) -> Ints:
    """The Z-order key of each position at BITS bits per axis; -1 where there is none."""
    x, y = mercator(latitude, longitude)
    located = ~np.isnan(np.asarray(latitude, dtype=np.float64))
    keys = morton(_grid(np.where(located, x, 0.0), BITS), _grid(np.where(located, y, 0.0), BITS))
    result: Ints = np.where(located, keys, -1)
    return result


def id_hashes(ids: Any) -> Any:
    """A 64-bit hash of each 12-byte id (S12 column), for members' digests."""
    raw = np.frombuffer(np.ascontiguousarray(ids, dtype="S12").tobytes(), dtype=np.uint8)
    raw = raw.reshape(-1, 12)
    high = raw[:, :8].copy().view(np.uint64).ravel()
    low = np.zeros((len(raw), 8), dtype=np.uint8)
    low[:, :4] = raw[:, 8:]
    mixed = high * np.uint64(0x9E3779B97F4A7C15) ^ low.view(np.uint64).ravel() * np.uint64(
        0xC2B2AE3D27D4EB4F
    )
    return mixed ^ (mixed >> np.uint64(29))


class SpatialOrder:
    """The located rows of an index in Z-order, with the columns clustering reads."""

    def __init__(self) -> None:
        self.valid = False
        self.positions: Ints = np.zeros(0, dtype=np.int64)  # index rows, in curve order
        self.keys: Ints = np.zeros(0, dtype=np.int64)
        self.columns: dict[str, Any] = {}
        self.hashes: Any = np.zeros(0, dtype=np.uint64)
        self._slot: Ints = np.zeros(0, dtype=np.int64)  # index row -> place here (-1: none)

    def current(self, index: ConnectorIndex) -> SpatialOrder:
        if not self.valid:
            self._build(index)
        return self

    def _build(self, index: ConnectorIndex) -> None:
        size = index.size
        columns = index.columns
        keys = curve_keys(columns["lat"][:size], columns["lng"][:size])
        located = np.flatnonzero(keys >= 0)
        order = located[np.argsort(keys[located], kind="stable")]
        self.positions = order
        self.keys = keys[order]
        self.columns = {name: columns[name][order] for name in MIRRORED}
        self.hashes = id_hashes(columns["id"][order])
        self._slot = np.full(size, -1, dtype=np.int64)
        self._slot[order] = np.arange(len(order), dtype=np.int64)
        self.valid = True

    def changed(self, index: ConnectorIndex, row: int | None) -> None:
        """The index wrote or removed `row` (None: rows were renumbered)."""
        if not self.valid:
            return
        if row is None or row >= len(self._slot) or self._slot[row] < 0:
            self.valid = False
            return
        place = int(self._slot[row])
        columns = index.columns
        key = curve_keys(columns["lat"][row : row + 1], columns["lng"][row : row + 1])[0]
        if key != self.keys[place]:
            self.valid = False  # moved: its place in the order changes
            return
        for name in MIRRORED:
            self.columns[name][place] = columns[name][row]


# Each index's order; it goes with its index (a reload builds a new index).
_ORDERS: weakref.WeakKeyDictionary[ConnectorIndex, SpatialOrder] = weakref.WeakKeyDictionary()


def spatial_order(index: ConnectorIndex) -> SpatialOrder:
    """The index's curve order, built on first use and kept current through `index.watch`."""
    order = _ORDERS.get(index)
    if order is None:
        order = _ORDERS[index] = SpatialOrder()
        known = order
        index.watch(lambda row: known.changed(index, row))
    return order.current(index)


# --- the question -------------------------------------------------------------


def check_zoom(zoom: int) -> int:
    if not 0 <= zoom <= MAX_ZOOM:
        raise BadUserInput(f"zoom must be between 0 and {MAX_ZOOM}, got {zoom}", field="zoom")
    return zoom


@dataclass(frozen=True)
class CellRange:
    """The grid columns and rows a viewport touches at a level (columns may wrap)."""

    level: int
    columns: Ints
    rows: Ints
    edge_columns: frozenset[int]
    edge_rows: frozenset[int]


def cell_range(box: Box, zoom: int, field_name: str = "bounds") -> CellRange:
    """The cells under a viewport; refuses one wider or taller than MAX_CELLS_ACROSS cells."""
    level = zoom + LEVELS_PER_TILE
    size = 1 << level
    whole = (box.west, box.east) == (-180.0, 180.0)
    xs, ys = mercator(np.array([box.north, box.south]), np.array([box.west, box.east]))
    (x_west, x_east), (y_north, y_south) = xs.tolist(), ys.tolist()
    width_px = (1.0 if whole else (x_east - x_west) % 1.0) * size * CELL_PX
    height_px = (y_south - y_north) * size * CELL_PX
    limit = MAX_VIEWPORT_PX
    if width_px > limit or height_px > limit:
        raise BadUserInput(
            f"{field_name} spans {width_px:,.0f} x {height_px:,.0f} pixels at zoom {zoom}; "
            f"at most {limit} x {limit}: zoom in or ask for a smaller box",
            field=field_name,
        )
    first_column, last_column = (int(v) for v in _grid(np.array([x_west, x_east]), level))
    if whole:
        columns = np.arange(size, dtype=np.int64)
        edges: frozenset[int] = frozenset()
    elif box.crosses_antimeridian:
        # Both ends may fall in one column (a box of nearly the whole world): each cell once.
        columns = np.union1d(np.arange(first_column, size), np.arange(0, last_column + 1))
        edges = frozenset({first_column, last_column})
    else:
        columns = np.arange(first_column, last_column + 1, dtype=np.int64)
        edges = frozenset({first_column, last_column})
    # One more row each side: a position on a cell's edge rounds the same way as the box's.
    top, bottom = (int(v) for v in _grid(np.array([y_north, y_south]), level))
    top, bottom = max(0, top - 1), min(size - 1, bottom + 1)
    rows = np.arange(top, bottom + 1, dtype=np.int64)
    edge_rows = frozenset({top, top + 1, bottom - 1, bottom})
    return CellRange(level, columns, rows, edges, edge_rows)


@dataclass(frozen=True)
class ClusterFigures:
    """One cluster of an answer."""

    zoom: int
    cell: int
    count: int
    latitude: float
    longitude: float
    south: float
    west: float
    north: float
    east: float
    max_power: float
    statuses: dict[str, int]
    expansion_zoom: int
    digest: int
    clipped: bool


@dataclass
class Clustering:
    """Clusters and lone connectors (stored documents) in a viewport, and how many matched."""

    clusters: list[ClusterFigures]
    connectors: list[dict[str, Any]]
    total: int


def _expand(starts: Ints, stops: Ints) -> Ints:
    """Every integer of the ranges [starts[i], stops[i]), in order."""
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    result: Ints = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, lengths)
    return result


def _inside(box: Box, lats: Any, lngs: Any) -> Any:
    """The exact box test of `ConnectorIndex._in_box` (and of the database's `box_ranges`)."""
    inside = (lats >= box.south) & (lats <= box.north)
    if box.crosses_antimeridian:
        inside &= (lngs >= box.west) | (lngs <= box.east)
    elif (box.west, box.east) != (-180.0, 180.0):
        inside &= (lngs >= box.west) & (lngs <= box.east)
    return inside


def _split_zoom(first_keys: Ints, last_keys: Ints) -> Ints:
    """The zoom at which members between two keys stop sharing one cell (MAX_ZOOM + 1: never)."""
    differing = first_keys ^ last_keys
    # Highest differing bit pair: the level below which the members part.
    bits = np.zeros(len(differing), dtype=np.int64)
    nonzero = differing > 0
    bits[nonzero] = np.floor(np.log2(differing[nonzero].astype(np.float64))).astype(np.int64) + 1
    shared_levels = BITS - (bits + 1) // 2
    split: Ints = np.minimum(shared_levels + 1 - LEVELS_PER_TILE, MAX_ZOOM + 1)
    return split


def cluster(
    index: ConnectorIndex,
    query: Mapping[str, Any],
    box: Box,
    zoom: int,
    cells: CellRange | None = None,
) -> Clustering:
    """The connectors matching `query` (visibility applied) in `box`, clustered at `zoom`."""
    order = spatial_order(index)
    cells = cells or cell_range(box, zoom)
    level = cells.level
    shift = 2 * (BITS - level)
    grid_columns, grid_rows = np.meshgrid(cells.columns, cells.rows)
    codes = np.sort(morton(grid_columns.ravel(), grid_rows.ravel()))
    starts = np.searchsorted(order.keys, codes << shift, side="left")
    stops = np.searchsorted(order.keys, (codes + 1) << shift, side="left")
    occupied = stops > starts
    codes, starts, stops = codes[occupied], starts[occupied], stops[occupied]
    matcher = Matcher(index, query, order.columns)
    if len(codes) == 0:
        return Clustering([], [], 0)
    low, high = int(starts[0]), int(stops[-1])
    candidates = int((stops - starts).sum())
    # The mask over the runs' rows: one slice when they fill most of their span (a
    # country), else the runs' rows gathered (a city, whose runs are scattered).
    if candidates * 2 >= high - low:
        rows: Ints | None = None
        mask = matcher(slice(low, high))
        # Rows between two runs lie in cells outside the viewport.
        gaps = np.flatnonzero(starts[1:] > stops[:-1])
        for gap_start, gap_stop in zip(
            (stops[:-1][gaps] - low).tolist(), (starts[1:][gaps] - low).tolist(), strict=True
        ):
            mask[gap_start:gap_stop] = False
    else:
        rows = _expand(starts, stops)
        mask = matcher(rows)
    # Cells the viewport's edge crosses: their matching rows get the exact box test.
    columns_of, rows_of = _cell_coordinates(codes)
    edge = np.isin(columns_of, list(cells.edge_columns)) | np.isin(rows_of, list(cells.edge_rows))
    clipped = np.zeros(len(codes), dtype=bool)
    if edge.any():
        at = _expand(starts[edge], stops[edge])
        in_mask = at - low if rows is None else np.searchsorted(rows, at)
        inside = _inside(box, order.columns["lat"][at], order.columns["lng"][at])
        cut = mask[in_mask] & ~inside
        clipped[np.searchsorted(starts, at[cut], side="right") - 1] = True
        mask[in_mask[cut]] = False
    members = np.flatnonzero(mask) + low if rows is None else rows[mask]
    # Each cell's run of matching rows.
    counts = np.searchsorted(members, stops) - np.searchsorted(members, starts)
    nonempty = counts > 0
    codes, counts, clipped = codes[nonempty], counts[nonempty], clipped[nonempty]
    total = int(counts.sum())
    if total == 0:
        return Clustering([], [], 0)
    heads = np.cumsum(counts) - counts
    tails = heads + counts - 1
    lone = counts == 1
    lone_rows = order.positions[members[heads[lone]]]
    connectors = index.documents(np.sort(lone_rows))
    grouped = ~lone
    if not grouped.any():
        return Clustering([], connectors, total)
    figures = _figures(order, members, heads, grouped, _possible_statuses(query))
    first_keys = order.keys[members[heads[grouped]]]
    last_keys = order.keys[members[tails[grouped]]]
    splits = _split_zoom(first_keys, last_keys).tolist()
    clusters = [
        ClusterFigures(
            zoom=zoom,
            cell=code,
            count=count,
            latitude=lat_sum / count,
            longitude=lng_sum / count,
            south=south,
            west=west,
            north=north,
            east=east,
            max_power=power,
            statuses=statuses,
            expansion_zoom=split,
            digest=digest,
            clipped=cut,
        )
        for code, count, lat_sum, lng_sum, south, west, north, east, power, statuses, split, digest, cut in zip(
            codes[grouped].tolist(),
            counts[grouped].tolist(),
            *figures,
            splits,
            _digests(order, members, heads, grouped).tolist(),
            clipped[grouped].tolist(),
            strict=True,
        )
    ]
    return Clustering(clusters, connectors, total)


def _cell_coordinates(codes: Ints) -> tuple[Ints, Ints]:
    """Grid column and row of Morton codes."""

    def compact(v: Ints) -> Ints:
        v = v & 0x5555555555555555
        for shift, mask in (
            (1, 0x3333333333333333),
            (2, 0x0F0F0F0F0F0F0F0F),
            (4, 0x00FF00FF00FF00FF),
            (8, 0x0000FFFF0000FFFF),
            (16, 0x00000000FFFFFFFF),
        ):
            v = (v | (v >> shift)) & mask
        return v

    return compact(codes), compact(codes >> 1)


def _possible_statuses(query: Mapping[str, Any]) -> list[int]:
    """The status codes a filter lets through (all, unless it names some)."""
    names = ENUMS["status"]
    condition = query.get("status")
    if isinstance(condition, Mapping) and set(condition) == {"$in"}:
        return [code for code, name in enumerate(names) if name in condition["$in"]]
    return list(range(len(names)))


def _figures(
    order: SpatialOrder, members: Ints, heads: Ints, grouped: Any, statuses_wanted: list[int]
) -> tuple[list[Any], ...]:
    """Per grouped cell: sums of latitude and longitude, box, highest power, statuses."""
    columns = order.columns
    lats = np.take(columns["lat"], members)
    lngs = np.take(columns["lng"], members)
    powers = np.take(columns["power"], members)
    statuses = np.take(columns["status"], members)
    at = heads
    sums = [np.add.reduceat(values, at)[grouped].tolist() for values in (lats, lngs)]
    south = np.minimum.reduceat(lats, at)[grouped].tolist()
    north = np.maximum.reduceat(lats, at)[grouped].tolist()
    west = np.minimum.reduceat(lngs, at)[grouped].tolist()
    east = np.maximum.reduceat(lngs, at)[grouped].tolist()
    power = np.maximum.reduceat(powers, at)[grouped].tolist()
    names = ENUMS["status"]
    per_status = {
        names[code]: np.add.reduceat(statuses == code, at, dtype=np.int32)[grouped].tolist()
        for code in statuses_wanted
    }
    by_cell = [
        {name: values[i] for name, values in per_status.items() if values[i]}
        for i in range(int(np.count_nonzero(grouped)))
    ]
    return (sums[0], sums[1], south, west, north, east, power, by_cell)


def _digests(order: SpatialOrder, members: Ints, heads: Ints, grouped: Any) -> Any:
    """A digest of each cell's member ids (their hashes' sum, modulo 2^64)."""
    return np.add.reduceat(np.take(order.hashes, members), heads)[grouped] & np.uint64(
        (1 << 63) - 1
    )


# --- cluster ids ----------------------------------------------------------------


@dataclass(frozen=True)
class ClusterKey:
    """What a cluster id says: enough to find its members again and to tell it changed."""

    zoom: int
    cell: int
    query: dict[str, Any]
    digest: int
    box: Box | None


def cluster_id(figures: ClusterFigures, query: Mapping[str, Any], box: Box) -> str:
    """The id of a cluster asked with the filter `query` (before visibility) and `box`."""
    document: dict[str, Any] = {
        "v": _ID_VERSION,
        "z": figures.zoom,
        "c": figures.cell,
        "q": dict(query),
        "d": figures.digest,
    }
    if figures.clipped:
        document["b"] = [box.south, box.west, box.north, box.east]
    return base64.urlsafe_b64encode(bson.encode(document)).decode("ascii").rstrip("=")


def read_cluster_id(text: str, field_name: str = "id") -> ClusterKey:
    """The key of a cluster id; BAD_USER_INPUT naming `field_name` if it is not one."""
    refusal = BadUserInput(f"{field_name} is not a cluster id", field=field_name)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        document = bson.decode(raw)
    except (ValueError, binascii.Error, bson.errors.BSONError):
        raise refusal from None
    try:
        zoom, cell, query, digest = (document[name] for name in ("z", "c", "q", "d"))
        bounds = document.get("b")
        valid = (
            document.get("v") == _ID_VERSION
            and isinstance(zoom, int)
            and 0 <= zoom <= MAX_ZOOM
            and isinstance(cell, int)
            and 0 <= cell < 1 << (2 * (zoom + LEVELS_PER_TILE))
            and isinstance(query, dict)
            and is_connector_query(query)
            and isinstance(digest, int)
            and (
                bounds is None
                or (
                    isinstance(bounds, list)
                    and len(bounds) == 4
                    and all(isinstance(value, float) for value in bounds)
                )
            )
        )
    except KeyError:
        raise refusal from None
    if not valid:
        raise refusal
    box = Box(*bounds) if bounds is not None else None
    return ClusterKey(zoom, cell, query, digest, box)


def cell_box(key: ClusterKey) -> Box:
    """The latitude/longitude box of a cluster id's cell, a little wider (rounding)."""
    level = key.zoom + LEVELS_PER_TILE
    column, row = (int(v[0]) for v in _cell_coordinates(np.array([key.cell], dtype=np.int64)))
    size = 1 << level
    margin = 1e-9

    def latitude(y: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y))))

    south = latitude((row + 1) / size)
    north = latitude(row / size)
    if row + 1 == size:
        south = -90.0
    if row == 0:
        north = 90.0
    west = column / size * 360.0 - 180.0
    east = (column + 1) / size * 360.0 - 180.0
    return Box(
        max(-90.0, south - margin),
        max(-180.0, west - margin),
        min(90.0, north + margin),
        min(180.0, east + margin),
    )


def compile_filter(
    index: ConnectorIndex, query: Mapping[str, Any], columns: Mapping[str, Any], field_name: str
) -> Matcher:
    """A cluster id's filter as a Matcher; one that could not come from a ConnectorFilter is refused."""
    try:
        return Matcher(index, query, columns)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise BadUserInput(f"{field_name} is not a cluster id", field=field_name) from None


def cluster_members(
    index: ConnectorIndex,
    key: ClusterKey,
    visible: Mapping[str, Any],
    field_name: str = "id",
) -> Ints:
    """Index rows of a cluster's members (in curve order), as the caller sees them now.

    Refuses (BAD_USER_INPUT naming `field_name`) a cluster whose members changed
    since its id was given, or that this caller does not see alike.
    """
    order = spatial_order(index)
    shift = 2 * (BITS - key.zoom - LEVELS_PER_TILE)
    low, high = np.searchsorted(order.keys, [key.cell << shift, (key.cell + 1) << shift])
    places = np.arange(low, high, dtype=np.int64)
    places = places[compile_filter(index, visible, order.columns, field_name)(places)]
    if key.box is not None:
        inside = _inside(key.box, order.columns["lat"][places], order.columns["lng"][places])
        places = places[inside]
    digest = int(np.take(order.hashes, places).sum(dtype=np.uint64) & np.uint64((1 << 63) - 1))
    if len(places) < 2 or digest != key.digest:
        raise BadUserInput(
            f"{field_name} names a cluster whose connectors changed since it was given: "
            "ask connectorClusters again",
            field=field_name,
        )
    rows: Ints = order.positions[places]
    return rows


def first_rows(rows: Ints, count: int) -> Ints:
    """The `count` smallest rows (the first in id order), sorted, without sorting them all."""
    if len(rows) > count:
        rows = np.partition(rows, count - 1)[:count] if count else rows[:0]
    result: Ints = np.sort(rows)
    return result
