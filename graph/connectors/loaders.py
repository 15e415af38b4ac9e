"""Batched reads of connectors by organization (DataLoader batch functions).

Every organization on a page asks for its connectors in the same tick; these
functions answer all of them with one aggregation per distinct question.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId, json_util

from graph.connectors.enums import ConnectorStatus
from graph.connectors.models import connectors_collection as collection
from graph.connectors.types import Connector
from graph.core.pagination import Connection, decode_id_cursor, page_from_rows

_STATUS_ORDER: dict[Any, int] = {
    status.value: index for index, status in enumerate(ConnectorStatus)
}


def freeze_query(query: dict[str, Any]) -> str:
    """A hashable, canonical form of a MongoDB filter, usable in a loader key."""
    return json_util.dumps(query, sort_keys=True)


@dataclass(frozen=True)
class OrganizationPageKey:
    """One organization's page of connectors: filter, size and position."""

    organization: ObjectId
    query: str
    first: int
    after: str | None


CountKey = tuple[ObjectId, str]


def _scoped(query: dict[str, Any], organizations: list[ObjectId]) -> dict[str, Any] | None:
    """Restrict a filter to some organizations; None when the filter names another one."""
    named = query.get("organization")
    if named is not None:
        organizations = [organization for organization in organizations if organization == named]
        if not organizations:
            return None
    return {**query, "organization": {"$in": organizations}}


async def count_by_organization(keys: Sequence[CountKey]) -> list[int]:
    """How many connectors each (organization, filter) pair matches."""
    groups: dict[str, list[ObjectId]] = defaultdict(list)
    for organization, query in keys:
        groups[query].append(organization)
    counts: dict[CountKey, int] = {}
    for query, organizations in groups.items():
        match = _scoped(json_util.loads(query), organizations)
        if match is None:
            continue
        pipeline = [{"$match": match}, {"$group": {"_id": "$organization", "n": {"$sum": 1}}}]
        async for row in await collection().aggregate(pipeline):
            counts[(row["_id"], query)] = row["n"]
    return [counts.get(key, 0) for key in keys]


def page_by_organization(
    count: Callable[[CountKey], Awaitable[int]],
) -> Callable[[Sequence[OrganizationPageKey]], Awaitable[list[Connection[Connector]]]]:
    """A batch function for pages of connectors; totals are counted (batched) only if asked."""

    async def load(keys: Sequence[OrganizationPageKey]) -> list[Connection[Connector]]:
        groups: dict[tuple[str, int, str | None], list[ObjectId]] = defaultdict(list)
        for key in keys:
            groups[(key.query, key.first, key.after)].append(key.organization)
        rows: dict[tuple[ObjectId, str, int, str | None], list[dict[str, Any]]] = {}
        for (query, first, after), organizations in groups.items():
            match = _scoped(json_util.loads(query), organizations)
            if match is None:
                continue
            if after is not None:
                match["_id"] = {"$gt": decode_id_cursor(after)}
            # $topN keeps only first + 1 documents per organization on the server.
            pipeline = [
                {"$match": match},
                {
                    "$group": {
                        "_id": "$organization",
                        "docs": {
                            "$topN": {"n": first + 1, "sortBy": {"_id": 1}, "output": "$$ROOT"}
                        },
                    }
                },
            ]
            async for row in await collection().aggregate(pipeline):
                rows[(row["_id"], query, first, after)] = row["docs"]

        def total(key: OrganizationPageKey) -> Callable[[], Awaitable[int]]:
            return lambda: count((key.organization, key.query))

        return [
            page_from_rows(
                [
                    Connector.from_document(doc)
                    for doc in rows.get((key.organization, key.query, key.first, key.after), [])
                ],
                key.first,
                Connector.cursor,
                total(key),
            )
            for key in keys
        ]

    return load


StatusCountKey = tuple[ObjectId, bool]
"""(organization, whether its inactive connectors count too)."""


async def status_counts_by_organization(
    keys: Sequence[StatusCountKey],
) -> list[list[tuple[ConnectorStatus, int]]]:
    """For each key, (status, count) for every status the organization has connectors in."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"organization": {"$in": list({organization for organization, _ in keys})}}},
        {
            "$group": {
                "_id": {"organization": "$organization", "status": "$status", "active": "$active"},
                "n": {"$sum": 1},
            }
        },
    ]
    found: dict[StatusCountKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    async for row in await collection().aggregate(pipeline):
        group = row["_id"]
        found[(group["organization"], True)][group["status"]] += row["n"]
        if group.get("active") is not False:
            found[(group["organization"], False)][group["status"]] += row["n"]
    return [
        [
            (ConnectorStatus(status), count)
            for status, count in sorted(
                found[key].items(), key=lambda item: _STATUS_ORDER.get(item[0], 99)
            )
        ]
        for key in keys
    ]
