"""API key mutations: thin resolvers over `graph.access.service`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph.access import service
from graph.access.types import AppKey, CreatedApiKey, CreatedAppKey
from graph.core.context import Info
from graph.core.ids import parse_id


@strawberry.type
class AccessQueries:
    @strawberry.field(description="Every app key that is not revoked, oldest first (admins only).")
    async def app_keys(self, info: Info) -> list[AppKey]:
        return await service.app_keys(info.context.viewer)


@strawberry.type
class AccessMutations:
    @strawberry.mutation(
        description=(
            "Issue an API key for an organization (admins: any organization; an organization's "
            "key: its own). The key is in the answer and never shown again."
        )
    )
    async def create_api_key(
        self,
        info: Info,
        organization_id: Annotated[
            strawberry.ID, strawberry.argument(description="The organization the key acts for.")
        ],
        name: Annotated[
            str,
            strawberry.argument(description="What the key is for (1 to 200 characters)."),
        ],
    ) -> CreatedApiKey:
        return await service.create(
            info.context.viewer, parse_id(organization_id, "organizationId"), name
        )

    @strawberry.mutation(
        description=(
            "Revoke an API key: requests with it fail from now on and its open subscriptions end. "
            "Returns the key's id."
        )
    )
    async def revoke_api_key(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The key's id.")],
    ) -> strawberry.ID:
        key_id = await service.revoke(info.context.viewer, parse_id(id, "id"))
        return strawberry.ID(str(key_id))

    @strawberry.mutation(
        description=(
            "Issue a read-only key for a client application (admins only), with its own search "
            "allowance. The key is in the answer and never shown again."
        )
    )
    async def create_app_key(
        self,
        info: Info,
        name: Annotated[
            str,
            strawberry.argument(description="The application's name (1 to 200 characters)."),
        ],
        searches_per_minute: Annotated[
            int,
            strawberry.argument(
                description="Searches and new subscriptions per minute for the whole application."
            ),
        ],
    ) -> CreatedAppKey:
        return await service.create_app_key(info.context.viewer, name, searches_per_minute)

    @strawberry.mutation(
        description="Revoke an app key (admins only): requests with it fail from now on. Returns its id."
    )
    async def revoke_app_key(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The app key's id.")],
    ) -> strawberry.ID:
        key_id = await service.revoke_app_key(info.context.viewer, parse_id(id, "id"))
        return strawberry.ID(str(key_id))
