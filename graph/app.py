"""The ASGI application: GraphQL over HTTP and WebSocket at /graphql, plus GraphiQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from graph.connectors.models import connectors_collection
from graph.core.context import Context
from graph.core.limits import BodySizeLimit
from graph.database import connect
from graph.graphiql import ASSETS_DIR, ASSETS_URL_PATH, graphiql_page
from graph.live.hub import StatusHub
from graph.schema import build_schema
from graph.seed import seed_demo
from graph.settings import Settings


class ChargeGraphView(GraphQL[Context, None]):
    """Strawberry's ASGI view with the project's context and a locally served GraphiQL."""

    def __init__(self, hub: StatusHub, settings: Settings) -> None:
        # Legacy graphql-ws clients get "ka" messages; graphql-transport-ws
        # connections are kept alive by WebSocket pings (uvicorn, every 20 s).
        super().__init__(
            build_schema(production=settings.production, introspection=settings.introspection),
            keep_alive=True,
            keep_alive_interval=15,
            graphql_ide="graphiql" if settings.graphiql else None,
        )
        self.hub = hub

    async def get_context(self, request: Request | WebSocket, response: Response | None) -> Context:  # type: ignore[override]
        return Context(request=request, response=response, hub=self.hub)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_page())


def create_app(settings: Settings, **client_options: Any) -> Starlette:
    """The application; the database and the status hub live as long as its lifespan.

    `client_options` go to the MongoDB client (e.g. command listeners).
    """
    hub = StatusHub(connectors_collection, settings.subscriber_queue_size)
    view = ChargeGraphView(hub, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = await connect(settings, **client_options)
        try:
            if settings.demo:
                await seed_demo()
            await hub.start()
            try:
                yield
            finally:
                await hub.stop()
        finally:
            await database.close()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "subscribers": hub.subscriber_count, **hub.stats})

    return Starlette(
        routes=[
            Route("/graphql", view),
            WebSocketRoute("/graphql", view),
            Mount(ASSETS_URL_PATH, StaticFiles(directory=ASSETS_DIR), name="graphiql-assets"),
            Route("/healthz", health),
        ],
        middleware=[Middleware(BodySizeLimit)],
        lifespan=lifespan,
    )
