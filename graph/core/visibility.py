"""Who sees what: inactive connectors and charge stations only their organization and admins.

One rule, applied to single reads, lists, searches, counts and live events. It reads
the stored `active` and `organization` fields, which every such document has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pymongo.asynchronous.collection import AsyncCollection

from graph.core.viewer import Viewer

NodeT = TypeVar("NodeT")


def can_see(viewer: Viewer, document: Mapping[str, Any]) -> bool:
    """May the caller see this stored connector or station?"""
    return bool(document.get("active", True)) or viewer.manages(document.get("organization"))


async def find_visible(
    collection: AsyncCollection[dict[str, Any]],
    query: Mapping[str, Any],
    viewer: Viewer,
    build: Callable[[dict[str, Any]], NodeT],
) -> NodeT | None:
    """The one document matching `query`, built, if the caller may see it; else None."""
    doc = await collection.find_one(query)
    return build(doc) if doc is not None and can_see(viewer, doc) else None


def visible_query(query: dict[str, Any], viewer: Viewer) -> dict[str, Any] | None:
    """`query` narrowed to what the caller may see; None when that is nothing.

    Kept flat where possible: the embedded server plans a flat filter on its
    indexes but scans for `$or`.
    """
    if viewer.is_admin or query.get("active") is True:
        return query
    own = viewer.organization_id
    named = query.get("organization")
    if own is not None and named == own:
        return query
    if own is None or named is not None:
        # Only active connectors are visible here.
        if query.get("active") is False:
            return None
        return {**query, "active": True}
    if query.get("active") is False:
        return {**query, "organization": own}
    visible = [{"active": True}, {"organization": own}]
    if "$or" in query:
        return {"$and": [query, {"$or": visible}]}
    return {**query, "$or": visible}
