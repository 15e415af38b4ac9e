"""`chargegraph seed`: a synthetic national network, inserted in bulk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from graph.core.geo import haversine_m
from graph.seed import CITIES
from tests.support.server import server_env


def test_seed_adds_a_clustered_network_with_a_progress_bar(tmp_path: Path, mongo_uri: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "graph.cli", "seed", "--connectors", "3000", "--organizations", "7"],
        env=server_env(MONGODB_URI=mongo_uri, CHARGEGRAPH_DB="seeded"),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "3,000/3,000 connectors" in result.stderr
    assert "added 7 organizations and 3,000 connectors" in result.stdout

    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        db = client.seeded
        assert db.organizations.count_documents({}) == 7
        connectors = list(
            db.connectors.find({}, projection={"geo": 1, "endpoint": 1, "type": 1, "power": 1})
        )
    finally:
        client.close()
    assert len(connectors) == 3000
    assert len({c["endpoint"] for c in connectors}) == 3000
    assert {c["type"] for c in connectors} >= {"Type2", "CCS2", "G105", "Tesla"}
    near_a_city = [
        c
        for c in connectors
        if min(haversine_m(c["geo"]["lat"], c["geo"]["lng"], lat, lng) for _, _, lat, lng in CITIES)
        < 15_000
    ]
    # Mostly in cities, with a rural scatter between them.
    assert 0.75 < len(near_a_city) / len(connectors) < 0.97
