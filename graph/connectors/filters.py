"""ConnectorFilter → one flat MongoDB filter.

Flat on purpose: a top-level `$and` is planned as a collection scan by the
embedded server, while the same conditions written flat use the indexes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from graph.connectors.enums import ConnectorStatus
from graph.core.errors import BadUserInput
from graph.core.ids import parse_id
from graph.core.visibility import INACTIVE, active_condition

if TYPE_CHECKING:
    # Only named in annotations: the types import the cluster module, which imports this one.
    from graph.connectors.types import ConnectorFilter

_LISTED = ("status", "type", "format", "power_type")


def connector_query(filter: ConnectorFilter | None, field: str = "filter") -> dict[str, Any]:
    """The MongoDB filter for a ConnectorFilter; None or an empty filter matches all."""
    query: dict[str, Any] = {}
    if filter is None:
        return query
    if filter.organization_id is not None:
        query["organization"] = parse_id(filter.organization_id, f"{field}.organizationId")
    for stored, values in zip(
        _LISTED, (filter.statuses, filter.types, filter.formats, filter.power_types), strict=True
    ):
        if values is not None:
            query[stored] = {"$in": [value.value for value in values]}
    if filter.available_only:
        available = ConnectorStatus.AVAILABLE.value
        chosen = query.get("status", {"$in": [available]})["$in"]
        query["status"] = {"$in": [available] if available in chosen else []}
    if filter.active is not None:
        query["active"] = active_condition(filter.active)
    power: dict[str, float] = {}
    for operator, name, value in (
        ("$gte", "minPowerKw", filter.min_power_kw),
        ("$lte", "maxPowerKw", filter.max_power_kw),
    ):
        if value is not None:
            if not math.isfinite(value):
                raise BadUserInput(
                    f"{field}.{name} must be a finite number", field=f"{field}.{name}"
                )
            power[operator] = value
    if "$gte" in power and "$lte" in power and power["$gte"] > power["$lte"]:
        raise BadUserInput(
            f"{field}.minPowerKw must not exceed {field}.maxPowerKw", field=f"{field}.minPowerKw"
        )
    if power:
        query["power"] = power
    if filter.updated_since is not None:
        query["updatedAt"] = {"$gt": filter.updated_since}
    return query


def is_connector_query(query: Mapping[str, Any]) -> bool:
    """Could `connector_query` have made this query? (A query read back from a client, as
    in a cluster id, must be nothing else: no other operator reaches the database.)"""

    def number(value: Any) -> bool:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )

    def shaped(name: str, value: Any) -> bool:
        if name == "organization":
            return isinstance(value, ObjectId)
        if name in _LISTED:
            return (
                isinstance(value, dict)
                and list(value) == ["$in"]
                and isinstance(value["$in"], list)
                and all(isinstance(item, str) for item in value["$in"])
            )
        if name == "active":
            return value is True or value == INACTIVE
        if name == "power":
            return (
                isinstance(value, dict)
                and bool(value)
                and set(value) <= {"$gte", "$lte"}
                and all(number(bound) for bound in value.values())
            )
        if name == "updatedAt":
            return (
                isinstance(value, dict)
                and list(value) == ["$gt"]
                and isinstance(value["$gt"], datetime)
            )
        return False

    return all(shaped(name, value) for name, value in query.items())
