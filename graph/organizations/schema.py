"""Organization queries and mutations: thin resolvers over `graph.organizations.service`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph.core.context import Info
from graph.core.cost import SEARCH
from graph.core.ids import parse_id
from graph.core.inputs import given_fields
from graph.core.pagination import DEFAULT_PAGE_SIZE, After, Connection, PageSize, check_page_size
from graph.organizations import service
from graph.organizations.replica import OrganizationReplica
from graph.organizations.types import (
    CreateOrganizationInput,
    Organization,
    UpdateOrganizationInput,
)

OrganizationId = Annotated[strawberry.ID, strawberry.argument(description="The organization's id.")]


@strawberry.type
class OrganizationQueries:
    @strawberry.field(description="One organization by id; null when none has that id.")
    async def organization(self, info: Info, id: OrganizationId) -> Organization | None:
        return await service.get(parse_id(id, "id"), OrganizationReplica.of(info.context))

    @strawberry.field(description="All organizations, in creation order.", metadata=SEARCH)
    async def organizations(
        self,
        first: PageSize = DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> Connection[Organization]:
        return await service.page(check_page_size(first), after)


@strawberry.type
class OrganizationMutations:
    @strawberry.mutation(description="Create an organization (admins only).")
    async def create_organization(
        self,
        info: Info,
        input: Annotated[
            CreateOrganizationInput, strawberry.argument(description="The organization.")
        ],
    ) -> Organization:
        return await service.create(
            info.context.viewer, input, info.context.services.get(OrganizationReplica)
        )

    @strawberry.mutation(
        description=(
            "Change some fields of an organization; the others stay. Admins, or the "
            "organization's own keys."
        )
    )
    async def update_organization(
        self,
        info: Info,
        id: OrganizationId,
        input: Annotated[
            UpdateOrganizationInput, strawberry.argument(description="The fields to change.")
        ],
    ) -> Organization:
        return await service.update(
            info.context.viewer,
            parse_id(id, "id"),
            given_fields(input),
            info.context.services.get(OrganizationReplica),
        )

    @strawberry.mutation(
        description=(
            "Delete an organization that has no connectors left, revoking its API keys "
            "(admins only); returns its id."
        )
    )
    async def delete_organization(self, info: Info, id: OrganizationId) -> strawberry.ID:
        deleted = await service.delete(
            info.context.viewer, parse_id(id, "id"), info.context.services.get(OrganizationReplica)
        )
        return strawberry.ID(str(deleted))
