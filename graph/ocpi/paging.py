"""Pages of a Locations pull taken from one snapshot of what matched.

A partner pulls page after page, following `Link`. Recomputing every match for
each page costs the whole catalogue per page, and lets a Location that
changes during the walk move or drop out of the filter, so others are skipped
(a known complaint about OCPI offset paging). The first page instead keeps
the ids of what matched, in order, under an opaque token that its `Link`
carries; later pages read only their own stations, as they are now. A token
this process does not know (another process behind a load balancer, or one
that expired) makes the page compute its matches again, as without one.

When a page is asked for, the next one starts being read too (its stations
are a database read of about 11 ms on the embedded server, most of a page's
time): the partner asking for it within AHEAD_SECONDS gets it as it was read,
or else it is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from bson import ObjectId

# How long a snapshot is kept after it was taken, and how many are kept.
SNAPSHOT_SECONDS = 600.0
MAX_SNAPSHOTS = 256
# A page read ahead is answered when asked for within this long.
AHEAD_SECONDS = 2.0

Page = TypeVar("Page")


class Snapshots:
    """The ids each recent pull matched, by token (least recently taken dropped first)."""

    def __init__(self) -> None:
        self._taken: OrderedDict[str, tuple[float, tuple[ObjectId, ...]]] = OrderedDict()
        # Pages being read ahead: (token, offset, limit) -> (started, read).
        self._ahead: OrderedDict[tuple[str, int, int], tuple[float, asyncio.Task[Any]]] = (
            OrderedDict()
        )

    def keep(self, ids: Sequence[ObjectId]) -> str:
        token = secrets.token_urlsafe(12)
        self._taken[token] = (time.monotonic(), tuple(ids))
        while len(self._taken) > MAX_SNAPSHOTS:
            self._taken.popitem(last=False)
        return token

    def get(self, token: str | None) -> tuple[ObjectId, ...] | None:
        if token is None or token not in self._taken:
            return None
        taken, ids = self._taken[token]
        if time.monotonic() - taken > SNAPSHOT_SECONDS:
            del self._taken[token]
            return None
        return ids

    def read_ahead(
        self, token: str, offset: int, limit: int, read: Callable[[], Awaitable[Page]]
    ) -> None:
        """Start reading the walk's page at `offset`, for when it is asked for."""
        key = (token, offset, limit)
        self._drop(key)
        task: asyncio.Task[Page] = asyncio.ensure_future(read())
        # A failed read is read again when asked for; retrieved here, its error is not
        # logged as never retrieved.
        task.add_done_callback(_retrieved)
        self._ahead[key] = (time.monotonic(), task)
        # A walk abandoned leaves its read: dropped once too old to be answered, or when
        # too many are kept (the oldest first; they are in the order they began).
        while self._ahead:
            oldest = next(iter(self._ahead))
            too_old = time.monotonic() - self._ahead[oldest][0] > AHEAD_SECONDS
            if not too_old and len(self._ahead) <= 2 * MAX_SNAPSHOTS:
                break
            self._drop(oldest)

    async def page(
        self, token: str, offset: int, limit: int, read: Callable[[], Awaitable[Page]]
    ) -> Page:
        """The walk's page at `offset`: as read ahead when that began at most AHEAD_SECONDS
        ago (and succeeded), else read now."""
        ahead = self._ahead.pop((token, offset, limit), None)
        if ahead is not None:
            started, task = ahead
            if time.monotonic() - started <= AHEAD_SECONDS:
                await asyncio.wait({task})
                if not task.cancelled() and task.exception() is None:
                    result: Page = task.result()
                    return result
            else:
                task.cancel()
        return await read()

    def _drop(self, key: tuple[str, int, int]) -> None:
        ahead = self._ahead.pop(key, None)
        if ahead is not None:
            ahead[1].cancel()


def _retrieved(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.result()
