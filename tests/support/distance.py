"""Great-circle distances for the tests, computed another way than the server computes them.

The server uses the haversine formula (graph/core/geo.py, graph/connectors/index.py). Here
each position becomes a vector on the unit sphere and the distance is the angle between two
vectors, `atan2(|u x v|, u . v)`, times the Earth's radius: a different formula that is
well conditioned at every distance (unlike the arc cosine of the dot product, which loses
everything below a few metres), so an error in either one shows as a disagreement.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# The mean Earth radius (IUGG), in metres: the sphere the API measures on.
EARTH_RADIUS_M = 6_371_008.8
# How far apart two computations of one distance may be, in metres: both are exact to
# far better than this, and a connector is placed to the micro-degree (about 0.1 m).
TOLERANCE_M = 1e-6


def unit_vector(latitude: float, longitude: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A position as a point of the unit sphere (x towards 0°N 0°E, z towards the north pole)."""
    phi, lam = math.radians(latitude), math.radians(longitude)
    return np.array([math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)])


def great_circle_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """The distance between two positions along the sphere, in metres."""
    u, v = unit_vector(lat1, lng1), unit_vector(lat2, lng2)
    angle = math.atan2(float(np.linalg.norm(np.cross(u, v))), float(np.dot(u, v)))
    return EARTH_RADIUS_M * angle


def same_distance(one: float, other: float) -> bool:
    """Are two computations of a distance equal, as far as floating point lets them be?"""
    return abs(one - other) <= TOLERANCE_M + 1e-9 * abs(other)
