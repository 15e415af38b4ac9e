"""The ASGI application: GraphQL over HTTP and WebSocket at /graphql, plus GraphiQL."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError
from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.types.unset import UNSET, UnsetType

from graph.access.service import Authenticator
from graph.compat.cross_web import HTTPException, starlette_request
from graph.compat.strawberry import graphql_schema
from graph.connectors.clusters import MAX_VIEWPORT_PX
from graph.connectors.enums import ConnectorType
from graph.core.context import Context, Services
from graph.core.encoding import encode_json
from graph.core.error_policy import RETRY_AFTER_SECONDS, UNAVAILABLE, database_unavailable
from graph.core.errors import ClientError, RateLimited
from graph.core.limits import BodySizeLimit, is_valid_operation
from graph.core.long_reads import LongReads
from graph.core.observability import DatabaseErrors, Metrics, RequestIds
from graph.core.persisted import PersistedQueries, PersistedQueryNotFound
from graph.core.rate_limit import RateLimiter
from graph.core.settings import Settings
from graph.core.tasks import cancel_and_wait
from graph.core.viewer import Role
from graph.database import Database, connect
from graph.domains import DOMAINS
from graph.graphiql import ASSETS_DIR, ASSETS_URL_PATH, graphiql_page
from graph.map import MAP_ASSETS_DIR, MAP_ASSETS_URL_PATH, MAP_PATH, map_page
from graph.schema import build_schema
from graph.seed import seed_demo


class ChargeGraphView(GraphQL[Context, None]):
    """Strawberry's ASGI view with the project's callers, context and a local GraphiQL."""

    def __init__(self, services: Services, settings: Settings) -> None:
        # Legacy graphql-ws clients get "ka" messages; graphql-transport-ws
        # connections are kept alive by WebSocket pings (uvicorn, every 20 s).
        schema = build_schema(settings)
        super().__init__(
            schema,
            keep_alive=True,
            keep_alive_interval=15,
            graphql_ide="graphiql" if settings.graphiql else None,
            # Cross-origin WebSockets from browsers: the same origins as CORS
            # (Strawberry answers others with 403 at the handshake).
            allowed_origins=settings.cors_origins,
        )
        self.services = services
        self.metrics = services.get(Metrics)
        self.authenticator = services.get(Authenticator)
        self.limiter = RateLimiter(
            settings.writes_per_minute,
            settings.searches_per_minute,
            settings.websockets_per_address,
            settings.subscriptions_per_caller,
        )
        self.shared_encodings = SharedEncodings()
        self.persisted = PersistedQueries()
        self.graphql_core_schema = graphql_schema(schema)
        self.origins = Origins(settings.cors_origins)
        self.cache_max_age = settings.cache_max_age_seconds

    async def run(  # type: ignore[override]
        self,
        request: Request | WebSocket,
        context: Context | UnsetType = UNSET,
        root_value: UnsetType | None = UNSET,
    ) -> Response | WebSocket:
        """Authenticate HTTP requests first; answer HTTP-level refusals as GraphQL errors."""
        if isinstance(request, WebSocket):
            # A WebSocket authenticates with its connection_init payload, so it
            # is counted by address; over the cap, the handshake is refused.
            sockets = self.limiter.websockets
            address = _address(request)
            if sockets.held(address) >= sockets.limit:
                self.metrics.refusals.labels("RATE_LIMITED").inc()
                await request.close(code=1013, reason="too many WebSocket connections")
                return request
            with sockets.hold(address):
                return await super().run(request, context, root_value)  # type: ignore[arg-type]
        address = _address(request)
        try:
            request.state.viewer = await self.authenticator.authenticate(
                request.headers.get("authorization"), address
            )
        except RateLimited as refused:
            return self._refuse(
                refused.message, refused.code, 429, {"Retry-After": str(refused.retry_after)}
            )
        except ClientError as refused:
            return self._refuse(refused.message, refused.code, 401, {"WWW-Authenticate": "Bearer"})
        except PyMongoError as failure:
            if not database_unavailable(failure):
                raise
            return self._refuse(
                f"the database is unavailable; retry after {RETRY_AFTER_SECONDS} seconds",
                UNAVAILABLE,
                503,
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        try:
            response = await super().run(request, context, root_value)  # type: ignore[arg-type]
        except HTTPException as refused:
            code = "NOT_FOUND" if refused.status_code == 404 else "BAD_USER_INPUT"
            return self._refuse(refused.reason, code, refused.status_code)
        except RateLimited as refused:
            return self._refuse(
                refused.message, refused.code, 429, {"Retry-After": str(refused.retry_after)}
            )
        except PersistedQueryNotFound as unknown:
            # Apollo's clients resend the query text on this answer.
            return self._refuse(unknown.message, unknown.code, 200)
        except ClientError as refused:
            return self._refuse(refused.message, refused.code, 400, extensions=refused.extensions)
        if request.method == "GET" and response.media_type == "application/json":
            response.headers["Cache-Control"] = (
                f"public, max-age={self.cache_max_age}"
                if request.state.viewer.role is Role.ANONYMOUS and response.status_code == 200
                else "private, no-store"
            )
            # A keyed request must never be answered from an anonymous one's cache.
            response.headers["Vary"] = "Authorization"
        return response

    def should_render_graphql_ide(self, request: Any) -> bool:
        """GraphiQL for a browser's plain GET; a persisted-query GET is a query."""
        return request.query_params.get("extensions") is None and super().should_render_graphql_ide(
            request
        )

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        """The request as Strawberry reads it, with persisted queries resolved."""
        data = await super().parse_http_body(request)
        if isinstance(data, list):
            return data
        query = self.persisted.resolve(
            data.query,
            data.extensions,
            register=lambda text: self._register(starlette_request(request), text),
        )
        return dataclasses.replace(data, query=query)

    def _register(self, request: Request, text: str) -> bool:
        """Remember a new persisted query only if it is a valid operation, for one write."""
        if not is_valid_operation(self.graphql_core_schema, text):
            return False
        self.limiter.charge(request.state.viewer, _address(request), writes=1, searches=0)
        return True

    def _refuse(
        self,
        message: str,
        code: str,
        status: int,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> JSONResponse:
        """An HTTP-level refusal, answered as a GraphQL error body."""
        self.metrics.refusals.labels(code).inc()
        return JSONResponse(
            {"errors": [{"message": message, "extensions": {**(extensions or {}), "code": code}}]},
            status_code=status,
            headers=headers,
        )

    async def get_context(self, request: Request | WebSocket, response: Response | None) -> Context:  # type: ignore[override]
        context = Context(
            request=request, response=response, services=self.services, limiter=self.limiter
        )
        if isinstance(request, Request):
            context.viewer = request.state.viewer
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a WebSocket from `{"authorization": "Bearer <key>"}` in connection_init."""
        params = context.connection_params or {}
        credential = params.get("authorization", params.get("Authorization"))
        request = context.request
        if (
            credential
            and isinstance(request, WebSocket)
            and not self.origins.allows_keys(request.headers.get("origin"), request.url)
        ):
            raise ConnectionRejectionError(
                {
                    "message": "API keys are accepted only from the origins the server lists",
                    "extensions": {"code": "FORBIDDEN"},
                }
            )
        try:
            context.viewer = await self.authenticator.authenticate(
                credential, context.client_address
            )
        except ClientError as refused:
            # graphql-transport-ws closes with 4403; graphql-ws sends connection_error.
            raise ConnectionRejectionError(
                {"message": refused.message, "extensions": refused.extensions}
            ) from None
        return UNSET

    def decode_json(self, data: str | bytes) -> object:
        """Parse a request body or WebSocket message; what is not a JSON object or list is refused."""
        try:
            value = json.loads(data)
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", "", 0) from None
        except UnicodeDecodeError:
            raise json.JSONDecodeError("not UTF-8", "", 0) from None
        if not isinstance(value, dict | list):
            raise json.JSONDecodeError("expected a JSON object", "", 0)
        return value

    def encode_json(self, data: object) -> str:
        """JSON text; a subscription event's data is encoded once for all its subscribers."""
        if isinstance(data, dict) and data.get("type") == "next":
            payload = data["payload"]
            if len(payload) == 1 and isinstance(payload.get("data"), dict):
                encoded = self.shared_encodings.encode(payload["data"])
                return f'{{"id":{json.dumps(data["id"])},"type":"next","payload":{{"data":{encoded}}}}}'
        return encode_json(data)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_page())


class Origins:
    """Which browser origins may call the API (CHARGEGRAPH_CORS_ORIGINS).

    Requests without an Origin (apps, servers, tools) and from the server's own
    origin (GraphiQL) are always allowed. "*" lets any origin read
    anonymously, never with a key.
    """

    def __init__(self, origins: tuple[str, ...]) -> None:
        self.anyone = "*" in origins
        self.listed = frozenset(origin for origin in origins if origin != "*")

    def allows_keys(self, origin: str | None, url: URL) -> bool:
        if origin is None:
            return True
        origin = origin.lower()
        own = f"{'https' if url.scheme in ('https', 'wss') else 'http'}://{url.netloc}".lower()
        return origin == own or origin in self.listed

    def middleware(self) -> list[Middleware]:
        """Starlette's CORS middleware for these origins (none listed: none)."""
        if not (self.anyone or self.listed):
            return []
        headers = ["Content-Type", "X-Request-ID"]
        return [
            Middleware(
                CORSMiddleware,
                allow_origins=["*"] if self.anyone else sorted(self.listed),
                allow_methods=["GET", "POST"],
                # A key may be sent only from listed origins.
                allow_headers=headers if self.anyone else [*headers, "Authorization"],
                expose_headers=["X-Request-ID", "Retry-After"],
                max_age=600,
            )
        ]


class SharedEncodings:
    """The JSON text of recent result objects, by identity.

    Subscribers asking the same question receive the very same result object
    (see graph.core.execution), so its text is made once. Entries keep their
    object alive, so an id is never reused while it is remembered.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._texts: OrderedDict[int, tuple[object, str]] = OrderedDict()

    def encode(self, value: object) -> str:
        known = self._texts.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        text = encode_json(value)
        self._texts[id(value)] = (value, text)
        if len(self._texts) > self.size:
            self._texts.popitem(last=False)
        return text


def create_app(settings: Settings, **client_options: Any) -> Starlette:
    """The application; the database and each domain's background work live as long as its lifespan.

    `client_options` go to the MongoDB client (e.g. command listeners).
    """
    metrics = Metrics()
    services = Services()
    services.provide(metrics)
    for domain in DOMAINS:
        for make in domain.services:
            services.provide(make(settings, services))
    for domain in DOMAINS:
        if domain.metrics is not None:
            metrics.registry.register(domain.metrics(services))
    view = ChargeGraphView(services, settings)
    listeners = [*client_options.pop("event_listeners", []), DatabaseErrors(metrics)]
    connected: list[Database] = []
    # How domains read a whole collection, once the database is connected.
    long_reads = LongReads()
    services.provide(long_reads)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = await connect(settings, event_listeners=listeners, **client_options)
        connected.append(database)
        long_reads.attach(database.long_read_client, database.db.name)
        watchdog = asyncio.create_task(database.watch_embedded(), name="embedded-watchdog")
        try:
            if settings.demo:
                await seed_demo()
            async with contextlib.AsyncExitStack() as running:
                for domain in DOMAINS:
                    if domain.lifespan is not None:
                        await running.enter_async_context(domain.lifespan(services))
                yield
        finally:
            await cancel_and_wait(watchdog)
            connected.clear()
            long_reads.detach()
            await database.close()

    async def health(request: Request) -> JSONResponse:
        """The process is alive (no I/O), with its figures."""
        figures: dict[str, object] = {"status": "ok", "pid": os.getpid()}
        for domain in DOMAINS:
            if domain.health is not None:
                figures.update(domain.health(services))
        return JSONResponse(figures)

    async def ready(request: Request) -> JSONResponse:
        """Ready to serve: the database answers and every domain's background work runs."""
        checks = {"database": bool(connected) and await connected[0].reachable()}
        for domain in DOMAINS:
            if domain.readiness is not None:
                checks.update(domain.readiness(services))
        everything = all(checks.values())
        return JSONResponse(
            {"status": "ready" if everything else "not ready", "checks": checks},
            status_code=200 if everything else 503,
        )

    async def live_map(request: Request) -> HTMLResponse:
        return HTMLResponse(
            map_page([member.name for member in ConnectorType], ASSETS_URL_PATH, MAX_VIEWPORT_PX)
        )

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    domain_routes = [
        route
        for domain in DOMAINS
        if domain.routes is not None
        for route in domain.routes(services)
    ]
    return Starlette(
        routes=[
            Route("/graphql", view),
            WebSocketRoute("/graphql", view),
            Mount(ASSETS_URL_PATH, StaticFiles(directory=ASSETS_DIR), name="graphiql-assets"),
            # The live map, like GraphiQL, is for developers: off together.
            *(
                [
                    Route(MAP_PATH, live_map),
                    Mount(
                        MAP_ASSETS_URL_PATH,
                        StaticFiles(directory=MAP_ASSETS_DIR),
                        name="map-assets",
                    ),
                ]
                if settings.graphiql
                else []
            ),
            Route("/healthz", health),
            Route("/readyz", ready),
            *([Route("/metrics", prometheus)] if settings.metrics else []),
            *domain_routes,
        ],
        middleware=[
            Middleware(RequestIds, metrics=metrics),
            *view.origins.middleware(),
            # OCPI endpoints take larger bodies (a partner's Location) under their own limit,
            # CHARGEGRAPH_OCPI_MAX_BODY_BYTES, and refuse in OCPI's envelope.
            Middleware(BodySizeLimit, exempt=("/ocpi/",)),
        ],
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """The application as a worker process builds it (`chargegraph serve --workers N`)."""
    return create_app(Settings.from_env())


def _address(request: Request | WebSocket) -> str:
    return request.client.host if request.client is not None else "unknown"
