"""The GraphQL schema, composed from each domain's queries, mutations and subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graph.access.recheck import RecheckWebSocketKey
from graph.access.schema import AccessMutations
from graph.connectors.schema import ConnectorMutations, ConnectorQueries
from graph.core.error_policy import apply_error_policy
from graph.core.execution import SharedFieldCollection
from graph.core.limits import query_limits
from graph.core.rate_limit import RateLimit
from graph.core.timestamps import DateTime
from graph.live.schema import LiveSubscriptions
from graph.organizations.schema import OrganizationMutations, OrganizationQueries
from graph.settings import Settings


@strawberry.type(
    description="Read the charging network: connectors and the organizations that own them."
)
class Query(ConnectorQueries, OrganizationQueries):
    pass


@strawberry.type(description="Manage organizations and their connectors.")
class Mutation(ConnectorMutations, OrganizationMutations, AccessMutations):
    pass


@strawberry.type(description="Follow the network live.")
class Subscription(LiveSubscriptions):
    pass


class ChargeGraphSchema(strawberry.Schema):
    """The schema, with the project's error policy."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        apply_error_policy(errors, execution_context)


def build_schema(settings: Settings | None = None) -> ChargeGraphSchema:
    """The schema with its limits, and caches that make repeated queries cheap.

    `settings.production` hides field suggestions from errors;
    `settings.introspection` False refuses schema queries (GraphiQL then cannot
    show the docs).
    """
    settings = settings or Settings()
    extensions: list[Any] = [
        *query_limits(),
        RecheckWebSocketKey,
        RateLimit,
        lambda: ParserCache(maxsize=1000),
        lambda: ValidationCache(maxsize=1000),
    ]
    if not settings.introspection:
        extensions.insert(0, DisableIntrospection)
    return ChargeGraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=SharedFieldCollection,
        config=StrawberryConfig(
            scalar_map={datetime: DateTime}, disable_field_suggestions=settings.production
        ),
    )


schema = build_schema()
