"""The stored OCPI partner: who it is, how to reach it, and a hash of the token it presents."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

PENDING = "PENDING"
"""Invited (holds a Token A) or not yet answered; no endpoints known."""
REGISTERED = "REGISTERED"
"""The credentials handshake is done: both sides hold the other's token."""


class OcpiPartnerDocument(Document):
    """One roaming partner and the state of the credentials handshake with it."""

    name: str
    status: str = PENDING
    # SHA-256 (hex) of the token the partner presents to this server: Token A while
    # invited, Token C once registered. Tokens this server issues are never stored.
    tokenHash: str | None = None
    # The token this server presents to the partner (Token B, issued by the partner):
    # kept as is, since it must be sent.
    partnerToken: str | None = None
    # Send `partnerToken` raw instead of Base64 (peers of OCPI 2.1.1/2.2 expect that).
    rawToken: bool = False
    versionsUrl: str | None = None
    # The partner's 2.2.1 endpoints: {identifier, role, url}.
    endpoints: list[dict[str, str]] = []
    # The partner's roles from its credentials: {role, party_id, country_code, business_details}.
    roles: list[dict[str, Any]] = []
    # When the last successful pull of the partner's Locations started (the next pull's
    # `date_from`); None: never pulled, so the next pull takes everything.
    pulledFrom: datetime | None = None
    # When the last successful full pull started (graph.ocpi.pull).
    fullyPulledFrom: datetime | None = None
    createdAt: datetime
    updatedAt: datetime

    class Settings:
        name = "ocpi_partners"
        indexes = [
            IndexModel(
                [("tokenHash", ASCENDING)],
                name="tokenHash",
                unique=True,
                partialFilterExpression={"tokenHash": {"$type": "string"}},
            ),
        ]


def partners_collection() -> AsyncCollection[dict[str, Any]]:
    """The raw ocpi_partners collection."""
    return OcpiPartnerDocument.get_pymongo_collection()


class RemovedEvseDocument(Document):
    """A deleted connector, kept so that partners pulling Locations see its EVSE as REMOVED.

    OCPI never deletes an EVSE: a partner learns of a removal only from an EVSE
    whose status is REMOVED, in a full or a delta (`date_from`) pull.
    """

    id: PydanticObjectId  # type: ignore[assignment]  # the connector's id
    chargestation: PydanticObjectId
    organization: PydanticObjectId
    # The connector as it was stored when it was deleted.
    connector: dict[str, Any]
    removedAt: datetime

    class Settings:
        name = "ocpi_removed_evses"
        indexes = [IndexModel([("chargestation", ASCENDING)], name="chargestation")]


def removed_evses_collection() -> AsyncCollection[dict[str, Any]]:
    """The raw ocpi_removed_evses collection."""
    return RemovedEvseDocument.get_pymongo_collection()


STATUS_PUSH = "status"
"""An outbox entry that PATCHes one EVSE's status."""
LOCATION_PUSH = "location"
"""An outbox entry that PUTs a whole Location (a connector added, changed or removed)."""


class PushDocument(Document):
    """One change waiting to be pushed to one partner (the durable outbox).

    Every process reads the same change stream and writes the same entries; the
    unique (partner, position, connector) key keeps one. `position` is the change's
    cluster time as one integer (seconds << 32 | increment), so entries sort in the
    order the changes were written.
    """

    partner: PydanticObjectId
    position: int
    connector: PydanticObjectId
    station: PydanticObjectId
    kind: str
    # For STATUS_PUSH: the stored status as of the change, and when it changed.
    status: str | None = None
    changedAt: datetime
    attempts: int = 0

    class Settings:
        name = "ocpi_outbox"
        indexes = [
            IndexModel(
                [("partner", ASCENDING), ("position", ASCENDING), ("connector", ASCENDING)],
                name="partner_order",
                unique=True,
            ),
        ]


def outbox_collection() -> AsyncCollection[dict[str, Any]]:
    """The raw ocpi_outbox collection."""
    return PushDocument.get_pymongo_collection()


def push_leases_collection() -> AsyncCollection[dict[str, Any]]:
    """Which process pushes to which partner, until when (`{_id: partner, holder, until}`)."""
    return partners_collection().database["ocpi_push_leases"]


class ReceivedLocationDocument(Document):
    """A Location a partner pushed or that a pull returned (ChargeGraph as eMSP), as sent.

    `_id` is the id of the charge station it became (graph.ocpi.ingest derives both
    from the partner, the party and the Location's id). The partner's copy is kept so a
    GET returns what it sent, fields ChargeGraph has no place for included; each EVSE's
    latest status lives on its connectors (a status PATCH is one update of those).
    """

    id: PydanticObjectId  # type: ignore[assignment]
    partner: PydanticObjectId
    countryCode: str
    partyId: str
    locationId: str
    location: dict[str, Any]
    receivedAt: datetime

    class Settings:
        name = "ocpi_received_locations"
        indexes = [
            # A partner's Locations: forgetting them, and those a full pull did not return.
            IndexModel(
                [("partner", ASCENDING), ("receivedAt", ASCENDING)], name="partner_received"
            ),
        ]


def received_locations_collection() -> AsyncCollection[dict[str, Any]]:
    """The raw ocpi_received_locations collection."""
    return ReceivedLocationDocument.get_pymongo_collection()


def pull_leases_collection() -> AsyncCollection[dict[str, Any]]:
    """Which process pulls from which partner, until when (`{_id: partner, holder, until}`)."""
    return partners_collection().database["ocpi_pull_leases"]


def locations_url(partner: Mapping[str, Any], role: str) -> str | None:
    """The partner's Locations endpoint in `role` (SENDER or RECEIVER), if it offers one."""
    return next(
        (
            endpoint.get("url")
            for endpoint in partner.get("endpoints") or []
            if endpoint.get("identifier") == "locations" and endpoint.get("role") == role
        ),
        None,
    )
