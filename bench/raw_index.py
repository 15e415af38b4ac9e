"""The raw index baseline: ChargeGraph's read questions answered from a ConnectorIndex, without GraphQL.

    MONGODB_URI=... uvicorn bench.raw_index:app

A plain Starlette app loads the working tree's `ConnectorIndex` from the
database with `IndexBuilder` (pymongo, batches), then answers as JSON, in the
shape a GraphQL client gets, the questions `python -m bench.index` asks:

- POST /nearby {latitude, longitude, radiusMeters, first, total}: a nearby page
  (total: with the count within the radius),
- POST /bounds {south, west, north, east, first}: a viewport page with its total,
- POST /list {first, statuses?, minPowerKw?}: a page of the list with its total,
- GET /counts/{organization id}: the organization's connectors per status,
- GET /connector/{id}: one connector with its organization's id and name (the
  organization read from MongoDB, as ChargeGraph's loader read it before the
  organizations replica; ChargeGraph now reads it from memory, so this ratio
  since 2026-12-05 compares a memory read with a database round trip).

Callers are anonymous, so only active connectors count, as for ChargeGraph's
anonymous callers. The throughput ratio ChargeGraph ÷ this app is then the
cost of everything ChargeGraph adds around the same index calls (HTTP layers,
GraphQL parsing, validation and execution, models). The index is read in a
thread at start: /readyz answers 503 until it is loaded, as ChargeGraph's does.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient, MongoClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from graph.connectors.enums import ConnectorStatus, ConnectorType
from graph.connectors.index import ConnectorIndex, IndexBuilder
from graph.core.geo import Box

LOAD_BATCH = 20_000  # as graph.connectors.replica reads it
# Anonymous callers see active connectors only.
VISIBLE: dict[str, Any] = {"active": True}

# Stored values -> GraphQL enum names (what the GraphQL answer carries).
STATUS = {str(member.value): member.name for member in ConnectorStatus}
TYPE = {str(member.value): member.name for member in ConnectorType}


class Loaded:
    """The index once read, and how long that took."""

    index: ConnectorIndex | None = None
    seconds = 0.0
    error: str | None = None


loaded = Loaded()


def load() -> None:
    started = time.monotonic()
    client: MongoClient[dict[str, Any]] = MongoClient(os.environ["MONGODB_URI"], tz_aware=True)
    try:
        collection = client[os.environ.get("CHARGEGRAPH_DB", "chargegraph")].connectors
        builder = IndexBuilder()
        batch: list[Mapping[str, Any]] = []
        for document in collection.find({}, batch_size=LOAD_BATCH):
            batch.append(document)
            if len(batch) == LOAD_BATCH:
                builder.add(batch)
                batch = []
        builder.add(batch)
        index = builder.finish()
        loaded.seconds = time.monotonic() - started
        loaded.index = index
    except Exception as error:  # reported by /readyz rather than lost in a thread
        loaded.error = repr(error)
        raise
    finally:
        client.close()


def index() -> ConnectorIndex:
    assert loaded.index is not None, "not ready"
    return loaded.index


def node(document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(document["_id"]),
        "endpoint": document["endpoint"],
        "status": STATUS[document["status"]],
        "type": TYPE[document["type"]],
        "power": document["power"],
    }


def graphql_like(field: str, value: Any) -> JSONResponse:
    return JSONResponse({"data": {field: value}})


async def nearby(request: Request) -> JSONResponse:
    body = await request.json()
    lat, lng, radius = body["latitude"], body["longitude"], float(body["radiusMeters"])
    page = index().nearby(VISIBLE, lat, lng, radius, body["first"], None)
    result: dict[str, Any] = {
        "edges": [{"distanceMeters": d, "node": node(doc)} for d, doc in page.hits]
    }
    if body.get("total"):
        result = {"totalCount": index().count_nearby(VISIBLE, lat, lng, radius), **result}
    return graphql_like("nearbyConnectors", result)


def listed(query: dict[str, Any], first: int, box: Box | None) -> dict[str, Any]:
    page = index().page(query, first, None, box)
    return {
        "totalCount": index().count_matching(query, box),
        "edges": [{"node": node(document)} for document in page.documents],
    }


async def bounds(request: Request) -> JSONResponse:
    body = await request.json()
    box = Box(south=body["south"], west=body["west"], north=body["north"], east=body["east"])
    return graphql_like("connectorsInBounds", listed(VISIBLE, body["first"], box))


async def listing(request: Request) -> JSONResponse:
    body = await request.json()
    query = dict(VISIBLE)
    if body.get("statuses"):
        query["status"] = {"$in": [ConnectorStatus[name].value for name in body["statuses"]]}
    if body.get("minPowerKw") is not None:
        query["power"] = {"$gte": float(body["minPowerKw"])}
    return graphql_like("connectors", listed(query, body["first"], None))


async def counts(request: Request) -> JSONResponse:
    owner = ObjectId(request.path_params["id"])
    found = index().owner_status_counts("organization", owner, VISIBLE)
    # In the enum's order, as ChargeGraph lists them.
    rows = [
        {"status": member.name, "count": found[str(member.value)]}
        for member in ConnectorStatus
        if found.get(str(member.value))
    ]
    return graphql_like("organization", {"connectorCountsByStatus": rows})


async def connector(request: Request) -> JSONResponse:
    document = index().get(ObjectId(request.path_params["id"]))
    if document is None or document.get("active") is not True:
        return graphql_like("connector", None)
    owner = await organizations.database.organizations.find_one(
        {"_id": document["organization"]}, {"name": 1}
    )
    assert owner is not None
    return graphql_like(
        "connector",
        {**node(document), "organization": {"id": str(owner["_id"]), "name": owner["name"]}},
    )


async def ready(request: Request) -> JSONResponse:
    if loaded.error is not None:
        return JSONResponse({"error": loaded.error}, status_code=500)
    return JSONResponse(
        {"ready": loaded.index is not None}, status_code=200 if loaded.index else 503
    )


async def health(request: Request) -> JSONResponse:
    current = loaded.index
    return JSONResponse(
        {
            "connectors": current.count if current else 0,
            "bytes_per_connector": round(current.bytes_per_connector(), 1) if current else None,
            "load_seconds": round(loaded.seconds, 3),
        }
    )


class Organizations:
    """The database organizations are read from, per request."""

    database: Any = None


organizations = Organizations()


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    threading.Thread(target=load, name="index-load", daemon=True).start()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        os.environ["MONGODB_URI"], tz_aware=True
    )
    organizations.database = client[os.environ.get("CHARGEGRAPH_DB", "chargegraph")]
    yield
    await client.close()


app = Starlette(
    routes=[
        Route("/nearby", nearby, methods=["POST"]),
        Route("/bounds", bounds, methods=["POST"]),
        Route("/list", listing, methods=["POST"]),
        Route("/counts/{id}", counts),
        Route("/connector/{id}", connector),
        Route("/readyz", ready),
        Route("/healthz", health),
    ],
    lifespan=lifespan,
)
