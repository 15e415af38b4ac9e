"""Leases that let one process at a time work for a partner (push to it, pull from it).

A lease is a document `{_id: partner, holder, until}` in a collection of its own per
kind of work. A process takes it when it is free or lapsed, and renews it at half its
length while it works; once its holder dies, another process takes it over when it
lapses.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from graph.core.timestamps import now


def process_holder() -> str:
    """A name for this process that no other process has (host, pid, random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    """This process's leases of one kind, on partners."""

    def __init__(
        self,
        collection: Callable[[], AsyncCollection[dict[str, Any]]],
        holder: str,
        seconds: float,
    ) -> None:
        # A function: collections exist only once the database is set up.
        self.collection = collection
        self.holder = holder
        self.seconds = seconds
        self._held_until: dict[ObjectId, datetime] = {}

    async def hold(self, partner: ObjectId) -> bool:
        """Take or renew the partner's lease; True while this process holds it."""
        moment = now()
        held = self._held_until.get(partner)
        if held is not None and (held - moment).total_seconds() > self.seconds / 2:
            return True
        until = moment + timedelta(seconds=self.seconds)
        try:
            await self.collection().find_one_and_update(
                {"_id": partner, "$or": [{"until": {"$lt": moment}}, {"holder": self.holder}]},
                {"$set": {"holder": self.holder, "until": until}},
                upsert=True,
            )
        except DuplicateKeyError:
            self._held_until.pop(partner, None)
            return False
        self._held_until[partner] = until
        return True
