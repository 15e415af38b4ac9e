"""Batched reads of connectors by organization, and the organization fields they answer.

Every organization on a page asks for its connectors in the same tick; these
loaders answer all of them with one aggregation per distinct question.
`organization_page` and `status_counts` are what `Organization.connectors`
and `Organization.connectorCountsByStatus` call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId, json_util

from graph.connectors.enums import ConnectorStatus
from graph.connectors.filters import connector_query
from graph.connectors.models import connectors_collection as collection
from graph.connectors.types import Connector, ConnectorFilter, StatusCount
from graph.connectors.visibility import visible_query
from graph.core.context import Context
from graph.core.loaders import Loader
from graph.core.pagination import (
    Connection,
    check_page_size,
    decode_id_cursor,
    empty_connection,
    page_from_rows,
)

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


class ConnectorCountByOrganization(Loader[CountKey, int]):
    """How many connectors each (organization, filter) pair matches."""

    async def fetch(self, keys: Sequence[CountKey]) -> list[int]:
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


class ConnectorPageByOrganization(Loader[OrganizationPageKey, Connection[Connector]]):
    """Pages of connectors of many organizations; totals are counted (batched) only if asked."""

    async def fetch(self, keys: Sequence[OrganizationPageKey]) -> list[Connection[Connector]]:
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
        counts = ConnectorCountByOrganization.on(self.context)

        def total(key: OrganizationPageKey) -> Callable[[], Awaitable[int]]:
            return lambda: counts.load((key.organization, key.query))

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


StatusCountKey = tuple[ObjectId, bool]
"""(organization, whether its inactive connectors count too)."""


class StatusCountsByOrganization(Loader[StatusCountKey, list[tuple[ConnectorStatus, int]]]):
    """For each key, (status, count) for every status the organization has connectors in."""

    async def fetch(
        self, keys: Sequence[StatusCountKey]
    ) -> list[list[tuple[ConnectorStatus, int]]]:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"organization": {"$in": list({organization for organization, _ in keys})}}},
            {
                "$group": {
                    "_id": {
                        "organization": "$organization",
                        "status": "$status",
                        "active": "$active",
                    },
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


async def organization_page(
    context: Context,
    organization_id: ObjectId,
    filter: ConnectorFilter | None,
    first: int,
    after: str | None,
) -> Connection[Connector]:
    """One page of an organization's connectors that the caller may see (batched)."""
    first = check_page_size(first)
    wanted = connector_query(filter)
    if wanted.setdefault("organization", organization_id) != organization_id:
        return empty_connection()
    query = visible_query(wanted, context.viewer)
    if query is None:
        return empty_connection()
    # The loader scopes each page to its organization itself.
    del query["organization"]
    key = OrganizationPageKey(
        organization=organization_id, query=freeze_query(query), first=first, after=after
    )
    return await ConnectorPageByOrganization.on(context).load(key)


async def status_counts(context: Context, organization_id: ObjectId) -> list[StatusCount]:
    """How many of an organization's connectors the caller may see are in each status."""
    every = context.viewer.manages(organization_id)
    counts = await StatusCountsByOrganization.on(context).load((organization_id, every))
    return [StatusCount(status=status, count=count) for status, count in counts]
