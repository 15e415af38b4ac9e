"""ConnectorFilter → one flat MongoDB filter.

Flat on purpose: a top-level `$and` is planned as a collection scan by the
embedded server, while the same conditions written flat use the indexes.
"""

from __future__ import annotations

import math
from typing import Any

from graph.connectors.enums import ConnectorStatus
from graph.connectors.types import ConnectorFilter
from graph.core.errors import BadUserInput
from graph.core.ids import parse_id
from graph.core.visibility import active_condition


def connector_query(filter: ConnectorFilter | None, field: str = "filter") -> dict[str, Any]:
    """The MongoDB filter for a ConnectorFilter; None or an empty filter matches all."""
    query: dict[str, Any] = {}
    if filter is None:
        return query
    if filter.organization_id is not None:
        query["organization"] = parse_id(filter.organization_id, f"{field}.organizationId")
    for stored, values in (
        ("status", filter.statuses),
        ("type", filter.types),
        ("format", filter.formats),
        ("power_type", filter.power_types),
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
