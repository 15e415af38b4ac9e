"""The embedded server updates every index on every write, changed or not.

    python -m bench.secantus_indexes [--connectors 2000]

A minimal reproduction, with pymongo alone against a fresh SecantusDB: the
same status update (`status` and `updatedAt` by `_id`, in unordered bulks of
100) on collections of the same connectors holding (1) only the `_id` index,
(2) the indexes ChargeGraph declares, (3) those plus the 2dsphere index it no
longer declares, (4) the declared ones with journaled writes (`j: true`, as
ChargeGraph's client writes). On MongoDB a write touches only the indexes whose keys it
changes (here two); on the embedded server its cost grows with every index
the collection has. Prints ms per update and records the run
(bench/record.py).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import GEOSPHERE, IndexModel, MongoClient, UpdateOne
from pymongo.collection import Collection

from bench.record import begin, code_version, command_line, machine, record_run
from graph.connectors.models import ConnectorDocument
from graph.embedded import EmbeddedDatabase

ROUNDS = 4
BULK = 100


def connectors(count: int) -> list[dict[str, Any]]:
    return [
        {
            "_id": ObjectId(),
            "endpoint": f"E{number:05d}",
            "organization": ObjectId(),
            "status": "Available",
            "power": 22.0,
            "updatedAt": datetime.now(UTC),
            "chargestation": ObjectId(),
            "ocppId": 1,
            "geo": {"ring": number, "fine": number, "coarse": number, "lat": 52.0, "lng": 4.9},
            "location": {"type": "Point", "coordinates": [4.9, 52.0]},
        }
        for number in range(count)
    ]


def per_update_ms(collection: Collection[dict[str, Any]], rows: list[dict[str, Any]]) -> float:
    statuses = ("Charging", "Available")
    written = 0
    started = time.perf_counter()
    for round_number in range(ROUNDS):
        status = statuses[round_number % 2]
        for first in range(0, len(rows), BULK):
            collection.bulk_write(
                [
                    UpdateOne(
                        {"_id": row["_id"], "status": {"$ne": status}},
                        {"$set": {"status": status, "updatedAt": datetime.now(UTC)}},
                    )
                    for row in rows[first : first + BULK]
                ],
                ordered=False,
            )
            written += len(rows[first : first + BULK])
    return (time.perf_counter() - started) / written * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=2000)
    args = parser.parse_args()
    started = begin()
    declared = list(ConnectorDocument.Settings.indexes)
    two_d = IndexModel(
        [("location", GEOSPHERE)], name="location_2dsphere", **{"2dsphereIndexVersion": 3}
    )
    variants = {
        "only the _id index": ([], False),
        f"the {len(declared)} indexes ChargeGraph declares": (declared, False),
        "those and the retired 2dsphere index": ([*declared, two_d], False),
        f"the {len(declared)} declared, journaled (j: true, as ChargeGraph writes)": (
            declared,
            True,
        ),
    }
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        database = EmbeddedDatabase(directory)
        uri = database.start()
        client: MongoClient[dict[str, Any]] = MongoClient(uri, retryWrites=False)
        journaled: MongoClient[dict[str, Any]] = MongoClient(uri, retryWrites=False, journal=True)
        try:
            for number, (name, (indexes, journal)) in enumerate(variants.items()):
                collection = (journaled if journal else client).bench[f"variant{number}"]
                rows = connectors(args.connectors)
                collection.insert_many(rows)
                if indexes:
                    collection.create_indexes(indexes)
                results[name] = per_update_ms(collection, rows)
                print(f"{name}: {results[name]:.2f} ms an update", flush=True)
        finally:
            client.close()
            journaled.close()
            database.stop()
    baseline = next(iter(results.values()))
    lines = [
        f"Command: `{command_line()}`. Machine: {machine()}. Code: {code_version()}. "
        f"Load before: `{started.uptime}`. {args.connectors:,} connectors per collection, "
        f"{ROUNDS} rounds of status updates by `_id` in unordered bulks of {BULK}, "
        "pymongo straight to a fresh SecantusDB (retryable writes off).",
        "",
        "| indexes on the collection | ms per update | ÷ only `_id` |",
        "| --- | --- | --- |",
        *(f"| {name} | {ms:.2f} | {ms / baseline:.1f} |" for name, ms in results.items()),
    ]
    record_run("secantus_indexes", started, lines)


if __name__ == "__main__":
    main()
