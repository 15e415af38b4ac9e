"""The naive peer: what a newcomer writes first, Beanie's `Near` behind a plain resolver.

It answers the nearby question (without totalCount, which `$near` cannot
count) so the speed-up of ChargeGraph's grid-cell strategy is on record.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import strawberry
from beanie import init_beanie
from beanie.operators import Near
from pymongo import AsyncMongoClient
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL

from graph.connectors.models import ConnectorDocument
from graph.core.geo import haversine_m


@strawberry.type
class NaiveConnector:
    id: str
    endpoint: str
    status: str
    type: str
    power: float


@strawberry.type
class NaiveEdge:
    distance_meters: float
    node: NaiveConnector


@strawberry.type
class NaiveConnection:
    edges: list[NaiveEdge]


@strawberry.type
class Query:
    @strawberry.field
    async def nearby_connectors(
        self, latitude: float, longitude: float, radius_meters: float = 5000, first: int = 20
    ) -> NaiveConnection:
        found = (
            await ConnectorDocument.find(
                Near(ConnectorDocument.location, longitude, latitude, max_distance=radius_meters),
                ConnectorDocument.active == True,  # noqa: E712 (a query expression)
            )
            .limit(first)
            .to_list()
        )
        edges = []
        for doc in found:
            assert doc.location is not None
            lng, lat = doc.location.coordinates
            edges.append(
                NaiveEdge(
                    distance_meters=haversine_m(latitude, longitude, lat, lng),
                    node=NaiveConnector(
                        id=str(doc.id),
                        endpoint=doc.endpoint,
                        status=doc.status.name,
                        type=doc.type.name,
                        power=doc.power,
                    ),
                )
            )
        return NaiveConnection(edges=edges)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(os.environ["MONGODB_URI"])
    await init_beanie(
        database=client[os.environ.get("CHARGEGRAPH_DB", "chargegraph")],
        document_models=[ConnectorDocument],
    )
    yield
    await client.close()


app = Starlette(
    routes=[Route("/graphql", GraphQL(strawberry.Schema(query=Query)))], lifespan=lifespan
)
