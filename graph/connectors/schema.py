"""Connector queries and mutations: thin resolvers over `graph.connectors.service`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph.connectors import clusters, search, service
from graph.connectors.enums import ConnectorStatus
from graph.connectors.filters import connector_query
from graph.connectors.replica import ConnectorReplica
from graph.connectors.types import (
    BoundsInput,
    Connector,
    ConnectorClusters,
    ConnectorFilter,
    ConnectorOrder,
    CreateConnectorInput,
    FilterArgument,
    NearbyConnectorConnection,
    UpdateConnectorInput,
)
from graph.core.context import Info
from graph.core.cost import SEARCH
from graph.core.ids import parse_id
from graph.core.inputs import given_fields
from graph.core.pagination import DEFAULT_PAGE_SIZE, After, Connection, PageSize, check_page_size
from graph.core.validators import check_latitude, check_longitude, check_radius, viewport


def _replica(info: Info) -> ConnectorReplica:
    """Where a mutation's write goes besides the database, so the next query sees it."""
    return info.context.services.get(ConnectorReplica)


ConnectorId = Annotated[strawberry.ID, strawberry.argument(description="The connector's id.")]


@strawberry.type
class ConnectorQueries:
    @strawberry.field(description="One connector by id; null when no connector has that id.")
    async def connector(self, info: Info, id: ConnectorId) -> Connector | None:
        return await service.get(
            info.context.viewer, parse_id(id, "id"), ConnectorReplica.of(info.context)
        )

    @strawberry.field(description="One connector by its endpoint, ignoring case; null when none.")
    async def connector_by_endpoint(
        self,
        info: Info,
        endpoint: Annotated[
            str, strawberry.argument(description="Four letters or digits, any case.")
        ],
    ) -> Connector | None:
        return await service.get_by_endpoint(info.context.viewer, endpoint)

    @strawberry.field(
        description="All connectors matching a filter, in creation order unless `orderBy` says otherwise.",
        metadata=SEARCH,
    )
    async def connectors(
        self,
        info: Info,
        filter: FilterArgument = None,
        first: PageSize = DEFAULT_PAGE_SIZE,
        after: After = None,
        order_by: Annotated[
            ConnectorOrder,
            strawberry.argument(
                description="The list's order; a cursor continues only the order it came from."
            ),
        ] = ConnectorOrder.CREATED_AT,
    ) -> Connection[Connector]:
        return await search.listing(
            info.context.viewer,
            ConnectorReplica.of(info.context),
            connector_query(filter),
            check_page_size(first),
            after,
            order_by,
        )

    @strawberry.field(
        description=(
            "Connectors near a point, nearest first: what a driver's app asks first. "
            "Only active connectors are offered unless the caller may see inactive ones."
        ),
        metadata=SEARCH,
    )
    async def nearby_connectors(
        self,
        info: Info,
        latitude: Annotated[float, strawberry.argument(description="Degrees north, -90 to 90.")],
        longitude: Annotated[float, strawberry.argument(description="Degrees east, -180 to 180.")],
        radius_meters: Annotated[
            float, strawberry.argument(description="Search radius in metres, 0 to 100000.")
        ] = 5000.0,
        filter: Annotated[
            ConnectorFilter | None,
            strawberry.argument(description="What the car needs; an absent field does not filter."),
        ] = None,
        first: PageSize = DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> NearbyConnectorConnection:
        return await search.nearby(
            info.context.viewer,
            ConnectorReplica.of(info.context),
            check_latitude(latitude, "latitude"),
            check_longitude(longitude, "longitude"),
            check_radius(radius_meters),
            search.drivers_query(filter),
            check_page_size(first),
            after,
        )

    @strawberry.field(
        description=(
            "Connectors inside a map viewport, in creation order. A box with west > east "
            "crosses the antimeridian. Only active connectors unless the caller may see inactive ones."
        ),
        metadata=SEARCH,
    )
    async def connectors_in_bounds(
        self,
        info: Info,
        south: Annotated[float, strawberry.argument(description="Southern edge, degrees north.")],
        west: Annotated[float, strawberry.argument(description="Western edge, degrees east.")],
        north: Annotated[float, strawberry.argument(description="Northern edge, degrees north.")],
        east: Annotated[float, strawberry.argument(description="Eastern edge, degrees east.")],
        filter: FilterArgument = None,
        first: PageSize = DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> Connection[Connector]:
        return await search.listing(
            info.context.viewer,
            ConnectorReplica.of(info.context),
            search.drivers_query(filter),
            check_page_size(first),
            after,
            box=viewport(south, west, north, east),
        )

    @strawberry.field(
        description=(
            "The connectors matching a filter inside a map viewport, grouped for a map at "
            "`zoom`: nearby connectors in one cluster per cell of about 64 screen pixels "
            "(256-pixel tiles), connectors alone in their cell returned as themselves. The "
            "same data and zoom give the same clusters wherever the viewport is. Counts "
            "hold only what the caller may see, as `connectorsInBounds` does."
        ),
        metadata=SEARCH,
    )
    async def connector_clusters(
        self,
        info: Info,
        bounds: Annotated[
            BoundsInput,
            strawberry.argument(
                description=f"The viewport; at most {clusters.MAX_VIEWPORT_PX:,} pixels each way at `zoom`."
            ),
        ],
        zoom: Annotated[
            int, strawberry.argument(description="The map's zoom, 0 to 20 (256-pixel tiles).")
        ],
        filter: FilterArgument = None,
    ) -> ConnectorClusters:
        return await search.connector_clusters(
            info.context.viewer,
            ConnectorReplica.of(info.context),
            search.drivers_query(filter),
            viewport(bounds.south, bounds.west, bounds.north, bounds.east, "bounds"),
            zoom,
        )

    @strawberry.field(
        description=(
            "The connectors of a cluster that `connectorClusters` returned, in creation order. "
            "A cluster whose members changed since is refused (BAD_USER_INPUT naming `id`)."
        ),
        metadata=SEARCH,
    )
    async def cluster_connectors(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A `ConnectorCluster.id`.")],
        first: PageSize = DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> Connection[Connector]:
        return await search.cluster_connectors(
            info.context.viewer,
            ConnectorReplica.of(info.context),
            id,
            check_page_size(first),
            after,
        )


@strawberry.type
class ConnectorMutations:
    @strawberry.mutation(description="Create a connector for an existing organization.")
    async def create_connector(
        self,
        info: Info,
        input: Annotated[CreateConnectorInput, strawberry.argument(description="The connector.")],
    ) -> Connector:
        return await service.create(info.context.viewer, input, _replica(info))

    @strawberry.mutation(
        description="Change some fields of a connector; the others stay as they are."
    )
    async def update_connector(
        self,
        info: Info,
        id: ConnectorId,
        input: Annotated[
            UpdateConnectorInput, strawberry.argument(description="The fields to change.")
        ],
    ) -> Connector:
        return await service.update(
            info.context.viewer, parse_id(id, "id"), given_fields(input), _replica(info)
        )

    @strawberry.mutation(
        description=(
            "Record a connector's operational status, as its charge station reports it. "
            "Subscribers of connectorStatusChanged are told when it really changes."
        )
    )
    async def set_connector_status(
        self,
        info: Info,
        id: ConnectorId,
        status: Annotated[ConnectorStatus, strawberry.argument(description="The new status.")],
    ) -> Connector:
        return await service.set_status(
            info.context.viewer, parse_id(id, "id"), status, _replica(info)
        )

    @strawberry.mutation(description="Delete a connector; returns its id.")
    async def delete_connector(self, info: Info, id: ConnectorId) -> strawberry.ID:
        return strawberry.ID(
            str(await service.delete(info.context.viewer, parse_id(id, "id"), _replica(info)))
        )
