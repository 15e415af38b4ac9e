"""Relay cursor connections.

Lists are ordered by a stable key (the ObjectId, which grows with insertion
time), and a cursor is the opaque encoding of the last key seen. Paging with
`after` is a range condition on that key, so inserts never make a page skip
or repeat an item.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Generic, Protocol, TypeVar

import strawberry
from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.collection import AsyncCollection

from graph.core.errors import BadUserInput

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

# The paging arguments every list field takes.
PageSize = Annotated[int, strawberry.argument(description="Page size, 0 to 100.")]
After = Annotated[
    str | None, strawberry.argument(description="Continue after this cursor (a page's endCursor).")
]

NodeT = TypeVar("NodeT")


def check_page_size(first: int, field: str = "first") -> int:
    """Refuse page sizes outside 0..MAX_PAGE_SIZE."""
    if first < 0 or first > MAX_PAGE_SIZE:
        raise BadUserInput(
            f"{field} must be between 0 and {MAX_PAGE_SIZE}, got {first}", field=field
        )
    return first


def encode_cursor(*parts: str) -> str:
    """Make an opaque cursor from the parts of a sort key."""
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int, field: str = "after") -> list[str]:
    """Read back a cursor made by `encode_cursor` with the given number of parts."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = []
    if len(decoded) != parts:
        raise BadUserInput(f"{field} is not a cursor returned by this list", field=field)
    return decoded


def decode_id_cursor(cursor: str, field: str = "after") -> ObjectId:
    """Read a cursor whose sort key is the document id."""
    (value,) = decode_cursor(cursor, 1, field)
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise BadUserInput(f"{field} is not a cursor returned by this list", field=field) from None


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="True when more items follow this page: ask again with `after: endCursor`."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the last item on this page; null on an empty page."
    )


@strawberry.type(description="One item of a page, with the cursor that points at it.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Pass as `after` to continue after this item.")
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, in Relay cursor-connection form.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The items of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the whole list.")
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the whole list holds, across all pages.")
    async def total_count(self) -> int:
        return await self.count_total()


def page_from_rows(
    rows: Sequence[NodeT],
    first: int,
    cursor_of: Callable[[NodeT], str],
    count_total: Callable[[], Awaitable[int]],
) -> Connection[NodeT]:
    """Build a page from rows fetched with limit `first + 1`.

    The extra row only tells whether a next page exists; it is not returned.
    """
    return page_of(rows[:first], len(rows) > first, cursor_of, count_total)


def page_of(
    nodes: Sequence[NodeT],
    more: bool,
    cursor_of: Callable[[NodeT], str],
    count_total: Callable[[], Awaitable[int]],
) -> Connection[NodeT]:
    """A page of these nodes; `more`: whether a next page exists."""
    edges = [Edge(cursor=cursor_of(node), node=node) for node in nodes]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
        count_total=count_total,
    )


class HasId(Protocol):
    @property
    def id(self) -> strawberry.ID: ...


IdNodeT = TypeVar("IdNodeT", bound=HasId)


def id_cursor(node: HasId) -> str:
    """Lists in id (creation) order use the id as the cursor."""
    return encode_cursor(str(node.id))


async def id_ordered_page(
    collection: AsyncCollection[dict[str, Any]],
    query: dict[str, Any] | None,
    first: int,
    after: str | None,
    build: Callable[[dict[str, Any]], IdNodeT],
) -> Connection[IdNodeT]:
    """One page of the documents matching `query` (None: nothing can match), in id order."""
    if query is None:
        return empty_connection()
    page_query = dict(query)
    if after is not None:
        page_query["_id"] = {"$gt": decode_id_cursor(after)}
    # One row more than asked tells whether a next page exists.
    rows = await collection.find(page_query, sort=[("_id", 1)], limit=first + 1).to_list()

    async def count_total() -> int:
        return await collection.count_documents(query)

    return page_from_rows([build(row) for row in rows], first, id_cursor, count_total)


def empty_connection() -> Connection[Any]:
    """A page for a question that can match nothing."""
    return page_from_rows([], 1, str, _no_total)


async def _no_total() -> int:
    return 0
