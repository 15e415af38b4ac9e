"""The MongoDB connection: the configured server, or the embedded one."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from beanie import init_beanie
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from graph.core.settings import Settings
from graph.domains import DOMAINS
from graph.embedded import EmbeddedDatabase

log = logging.getLogger(__name__)

# How long a readiness check waits for the database.
PING_SECONDS = 2.0


# An unreachable database is noticed within this many seconds (server selection).
SELECTION_SECONDS = 3.0
# How long to wait for a connection to open.
CONNECT_SECONDS = 2.0
# A long read (graph.core.long_reads) may wait this long for the database.
LONG_READ_SECONDS = 900.0
# How often the embedded database's process is checked, and how long a restart may take.
WATCHDOG_SECONDS = 1.0
RESTART_SECONDS = 30.0


def make_client(
    uri: str, answer_seconds: float = 5.0, **options: Any
) -> AsyncMongoClient[dict[str, Any]]:
    """A client whose acknowledged writes are journaled, so they survive a crash.

    `tz_aware` makes stored instants come back as UTC-aware datetimes. The
    timeouts turn an unreachable or hung database into a fast error
    (SERVICE_UNAVAILABLE for the client) instead of a request that hangs:
    no server within SELECTION_SECONDS, and each operation as a whole, its
    retries included (`timeoutMS`, MongoDB's client-side operation timeout),
    within `answer_seconds`.
    """
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        journal=True,
        serverSelectionTimeoutMS=int(SELECTION_SECONDS * 1000),
        connectTimeoutMS=int(CONNECT_SECONDS * 1000),
        timeoutMS=int(answer_seconds * 1000),
        **options,
    )


@dataclass
class Database:
    """An open connection, plus the embedded server when this process owns one."""

    client: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    uri: str
    embedded: EmbeddedDatabase | None = field(default=None)

    def long_read_client(self) -> AsyncMongoClient[dict[str, Any]]:
        """A client for one long read: patient, and without retries that would start it twice."""
        return AsyncMongoClient(
            self.uri,
            tz_aware=True,
            serverSelectionTimeoutMS=int(LONG_READ_SECONDS * 1000),
            connectTimeoutMS=int(LONG_READ_SECONDS * 1000),
            timeoutMS=int(LONG_READ_SECONDS * 1000),
            retryReads=False,
        )

    async def reachable(self) -> bool:
        """Does the database answer a ping within PING_SECONDS (and run, if embedded)?"""
        if self.embedded is not None and not self.embedded.running():
            return False
        try:
            async with asyncio.timeout(PING_SECONDS):
                await self.client.admin.command("ping")
        except (TimeoutError, PyMongoError):
            return False
        return True

    async def watch_embedded(self) -> None:
        """Restart the embedded database on its own data if its process dies (runs until cancelled).

        It comes back on the same port, so the client reconnects by itself;
        meanwhile requests answer SERVICE_UNAVAILABLE and /readyz says not ready.
        """
        embedded = self.embedded
        if embedded is None:
            return
        while True:
            await asyncio.sleep(WATCHDOG_SECONDS)
            if embedded.running():
                continue
            log.error("the embedded database stopped; restarting it on its data")
            # Launched from the loop's thread (the child lives as long as its
            # starting thread); waited for in another, so requests keep being
            # answered (SERVICE_UNAVAILABLE) meanwhile.
            embedded.launch()
            deadline = time.monotonic() + RESTART_SECONDS
            if not await asyncio.to_thread(embedded.wait_until_ready, deadline):
                log.error("the embedded database did not restart; trying again")
                embedded.stop()

    async def close(self) -> None:
        await self.client.close()
        if self.embedded is not None:
            self.embedded.stop()


async def connect(settings: Settings, **client_options: Any) -> Database:
    """Connect (starting the embedded server if no URI is set) and prepare collections."""
    embedded = None
    uri = settings.mongodb_uri
    if not uri:
        embedded = EmbeddedDatabase(settings.data_dir)
        uri = embedded.start()
    if embedded is not None:
        # The embedded server's bookkeeping for retryable writes grows with every
        # write (about 6 ms a write after 12,000 writes, 0.7 ms without it, seen
        # with py-spy under the OCPP benchmark); a single local server has no
        # failover for retries to ride out, so they are switched off there.
        client_options = {"retryWrites": False, **client_options}
    client = make_client(uri, settings.db_timeout_seconds, **client_options)
    db = client[settings.database_name]
    documents = [document for domain in DOMAINS for document in domain.documents]
    await init_beanie(database=db, document_models=documents)
    return Database(client=client, db=db, uri=uri, embedded=embedded)
