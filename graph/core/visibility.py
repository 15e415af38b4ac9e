"""Who sees what: inactive connectors and charge stations only their organization and admins.

One rule, applied to single reads, lists, searches, counts and live events. It reads
the stored `active` and `organization` fields.

What "active" means is decided here once, for every path that reads it (the
database filters, the in-memory connector index, counts, single reads, live
events): a document is active exactly when its stored `active` is true, the
boolean. A missing `active`, null, 0 or 1, a string, anything else: inactive
(shown to admins and the owning organization only, like any inactive one). The
API writes only booleans, but tools may write the collections directly.
MongoDB's equality also matches an array holding true, so such an array counts
as true here too: `is_active` and `ACTIVE` / `INACTIVE` always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar

from pymongo.asynchronous.collection import AsyncCollection

from graph.core.viewer import Viewer

NodeT = TypeVar("NodeT")

# The conditions on the stored `active` field that select active and inactive documents:
# exactly those `is_active` says are, and are not.
ACTIVE: Final = True
INACTIVE: Final[Mapping[str, Any]] = MappingProxyType({"$ne": True})


def is_active(value: Any) -> bool:
    """Is a stored `active` value active (what `{"active": ACTIVE}` matches)?"""
    return value is True or (isinstance(value, list) and any(item is True for item in value))


def active_condition(active: bool) -> Any:
    """The condition on `active` for active (True) or inactive (False) documents."""
    return ACTIVE if active else dict(INACTIVE)


def wanted_activity(query: Mapping[str, Any]) -> bool | None:
    """Which documents a filter's `active` condition keeps: active (True), inactive (False),
    both (None, no condition). Refuses a condition `active_condition` does not make."""
    if "active" not in query:
        return None
    condition = query["active"]
    if condition is ACTIVE:
        return True
    if condition == INACTIVE:
        return False
    raise ValueError(f"not a condition on active: {condition!r}")


def can_see(viewer: Viewer, document: Mapping[str, Any]) -> bool:
    """May the caller see this stored connector or station?"""
    return is_active(document.get("active")) or viewer.manages(document.get("organization"))


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
    wanted = wanted_activity(query)
    if viewer.is_admin or wanted is True:
        return query
    own = viewer.organization_id
    named = query.get("organization")
    if own is not None and named == own:
        return query
    if own is None or named is not None:
        # Only active connectors are visible here.
        if wanted is False:
            return None
        return {**query, "active": ACTIVE}
    if wanted is False:
        return {**query, "organization": own}
    visible = [{"active": ACTIVE}, {"organization": own}]
    if "$or" in query:
        return {"$and": [query, {"$or": visible}]}
    return {**query, "$or": visible}
