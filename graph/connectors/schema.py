"""Connector queries and mutations: thin resolvers over `graph.connectors.service`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph.connectors import service
from graph.connectors.enums import ConnectorStatus
from graph.connectors.filters import connector_query
from graph.connectors.types import (
    Connector,
    ConnectorFilter,
    CreateConnectorInput,
    UpdateConnectorInput,
)
from graph.core.ids import parse_id
from graph.core.inputs import given_fields
from graph.core.pagination import DEFAULT_PAGE_SIZE, Connection, check_page_size

ConnectorId = Annotated[strawberry.ID, strawberry.argument(description="The connector's id.")]


@strawberry.type
class ConnectorQueries:
    @strawberry.field(description="One connector by id; null when no connector has that id.")
    async def connector(self, id: ConnectorId) -> Connector | None:
        return await service.get(parse_id(id, "id"))

    @strawberry.field(description="One connector by its endpoint, ignoring case; null when none.")
    async def connector_by_endpoint(
        self,
        endpoint: Annotated[
            str, strawberry.argument(description="Four letters or digits, any case.")
        ],
    ) -> Connector | None:
        return await service.get_by_endpoint(endpoint)

    @strawberry.field(description="All connectors matching a filter, in creation order.")
    async def connectors(
        self,
        filter: Annotated[
            ConnectorFilter | None,
            strawberry.argument(description="Narrows the list; an absent field does not filter."),
        ] = None,
        first: Annotated[
            int, strawberry.argument(description="Page size, 0 to 100.")
        ] = DEFAULT_PAGE_SIZE,
        after: Annotated[
            str | None,
            strawberry.argument(description="Continue after this cursor (a page's endCursor)."),
        ] = None,
    ) -> Connection[Connector]:
        return await service.page(connector_query(filter), check_page_size(first), after)


@strawberry.type
class ConnectorMutations:
    @strawberry.mutation(description="Create a connector for an existing organization.")
    async def create_connector(
        self,
        input: Annotated[CreateConnectorInput, strawberry.argument(description="The connector.")],
    ) -> Connector:
        return await service.create(input)

    @strawberry.mutation(
        description="Change some fields of a connector; the others stay as they are."
    )
    async def update_connector(
        self,
        id: ConnectorId,
        input: Annotated[
            UpdateConnectorInput, strawberry.argument(description="The fields to change.")
        ],
    ) -> Connector:
        return await service.update(parse_id(id, "id"), given_fields(input))

    @strawberry.mutation(
        description=(
            "Record a connector's operational status, as its charge station reports it. "
            "Subscribers of connectorStatusChanged are told when it really changes."
        )
    )
    async def set_connector_status(
        self,
        id: ConnectorId,
        status: Annotated[ConnectorStatus, strawberry.argument(description="The new status.")],
    ) -> Connector:
        return await service.set_status(parse_id(id, "id"), status)

    @strawberry.mutation(description="Delete a connector; returns its id.")
    async def delete_connector(self, id: ConnectorId) -> strawberry.ID:
        return strawberry.ID(str(await service.delete(parse_id(id, "id"))))
