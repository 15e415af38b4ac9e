"""Geometry for nearby and viewport searches.

Besides the GeoJSON `location` (for tools that want native geo queries: create
a 2dsphere index for them; ChargeGraph does not, as it would cost every status write),
every located connector stores `geo`: its latitude, longitude and the ids of
the grid cells it falls in. A search lists the cells its area touches and asks
for `geo.fine` / `geo.coarse` `$in` those cells: plain indexed equality, which
every MongoDB-compatible server answers fast, where the embedded server's
`$near` and `$geoWithin` take half a second at national scale. Exact distances
are then computed here. `geo` is derived from `location` in one function,
`geo_fields`, used by every write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
RING_DEG = 0.002  # about 220 m north-south: nearest-first searches grow rings of these
FINE_DEG = 0.1  # about 11 km north-south
COARSE_DEG = 1.0
_ROWS_RING = round(180 / RING_DEG)
_COLS_RING = round(360 / RING_DEG)
_ROWS_FINE = round(180 / FINE_DEG)
_COLS_FINE = round(360 / FINE_DEG)
_ROWS_COARSE = round(180 / COARSE_DEG)
_COLS_COARSE = round(360 / COARSE_DEG)
# Beyond this many fine cells a search uses the coarse grid instead; beyond
# this many coarse cells, only the latitude/longitude ranges.
MAX_FINE_CELLS = 400
MAX_COARSE_CELLS = 2000


class GeoPoint(BaseModel):
    """A GeoJSON point; `coordinates` is `[longitude, latitude]` as 2dsphere wants."""

    type: str = "Point"
    coordinates: list[float]


class GeoSearchFields(BaseModel):
    """Derived from `location` by `location_fields`, for fast searches."""

    lat: float
    lng: float
    ring: int
    fine: int
    coarse: int


def _cell(latitude: float, longitude: float, size: float, rows: int, cols: int) -> int:
    row = min(int((latitude + 90.0) / size), rows - 1)
    col = min(int((longitude + 180.0) / size), cols - 1)
    return row * cols + col


def location_fields(latitude: float, longitude: float) -> dict[str, Any]:
    """Everything stored for a position: the GeoJSON point and the search fields."""
    return {
        "location": {"type": "Point", "coordinates": [longitude, latitude]},
        "geo": {
            "lat": latitude,
            "lng": longitude,
            "ring": _cell(latitude, longitude, RING_DEG, _ROWS_RING, _COLS_RING),
            "fine": _cell(latitude, longitude, FINE_DEG, _ROWS_FINE, _COLS_FINE),
            "coarse": _cell(latitude, longitude, COARSE_DEG, _ROWS_COARSE, _COLS_COARSE),
        },
    }


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Box:
    """A latitude/longitude box; `west > east` means it crosses the antimeridian."""

    south: float
    west: float
    north: float
    east: float

    @property
    def crosses_antimeridian(self) -> bool:
        return self.west > self.east

    def contains(self, latitude: float, longitude: float) -> bool:
        if not self.south <= latitude <= self.north:
            return False
        if self.crosses_antimeridian:
            return longitude >= self.west or longitude <= self.east
        return self.west <= longitude <= self.east


def box_around(latitude: float, longitude: float, radius_m: float) -> Box:
    """The smallest lat/lng box holding every point within `radius_m` of a point."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    south, north = latitude - dlat, latitude + dlat
    if south <= -90 or north >= 90:
        # The circle holds a pole: every longitude is in reach.
        return Box(max(south, -90.0), -180.0, min(north, 90.0), 180.0)
    # The widest longitude span of the circle (at its tangent latitude).
    ratio = math.sin(radius_m / EARTH_RADIUS_M) / math.cos(math.radians(latitude))
    if ratio >= 1:
        return Box(south, -180.0, north, 180.0)
    dlng = math.degrees(math.asin(ratio))
    west, east = longitude - dlng, longitude + dlng
    if west < -180:
        west += 360
    if east > 180:
        east -= 360
    return Box(south, west, north, east)


def _columns(box: Box, size: float, cols: int) -> list[int]:
    if box.west == -180.0 and box.east == 180.0:
        return list(range(cols))
    first = min(int((box.west + 180.0) / size), cols - 1)
    last = min(int((box.east + 180.0) / size), cols - 1)
    if box.crosses_antimeridian:
        return list(range(first, cols)) + list(range(last + 1))
    return list(range(first, last + 1))


def box_ranges(box: Box) -> dict[str, Any]:
    """A MongoDB condition on `geo.lat`/`geo.lng` matching exactly the points inside the box."""
    condition: dict[str, Any] = {"geo.lat": {"$gte": box.south, "$lte": box.north}}
    if box.crosses_antimeridian:
        condition["geo.lng"] = {"$not": {"$gt": box.east, "$lt": box.west}}
    elif (box.west, box.east) != (-180.0, 180.0):
        condition["geo.lng"] = {"$gte": box.west, "$lte": box.east}
    return condition


def box_condition(box: Box) -> dict[str, Any]:
    """A flat MongoDB condition matching exactly the connectors inside the box.

    The cell condition lets the server use an index; the ranges make it exact.
    """
    condition = box_ranges(box)
    for field, size, rows, cols, limit in (
        ("geo.fine", FINE_DEG, _ROWS_FINE, _COLS_FINE, MAX_FINE_CELLS),
        ("geo.coarse", COARSE_DEG, _ROWS_COARSE, _COLS_COARSE, MAX_COARSE_CELLS),
    ):
        first_row = min(int((box.south + 90.0) / size), rows - 1)
        last_row = min(int((box.north + 90.0) / size), rows - 1)
        columns = _columns(box, size, cols)
        if (last_row - first_row + 1) * len(columns) <= limit:
            cells = [row * cols + col for row in range(first_row, last_row + 1) for col in columns]
            condition[field] = {"$in": cells}
            break
    return condition


@dataclass(frozen=True)
class Ring:
    """The cells at Chebyshev distance `k` from a centre cell, and how far they reach.

    Every point closer to the centre point than `safe_m` lies in this ring or
    an inner one.
    """

    cells: list[int]
    safe_m: float


def rings(latitude: float, longitude: float) -> list[int] | None:
    """Row and column of the ring-grid cell holding a point (None near the poles)."""
    if abs(latitude) > 80:
        # Cells are too narrow there to be worth walking: search the whole box.
        return None
    row = min(int((latitude + 90.0) / RING_DEG), _ROWS_RING - 1)
    col = min(int((longitude + 180.0) / RING_DEG), _COLS_RING - 1)
    return [row, col]


def ring_cells(latitude: float, longitude: float, inner: int, outer: int) -> Ring:
    """Cells with inner <= k <= outer around the point's cell, and the distance they make safe.

    A cell k rings out starts at least (k - 1) cell sizes plus the point's own
    offset away; the narrowest cell side (east-west, at the ring's widest
    latitude) is used so the bound holds everywhere in the ring.
    """
    centre = rings(latitude, longitude)
    assert centre is not None
    row, col = centre
    cells = []
    for dr in range(-outer, outer + 1):
        r = row + dr
        if not 0 <= r < _ROWS_RING:
            continue
        for dc in range(-outer, outer + 1):
            if max(abs(dr), abs(dc)) < inner:
                continue
            cells.append(r * _COLS_RING + (col + dc) % _COLS_RING)
    widest_lat = min(89.9, abs(latitude) + (outer + 1) * RING_DEG)
    cell_m = math.radians(RING_DEG) * EARTH_RADIUS_M * math.cos(math.radians(widest_lat))
    # Distance from the point to the outside of ring `outer`: at least `outer` whole cells.
    # 2% margin: a great circle is a little shorter than the parallel's arc.
    return Ring(cells=cells, safe_m=0.98 * outer * cell_m)
