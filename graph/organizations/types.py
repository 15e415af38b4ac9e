"""GraphQL types of the organizations domain.

An organization lists what belongs to it (connectors, API keys, charge
stations); those fields
are answered by the domains that own them, through their public modules,
imported when the field is first resolved: the owning domains depend on this
one, so a module-level import would be a cycle (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from bson import ObjectId

from graph.core.context import Info
from graph.core.cost import SEARCH
from graph.core.pagination import DEFAULT_PAGE_SIZE, After, Connection, PageSize
from graph.core.viewer import require_manager

if TYPE_CHECKING:
    from graph.access.types import ApiKey
    from graph.chargestations.types import Chargestation
    from graph.connectors.types import Connector, ConnectorFilter, StatusCount

_CONNECTORS = "graph.connectors.types"
_ACCESS = "graph.access.types"
_CHARGESTATIONS = "graph.chargestations.types"


@strawberry.type(description="A postal address.")
class Address:
    street_and_number: str | None = strawberry.field(description="Street and house number.")
    postal_code: str | None = strawberry.field(description="Postal code.")
    city: str | None = strawberry.field(description="City.")
    country: str | None = strawberry.field(description="Country, ISO 3166-1 alpha-2 (e.g. NL).")


@strawberry.type(description="How the organization's charge stations connect to the back office.")
class OrganizationConfigurations:
    basic_auth_enabled: bool = strawberry.field(
        description=(
            "Whether charge stations must authenticate with HTTP basic auth. "
            "The password itself is write-only and never returned."
        )
    )
    free_vend: bool = strawberry.field(
        description=(
            "Whether the organization's charge stations may start charging for any idTag "
            "(Authorize, StartTransaction and TransactionEvent are accepted); otherwise they "
            "are answered Invalid."
        )
    )


@strawberry.type(description="Who an organization is in OCPI roaming (its CPO role).")
class OcpiParty:
    country_code: str = strawberry.field(description="ISO 3166-1 alpha-2 country code, e.g. NL.")
    party_id: str = strawberry.field(
        description="The eMI3 party id: three capital letters or digits, e.g. TNM."
    )


@strawberry.type(
    description=(
        "The roaming partner an organization's charge stations and connectors are received "
        "from over OCPI, and the party they belong to."
    )
)
class OcpiOrigin:
    partner_id: strawberry.ID = strawberry.field(description="The OCPI partner's id.")
    partner_name: str = strawberry.field(description="The OCPI partner's name.")
    country_code: str = strawberry.field(
        description="The party's ISO 3166-1 alpha-2 country code, as the partner sends it."
    )
    party_id: str = strawberry.field(description="The party's id, as the partner sends it.")


@strawberry.type(description="A company that owns and operates charge stations.")
class Organization:
    id: strawberry.ID = strawberry.field(
        description="The id of this organization (24 hex characters)."
    )
    name: str = strawberry.field(description="The organization's name.")
    active: bool = strawberry.field(description="Whether the organization is active.")
    address: Address | None = strawberry.field(description="Postal address; null when unknown.")
    ocpi: OcpiParty | None = strawberry.field(
        description="Who the organization is in OCPI roaming; null when it takes no part."
    )
    received_from: OcpiOrigin | None = strawberry.field(
        description=(
            "Set when the organization stands for a roaming partner's party: its stations "
            "and connectors are received over OCPI, the partner is their source, and API "
            "writes to them are refused (FORBIDDEN). Null for organizations managed here."
        )
    )
    stored_configurations: strawberry.Private[OrganizationConfigurations]
    created_at: datetime = strawberry.field(description="When this record was created.")
    updated_at: datetime = strawberry.field(description="When this record last changed.")

    @property
    def object_id(self) -> ObjectId:
        return ObjectId(self.id)

    @strawberry.field(
        description=(
            "Charge-station connection settings. Only for admins and the organization's own keys."
        )
    )
    def configurations(self, info: Info) -> OrganizationConfigurations | None:
        require_manager(info.context.viewer, self.object_id, "configurations", "configurations")
        return self.stored_configurations

    @strawberry.field(
        description=(
            "The organization's API keys that are not revoked, oldest first. Only for admins "
            "and the organization's own keys."
        )
    )
    async def api_keys(
        self, info: Info
    ) -> list[Annotated[ApiKey, strawberry.lazy(_ACCESS)]] | None:
        from graph.access.loaders import ApiKeysByOrganization

        require_manager(info.context.viewer, self.object_id, "apiKeys", "apiKeys")
        return await ApiKeysByOrganization.on(info.context).load(self.object_id)

    @strawberry.field(
        description=(
            "The organization's connectors, in creation order. Inactive ones only for admins "
            "and the organization's own keys."
        ),
        metadata=SEARCH,
    )
    async def connectors(
        self,
        info: Info,
        filter: Annotated[
            Annotated[ConnectorFilter, strawberry.lazy(_CONNECTORS)] | None,
            strawberry.argument(description="Narrows the list; an absent field does not filter."),
        ] = None,
        first: PageSize = DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> Connection[Annotated[Connector, strawberry.lazy(_CONNECTORS)]]:
        from graph.connectors import loaders

        return await loaders.owner_page(
            info.context, "organization", self.object_id, filter, first, after
        )

    @strawberry.field(
        description=(
            "How many of the organization's connectors are in each status (statuses with none "
            "are left out). Inactive connectors count only for admins and the organization's "
            "own keys."
        )
    )
    async def connector_counts_by_status(
        self, info: Info
    ) -> list[Annotated[StatusCount, strawberry.lazy(_CONNECTORS)]]:
        from graph.connectors import loaders

        return await loaders.owner_status_counts(
            info.context, "organization", self.object_id, self.object_id
        )

    @strawberry.field(
        description=(
            "The organization's charge stations, in creation order. Inactive ones only for "
            "admins and the organization's own keys."
        ),
        metadata=SEARCH,
    )
    async def chargestations(
        self,
        info: Info,
        first: PageSize = DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> Connection[Annotated[Chargestation, strawberry.lazy(_CHARGESTATIONS)]]:
        from graph.chargestations import loaders

        return await loaders.organization_page(info.context, self.object_id, first, after)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Organization:
        """Build the GraphQL object from a stored document; the password hash stays behind."""
        configurations = doc.get("configurations") or {}
        return cls(
            id=strawberry.ID(str(doc["_id"])),
            name=doc["name"],
            active=doc.get("active", True),
            address=address_of(doc),
            ocpi=OcpiParty(country_code=party["countryCode"], party_id=party["partyId"])
            if (party := doc.get("ocpi"))
            else None,
            received_from=OcpiOrigin(
                partner_id=strawberry.ID(str(origin["partner"])),
                partner_name=origin["name"],
                country_code=origin["countryCode"],
                party_id=origin["partyId"],
            )
            if (origin := doc.get("receivedFrom"))
            else None,
            stored_configurations=OrganizationConfigurations(
                basic_auth_enabled=bool(configurations.get("basicAuthEnabled", False)),
                free_vend=bool(configurations.get("freeVend", False)),
            ),
            created_at=doc["createdAt"],
            updated_at=doc["updatedAt"],
        )


def address_of(doc: Mapping[str, Any]) -> Address | None:
    """The stored address of a document; one with no parts set is stored empty, shown as null."""
    address = doc.get("address") or {}
    if not any(address.values()):
        return None
    return Address(
        street_and_number=address.get("streetAndNumber"),
        postal_code=address.get("postalCode"),
        city=address.get("city"),
        country=address.get("country"),
    )


@strawberry.input(description="A postal address; on update, only the parts given change.")
class AddressInput:
    street_and_number: str | None = strawberry.field(
        default=strawberry.UNSET, description="Street and house number."
    )
    postal_code: str | None = strawberry.field(default=strawberry.UNSET, description="Postal code.")
    city: str | None = strawberry.field(default=strawberry.UNSET, description="City.")
    country: str | None = strawberry.field(
        default=strawberry.UNSET, description="Country, ISO 3166-1 alpha-2 (two capital letters)."
    )


@strawberry.input(description="Who an organization is in OCPI roaming.")
class OcpiPartyInput:
    country_code: str = strawberry.field(
        description="ISO 3166-1 alpha-2 country code (two capital letters)."
    )
    party_id: str = strawberry.field(
        description="The eMI3 party id: three capital letters or digits."
    )


@strawberry.input(description="Charge-station connection settings; only the parts given change.")
class OrganizationConfigurationsInput:
    basic_auth_enabled: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Require HTTP basic auth from charge stations (needs a password).",
    )
    basic_auth_password: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The password charge stations authenticate with (8 to 128 characters). Write-only.",
    )
    free_vend: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Let the organization's charge stations start charging for any idTag.",
    )


@strawberry.input(description="A new organization.")
class CreateOrganizationInput:
    name: str = strawberry.field(description="The organization's name (1 to 200 characters).")
    address: AddressInput | None = strawberry.field(default=None, description="Postal address.")
    active: bool = strawberry.field(default=True, description="Whether the organization is active.")
    configurations: OrganizationConfigurationsInput | None = strawberry.field(
        default=None, description="Charge-station connection settings."
    )
    ocpi: OcpiPartyInput | None = strawberry.field(
        default=None, description="Who the organization is in OCPI roaming (administrators only)."
    )


@strawberry.input(description="Changes to an organization: only the fields given change.")
class UpdateOrganizationInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="A new name.")
    address: AddressInput | None = strawberry.field(
        default=strawberry.UNSET, description="Address parts to change; null removes the address."
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Activate (true) or deactivate (false); administrators only. A deactivated "
            "organization's keys may read but not write."
        ),
    )
    configurations: OrganizationConfigurationsInput | None = strawberry.field(
        default=strawberry.UNSET, description="Connection settings to change."
    )
    ocpi: OcpiPartyInput | None = strawberry.field(
        default=strawberry.UNSET,
        description="Who the organization is in OCPI roaming; null: no part in it. Administrators only.",
    )
