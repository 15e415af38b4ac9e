"""Organization business rules: validation, write-only secrets, safe deletion.

Other domains own what belongs to an organization (connectors, API keys,
charge stations). They take part in its deletion through two hooks, set once
when their plugin is imported: `refuse_deletion_when` (a guard that names
what still belongs to it) and `after_deletion` (clean-up, e.g. revoking keys).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from graph.core.errors import BadUserInput, Conflict, NotFound
from graph.core.inputs import given_fields, require_value
from graph.core.pagination import Connection, id_ordered_page
from graph.core.replica import Documents, Replica
from graph.core.timestamps import now
from graph.core.validators import check_text
from graph.core.viewer import (
    RECEIVED_FROM,
    RECEIVED_ONLY,
    Viewer,
    refuse_received,
    require_admin,
    require_manager,
)
from graph.organizations.models import Address, Configurations, OcpiParty, OrganizationDocument
from graph.organizations.types import (
    AddressInput,
    CreateOrganizationInput,
    OcpiPartyInput,
    Organization,
    OrganizationConfigurationsInput,
)

_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
_PARTY_ID = re.compile(r"[A-Z0-9]{3}", re.ASCII)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ADDRESS_NAMES = {
    "street_and_number": "streetAndNumber",
    "postal_code": "postalCode",
    "city": "city",
    "country": "country",
}
# scrypt cost: about 50 ms per hash, paid only when a password is set or checked.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


DeletionGuard = Callable[[ObjectId], Awaitable[str | None]]
"""Names what still belongs to an organization (e.g. "3 connector(s)"), or None."""
AfterDeletion = Callable[[ObjectId], Awaitable[None]]

_deletion_guards: list[DeletionGuard] = []
_after_deletion: list[AfterDeletion] = []


def refuse_deletion_when(guard: DeletionGuard) -> None:
    """Refuse to delete an organization while `guard` names something that belongs to it."""
    _deletion_guards.append(guard)


def after_deletion(hook: AfterDeletion) -> None:
    """Run `hook` with the id of every organization once it is deleted."""
    _after_deletion.append(hook)


def collection() -> AsyncCollection[dict[str, Any]]:
    """The raw organizations collection."""
    return OrganizationDocument.get_pymongo_collection()


# --- secrets --------------------------------------------------------------


def hash_password(password: str) -> str:
    """A salted scrypt hash; the only form in which a password is stored."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Does `password` match a hash made by `hash_password`? (About 50 ms: run it off the loop.)"""
    try:
        scheme, salt, digest = (stored_hash or "").split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), **_SCRYPT)
    return hmac.compare_digest(candidate, base64.b64decode(digest))


@cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def decoy_password_check(password: str) -> None:
    """Spend the time of a password check, for refusals that must not differ in time."""
    password_matches(_decoy_hash(), password)


# --- validation -----------------------------------------------------------


def address_changes(value: AddressInput, field: str) -> dict[str, str | None]:
    """The address parts given, validated (`field` names the input in errors)."""
    changes: dict[str, str | None] = {}
    for name, part in given_fields(value).items():
        stored = _ADDRESS_NAMES[name]
        part_field = f"{field}.{stored}"
        if part is None:
            changes[stored] = None
            continue
        text = check_text(part, part_field)
        if stored == "country" and not _COUNTRY.fullmatch(text):
            raise BadUserInput(
                f"{part_field} must be an ISO 3166-1 alpha-2 code such as NL, got {text[:20]!r}",
                field=part_field,
            )
        changes[stored] = text or None
    return changes


def _ocpi_party(value: OcpiPartyInput, field: str) -> OcpiParty:
    """The OCPI identity given, or BAD_USER_INPUT naming the part that is not one."""
    if not _COUNTRY.fullmatch(value.country_code):
        raise BadUserInput(
            f"{field}.countryCode must be an ISO 3166-1 alpha-2 code such as NL, got "
            f"{value.country_code[:20]!r}",
            field=f"{field}.countryCode",
        )
    if not _PARTY_ID.fullmatch(value.party_id):
        raise BadUserInput(
            f"{field}.partyId must be 3 capital letters or digits, got {value.party_id[:20]!r}",
            field=f"{field}.partyId",
        )
    return OcpiParty(countryCode=value.country_code, partyId=value.party_id)


def address_update(value: AddressInput | None, field: str) -> dict[str, Any]:
    """What to $set for an address update: the parts given, or an empty address for null."""
    if value is None:
        return {"address": Address().model_dump()}
    return {f"address.{part}": text for part, text in address_changes(value, field).items()}


async def _configuration_changes(
    value: OrganizationConfigurationsInput, field: str, current: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate configuration changes against the stored configuration `current`."""
    given = given_fields(value)
    changes: dict[str, Any] = {}
    password_field = f"{field}.basicAuthPassword"
    if "basic_auth_password" in given:
        password = given["basic_auth_password"]
        if password is None:
            changes["basicAuthPassword"] = None
        elif not 8 <= len(password) <= 128 or _SURROGATE.search(password):
            raise BadUserInput(
                f"{password_field} must be 8 to 128 characters long, in valid Unicode",
                field=password_field,
            )
        else:
            changes["basicAuthPassword"] = await asyncio.to_thread(hash_password, password)
    for name, stored in (("basic_auth_enabled", "basicAuthEnabled"), ("free_vend", "freeVend")):
        if name in given:
            require_value(given[name], f"{field}.{stored}")
            changes[stored] = given[name]
    # Judge the configuration as it would be after the change.
    after = {**current, **changes}
    if after.get("basicAuthEnabled") and after.get("basicAuthPassword") is None:
        raise BadUserInput(
            f"{password_field} is required while basicAuthEnabled is true", field=password_field
        )
    return changes


# --- reads ----------------------------------------------------------------


async def get(organization_id: ObjectId, held: Documents | None = None) -> Organization | None:
    """One organization, from `held` (the replica, when loaded) if it has it."""
    doc = held.get(organization_id) if held is not None else None
    if doc is None:
        # Not held: perhaps created by another process, its change still on its way.
        doc = await collection().find_one({"_id": organization_id})
    return Organization.from_document(doc) if doc else None


@dataclass(frozen=True)
class StationSettings:
    """What an organization decides about how its charge stations connect."""

    active: bool
    basic_auth_enabled: bool
    password_hash: str | None
    free_vend: bool


async def station_settings(organization_id: ObjectId) -> StationSettings | None:
    """The organization's station settings (None when it does not exist)."""
    doc = await collection().find_one(
        {"_id": organization_id}, projection={"active": 1, "configurations": 1}
    )
    if doc is None:
        return None
    configurations = doc.get("configurations") or {}
    return StationSettings(
        active=doc.get("active", True),
        basic_auth_enabled=bool(configurations.get("basicAuthEnabled", False)),
        password_hash=configurations.get("basicAuthPassword"),
        free_vend=bool(configurations.get("freeVend", False)),
    )


async def is_active(organization_id: ObjectId) -> bool:
    """Is the organization there and active (what its keys need to write)?"""
    query = {"_id": organization_id, "active": {"$ne": False}}
    return await collection().count_documents(query, limit=1) > 0


async def require(organization_id: ObjectId, field: str) -> None:
    """Refuse with NOT_FOUND when a referenced organization does not exist."""
    found = await collection().find_one({"_id": organization_id}, projection={RECEIVED_FROM: 1})
    if found is None:
        raise NotFound(f"{field}: organization {organization_id} does not exist", field=field)
    # Nothing is added to an organization that stands for a roaming partner's party.
    refuse_received(found, "organization", field)


async def by_ids(
    ids: list[ObjectId], held: Documents | None = None
) -> dict[ObjectId, Organization]:
    """Several organizations: those `held` has (the replica, when loaded), the rest in one
    round trip (a connector read from the database may name one the replica has not yet
    seen created)."""
    found = held.get_many(ids) if held is not None else {}
    missing = [key for key in ids if key not in found]
    if missing:
        rows = await collection().find({"_id": {"$in": missing}}).to_list()
        found.update((row["_id"], row) for row in rows)
    return {key: Organization.from_document(doc) for key, doc in found.items()}


async def page(first: int, after: str | None) -> Connection[Organization]:
    return await id_ordered_page(collection(), {}, first, after, Organization.from_document)


# --- writes ---------------------------------------------------------------


async def create(
    viewer: Viewer, data: CreateOrganizationInput, replica: Replica[Documents]
) -> Organization:
    require_admin(viewer, "createOrganization")
    name = check_text(data.name, "input.name", required=True)
    address = address_changes(data.address, "input.address") if data.address else {}
    configurations = (
        await _configuration_changes(data.configurations, "input.configurations", {})
        if data.configurations
        else {}
    )
    ocpi = _ocpi_party(data.ocpi, "input.ocpi") if data.ocpi else None
    moment = now()
    document = OrganizationDocument(
        name=name,
        address=Address(**address),
        configurations=Configurations(**configurations),
        ocpi=ocpi,
        active=data.active,
        createdAt=moment,
        updatedAt=moment,
    )
    async with replica.session() as session:
        await document.insert(session=session)
        assert document.id is not None  # set by the insert
        stored = {"_id": document.id, **document.model_dump(exclude={"id"})}
        replica.wrote(document.id, stored, session)
    return Organization.from_document(stored)


async def update(
    viewer: Viewer,
    organization_id: ObjectId,
    fields: Mapping[str, Any],
    replica: Replica[Documents],
) -> Organization:
    require_manager(viewer, organization_id, "id", "updateOrganization")
    current = await collection().find_one({"_id": organization_id})
    if current is None:
        raise NotFound(f"organization {organization_id} does not exist", field="id")
    refuse_received(current, "organization")
    to_set: dict[str, Any] = {}
    for name, value in fields.items():
        field = f"input.{name}"
        if name in ("name", "active", "configurations"):
            require_value(value, field)
        if name == "name":
            to_set["name"] = check_text(value, field, required=True)
        elif name == "active":
            # An admin's decision: an organization's own key must not undo its deactivation.
            require_admin(viewer, f"changing {field}")
            to_set["active"] = value
        elif name == "address":
            to_set.update(address_update(value, field))
        elif name == "ocpi":
            # Which party an organization is in roaming is an administrator's decision.
            require_admin(viewer, f"changing {field}")
            to_set["ocpi"] = _ocpi_party(value, field).model_dump() if value else None
        elif name == "configurations":
            stored = current.get("configurations") or {}
            changes = await _configuration_changes(value, field, stored)
            for part, setting in changes.items():
                to_set[f"configurations.{part}"] = setting
    if not to_set:
        return Organization.from_document(current)
    async with replica.session() as session:
        doc = await collection().find_one_and_update(
            {"_id": organization_id},
            {"$set": {**to_set, "updatedAt": now()}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if doc is None:
            raise NotFound(f"organization {organization_id} does not exist", field="id")
        replica.wrote(organization_id, doc, session)
    return Organization.from_document(doc)


async def delete(
    viewer: Viewer, organization_id: ObjectId, replica: Replica[Documents]
) -> ObjectId:
    """Delete an organization that nothing belongs to any more; the hooks clean up after it."""
    require_admin(viewer, "deleteOrganization")
    current = await collection().find_one({"_id": organization_id}, projection={RECEIVED_FROM: 1})
    if current is not None:
        refuse_received(current, "organization")
    for guard in _deletion_guards:
        remaining = await guard(organization_id)
        if remaining:
            raise Conflict(
                f"organization {organization_id} still has {remaining}; delete or move them first",
                field="id",
            )
    async with replica.session() as session:
        result = await collection().delete_one({"_id": organization_id}, session=session)
        if result.deleted_count == 0:
            raise NotFound(f"organization {organization_id} does not exist", field="id")
        replica.wrote(organization_id, None, session)
    for hook in _after_deletion:
        await hook(organization_id)
    return organization_id


# --- organizations received over OCPI ------------------------------------------------


async def received_parties(partner: ObjectId) -> list[ObjectId]:
    """The organizations standing for a roaming partner's parties."""
    return [
        ObjectId(found["_id"])
        async for found in collection().find(
            {f"{RECEIVED_FROM}.partner": partner}, projection={"_id": 1}
        )
    ]


async def delete_received(organization_ids: list[ObjectId]) -> None:
    """Delete organizations standing for partners' parties (their stations and connectors
    first); organizations of this network are never selected."""
    await collection().delete_many({"_id": {"$in": organization_ids}, **RECEIVED_ONLY})
    # As after any deletion: e.g. API keys an administrator issued for one are revoked.
    for organization_id in organization_ids:
        for hook in _after_deletion:
            await hook(organization_id)


async def received_party(
    partner: ObjectId, partner_name: str, country_code: str, party_id: str, name: str
) -> ObjectId:
    """The organization standing for a roaming partner's party (created on first use).

    It has no OCPI identity of its own (`ocpi` stays null), so nothing of it is
    published back to partners; `receivedFrom` marks it as the partner's.
    """
    key = {
        f"{RECEIVED_FROM}.partner": partner,
        f"{RECEIVED_FROM}.countryCode": country_code,
        f"{RECEIVED_FROM}.partyId": party_id,
    }
    found = await collection().find_one(key, projection={"_id": 1})
    if found is not None:
        return ObjectId(found["_id"])
    moment = now()
    origin = {
        "partner": partner,
        "name": partner_name,
        "countryCode": country_code,
        "partyId": party_id,
    }
    try:
        result = await collection().insert_one(
            {
                "name": name,
                "address": {},
                "configurations": Configurations().model_dump(),
                "ocpi": None,
                "active": True,
                RECEIVED_FROM: origin,
                "createdAt": moment,
                "updatedAt": moment,
            }
        )
    except DuplicateKeyError:
        # Another request created it first (the unique `received_party` index).
        found = await collection().find_one(key, projection={"_id": 1})
        assert found is not None
        return ObjectId(found["_id"])
    return ObjectId(result.inserted_id)
