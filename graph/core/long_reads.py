"""Reads that take long: a whole collection, read once when a process starts.

The process's own client gives up on an operation after a few seconds, and on
a server that does not answer its heartbeat within two: right for requests,
wrong for reading a million documents, where the embedded server takes tens
of seconds before the first batch and answers no heartbeat meanwhile (the
client would then interrupt the read, retry it, and the server build it
twice). Such reads use a client of their own, made for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

ClientFactory = Callable[[], AsyncMongoClient[dict[str, Any]]]


class LongReads:
    """Opens clients for long reads of the process's database, once it is connected."""

    def __init__(self) -> None:
        self._open: ClientFactory | None = None
        self._database_name = ""

    def attach(self, open_client: ClientFactory, database_name: str) -> None:
        self._open, self._database_name = open_client, database_name

    def detach(self) -> None:
        self._open = None

    def open(self) -> tuple[AsyncMongoClient[dict[str, Any]], AsyncDatabase[dict[str, Any]]]:
        """A new client (close it after use) and the process's database through it."""
        if self._open is None:
            raise RuntimeError("the database is not connected")
        client = self._open()
        return client, client[self._database_name]
