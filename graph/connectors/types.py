"""GraphQL types of the connectors domain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from bson import ObjectId

from graph.connectors.clusters import MAX_CELLS
from graph.connectors.enums import ConnectorFormat, ConnectorStatus, ConnectorType, PowerType
from graph.core.context import Info
from graph.core.cost import at_most
from graph.core.pagination import PageInfo
from graph.core.visibility import is_active
from graph.organizations.loaders import OrganizationById
from graph.organizations.types import Organization

if TYPE_CHECKING:
    from graph.chargestations.types import Chargestation, StationCommand


EnumT = TypeVar("EnumT", bound=Enum)


def _members_of(kind: type[EnumT]) -> Callable[[Any], EnumT]:
    """`kind(value)` for a stored value, from a dict: a page builds four per connector."""
    members = {member.value: member for member in kind}

    def member(value: Any) -> EnumT:
        try:
            found = members.get(value)
        except TypeError:  # unhashable: the enum itself says what is wrong
            found = None
        return found if found is not None else kind(value)

    return member


_STATUS = _members_of(ConnectorStatus)
_TYPE = _members_of(ConnectorType)
_FORMAT = _members_of(ConnectorFormat)
_POWER_TYPE = _members_of(PowerType)


@strawberry.type(description="A position on Earth in WGS 84 degrees.")
class Coordinates:
    latitude: float = strawberry.field(description="Degrees north of the equator, -90 to 90.")
    longitude: float = strawberry.field(description="Degrees east of Greenwich, -180 to 180.")


@strawberry.type(
    description=(
        "The physical electrical port where an EV connects to a charge station. "
        "A charge station may have one or more connectors."
    )
)
class Connector:
    id: strawberry.ID = strawberry.field(
        description="The id of this connector (24 hex characters)."
    )
    active: bool = strawberry.field(
        description="Whether the operator has activated this connector; inactive ones are not offered to drivers."
    )
    status: ConnectorStatus = strawberry.field(
        description="Current operational state, set in real time by the charge station."
    )
    endpoint: str = strawberry.field(
        description="Connector endpoint: four alphanumeric characters, unique and case-insensitive (shown in lowercase)."
    )
    ocpp_id: int = strawberry.field(
        description="The OCPP connector id on its charge station, numbered from 1."
    )
    type: ConnectorType = strawberry.field(description="The connector standard.")
    format: ConnectorFormat = strawberry.field(description="Cable or socket.")
    power_type: PowerType = strawberry.field(description="Kind of power delivered.")
    power: float = strawberry.field(description="Maximum power in kilowatts.")
    max_voltage: int | None = strawberry.field(
        description="Maximum voltage in V (line to neutral for three-phase AC); null when not given."
    )
    max_amperage: int | None = strawberry.field(
        description="Maximum current in A; null when not given."
    )
    coordinates: Coordinates | None = strawberry.field(
        description=(
            "Where the connector is: its own position, or else its charge station's; null "
            "when neither is known."
        )
    )
    created_at: datetime = strawberry.field(description="When this record was created.")
    updated_at: datetime = strawberry.field(description="When this record last changed.")
    organization_id: strawberry.Private[ObjectId]
    chargestation_id: strawberry.Private[ObjectId | None]

    @strawberry.field(description="The organization that owns and operates this connector.")
    async def organization(self, info: Info) -> Organization:
        return await OrganizationById.on(info.context).load(self.organization_id)

    @strawberry.field(
        description=(
            "The charge station this connector belongs to; null when it belongs to none, or "
            "when the station is inactive and the caller may not see it."
        )
    )
    async def chargestation(
        self, info: Info
    ) -> Annotated[Chargestation, strawberry.lazy("graph.chargestations.types")] | None:
        if self.chargestation_id is None:
            return None
        # The chargestations domain depends on this one (docs/architecture.md).
        from graph.chargestations.loaders import visible_chargestation

        return await visible_chargestation(info.context, self.chargestation_id)

    @strawberry.field(
        description=(
            "The latest ChangeAvailability sent to the connector's station for it (setting "
            "`active` sends one: Inoperative for false, Operative for true; a station that was "
            "offline is told when it next connects), with the station's answer; null when "
            "none was sent, and for callers other than admins and the organization's own keys."
        )
    )
    async def availability_command(
        self, info: Info
    ) -> Annotated[StationCommand, strawberry.lazy("graph.chargestations.types")] | None:
        if self.chargestation_id is None or not info.context.viewer.manages(self.organization_id):
            return None
        from graph.chargestations.loaders import latest_availability_command

        return await latest_availability_command(
            info.context, self.chargestation_id, ObjectId(self.id)
        )

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Connector:
        """Build the GraphQL object straight from a stored document (no ODM validation)."""
        location = doc.get("location")
        coordinates = None
        if location:
            longitude, latitude = location["coordinates"]
            coordinates = Coordinates(latitude=latitude, longitude=longitude)
        return cls(
            id=strawberry.ID(str(doc["_id"])),
            active=is_active(doc.get("active")),
            status=_STATUS(doc["status"]),
            endpoint=doc["endpoint"],
            ocpp_id=doc["ocppId"],
            type=_TYPE(doc["type"]),
            format=_FORMAT(doc["format"]),
            power_type=_POWER_TYPE(doc["power_type"]),
            power=doc["power"],
            max_voltage=doc.get("maxVoltage"),
            max_amperage=doc.get("maxAmperage"),
            coordinates=coordinates,
            created_at=doc["createdAt"],
            updated_at=doc["updatedAt"],
            organization_id=doc["organization"],
            chargestation_id=doc.get("chargestation"),
        )


@strawberry.type(description="How many connectors are in one status.")
class StatusCount:
    status: ConnectorStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="How many connectors are in it.")


@strawberry.input(description="A position on Earth in WGS 84 degrees.")
class CoordinatesInput:
    latitude: float = strawberry.field(description="Degrees north of the equator, -90 to 90.")
    longitude: float = strawberry.field(description="Degrees east of Greenwich, -180 to 180.")


@strawberry.input(description="A map viewport; west > east crosses the antimeridian.")
class BoundsInput:
    south: float = strawberry.field(description="Southern edge, degrees north.")
    west: float = strawberry.field(description="Western edge, degrees east.")
    north: float = strawberry.field(description="Northern edge, degrees north.")
    east: float = strawberry.field(description="Eastern edge, degrees east.")


@strawberry.type(
    description="A latitude/longitude box; west > east when it crosses the antimeridian."
)
class Bounds:
    south: float = strawberry.field(description="Southern edge, degrees north.")
    west: float = strawberry.field(description="Western edge, degrees east.")
    north: float = strawberry.field(description="Northern edge, degrees north.")
    east: float = strawberry.field(description="Eastern edge, degrees east.")


@strawberry.input(description="Narrows a list of connectors; an absent field does not filter.")
class ConnectorFilter:
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only connectors of this organization."
    )
    statuses: list[ConnectorStatus] | None = strawberry.field(
        default=None, description="Only connectors in one of these states."
    )
    types: list[ConnectorType] | None = strawberry.field(
        default=None, description="Only connectors of one of these standards."
    )
    formats: list[ConnectorFormat] | None = strawberry.field(
        default=None, description="Only cables, or only sockets."
    )
    power_types: list[PowerType] | None = strawberry.field(
        default=None, description="Only connectors delivering one of these kinds of power."
    )
    active: bool | None = strawberry.field(
        default=None, description="Only active (true) or only inactive (false) connectors."
    )
    min_power_kw: float | None = strawberry.field(
        default=None, description="Only connectors of at least this power, in kW."
    )
    max_power_kw: float | None = strawberry.field(
        default=None, description="Only connectors of at most this power, in kW."
    )
    available_only: bool | None = strawberry.field(
        default=None,
        description="When true, only connectors that are AVAILABLE now (combined with `statuses`, if given).",
    )
    updated_since: datetime | None = strawberry.field(
        default=None,
        description=(
            "Only connectors changed after this instant (`updatedAt` later than it): an app "
            "syncing its offline copy passes the `updatedAt` of the newest connector it holds. "
            "Deleted connectors are not listed."
        ),
    )


@strawberry.enum(description="The order of a list of connectors.")
class ConnectorOrder(Enum):
    CREATED_AT = strawberry.enum_value(
        "CREATED_AT",
        description="Creation order (id order): the default, stable as the list grows.",
    )
    UPDATED_AT = strawberry.enum_value(
        "UPDATED_AT",
        description=(
            "Least recently changed first (`updatedAt`, ties by id): a connector changed while "
            "an app pages moves to the end, so it is met again there, never lost."
        ),
    )


FilterArgument = Annotated[
    ConnectorFilter | None,
    strawberry.argument(description="Narrows the list; an absent field does not filter."),
]


@strawberry.type(description="A connector near the searched point, with its distance.")
class NearbyConnectorEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this item.")
    node: Connector = strawberry.field(description="The connector.")
    distance_meters: float = strawberry.field(
        description="Great-circle distance from the searched point, in metres."
    )


@strawberry.type(description="Connectors within a radius, nearest first.")
class NearbyConnectorConnection:
    edges: list[NearbyConnectorEdge] = strawberry.field(
        description="This page's connectors, by distance (ties by id)."
    )
    page_info: PageInfo = strawberry.field(description="Where this page sits in the whole list.")
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(
        description=(
            "How many connectors match within the radius, across all pages. It reads every "
            "match in the radius: ask for it only when it is shown."
        )
    )
    async def total_count(self) -> int:
        return await self.count_total()


@strawberry.input(description="A new connector.")
class CreateConnectorInput:
    organization_id: strawberry.ID = strawberry.field(
        description="The organization that owns the connector; it must exist."
    )
    endpoint: str = strawberry.field(
        description="Four alphanumeric characters, unique across all connectors regardless of case."
    )
    ocpp_id: int = strawberry.field(
        description="The OCPP connector id (1.6 connectorId, 2.0.1 evseId), 1 or higher; unique within its charge station."
    )
    type: ConnectorType = strawberry.field(description="The connector standard.")
    format: ConnectorFormat = strawberry.field(description="Cable or socket.")
    power_type: PowerType = strawberry.field(description="Kind of power delivered.")
    power: float = strawberry.field(description="Maximum power in kilowatts, above 0.")
    max_voltage: int | None = strawberry.field(
        default=None,
        description="Maximum voltage in V (line to neutral for three-phase AC), 1 to 1500.",
    )
    max_amperage: int | None = strawberry.field(
        default=None, description="Maximum current in A, 1 to 3000."
    )
    active: bool = strawberry.field(default=True, description="Whether it is offered to drivers.")
    status: ConnectorStatus = strawberry.field(
        default=ConnectorStatus.AVAILABLE, description="The initial operational state."
    )
    coordinates: CoordinatesInput | None = strawberry.field(
        default=None,
        description="Where the connector is; without it, a connector of a station is at the station.",
    )
    chargestation_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The charge station it belongs to: one of the same organization.",
    )


@strawberry.input(description="Changes to a connector: only the fields given change.")
class UpdateConnectorInput:
    organization_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Move the connector to this organization."
    )
    endpoint: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new endpoint (four alphanumeric characters)."
    )
    ocpp_id: int | None = strawberry.field(
        default=strawberry.UNSET, description="A new OCPP connector id, 1 or higher."
    )
    type: ConnectorType | None = strawberry.field(
        default=strawberry.UNSET, description="A new connector standard."
    )
    format: ConnectorFormat | None = strawberry.field(
        default=strawberry.UNSET, description="Cable or socket."
    )
    power_type: PowerType | None = strawberry.field(
        default=strawberry.UNSET, description="A new kind of power."
    )
    power: float | None = strawberry.field(
        default=strawberry.UNSET, description="A new maximum power in kilowatts, above 0."
    )
    max_voltage: int | None = strawberry.field(
        default=strawberry.UNSET, description="A new maximum voltage in V; null removes it."
    )
    max_amperage: int | None = strawberry.field(
        default=strawberry.UNSET, description="A new maximum current in A; null removes it."
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Activate (true) or deactivate (false)."
    )
    status: ConnectorStatus | None = strawberry.field(
        default=strawberry.UNSET, description="A new operational state."
    )
    coordinates: CoordinatesInput | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new position; null removes it (a connector of a station is then at the station).",
    )
    chargestation_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Attach it to this charge station (of the same organization); null detaches it.",
    )


@strawberry.type(
    description=(
        "Nearby connectors grouped on the map: a cell of about 64 screen pixels at the zoom "
        "asked (256-pixel tiles) holding two or more matching connectors."
    )
)
class ConnectorCluster:
    id: strawberry.ID = strawberry.field(
        description=(
            "Pass to `clusterConnectors` for its members. The same while its members stay the "
            "same; once they change, `clusterConnectors` refuses it (BAD_USER_INPUT)."
        )
    )
    coordinates: Coordinates = strawberry.field(
        description="The members' centroid (mean latitude and longitude): where to draw it."
    )
    count: int = strawberry.field(description="How many matching connectors it holds.")
    counts_by_status: list[StatusCount] = strawberry.field(
        description="How many of its members are in each status (statuses with none left out)."
    )
    max_power_kw: float = strawberry.field(description="The highest power of its members, in kW.")
    expansion_zoom: int = strawberry.field(
        description=(
            "The first zoom at which its members no longer share one cell: zoom there to see it "
            "split. 21 when they stand too close together to split on the map (one station's "
            "connectors): list them with `clusterConnectors`."
        )
    )
    bounds: Bounds = strawberry.field(description="The box of its members' positions.")


@strawberry.type(
    description="What a map shows at one zoom: clusters, and connectors standing alone."
)
class ConnectorClusters:
    clusters: list[ConnectorCluster] = strawberry.field(
        description="Groups of two or more connectors, in no particular order.",
        metadata=at_most(MAX_CELLS),
    )
    connectors: list[Connector] = strawberry.field(
        description="Connectors alone in their cell at this zoom, in creation order.",
        metadata=at_most(MAX_CELLS),
    )
    total_count: int = strawberry.field(
        description=(
            "All matching connectors in the bounds: the clusters' counts plus the lone "
            "connectors (what `connectorsInBounds` counts for the same bounds and filter)."
        )
    )
