"""What an operator watches: request ids, one log line per operation, Prometheus metrics.

Metrics live in a registry per application (so several applications in one
process, as in tests, do not collide) and are per process: scrape every
process. Domains add their own collectors (`Domain.metrics`).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pymongo import monitoring
from strawberry.extensions import SchemaExtension

from graph.core.limits import ASGIApp, Message, Receive, Scope, Send
from graph.core.logs import request_id

log = logging.getLogger("graph.operations")

# A client's X-Request-ID is kept when it is short printable ASCII.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}", re.ASCII)
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}", re.ASCII)
_NAMESPACE_NOT_FOUND = 26
# Distinct operation names kept as metric labels; later ones are counted as "other".
MAX_OPERATION_NAMES = 200


class Metrics:
    """The application's own metrics (domains add collectors to `registry`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.operations = Counter(
            "chargegraph_graphql_operations",
            "GraphQL operations by type, operation name and outcome (ok or the first error code).",
            ["type", "name", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "chargegraph_graphql_operation_duration_seconds",
            "Time to answer a query or mutation (subscriptions: to start).",
            ["type"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.websockets = Gauge(
            "chargegraph_websockets_open",
            "Open WebSocket connections, by path (graphql, ocpp).",
            ["path"],
            registry=self.registry,
        )
        self.database_errors = Counter(
            "chargegraph_database_errors",
            "MongoDB commands that failed, by command.",
            ["command"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "chargegraph_http_refusals",
            "HTTP requests refused before any GraphQL ran (unknown keys, too many of them, "
            "unreadable bodies), by code. Refused operations count in chargegraph_graphql_operations.",
            ["code"],
            registry=self.registry,
        )
        self.execution_paths = Counter(
            "chargegraph_graphql_execution_paths",
            "Queries and mutations by how they were executed: path compiled (a plan, "
            "graph.core.plans; reason empty) or executor (graphql-core), with the reason "
            "the operation was not compiled (disabled, mutation, introspection, ...).",
            ["path", "reason"],
            registry=self.registry,
        )
        self.app_requests = Counter(
            "chargegraph_app_requests",
            "GraphQL operations made with an app key, by application.",
            ["app"],
            registry=self.registry,
        )
        self._names: set[str] = set()

    def operation_name(self, name: str | None) -> str:
        """A bounded label for a client-chosen operation name."""
        if not name:
            return "anonymous"
        if not _OPERATION_NAME.fullmatch(name):
            return "invalid"
        if name not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES:
                return "other"
            self._names.add(name)
        return name


class DatabaseErrors(monitoring.CommandListener):
    """Counts failed MongoDB commands (pymongo command monitoring)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        return None

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        # Listing the indexes of a collection not created yet is how index setup starts.
        if getattr(event.failure, "get", lambda _: None)("code") == _NAMESPACE_NOT_FOUND:
            return
        self.metrics.database_errors.labels(event.command_name).inc()


class RequestIds:
    """ASGI middleware: a request id for every HTTP request and WebSocket, in logs and answers."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        chosen = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        token = request_id.set(chosen)
        try:
            if scope["type"] == "http":
                await self.app(scope, receive, _with_header(send, chosen))
            else:
                path = scope.get("path", "").strip("/").split("/", 1)[0] or "other"
                gauge = self.metrics.websockets.labels(path)
                gauge.inc()
                try:
                    await self.app(scope, receive, send)
                finally:
                    gauge.dec()
        finally:
            request_id.reset(token)


def _with_header(send: Send, value: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"x-request-id", value.encode())]
        await send(message)

    return sending


class OperationLog(SchemaExtension):
    """One log line and one metric sample per GraphQL operation."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        execution = self.execution_context
        context: Any = execution.context
        metrics: Metrics = context.services.get(Metrics)
        seconds = time.perf_counter() - started
        operation_type = _operation_type(execution)
        outcome = "ok"
        errors = execution.pre_execution_errors or (
            execution.result.errors if execution.result is not None else None
        )
        if errors:
            code = (errors[0].extensions or {}).get("code")
            outcome = code if isinstance(code, str) else "INTERNAL_SERVER_ERROR"
        name = metrics.operation_name(execution.operation_name)
        metrics.operations.labels(operation_type, name, outcome).inc()
        metrics.duration.labels(operation_type).observe(seconds)
        app = context.viewer.app
        if app is not None:
            metrics.app_requests.labels(app).inc()
        log.info(
            "graphql %s %s: %s in %.1f ms (%s)",
            operation_type,
            name,
            outcome,
            seconds * 1000,
            context.viewer.role.value,
            extra={
                "operation_name": name,
                "operation_type": operation_type,
                "duration_ms": round(seconds * 1000, 2),
                "outcome": outcome,
                "role": context.viewer.role.value,
                "app": app,
            },
        )


def _operation_type(execution: Any) -> str:
    try:
        return str(execution.operation_type.value)
    except (RuntimeError, AttributeError):
        # The document did not parse: there is no operation to name.
        return "unknown"
