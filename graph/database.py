"""The MongoDB connection: the configured server, or the embedded one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from beanie import init_beanie
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from graph.access.models import ApiKeyDocument
from graph.connectors.models import ConnectorDocument
from graph.embedded import EmbeddedDatabase
from graph.organizations.models import OrganizationDocument
from graph.settings import Settings

log = logging.getLogger(__name__)

DOCUMENT_MODELS = [OrganizationDocument, ConnectorDocument, ApiKeyDocument]


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
    await init_beanie(database=db, document_models=DOCUMENT_MODELS)
    await _enable_status_pre_images(db)
    return Database(client=client, db=db, embedded=embedded)


async def _enable_status_pre_images(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Let change events carry the connector as it was, for `previousStatus`.

    Needs MongoDB 6.0 or newer; on older servers events report no previous status.
    """
    collection = ConnectorDocument.get_settings().name
    try:
        await db.command("collMod", collection, changeStreamPreAndPostImages={"enabled": True})
    except OperationFailure as error:
        log.warning("change-stream pre-images unavailable (%s): previousStatus may be null", error)
