"""Which connectors a status subscription watches: one definition for live events and snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from graph.core.geo import Box, box_around, haversine_m
from graph.core.viewer import ANONYMOUS, Viewer
from graph.core.visibility import can_see


@dataclass(frozen=True)
class Circle:
    latitude: float
    longitude: float
    radius_m: float


@dataclass(frozen=True)
class StatusFilter:
    """All given conditions must hold; none given watches every connector the viewer may see."""

    connector_ids: frozenset[ObjectId] | None = None
    organization_id: ObjectId | None = None
    chargestation_id: ObjectId | None = None
    near: Circle | None = None
    bounds: Box | None = None
    viewer: Viewer = ANONYMOUS

    def matches(self, connector: Mapping[str, Any]) -> bool:
        """Does a stored connector document fall under this filter?"""
        if not can_see(self.viewer, connector):
            return False
        if self.connector_ids is not None and connector["_id"] not in self.connector_ids:
            return False
        if (
            self.organization_id is not None
            and connector.get("organization") != self.organization_id
        ):
            return False
        if (
            self.chargestation_id is not None
            and connector.get("chargestation") != self.chargestation_id
        ):
            return False
        if self.near is None and self.bounds is None:
            return True
        geo = connector.get("geo")
        if not geo:
            return False
        if self.bounds is not None and not self.bounds.contains(geo["lat"], geo["lng"]):
            return False
        return self.near is None or (
            haversine_m(self.near.latitude, self.near.longitude, geo["lat"], geo["lng"])
            <= self.near.radius_m
        )

    def query(self) -> dict[str, Any]:
        """A MongoDB filter of the conditions other than the area (see `area`)."""
        query: dict[str, Any] = {}
        if self.connector_ids is not None:
            query["_id"] = {"$in": sorted(self.connector_ids)}
        if self.organization_id is not None:
            query["organization"] = self.organization_id
        if self.chargestation_id is not None:
            query["chargestation"] = self.chargestation_id
        return query

    def area(self) -> Box | None:
        """A box holding the watched area, if any: with `query`, a superset of the matches
        (refine with `matches`)."""
        if self.near is not None:
            return box_around(self.near.latitude, self.near.longitude, self.near.radius_m)
        return self.bounds


@dataclass(frozen=True)
class OnlineFilter:
    """Which stations' connections a subscription watches; all given conditions must hold."""

    organization_id: ObjectId | None = None
    chargestation_ids: frozenset[ObjectId] | None = None
    viewer: Viewer = ANONYMOUS

    def matches(self, station: Mapping[str, Any]) -> bool:
        if not can_see(self.viewer, station):
            return False
        if self.organization_id is not None and station.get("organization") != self.organization_id:
            return False
        return self.chargestation_ids is None or station["_id"] in self.chargestation_ids
