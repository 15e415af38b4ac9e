"""GraphQL types of OCPI partners."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry


@strawberry.enum(description="Where the credentials handshake with a partner stands.")
class OcpiPartnerStatus(Enum):
    PENDING = strawberry.enum_value(
        "PENDING",
        description="Invited with a Token A, or unregistered: the partner has not registered yet.",
    )
    REGISTERED = strawberry.enum_value(
        "REGISTERED", description="The handshake is done; both sides hold the other's token."
    )


@strawberry.type(description="A roaming partner connected over OCPI 2.2.1.")
class OcpiPartner:
    id: strawberry.ID = strawberry.field(description="The partner's id.")
    name: str = strawberry.field(description="The partner's name, as given when it was created.")
    status: OcpiPartnerStatus = strawberry.field(description="Where the handshake stands.")
    versions_url: str | None = strawberry.field(
        description="The partner's versions endpoint, once it registered."
    )
    raw_token: bool = strawberry.field(
        description="Whether this server sends its token raw instead of Base64 (older peers)."
    )
    created_at: datetime = strawberry.field(description="When the partner was created.")
    updated_at: datetime = strawberry.field(description="When the partner last changed.")

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> OcpiPartner:
        return cls(
            id=strawberry.ID(str(doc["_id"])),
            name=doc["name"],
            status=OcpiPartnerStatus(doc["status"]),
            versions_url=doc.get("versionsUrl"),
            raw_token=doc["rawToken"],
            created_at=doc["createdAt"],
            updated_at=doc["updatedAt"],
        )


@strawberry.type(
    description="A partner just invited, with the Token A to hand it; the token is shown only once."
)
class OcpiPartnerInvitation:
    partner: OcpiPartner = strawberry.field(description="The invited partner.")
    token_a: str = strawberry.field(
        description="The token the partner registers with (POST credentials); it dies then."
    )
    versions_url: str = strawberry.field(description="This server's OCPI versions endpoint.")


@strawberry.input(description="A partner to invite.")
class CreateOcpiPartnerInput:
    name: str = strawberry.field(description="The partner's name (1 to 200 characters).")
    raw_token: bool = strawberry.field(
        default=False,
        description="Send this server's token raw instead of Base64 (peers of OCPI 2.1.1/2.2).",
    )


@strawberry.input(description="A partner that handed out a Token A, to register with.")
class ConnectOcpiPartnerInput:
    name: str = strawberry.field(description="The partner's name (1 to 200 characters).")
    versions_url: str = strawberry.field(description="The partner's OCPI versions endpoint.")
    token_a: str = strawberry.field(
        description="The token the partner handed out to register with."
    )
    raw_token: bool = strawberry.field(
        default=False,
        description="Send tokens to this partner raw instead of Base64 (peers of OCPI 2.1.1/2.2).",
    )
