"""Charge station queries and mutations: thin resolvers over `graph.chargestations.service`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph.chargestations import service
from graph.chargestations.commands import StationCommands
from graph.chargestations.types import (
    Chargestation,
    ChargestationFilterArgument,
    CreateChargestationInput,
    ResetType,
    StationCommand,
    UpdateChargestationInput,
)
from graph.connectors.replica import ConnectorReplica
from graph.core.context import Info
from graph.core.cost import SEARCH
from graph.core.ids import parse_id
from graph.core.inputs import given_fields
from graph.core.pagination import DEFAULT_PAGE_SIZE, After, Connection, PageSize, check_page_size

ChargestationId = Annotated[strawberry.ID, strawberry.argument(description="The station's id.")]


@strawberry.type
class ChargestationQueries:
    @strawberry.field(
        description=(
            "One charge station by id; null when none has that id (or it is inactive and the "
            "caller may not see it)."
        )
    )
    async def chargestation(self, info: Info, id: ChargestationId) -> Chargestation | None:
        return await service.get(info.context.viewer, parse_id(id, "id"))

    @strawberry.field(
        description="One charge station by its OCPP identity, ignoring case; null when none."
    )
    async def chargestation_by_endpoint(
        self,
        info: Info,
        endpoint: Annotated[
            str, strawberry.argument(description="The station's OCPP identity, any case.")
        ],
    ) -> Chargestation | None:
        return await service.get_by_endpoint(info.context.viewer, endpoint)

    @strawberry.field(
        description=(
            "Charge stations matching a filter, in creation order. Inactive ones only for "
            "admins and their organization's keys."
        ),
        metadata=SEARCH,
    )
    async def chargestations(
        self,
        info: Info,
        filter: ChargestationFilterArgument = None,
        first: PageSize = DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> Connection[Chargestation]:
        return await service.page(
            info.context.viewer, service.station_query(filter), check_page_size(first), after
        )


@strawberry.type
class ChargestationMutations:
    @strawberry.mutation(
        description="Register a charge station for an organization, so it may connect over OCPP."
    )
    async def create_chargestation(
        self,
        info: Info,
        input: Annotated[CreateChargestationInput, strawberry.argument(description="The station.")],
    ) -> Chargestation:
        return await service.create(info.context.viewer, input)

    @strawberry.mutation(
        description="Change some fields of a charge station; the others stay as they are."
    )
    async def update_chargestation(
        self,
        info: Info,
        id: ChargestationId,
        input: Annotated[
            UpdateChargestationInput, strawberry.argument(description="The fields to change.")
        ],
    ) -> Chargestation:
        return await service.update(
            info.context.viewer,
            parse_id(id, "id"),
            given_fields(input),
            info.context.services.get(ConnectorReplica),
        )

    @strawberry.mutation(
        description=(
            "Delete a charge station no connector belongs to any more (CONFLICT otherwise); "
            "returns its id."
        )
    )
    async def delete_chargestation(self, info: Info, id: ChargestationId) -> strawberry.ID:
        return strawberry.ID(str(await service.delete(info.context.viewer, parse_id(id, "id"))))


_COMMAND_WAITS = (
    "Waits for the station's answer up to CHARGEGRAPH_OCPP_COMMAND_TIMEOUT_SECONDS (then "
    "TIMEOUT); a station that is not connected answers OFFLINE at once. Admins and the "
    "station's organization's keys only."
)


@strawberry.type
class StationCommandMutations:
    @strawberry.mutation(description=f"Restart a charge station (OCPP Reset). {_COMMAND_WAITS}")
    async def reset_chargestation(
        self,
        info: Info,
        id: ChargestationId,
        type: Annotated[
            ResetType, strawberry.argument(description="SOFT: once idle; HARD: at once.")
        ] = ResetType.SOFT,
    ) -> StationCommand:
        commands = info.context.services.get(StationCommands)
        doc = await commands.reset(info.context.viewer, parse_id(id, "id"), type is ResetType.HARD)
        return StationCommand.from_document(doc)

    @strawberry.mutation(
        description=(
            "Release the cable stuck in a connector (OCPP UnlockConnector); `stationAnswer` "
            f"says Unlocked or UnlockFailed. {_COMMAND_WAITS}"
        )
    )
    async def unlock_connector(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(description="The connector's id; it must belong to a station."),
        ],
    ) -> StationCommand:
        commands = info.context.services.get(StationCommands)
        doc = await commands.unlock(info.context.viewer, parse_id(id, "id"))
        return StationCommand.from_document(doc)

    @strawberry.mutation(
        description=(
            "Ask a charge station to report the status of its connectors now (OCPP "
            "TriggerMessage StatusNotification); the reports that follow update the connectors "
            f"as usual. {_COMMAND_WAITS}"
        )
    )
    async def request_status_report(self, info: Info, id: ChargestationId) -> StationCommand:
        commands = info.context.services.get(StationCommands)
        doc = await commands.request_status_report(info.context.viewer, parse_id(id, "id"))
        return StationCommand.from_document(doc)
