"""What a domain contributes to the application, declared in one object.

Each domain package has a `plugin` module exposing `DOMAIN`; `graph.domains`
lists them, and the schema, the database and the ASGI application are built
from that list. Adding a domain is one line there.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from beanie import Document
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute

from graph.core.context import Services
from graph.core.settings import Settings

Lifespan = Callable[[Services], AbstractAsyncContextManager[None]]
"""Runs while the application serves: starts the domain's background work, stops it after."""

ServiceFactory = Callable[[Settings, Services], object]
"""Makes one of the domain's process-wide services; it may use services provided earlier."""


@dataclass(frozen=True)
class Domain:
    """One domain's contribution: schema fragments, documents, services, routes, background work."""

    name: str
    queries: tuple[type, ...] = ()
    mutations: tuple[type, ...] = ()
    subscriptions: tuple[type, ...] = ()
    documents: tuple[type[Document], ...] = ()
    # Process-wide objects, provided to `Services` in domain order when the app is built.
    services: tuple[ServiceFactory, ...] = ()
    # Routes beside /graphql, made once the services exist.
    routes: Callable[[Services], list[BaseRoute]] | None = None
    lifespan: Lifespan | None = None
    # Figures merged into the /healthz answer.
    health: Callable[[Services], dict[str, object]] | None = None
    # Checks merged into the /readyz answer (name -> ready?).
    readiness: Callable[[Services], dict[str, bool]] | None = None
    # Prometheus collectors of the domain's own figures, registered per application.
    metrics: Callable[[Services], Collector] | None = None
    # Extra schema extensions (classes or zero-argument factories).
    extensions: tuple[Any, ...] = ()
