"""The MongoDB connection: the configured server, or the embedded one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from beanie import init_beanie
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from graph.core.settings import Settings
from graph.domains import DOMAINS
from graph.embedded import EmbeddedDatabase

# How long a readiness check waits for the database.
PING_SECONDS = 2.0


def make_client(uri: str, **options: Any) -> AsyncMongoClient[dict[str, Any]]:
    """A client whose acknowledged writes are journaled, so they survive a crash.

    `tz_aware` makes stored instants come back as UTC-aware datetimes.
    """
    return AsyncMongoClient(uri, tz_aware=True, journal=True, **options)


@dataclass
class Database:
    """An open connection, plus the embedded server when this process owns one."""

    client: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    embedded: EmbeddedDatabase | None = field(default=None)

    async def reachable(self) -> bool:
        """Does the database answer a ping within PING_SECONDS?"""
        try:
            async with asyncio.timeout(PING_SECONDS):
                await self.client.admin.command("ping")
        except (TimeoutError, PyMongoError):
            return False
        return True

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
    client = make_client(uri, **client_options)
    db = client[settings.database_name]
    documents = [document for domain in DOMAINS for document in domain.documents]
    await init_beanie(database=db, document_models=documents)
    return Database(client=client, db=db, embedded=embedded)
