"""Who is asking, and the rules for what they may change.

Every write names the organization it touches; these rules are the only place
that decides whether the caller may. A key of one organization learns nothing
about another organization's objects beyond what anonymous reads show: an
object it may not touch and an object that does not exist look the same.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from graph.core.errors import ClientError, Forbidden, NotFound, Unauthenticated

RECEIVED_FROM = "receivedFrom"
"""Stored on organizations, charge stations and connectors received from a roaming partner
over OCPI (`{partner, name}`): their source is the partner, so no API caller changes them."""
# Null or absent (documents written through the models store null).
LOCAL_ONLY: dict[str, Any] = {RECEIVED_FROM: None}
RECEIVED_ONLY: dict[str, Any] = {RECEIVED_FROM: {"$type": "object"}}


class Role(enum.Enum):
    ANONYMOUS = "anonymous"
    ADMIN = "admin"
    ORGANIZATION = "organization"
    # A client application's key: reads like anonymous, with its own allowance.
    APP = "app"


@dataclass(frozen=True)
class Viewer:
    """The caller of a request or of a WebSocket connection."""

    role: Role
    organization_id: ObjectId | None = None
    # The key used (organization or app), so revoking it can end its open subscriptions.
    key_id: ObjectId | None = None
    # For an app key: the application's name (logs, metrics) and its search allowance.
    app: str | None = None
    searches_per_minute: int | None = None
    # False for a key of an organization an admin deactivated: it may read, not write.
    organization_active: bool = True
    # The key's name, for audit trails (never the key itself).
    key_name: str | None = None

    @property
    def requester(self) -> str:
        """Who asked, as audit trails name it: the key's name, or the caller's role."""
        return self.key_name or self.role.value

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def manages(self, organization_id: ObjectId | None) -> bool:
        """May this caller manage (and see everything of) that organization?"""
        return self.is_admin or (
            self.organization_id is not None and self.organization_id == organization_id
        )

    def scope(self) -> Viewer:
        """What the caller may see and do, without which key it used (see graph.core.context)."""
        return Viewer(self.role, self.organization_id, organization_active=self.organization_active)


ANONYMOUS = Viewer(Role.ANONYMOUS)
ADMIN = Viewer(Role.ADMIN)


def require_key(viewer: Viewer, action: str) -> None:
    """Writes need an organization or admin key: anonymous callers are refused before
    anything is read, app keys (read-only) too."""
    if viewer.role is Role.ANONYMOUS:
        raise Unauthenticated(f"{action} needs an API key: send 'Authorization: Bearer <key>'")
    if viewer.role is Role.APP:
        raise Forbidden(f"{action} is not allowed with an app key: app keys only read")


def require_active_organization(viewer: Viewer) -> None:
    """Keys of an organization an admin deactivated may read, never write."""
    if not viewer.organization_active:
        raise Forbidden(
            "mutations are refused: this key's organization has been deactivated by an "
            "administrator, so its keys may only read"
        )


def require_admin(viewer: Viewer, action: str) -> None:
    require_key(viewer, action)
    if not viewer.is_admin:
        raise Forbidden(f"{action} is reserved to administrators")


def require_manager(viewer: Viewer, organization_id: ObjectId, field: str, action: str) -> None:
    """The caller must be an admin or hold a key of `organization_id` (named by `field`)."""
    require_key(viewer, action)
    if not viewer.manages(organization_id):
        raise _not_covered(field, organization_id)


def write_scope(viewer: Viewer, action: str) -> dict[str, Any]:
    """A condition limiting a write to what the caller manages (empty for admins).

    Written into the write's own filter, so the check and the write are one
    atomic step. Anonymous callers are refused. Objects received from a roaming
    partner are outside every caller's scope (`refuse_received` says why).
    """
    require_key(viewer, action)
    if viewer.is_admin:
        return dict(LOCAL_ONLY)
    return {"organization": viewer.organization_id, **LOCAL_ONLY}


def refuse_received(document: Mapping[str, Any], what: str, field: str = "id") -> None:
    """Refuse (FORBIDDEN) any change to an object received from a roaming partner: the
    partner is its source, and its next push would undo the change anyway."""
    origin = document.get(RECEIVED_FROM)
    if origin:
        raise Forbidden(
            f"{field}: {what} {document['_id']} is received over OCPI from the roaming partner "
            f"{origin.get('name', '')!r}: its source is the partner, so it cannot be changed here",
            field=field,
        )


async def not_written(
    collection: AsyncCollection[dict[str, Any]],
    viewer: Viewer,
    what: str,
    object_id: ObjectId,
    field: str = "id",
) -> ClientError:
    """The error for a write limited by `write_scope` that matched nothing: FORBIDDEN for an
    object received from a partner, otherwise as `missing` says (read only on this path)."""
    return await received_refusal(collection, what, object_id, field) or missing(
        viewer, what, object_id, field
    )


async def received_refusal(
    collection: AsyncCollection[dict[str, Any]], what: str, object_id: ObjectId, field: str = "id"
) -> Forbidden | None:
    """FORBIDDEN if the object was received from a roaming partner (one read), else None."""
    received = await collection.find_one(
        {"_id": object_id, **RECEIVED_ONLY}, projection={RECEIVED_FROM: 1}
    )
    if received is not None:
        try:
            refuse_received(received, what, field)
        except Forbidden as refusal:
            return refusal
    return None


def missing(viewer: Viewer, what: str, object_id: ObjectId, field: str) -> ClientError:
    """The error for a write whose object is absent from the caller's scope.

    Admins see everything, so for them it does not exist; for an organization
    key it may be another organization's, and must not say which.
    """
    if viewer.is_admin:
        return NotFound(f"{what} {object_id} does not exist", field=field)
    return _not_covered(field, object_id)


def _not_covered(field: str, object_id: ObjectId) -> Forbidden:
    return Forbidden(
        f"{field}: this API key does not cover {object_id}; a key acts only on its own "
        "organization",
        field=field,
    )
