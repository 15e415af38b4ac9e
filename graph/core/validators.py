"""Checks for input values that several domains accept: one home for each rule.

Each check returns the value in its stored form or raises BadUserInput naming
the field, so a resolver can validate an argument in one expression.
"""

from __future__ import annotations

import math
import re

from graph.core.errors import BadUserInput
from graph.core.geo import Box

MAX_TEXT = 200
MAX_RADIUS_M = 100_000.0
# Control characters, and lone surrogates (valid in JSON, not storable as UTF-8).
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def check_text(value: str, field: str, *, required: bool = False) -> str:
    """Trimmed single-line text of at most MAX_TEXT characters."""
    text = value.strip()
    if required and not text:
        raise BadUserInput(f"{field} must not be empty", field=field)
    if len(text) > MAX_TEXT or _CONTROL.search(text):
        raise BadUserInput(
            f"{field} must be a single line of at most {MAX_TEXT} valid Unicode characters",
            field=field,
        )
    return text


def check_latitude(value: float, field: str) -> float:
    return _check_degrees(value, 90.0, field)


def check_longitude(value: float, field: str) -> float:
    return _check_degrees(value, 180.0, field)


def _check_degrees(value: float, limit: float, field: str) -> float:
    if not math.isfinite(value) or abs(value) > limit:
        raise BadUserInput(
            f"{field} must be between -{limit:g} and {limit:g}, got {value}", field=field
        )
    return value


def check_radius(radius_m: float, field: str = "radiusMeters") -> float:
    if not math.isfinite(radius_m) or not 0 <= radius_m <= MAX_RADIUS_M:
        raise BadUserInput(
            f"{field} must be between 0 and {MAX_RADIUS_M:g}, got {radius_m}", field=field
        )
    return radius_m


def viewport(south: float, west: float, north: float, east: float, path: str = "") -> Box:
    """A validated map viewport; `west > east` is a box across the antimeridian."""
    prefix = f"{path}." if path else ""
    check_latitude(south, f"{prefix}south")
    check_latitude(north, f"{prefix}north")
    check_longitude(west, f"{prefix}west")
    check_longitude(east, f"{prefix}east")
    if south > north:
        raise BadUserInput(
            f"{prefix}south ({south}) must not be north of {prefix}north ({north})",
            field=f"{prefix}south",
        )
    return Box(south, west, north, east)
