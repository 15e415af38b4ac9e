"""A brute force of map clusters in plain Python: a grid of 64-pixel cells and a merge of
each cell's connectors, to check `connectorClusters` against."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_LATITUDE = 85.05112877980659
TILE_PX = 256
CELL_PX = 64


def world_pixel(latitude: float, longitude: float, zoom: int) -> tuple[float, float]:
    """Web Mercator pixel of a position at `zoom` (256-pixel tiles)."""
    size = TILE_PX * 2**zoom
    clamped = max(-MAX_LATITUDE, min(MAX_LATITUDE, latitude))
    sine = math.sin(math.radians(clamped))
    x = (longitude + 180.0) / 360.0
    y = 0.5 - math.log((1 + sine) / (1 - sine)) / (4 * math.pi)
    return x * size, y * size


def cell_of(latitude: float, longitude: float, zoom: int) -> tuple[int, int]:
    cells = 2 ** (zoom + 2)
    x, y = world_pixel(latitude, longitude, zoom)
    return (
        min(cells - 1, max(0, math.floor(x / CELL_PX))),
        min(cells - 1, max(0, math.floor(y / CELL_PX))),
    )


@dataclass
class Group:
    """The connectors of one cell: (id, latitude, longitude, status, power) each."""

    members: list[tuple[str, float, float, str, float]] = field(default_factory=list)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(member[0] for member in self.members)

    def centroid(self) -> tuple[float, float]:
        count = len(self.members)
        return (
            sum(m[1] for m in self.members) / count,
            sum(m[2] for m in self.members) / count,
        )

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for member in self.members:
            counts[member[3]] += 1
        return dict(counts)

    def bounds(self) -> tuple[float, float, float, float]:
        lats = [m[1] for m in self.members]
        lngs = [m[2] for m in self.members]
        return min(lats), min(lngs), max(lats), max(lngs)

    def split_zoom(self, zoom: int) -> int:
        """The first zoom after `zoom` whose cells part the members (21: none up to 20)."""
        for deeper in range(zoom + 1, 21):
            if len({cell_of(m[1], m[2], deeper) for m in self.members}) > 1:
                return deeper
        return 21


def brute_clusters(
    connectors: Iterable[tuple[str, float, float, str, float]], zoom: int
) -> dict[tuple[int, int], Group]:
    """Connectors (all inside the viewport, already filtered) grouped by cell at `zoom`."""
    groups: dict[tuple[int, int], Group] = defaultdict(Group)
    for connector in connectors:
        groups[cell_of(connector[1], connector[2], zoom)].members.append(connector)
    return dict(groups)
