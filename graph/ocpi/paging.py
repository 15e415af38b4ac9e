"""Pages of a Locations pull taken from one snapshot of what matched.

A partner pulls page after page, following `Link`. Recomputing every match for
each page costs the whole catalogue per page, and lets a Location that
changes during the walk move or drop out of the filter, so others are skipped
(a known complaint about OCPI offset paging). The first page instead keeps
the ids of what matched, in order, under an opaque token that its `Link`
carries; later pages read only their own stations, as they are now. A token
this process does not know (another process behind a load balancer, or one
that expired) makes the page compute its matches again, as without one.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence

from bson import ObjectId

# How long a snapshot is kept after it was taken, and how many are kept.
SNAPSHOT_SECONDS = 600.0
MAX_SNAPSHOTS = 256


class Snapshots:
    """The ids each recent pull matched, by token (least recently taken dropped first)."""

    def __init__(self) -> None:
        self._taken: OrderedDict[str, tuple[float, tuple[ObjectId, ...]]] = OrderedDict()

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
