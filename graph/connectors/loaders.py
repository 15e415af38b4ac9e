"""Batched reads of the connectors of an owner: an organization or a charge station.

Every organization (or station) on a page asks for its connectors in the same
tick; these loaders answer all of them with one aggregation per distinct
question. `owner_page` and `owner_status_counts` answer `Organization.connectors`,
`Chargestation.connectors` and their `connectorCountsByStatus`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bson import ObjectId, json_util

from graph.connectors.enums import ConnectorStatus
from graph.connectors.filters import connector_query
from graph.connectors.models import connectors_collection as collection
from graph.connectors.replica import ConnectorReplica
from graph.connectors.types import Connector, ConnectorFilter, StatusCount
from graph.core.context import Context
from graph.core.loaders import Loader
from graph.core.pagination import (
    Connection,
    check_page_size,
    decode_id_cursor,
    empty_connection,
    id_cursor,
    page_from_rows,
    page_of,
)
from graph.core.visibility import ACTIVE, is_active, visible_query

_STATUS_ORDER: dict[Any, int] = {
    status.value: index for index, status in enumerate(ConnectorStatus)
}


def freeze_query(query: dict[str, Any]) -> str:
    """A hashable, canonical form of a MongoDB filter, usable in a loader key."""
    return json_util.dumps(query, sort_keys=True)


Owner = Literal["organization", "chargestation"]
"""The stored field naming a connector's owner."""


@dataclass(frozen=True)
class OwnerPageKey:
    """One owner's page of connectors: filter, size and position."""

    owner_field: Owner
    owner: ObjectId
    query: str
    first: int
    after: str | None


CountKey = tuple[Owner, ObjectId, str]


def _scoped(
    query: dict[str, Any], owner_field: Owner, owners: list[ObjectId]
) -> dict[str, Any] | None:
    """Restrict a filter to some owners; None when the filter names another one."""
    named = query.get(owner_field)
    if named is not None:
        owners = [owner for owner in owners if owner == named]
        if not owners:
            return None
    return {**query, owner_field: {"$in": owners}}


class ConnectorCountByOwner(Loader[CountKey, int]):
    """How many connectors each (owner, filter) pair matches."""

    async def fetch(self, keys: Sequence[CountKey]) -> list[int]:
        index = ConnectorReplica.of(self.context)
        if index is not None:
            return [
                index.count_matching({**json_util.loads(query), owner_field: owner})
                for owner_field, owner, query in keys
            ]
        groups: dict[tuple[Owner, str], list[ObjectId]] = defaultdict(list)
        for owner_field, owner, query in keys:
            groups[(owner_field, query)].append(owner)
        counts: dict[CountKey, int] = {}
        for (owner_field, query), owners in groups.items():
            match = _scoped(json_util.loads(query), owner_field, owners)
            if match is None:
                continue
            pipeline = [{"$match": match}, {"$group": {"_id": f"${owner_field}", "n": {"$sum": 1}}}]
            async for row in await collection().aggregate(pipeline):
                counts[(owner_field, row["_id"], query)] = row["n"]
        return [counts.get(key, 0) for key in keys]


class ConnectorPageByOwner(Loader[OwnerPageKey, Connection[Connector]]):
    """Pages of connectors of many owners; totals are counted (batched) only if asked."""

    async def fetch(self, keys: Sequence[OwnerPageKey]) -> list[Connection[Connector]]:
        counts = ConnectorCountByOwner.on(self.context)

        def total(key: OwnerPageKey) -> Callable[[], Awaitable[int]]:
            return lambda: counts.load((key.owner_field, key.owner, key.query))

        index = ConnectorReplica.of(self.context)
        if index is not None:
            pages = []
            for key in keys:
                after_id = decode_id_cursor(key.after) if key.after is not None else None
                owned = {**json_util.loads(key.query), key.owner_field: key.owner}
                page = index.page(owned, key.first, after_id)
                nodes = [Connector.from_document(document) for document in page.documents]
                pages.append(page_of(nodes, page.more, id_cursor, total(key)))
            return pages
        groups: dict[tuple[Owner, str, int, str | None], list[ObjectId]] = defaultdict(list)
        for key in keys:
            groups[(key.owner_field, key.query, key.first, key.after)].append(key.owner)
        rows: dict[tuple[ObjectId, str, int, str | None], list[dict[str, Any]]] = {}
        for (owner_field, query, first, after), owners in groups.items():
            match = _scoped(json_util.loads(query), owner_field, owners)
            if match is None:
                continue
            if after is not None:
                match["_id"] = {"$gt": decode_id_cursor(after)}
            # $topN keeps only first + 1 documents per organization on the server.
            pipeline = [
                {"$match": match},
                {
                    "$group": {
                        "_id": f"${owner_field}",
                        "docs": {
                            "$topN": {"n": first + 1, "sortBy": {"_id": 1}, "output": "$$ROOT"}
                        },
                    }
                },
            ]
            async for row in await collection().aggregate(pipeline):
                rows[(row["_id"], query, first, after)] = row["docs"]
        return [
            page_from_rows(
                [
                    Connector.from_document(doc)
                    for doc in rows.get((key.owner, key.query, key.first, key.after), [])
                ],
                key.first,
                id_cursor,
                total(key),
            )
            for key in keys
        ]


StatusCountKey = tuple[Owner, ObjectId, bool]
"""(owner field, owner, whether inactive connectors count too)."""


class StatusCountsByOwner(Loader[StatusCountKey, list[tuple[ConnectorStatus, int]]]):
    """For each key, (status, count) for every status the owner has connectors in."""

    async def fetch(
        self, keys: Sequence[StatusCountKey]
    ) -> list[list[tuple[ConnectorStatus, int]]]:
        found: dict[StatusCountKey, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        index = ConnectorReplica.of(self.context)
        if index is not None:
            for key in keys:
                owner_field, owner, every = key
                found[key].update(
                    index.owner_status_counts(
                        owner_field, owner, {} if every else {"active": ACTIVE}
                    )
                )
        for owner_field in {owner_field for owner_field, _, _ in keys} if index is None else ():
            owners = list({owner for field, owner, _ in keys if field == owner_field})
            pipeline: list[dict[str, Any]] = [
                {"$match": {owner_field: {"$in": owners}}},
                {
                    "$group": {
                        "_id": {
                            "owner": f"${owner_field}",
                            "status": "$status",
                            "active": "$active",
                        },
                        "n": {"$sum": 1},
                    }
                },
            ]
            async for row in await collection().aggregate(pipeline):
                group = row["_id"]
                found[(owner_field, group["owner"], True)][group["status"]] += row["n"]
                if is_active(group.get("active")):
                    found[(owner_field, group["owner"], False)][group["status"]] += row["n"]
        return [
            [
                (ConnectorStatus(status), count)
                for status, count in sorted(
                    found[key].items(), key=lambda item: _STATUS_ORDER.get(item[0], 99)
                )
            ]
            for key in keys
        ]


async def owner_page(
    context: Context,
    owner_field: Owner,
    owner: ObjectId,
    filter: ConnectorFilter | None,
    first: int,
    after: str | None,
) -> Connection[Connector]:
    """One page of an owner's connectors that the caller may see (batched)."""
    first = check_page_size(first)
    wanted = connector_query(filter)
    if wanted.setdefault(owner_field, owner) != owner:
        return empty_connection()
    query = visible_query(wanted, context.viewer)
    if query is None:
        return empty_connection()
    # The loader scopes each page to its owner itself.
    del query[owner_field]
    key = OwnerPageKey(
        owner_field=owner_field, owner=owner, query=freeze_query(query), first=first, after=after
    )
    return await ConnectorPageByOwner.on(context).load(key)


async def owner_status_counts(
    context: Context, owner_field: Owner, owner: ObjectId, organization: ObjectId
) -> list[StatusCount]:
    """How many of an owner's connectors the caller may see are in each status.

    `organization` is the owner's organization: its keys see inactive connectors too.
    """
    every = context.viewer.manages(organization)
    counts = await StatusCountsByOwner.on(context).load((owner_field, owner, every))
    return [StatusCount(status=status, count=count) for status, count in counts]
