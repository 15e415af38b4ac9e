"""The stored organization, with the eDRV Organization object's field names."""

from __future__ import annotations

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel


class Address(BaseModel):
    """Postal address; `country` is ISO 3166-1 alpha-2."""

    streetAndNumber: str | None = None
    postalCode: str | None = None
    city: str | None = None
    country: str | None = None


class OcpiParty(BaseModel):
    """Who the organization is in OCPI roaming: ISO 3166-1 alpha-2 country and eMI3 party id."""

    countryCode: str
    partyId: str


class ReceivedFrom(BaseModel):
    """The roaming partner an organization's locations are received from, and its party."""

    partner: PydanticObjectId
    name: str
    countryCode: str
    partyId: str


class Configurations(BaseModel):
    """How the organization's charge stations connect.

    `basicAuthPassword` holds only a salted scrypt hash of the password, never
    the password itself.
    """

    basicAuthEnabled: bool = False
    basicAuthPassword: str | None = None
    # Whether the organization's stations may start charging for any idTag.
    freeVend: bool = False


class OrganizationDocument(Document):
    """One organization."""

    name: str
    address: Address | None = None
    configurations: Configurations = Configurations()
    ocpi: OcpiParty | None = None
    # Set for an organization standing for a roaming partner's party, whose stations and
    # connectors arrive over OCPI (graph.ocpi): API writes to them are refused.
    receivedFrom: ReceivedFrom | None = None
    active: bool = True
    createdAt: datetime
    updatedAt: datetime

    class Settings:
        name = "organizations"
        indexes = [
            IndexModel([("name", ASCENDING)], name="name"),
            # One organization per partner and party, however many pushes arrive at once.
            IndexModel(
                [
                    ("receivedFrom.partner", ASCENDING),
                    ("receivedFrom.countryCode", ASCENDING),
                    ("receivedFrom.partyId", ASCENDING),
                ],
                name="received_party",
                unique=True,
                partialFilterExpression={"receivedFrom": {"$type": "object"}},
            ),
        ]
