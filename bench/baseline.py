"""The raw baseline: the same database questions as ChargeGraph, straight through pymongo.

Plain Starlette endpoints answer with the same JSON a GraphQL client gets, so
the throughput ratio ChargeGraph ÷ baseline is the cost of the GraphQL and ODM
layers alone. Geometry helpers are shared: they build queries, not responses.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from graph.connectors.search import MAX_RING
from graph.core.geo import box_around, box_condition, haversine_m, ring_cells
from graph.core.timestamps import format_datetime

client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
    os.environ["MONGODB_URI"], tz_aware=True
)
db = client[os.environ.get("CHARGEGRAPH_DB", "chargegraph")]

STATUS = {
    "Available": "AVAILABLE",
    "Preparing": "PREPARING",
    "Charging": "CHARGING",
    "SuspendedEVSE": "SUSPENDED_EVSE",
    "SuspendedEV": "SUSPENDED_EV",
    "Finishing": "FINISHING",
    "Reserved": "RESERVED",
    "Unavailable": "UNAVAILABLE",
    "Faulted": "FAULTED",
}
TYPE = {
    "CCS1": "CCS1",
    "CCS2": "CCS2",
    "G105": "G105",
    "Tesla": "TESLA",
    "J1772": "J1772",
    "Type2": "TYPE2",
}


def node(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(doc["_id"]),
        "endpoint": doc["endpoint"],
        "status": STATUS[doc["status"]],
        "type": TYPE[doc["type"]],
        "power": doc["power"],
    }


async def _hits(lat: float, lng: float, radius: float, condition: dict[str, Any]) -> list[Any]:
    hits = []
    async for row in db.connectors.find(condition, projection={"geo.lat": 1, "geo.lng": 1}):
        distance = haversine_m(lat, lng, row["geo"]["lat"], row["geo"]["lng"])
        if distance <= radius:
            hits.append((distance, row["_id"]))
    return hits


async def nearby(request: Request) -> JSONResponse:
    """The same reads as ChargeGraph: rings of cells outwards, then the page's documents."""
    body = await request.json()
    lat, lng, radius, first = (
        body["latitude"],
        body["longitude"],
        body["radiusMeters"],
        body["first"],
    )
    found: list[Any] = []
    inner, outer = 0, 1
    chosen: list[Any] = []
    while True:
        if outer > MAX_RING:
            box = {"active": True, **box_condition(box_around(lat, lng, radius))}
            chosen = sorted(await _hits(lat, lng, radius, box))[:first]
            break
        ring = ring_cells(lat, lng, inner, outer)
        found += await _hits(lat, lng, radius, {"active": True, "geo.ring": {"$in": ring.cells}})
        settled = sorted(hit for hit in found if hit[0] <= ring.safe_m)
        if ring.safe_m >= radius:
            chosen = sorted(found)[:first]
            break
        if len(settled) >= first + 1:
            chosen = settled[:first]
            break
        inner, outer = outer + 1, outer * 2 + 1
    docs = {
        row["_id"]: row
        async for row in db.connectors.find({"_id": {"$in": [i for _, i in chosen]}})
    }
    result: dict[str, Any] = {
        "edges": [{"distanceMeters": d, "node": node(docs[i])} for d, i in chosen]
    }
    if body.get("total"):
        condition = {"active": True, **box_condition(box_around(lat, lng, radius))}
        result = {"totalCount": len(await _hits(lat, lng, radius, condition)), **result}
    return JSONResponse({"data": {"nearbyConnectors": result}})


async def connector(request: Request) -> JSONResponse:
    doc = await db.connectors.find_one({"_id": ObjectId(request.path_params["id"])})
    assert doc is not None
    return JSONResponse(
        {"data": {"connector": {**node(doc), "updatedAt": format_datetime(doc["updatedAt"])}}}
    )


async def page(request: Request) -> JSONResponse:
    # Anonymous callers see active connectors only.
    rows = await db.connectors.find({"active": True}, sort=[("_id", 1)], limit=100).to_list()
    organizations = {
        row["_id"]: row["name"]
        async for row in db.organizations.find(
            {"_id": {"$in": list({r["organization"] for r in rows})}}
        )
    }
    edges = [
        {
            "node": {
                "endpoint": row["endpoint"],
                "status": STATUS[row["status"]],
                "organization": {"name": organizations[row["organization"]]},
            }
        }
        for row in rows
    ]
    return JSONResponse({"data": {"connectors": {"edges": edges}}})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await client.close()


app = Starlette(
    routes=[
        Route("/nearby", nearby, methods=["POST"]),
        Route("/connector/{id}", connector),
        Route("/page", page),
    ],
    lifespan=lifespan,
)
