"""The GraphQL schema, composed from each domain's queries, mutations and subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graph.core.error_policy import apply_error_policy
from graph.core.execution import SharedExecution
from graph.core.limits import query_limits
from graph.core.observability import OperationLog
from graph.core.plans import Planner
from graph.core.plugin import Domain
from graph.core.rate_limit import Admission
from graph.core.settings import Settings
from graph.core.timestamps import DateTime
from graph.domains import DOMAINS


def _root(name: str, description: str, parts: list[type]) -> type | None:
    """One root type made of every domain's part (None when no domain has one)."""
    if not parts:
        return None
    return strawberry.type(type(name, tuple(parts), {}), description=description)


class ChargeGraphSchema(strawberry.Schema):
    """The schema, with the project's error policy."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        apply_error_policy(errors, execution_context)


def build_schema(
    settings: Settings | None = None, domains: tuple[Domain, ...] = DOMAINS
) -> ChargeGraphSchema:
    """The schema with its limits, and caches that make repeated queries cheap.

    `settings.production` hides field suggestions from errors;
    `settings.introspection` False refuses schema queries (GraphiQL then cannot
    show the docs).
    """
    settings = settings or Settings()
    extensions: list[Any] = [
        OperationLog,
        *query_limits(),
        *(extension for domain in domains for extension in domain.extensions),
        Admission,
        lambda: ParserCache(maxsize=1000),
    ]
    if not settings.introspection:
        extensions.insert(0, DisableIntrospection)
    query = _root(
        "Query",
        "Read the charging network: connectors, charge stations and the organizations that own them.",
        [part for domain in domains for part in domain.queries],
    )
    assert query is not None, "some domain must answer queries"
    return ChargeGraphSchema(
        query=query,
        mutation=_root(
            "Mutation",
            "Manage organizations, their charge stations and connectors, and API keys.",
            [part for domain in domains for part in domain.mutations],
        ),
        subscription=_root(
            "Subscription",
            "Follow the network live.",
            [part for domain in domains for part in domain.subscriptions],
        ),
        extensions=extensions,
        # Each schema keeps its own plans.
        execution_context_class=type(
            "Execution",
            (SharedExecution,),
            {"planner": Planner(enabled=settings.compiled_execution)},
        ),
        config=StrawberryConfig(
            scalar_map={datetime: DateTime}, disable_field_suggestions=settings.production
        ),
    )


schema = build_schema()
