"""GraphQL types of the charge stations domain."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import strawberry
from bson import ObjectId

from graph.connectors import loaders as connector_loaders
from graph.connectors import service as connector_service
from graph.connectors.enums import ConnectorStatus
from graph.connectors.replica import ConnectorReplica
from graph.connectors.types import (
    Connector,
    Coordinates,
    CoordinatesInput,
    FilterArgument,
    StatusCount,
)
from graph.core.context import Info
from graph.core.cost import SEARCH
from graph.core.pagination import DEFAULT_PAGE_SIZE, After, Connection, PageSize
from graph.core.timestamps import now
from graph.core.viewer import require_manager
from graph.core.visibility import is_active
from graph.organizations.loaders import OrganizationById
from graph.organizations.types import Address, AddressInput, Organization, address_of


@strawberry.enum(
    description="The OCPP version a charge station speaks (its WebSocket subprotocol)."
)
class ChargestationProtocol(enum.Enum):
    OCPP16 = strawberry.enum_value("OCPP16", description="OCPP 1.6J (subprotocol ocpp1.6).")
    OCPP201 = strawberry.enum_value("OCPP201", description="OCPP 2.0.1 (subprotocol ocpp2.0.1).")


@strawberry.type(
    description=(
        "A charge station: the device that speaks OCPP to ChargeGraph and reports the "
        "status of its connectors."
    )
)
class Chargestation:
    id: strawberry.ID = strawberry.field(description="The id of this station (24 hex characters).")
    stored_endpoint: strawberry.Private[str]
    active: bool = strawberry.field(
        description="Whether the station may connect; inactive ones are refused and not shown to drivers."
    )
    coordinates: Coordinates | None = strawberry.field(
        description="Where the station is; its connectors without a position of their own are there too."
    )
    address: Address | None = strawberry.field(
        description="The station's postal address; null when unknown."
    )
    time_zone: str | None = strawberry.field(
        description="The station's IANA time zone, e.g. Europe/Amsterdam; null when unknown."
    )
    protocol: ChargestationProtocol | None = strawberry.field(
        description="The OCPP version of its last connection; null before its first."
    )
    online: bool = strawberry.field(
        description=(
            "Whether the station is connected now. A station whose server process died reads "
            "offline within two heartbeat intervals."
        )
    )
    last_connected_at: datetime | None = strawberry.field(
        description="When its last connection opened; null if it never connected."
    )
    last_disconnected_at: datetime | None = strawberry.field(
        description="When its last connection ended (or its lease ran out); null if never."
    )
    last_message_at: datetime | None = strawberry.field(
        description=(
            "When it last sent a message, as written with its connection's lease renewal "
            "(every half heartbeat interval); null if never."
        )
    )
    boot: strawberry.Private[Mapping[str, Any]]
    status: ConnectorStatus | None = strawberry.field(
        description=(
            "The status it last reported for itself as a whole (OCPP 1.6 connectorId 0, or a "
            "report with no EVSE); null if it never did."
        )
    )
    created_at: datetime = strawberry.field(description="When this record was created.")
    updated_at: datetime = strawberry.field(description="When this record last changed.")
    organization_id: strawberry.Private[ObjectId]

    @property
    def object_id(self) -> ObjectId:
        return ObjectId(self.id)

    def _boot_detail(self, info: Info, name: str) -> str | None:
        """A BootNotification detail, shown only to admins and the organization's own keys:
        stations often use their serial number as their identity."""
        if not info.context.viewer.manages(self.organization_id):
            return None
        value = self.boot.get(name)
        return str(value) if value is not None else None

    @strawberry.field(
        description=(
            "Vendor, from its last BootNotification; null before its first boot, and for "
            "callers other than admins and the organization's own keys."
        )
    )
    def vendor(self, info: Info) -> str | None:
        return self._boot_detail(info, "vendor")

    @strawberry.field(
        description=(
            "Model, from its last BootNotification; null for callers other than admins and "
            "the organization's own keys."
        )
    )
    def model(self, info: Info) -> str | None:
        return self._boot_detail(info, "model")

    @strawberry.field(
        description=(
            "Serial number, from its last BootNotification, if it sent one; null for callers "
            "other than admins and the organization's own keys (it is often the station's "
            "identity)."
        )
    )
    def serial_number(self, info: Info) -> str | None:
        return self._boot_detail(info, "serialNumber")

    @strawberry.field(
        description=(
            "Firmware version, from its last BootNotification, if it sent one; null for callers "
            "other than admins and the organization's own keys."
        )
    )
    def firmware_version(self, info: Info) -> str | None:
        return self._boot_detail(info, "firmwareVersion")

    @strawberry.field(
        description=(
            "The station's OCPP identity: the last segment of its connection URL "
            "(ws(s)://host/ocpp/{endpoint}). Unique regardless of case; shown as created. Only "
            "for admins and the organization's own keys: without Basic auth it is all a station "
            "needs to connect."
        )
    )
    def endpoint(self, info: Info) -> str | None:
        require_manager(info.context.viewer, self.organization_id, "endpoint", "endpoint")
        return self.stored_endpoint

    @strawberry.field(description="The organization that owns and operates this station.")
    async def organization(self, info: Info) -> Organization:
        return await OrganizationById.on(info.context).load(self.organization_id)

    @strawberry.field(
        description=(
            "The station's connectors, in creation order. Inactive ones only for admins and "
            "the organization's own keys."
        ),
        metadata=SEARCH,
    )
    async def connectors(
        self,
        info: Info,
        filter: FilterArgument = None,
        first: PageSize = DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> Connection[Connector]:
        return await connector_loaders.owner_page(
            info.context, "chargestation", self.object_id, filter, first, after
        )

    @strawberry.field(
        description=(
            "How many of the station's connectors are in each status (statuses with none are "
            "left out), e.g. to show '3 of 4 free'. Inactive connectors count only for admins "
            "and the organization's own keys."
        )
    )
    async def connector_counts_by_status(self, info: Info) -> list[StatusCount]:
        return await connector_loaders.owner_status_counts(
            info.context, "chargestation", self.object_id, self.organization_id
        )

    @strawberry.field(
        description=(
            "Commands sent to the station (resets, unlocks, status requests, availability), "
            "newest first, with who asked and the station's answer. Only for admins and the "
            "organization's own keys."
        )
    )
    async def commands(
        self, info: Info, first: PageSize = DEFAULT_PAGE_SIZE, after: After = None
    ) -> Connection[StationCommand]:
        require_manager(info.context.viewer, self.organization_id, "commands", "commands")
        # The loaders module builds on these types (same domain).
        from graph.chargestations.loaders import command_page

        return await command_page(self.object_id, first, after)

    @strawberry.field(
        description=(
            "The latest ChangeAvailability sent for the station as a whole (set by deactivating "
            "it, undone when it next connects active); null if none. Only for admins and the "
            "organization's own keys."
        )
    )
    async def availability_command(self, info: Info) -> StationCommand | None:
        if not info.context.viewer.manages(self.organization_id):
            return None
        from graph.chargestations.loaders import latest_availability_command

        return await latest_availability_command(info.context, self.object_id, None)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Chargestation:
        location = doc.get("location")
        coordinates = None
        if location:
            longitude, latitude = location["coordinates"]
            coordinates = Coordinates(latitude=latitude, longitude=longitude)
        protocol = doc.get("protocol")
        status = doc.get("status")
        return cls(
            id=strawberry.ID(str(doc["_id"])),
            stored_endpoint=doc["endpoint"],
            active=is_active(doc.get("active")),
            coordinates=coordinates,
            address=address_of(doc),
            time_zone=doc.get("timeZone"),
            protocol=ChargestationProtocol(protocol) if protocol else None,
            online=is_online(doc),
            last_connected_at=doc.get("lastConnectedAt"),
            last_disconnected_at=doc.get("lastDisconnectedAt"),
            last_message_at=doc.get("lastMessageAt"),
            boot=doc.get("boot") or {},
            status=ConnectorStatus(status) if status else None,
            created_at=doc["createdAt"],
            updated_at=doc["updatedAt"],
            organization_id=doc["organization"],
        )


def is_online(doc: Mapping[str, Any]) -> bool:
    """Connected, and its lease not run out (a dead server process cannot say goodbye)."""
    lease = doc.get("leaseUntil")
    return bool(doc.get("online")) and lease is not None and lease > now()


@strawberry.input(description="Narrows a list of charge stations; an absent field does not filter.")
class ChargestationFilter:
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only stations of this organization."
    )
    online: bool | None = strawberry.field(
        default=None, description="Only connected (true) or only disconnected (false) stations."
    )
    active: bool | None = strawberry.field(
        default=None, description="Only active (true) or only inactive (false) stations."
    )


ChargestationFilterArgument = Annotated[
    ChargestationFilter | None,
    strawberry.argument(description="Narrows the list; an absent field does not filter."),
]


@strawberry.input(description="A new charge station.")
class CreateChargestationInput:
    organization_id: strawberry.ID = strawberry.field(
        description="The organization that owns the station; it must exist."
    )
    endpoint: str = strawberry.field(
        description=(
            "The station's OCPP identity: 1 to 48 characters of A-Z a-z 0-9 * - _ = : + | @ . "
            "(OCPP 2.0.1 identifierString), unique regardless of case."
        )
    )
    coordinates: CoordinatesInput | None = strawberry.field(
        default=None, description="Where the station is."
    )
    address: AddressInput | None = strawberry.field(
        default=None, description="The station's postal address."
    )
    time_zone: str | None = strawberry.field(
        default=None, description="The station's IANA time zone, e.g. Europe/Amsterdam."
    )
    active: bool = strawberry.field(default=True, description="Whether the station may connect.")


@strawberry.input(description="Changes to a charge station: only the fields given change.")
class UpdateChargestationInput:
    endpoint: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new OCPP identity (the station must use it)."
    )
    coordinates: CoordinatesInput | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new position; null removes it. Connectors at the station move with it.",
    )
    address: AddressInput | None = strawberry.field(
        default=strawberry.UNSET, description="Address parts to change; null removes the address."
    )
    time_zone: str | None = strawberry.field(
        default=strawberry.UNSET, description="A new IANA time zone; null removes it."
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Activate (true) or deactivate (false); an inactive station is refused.",
    )


@strawberry.enum(description="How a charge station is reset.")
class ResetType(enum.Enum):
    SOFT = strawberry.enum_value(
        "SOFT",
        description=(
            "Restart gracefully, once charging sessions end (OCPP 1.6 Soft; 2.0.1 OnIdle)."
        ),
    )
    HARD = strawberry.enum_value(
        "HARD",
        description="Restart at once, ending charging sessions (OCPP 1.6 Hard; 2.0.1 Immediate).",
    )


@strawberry.enum(description="Where a command to a charge station stands, or how it ended.")
class StationCommandStatus(enum.Enum):
    PENDING = strawberry.enum_value(
        "PENDING", description="Sent or about to be: the station has not answered yet."
    )
    ACCEPTED = strawberry.enum_value(
        "ACCEPTED", description="The station accepted it (for an unlock: Unlocked)."
    )
    REJECTED = strawberry.enum_value(
        "REJECTED",
        description="The station refused it; `stationAnswer` says how (e.g. UnlockFailed).",
    )
    SCHEDULED = strawberry.enum_value(
        "SCHEDULED",
        description="The station will do it once the charging session in progress ends.",
    )
    FAILED = strawberry.enum_value(
        "FAILED",
        description=(
            "The station answered with an error or an invalid answer, or the connection was "
            "lost; `reason` says which."
        ),
    )
    OFFLINE = strawberry.enum_value(
        "OFFLINE", description="The station was not connected: nothing was sent."
    )
    TIMEOUT = strawberry.enum_value(
        "TIMEOUT",
        description=(
            "No answer within CHARGEGRAPH_OCPP_COMMAND_TIMEOUT_SECONDS; the station may still "
            "have done it."
        ),
    )
    NOT_SUPPORTED = strawberry.enum_value(
        "NOT_SUPPORTED", description="The station does not implement this command."
    )


@strawberry.type(
    description=(
        "A command sent to a charge station over OCPP, with the station's answer: the audit "
        "trail of what operators asked."
    )
)
class StationCommand:
    id: strawberry.ID = strawberry.field(description="The id of this command.")
    action: str = strawberry.field(
        description=(
            "The OCPP action: ChangeAvailability, Reset, UnlockConnector or TriggerMessage."
        )
    )
    status: StationCommandStatus = strawberry.field(description="How the command ended.")
    station_answer: str | None = strawberry.field(
        description=(
            "The station's own answer status, e.g. Accepted, Rejected, Scheduled, Unlocked, "
            "UnlockFailed; null when it did not answer with one."
        )
    )
    reason: str | None = strawberry.field(
        description="Why it failed or timed out, in words; null otherwise."
    )
    operative: bool | None = strawberry.field(
        description=(
            "For ChangeAvailability: true when the station was asked to make the connector "
            "(or itself) operative, false for inoperative; null for other actions."
        )
    )
    reset_type: ResetType | None = strawberry.field(
        description="For Reset: how the station was asked to restart; null for other actions."
    )
    requested_by: str = strawberry.field(
        description=(
            "Who asked: the API key's name ('admin' for an administrator key), or "
            "'reconciliation' when ChargeGraph brought a connecting station in line with "
            "the connectors' `active` flags."
        )
    )
    requested_at: datetime = strawberry.field(description="When it was asked.")
    answered_at: datetime | None = strawberry.field(
        description="When it ended (answered, failed or timed out); null while PENDING."
    )
    station_id: strawberry.Private[ObjectId]
    connector_id: strawberry.Private[ObjectId | None]

    @strawberry.field(description="The station it was sent to.")
    async def chargestation(self, info: Info) -> Chargestation:
        from graph.chargestations.loaders import ChargestationDocumentById

        doc = await ChargestationDocumentById.on(info.context).load(self.station_id)
        if doc is None:
            raise LookupError(f"station {self.station_id} of command {self.id} is gone")
        return Chargestation.from_document(doc)

    @strawberry.field(
        description=(
            "The connector it concerns (availability, unlock); null for the whole station."
        )
    )
    async def connector(self, info: Info) -> Connector | None:
        if self.connector_id is None:
            return None
        return await connector_service.get(
            info.context.viewer, self.connector_id, ConnectorReplica.of(info.context)
        )

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> StationCommand:
        reset_type = doc.get("resetType")
        return cls(
            id=strawberry.ID(str(doc["_id"])),
            action=doc["action"],
            status=StationCommandStatus(doc["status"]),
            station_answer=doc.get("stationAnswer"),
            reason=doc.get("reason"),
            operative=doc.get("operative"),
            reset_type=ResetType(reset_type) if reset_type else None,
            requested_by=doc["requestedBy"],
            requested_at=doc["requestedAt"],
            answered_at=doc.get("answeredAt"),
            station_id=doc["station"],
            connector_id=doc.get("connector"),
        )
