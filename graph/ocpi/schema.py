"""OCPI partner queries and mutations: thin resolvers over `graph.ocpi.service`."""

from __future__ import annotations

from typing import Annotated

import strawberry
from starlette.requests import Request

from graph.connectors.replica import ConnectorReplica
from graph.core.context import Info
from graph.core.ids import parse_id
from graph.ocpi import service
from graph.ocpi.routes import OcpiEndpoints
from graph.ocpi.types import (
    ConnectOcpiPartnerInput,
    CreateOcpiPartnerInput,
    OcpiPartner,
    OcpiPartnerInvitation,
)


@strawberry.type
class OcpiQueries:
    @strawberry.field(description="Every OCPI partner, oldest first (admins only).")
    async def ocpi_partners(self, info: Info) -> list[OcpiPartner]:
        return [
            OcpiPartner.from_document(row) for row in await service.partners(info.context.viewer)
        ]


@strawberry.type
class OcpiMutations:
    @strawberry.mutation(
        description=(
            "Invite a roaming partner (admins only): hand it the Token A and the versions URL; "
            "it registers with POST credentials."
        )
    )
    async def create_ocpi_partner(
        self,
        info: Info,
        input: Annotated[CreateOcpiPartnerInput, strawberry.argument(description="The partner.")],
    ) -> OcpiPartnerInvitation:
        stored, token_a = await service.create_partner(
            info.context.viewer, input.name, input.raw_token
        )
        request = info.context.request
        assert isinstance(request, Request)
        endpoints = info.context.services.get(OcpiEndpoints)
        return OcpiPartnerInvitation(
            partner=OcpiPartner.from_document(stored),
            token_a=token_a,
            versions_url=endpoints.versions_url(request),
        )

    @strawberry.mutation(
        description=(
            "Register with a roaming partner that handed out a Token A (admins only): this "
            "server reads its endpoints, sends its credentials and keeps the partner's Token C."
        )
    )
    async def connect_ocpi_partner(
        self,
        info: Info,
        input: Annotated[ConnectOcpiPartnerInput, strawberry.argument(description="The partner.")],
    ) -> OcpiPartner:
        request = info.context.request
        assert isinstance(request, Request)
        endpoints = info.context.services.get(OcpiEndpoints)
        stored = await service.connect_partner(
            info.context.viewer,
            endpoints.settings,
            input.name,
            input.versions_url,
            input.token_a,
            input.raw_token,
            lambda token: endpoints.own_credentials(request, token),
        )
        return OcpiPartner.from_document(stored)

    @strawberry.mutation(
        description=(
            "Delete an OCPI partner (admins only): its token stops working, and the Locations "
            "received from it (their stations, connectors and organizations) are removed. "
            "Returns its id."
        )
    )
    async def delete_ocpi_partner(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The partner's id.")],
    ) -> strawberry.ID:
        partner_id = await service.delete_partner(
            info.context.viewer,
            parse_id(id, "id"),
            info.context.services.get(ConnectorReplica),
        )
        return strawberry.ID(str(partner_id))
