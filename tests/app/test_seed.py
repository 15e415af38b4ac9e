"""`chargegraph seed`: a synthetic national network, inserted in bulk."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from collections import Counter
from typing import Any

import pytest
from beanie import init_beanie
from bson import ObjectId
from pymongo import AsyncMongoClient, MongoClient

from graph.connectors.models import ConnectorDocument, stored_values
from graph.core.geo import haversine_m
from graph.seed import BULK_FROM, CITIES, ENDPOINTS, connector_documents, fresh_endpoints
from tests.support.server import server_env


def seed(
    mongo_uri: str, *args: str, database: str = "seeded", check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "graph.cli", "seed", *args],
        env=server_env(MONGODB_URI=mongo_uri, CHARGEGRAPH_DB=database),
        capture_output=True,
        text=True,
        timeout=300,
        check=check,
    )


def test_seed_adds_a_clustered_network_with_a_progress_bar(mongo_uri: str) -> None:
    # Large enough to load without indexes and build them afterwards.
    count = BULK_FROM
    first = seed(
        mongo_uri, "--connectors", str(count), "--organizations", "7", "--largest-share", "0.3"
    )
    assert f"{count:,}/{count:,} connectors" in first.stderr
    assert "connector indexes built" in first.stderr
    assert f"added 7 organizations and {count:,} connectors" in first.stdout
    # More connectors for the same organizations, into the indexed collection.
    more = seed(mongo_uri, "--connectors", "200", "--organizations", "0")
    assert "connector indexes built" not in more.stderr

    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        db = client.seeded
        organizations = [o["_id"] for o in db.organizations.find({}, {"_id": 1}).sort("_id", 1)]
        connectors = list(
            db.connectors.find(
                {}, projection={"geo": 1, "endpoint": 1, "type": 1, "power": 1, "organization": 1}
            )
        )
        seeded_indexes = list(db.connectors.list_indexes())
        # The app declares its indexes at every start: they must be found as declared.
        db.connectors.create_indexes(ConnectorDocument.Settings.indexes)
        declared = client[f"declared_{uuid.uuid4().hex[:8]}"]
        declared.connectors.create_indexes(ConnectorDocument.Settings.indexes)
        declared_indexes = list(declared.connectors.list_indexes())
        client.drop_database(declared.name)
    finally:
        client.close()
    assert seeded_indexes == declared_indexes
    assert len(organizations) == 7
    assert len(connectors) == count + 200
    assert len({c["endpoint"] for c in connectors}) == count + 200
    assert {c["type"] for c in connectors} >= {"Type2", "CCS2", "G105", "Tesla"}
    near_a_city = [
        c
        for c in connectors
        if min(haversine_m(c["geo"]["lat"], c["geo"]["lng"], lat, lng) for _, _, lat, lng in CITIES)
        < 15_000
    ]
    # Mostly in cities, with a rural scatter between them.
    assert 0.75 < len(near_a_city) / len(connectors) < 0.97
    sizes = Counter(c["organization"] for c in connectors)
    assert set(sizes) == set(organizations)
    assert 0.27 < sizes[organizations[0]] / len(connectors) < 0.33
    # The others split the rest evenly (about 1,170 each).
    assert all(1000 < sizes[o] < 1350 for o in organizations[1:])


def test_connectors_without_organizations_are_refused(mongo_uri: str) -> None:
    empty = f"seed_empty_{uuid.uuid4().hex[:8]}"
    result = seed(
        mongo_uri, "--connectors", "10", "--organizations", "0", database=empty, check=False
    )
    assert result.returncode == 2
    assert "chargegraph: there are no organizations to add connectors to" in result.stderr


async def test_generated_connectors_are_stored_as_the_model_stores_them(mongo_uri: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        await init_beanie(
            database=client[f"seed_model_{uuid.uuid4().hex[:8]}"],
            document_models=[ConnectorDocument],
            skip_indexes=True,
        )
        organizations = [ObjectId() for _ in range(3)]
        for document in connector_documents(random.Random(3), organizations, 300, CITIES):
            model = ConnectorDocument.model_validate(document)
            stored = stored_values(model.model_dump(exclude={"id"}))
            assert list(stored.items()) == list(document.items())
    finally:
        await client.close()


def test_the_same_seed_generates_the_same_connectors() -> None:
    organizations = [ObjectId() for _ in range(5)]

    def generated() -> list[dict[str, Any]]:
        documents = connector_documents(random.Random(11), organizations, 500, CITIES)
        return [
            {k: v for k, v in d.items() if k not in ("createdAt", "updatedAt")} for d in documents
        ]

    assert generated() == generated()


def test_endpoints_stay_distinct_until_none_are_left() -> None:
    rng = random.Random(5)
    taken = set(fresh_endpoints(rng, ENDPOINTS - 50, set()))
    assert len(taken) == ENDPOINTS - 50
    last = fresh_endpoints(rng, 50, taken)
    assert len(set(last)) == 50 and not taken.intersection(last)
    assert all(len(e) == 4 and e.isalnum() and e == e.lower() for e in last)
    with pytest.raises(ValueError, match="51 new endpoints asked for, 50 left"):
        fresh_endpoints(rng, 51, taken)
