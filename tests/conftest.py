"""Shared fixtures: one embedded database server per session, real ChargeGraph servers.

Each test module gets its own ChargeGraph process on its own database, so
modules never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from graph.embedded import EmbeddedDatabase
from tests.support.server import Server, module_server


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SecantusDB server shared by the whole session."""
    embedded = EmbeddedDatabase(tmp_path_factory.mktemp("mongo"))
    yield embedded.start()
    embedded.stop()


@pytest.fixture(scope="module")
def db_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def server(
    mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A ChargeGraph server on the shared database server, with a database of its own."""
    with module_server(mongo_uri, db_name, tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def db(mongo_uri: str, db_name: str) -> Iterator[Database[dict[str, Any]]]:
    """Direct access to the module's database, to check what is stored."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    yield client[db_name]
    client.close()
