"""API keys: issuing, checking and revoking them.

A key is `cgk_` followed by 43 URL-safe characters (256 random bits). Only its
SHA-256 is stored, with its first characters for display. Every request that
carries a key looks it up again, so a revoked key stops working at once in
every process. Whatever holds a key's long-lived work (the live domain's
subscriptions) listens with `on_revoked` and ends it at once in the process
that revoked the key; other processes poll `still_valid`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from bson import ObjectId

from graph.access.models import ApiKeyDocument, api_keys_collection
from graph.access.types import ApiKey, AppKey, CreatedApiKey, CreatedAppKey
from graph.core.errors import BadUserInput, ClientError, Conflict, Unauthenticated
from graph.core.listeners import Listeners
from graph.core.rate_limit import TokenBuckets, refusal
from graph.core.timestamps import now
from graph.core.validators import check_text
from graph.core.viewer import (
    ADMIN,
    ANONYMOUS,
    Role,
    Viewer,
    missing,
    require_admin,
    require_manager,
    write_scope,
)
from graph.organizations import service as organizations

log = logging.getLogger(__name__)

KEY_PREFIX = "cgk_"
APP_KEY_PREFIX = "cga_"
MAX_APP_SEARCHES_PER_MINUTE = 1_000_000
_SHOWN_CHARACTERS = 10
# Longer than any key this server issues or should accept as an admin key.
_MAX_KEY_LENGTH = 256
MIN_ADMIN_KEY_LENGTH = 24
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Unknown keys one client address may present per minute, counted by the key's
# first characters: a client retrying a wrong key is refused before any lookup,
# while other keys from the same address (users behind one NAT) still work.
FAILURES_PER_MINUTE = 30
# Live keys one organization may hold: a leaked key cannot mint keys without end.
MAX_KEYS_PER_ORGANIZATION = 25

# Told (key id, the error to end its work with) when this process revokes a key.
revocation_listeners: Listeners[[ObjectId, ClientError]] = Listeners()
on_revoked = revocation_listeners.add


def _revoked(key_ids: Iterable[ObjectId]) -> None:
    for key_id in key_ids:
        log.info("API key %s revoked", key_id)
        revocation_listeners.tell(key_id, revoked_error())


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def revoked_error() -> Unauthenticated:
    return Unauthenticated("the API key is unknown or has been revoked")


class Authenticator:
    """Turns an `Authorization` value (or a WebSocket init payload) into a Viewer."""

    def __init__(self, admin_keys: Iterable[str]) -> None:
        keys = [key for key in admin_keys if key]
        unfit = [key for key in keys if len(key) < MIN_ADMIN_KEY_LENGTH or not key.isascii()]
        if unfit:
            raise ValueError(
                f"CHARGEGRAPH_ADMIN_KEYS: every admin key must be at least "
                f"{MIN_ADMIN_KEY_LENGTH} ASCII characters long"
            )
        self._admin_digests = [_digest(key).encode() for key in keys]
        self._failures = TokenBuckets(FAILURES_PER_MINUTE)

    async def authenticate(self, authorization: object, address: str) -> Viewer:
        """The caller for a credential; no credential is anonymous, a bad one is refused.

        An address that presented too many unknown keys lately is refused
        (RATE_LIMITED) before its keys are looked up.
        """
        if authorization is None or authorization == "":
            return ANONYMOUS
        if not isinstance(authorization, str):
            raise Unauthenticated("authorization must be a string 'Bearer <key>'")
        scheme, _, key = authorization.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise Unauthenticated("authorization must be 'Bearer <key>'")
        # Every key this server accepts is short ASCII; anything else cannot match.
        if len(key) > _MAX_KEY_LENGTH or not key.isascii():
            raise revoked_error()
        digest = _digest(key)
        # Compare with every admin key, in constant time, whatever the outcome.
        is_admin = False
        for admin_digest in self._admin_digests:
            is_admin |= hmac.compare_digest(digest.encode(), admin_digest)
        if is_admin:
            return ADMIN
        guess = (address, key[:_SHOWN_CHARACTERS])
        wait = self._failures.wait_for(guess, 1)
        if wait > 0:
            raise refusal("too many requests with this unknown API key from this address", wait)
        doc = None
        if key.startswith((KEY_PREFIX, APP_KEY_PREFIX)):
            doc = await api_keys_collection().find_one({"hash": digest, "revokedAt": None})
        if doc is None:
            self._failures.take(guess, 1)
            raise revoked_error()
        await _note_use(doc)
        if doc.get("kind") == "app":
            return Viewer(
                Role.APP,
                key_id=doc["_id"],
                app=doc["name"],
                searches_per_minute=doc.get("searchesPerMinute"),
            )
        return Viewer(
            Role.ORGANIZATION,
            organization_id=doc["organization"],
            key_id=doc["_id"],
            key_name=doc.get("name"),
            organization_active=await organizations.is_active(doc["organization"]),
        )

    @staticmethod
    async def recheck(viewer: Viewer) -> None:
        """Refuse a long-lived connection's key if it was revoked since it connected."""
        if viewer.key_id is None:
            return
        found = await api_keys_collection().count_documents(
            {"_id": viewer.key_id, "revokedAt": None}, limit=1
        )
        if not found:
            raise revoked_error()


async def _note_use(doc: dict[str, Any]) -> None:
    """Record the key's use, at most once a minute (a write per request would cost too much)."""
    moment = now()
    last = doc.get("lastUsedAt")
    if last is None or moment - last >= LAST_USED_RESOLUTION:
        await api_keys_collection().update_one(
            {"_id": doc["_id"]}, {"$set": {"lastUsedAt": moment}}
        )


async def create(viewer: Viewer, organization_id: ObjectId, name: str) -> CreatedApiKey:
    """Issue a key for an organization; the caller must manage it."""
    require_manager(viewer, organization_id, "organizationId", "createApiKey")
    label = check_text(name, "name", required=True)
    await organizations.require(organization_id, "organizationId")
    live = {"organization": organization_id, "revokedAt": None}
    if await api_keys_collection().count_documents(live) >= MAX_KEYS_PER_ORGANIZATION:
        raise Conflict(
            f"organizationId: the organization already has {MAX_KEYS_PER_ORGANIZATION} keys "
            "that are not revoked; revoke one before creating another",
            field="organizationId",
        )
    key, stored = await _issue(
        KEY_PREFIX, organization=organization_id, name=label, createdBy=viewer.key_id
    )
    log.info(
        "API key %s created for organization %s by %s",
        stored["_id"],
        organization_id,
        f"key {viewer.key_id}" if viewer.key_id else "an administrator",
    )
    return CreatedApiKey(key=key, api_key=ApiKey.from_document(stored))


async def _issue(prefix: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """A new random key and its stored record (its hash and first characters only)."""
    key = prefix + secrets.token_urlsafe(32)
    document = ApiKeyDocument(
        prefix=key[:_SHOWN_CHARACTERS], hash=_digest(key), createdAt=now(), **fields
    )
    await document.insert()
    return key, {"_id": document.id, **document.model_dump(exclude={"id"})}


async def revoke(viewer: Viewer, key_id: ObjectId) -> ObjectId:
    """Revoke an organization's key; its requests fail from now on and its subscriptions end."""
    scope = {"kind": {"$ne": "app"}, **write_scope(viewer, "revokeApiKey")}
    return await _revoke(viewer, key_id, scope, "API key")


async def _revoke(viewer: Viewer, key_id: ObjectId, scope: dict[str, Any], what: str) -> ObjectId:
    result = await api_keys_collection().update_one(
        {"_id": key_id, "revokedAt": None, **scope}, {"$set": {"revokedAt": now()}}
    )
    if result.matched_count == 0:
        raise missing(viewer, what, key_id, "id")
    _revoked([key_id])
    return key_id


async def create_app_key(viewer: Viewer, name: str, searches_per_minute: int) -> CreatedAppKey:
    """Issue a read-only key for a client application, with its own search allowance."""
    require_admin(viewer, "createAppKey")
    label = check_text(name, "name", required=True)
    if not 1 <= searches_per_minute <= MAX_APP_SEARCHES_PER_MINUTE:
        raise BadUserInput(
            f"searchesPerMinute must be between 1 and {MAX_APP_SEARCHES_PER_MINUTE}, got "
            f"{searches_per_minute}",
            field="searchesPerMinute",
        )
    key, stored = await _issue(
        APP_KEY_PREFIX, kind="app", name=label, searchesPerMinute=searches_per_minute
    )
    log.info("app key %s created for %r", stored["_id"], label)
    return CreatedAppKey(key=key, app_key=AppKey.from_document(stored))


async def app_keys(viewer: Viewer) -> list[AppKey]:
    """Every app key not revoked, oldest first (admins only)."""
    require_admin(viewer, "appKeys")
    rows = api_keys_collection().find({"kind": "app", "revokedAt": None}, sort=[("_id", 1)])
    return [AppKey.from_document(row) async for row in rows]


async def revoke_app_key(viewer: Viewer, key_id: ObjectId) -> ObjectId:
    """Revoke an app key (admins only)."""
    require_admin(viewer, "revokeAppKey")
    return await _revoke(viewer, key_id, {"kind": "app"}, "app key")


async def revoke_organization_keys(organization_id: ObjectId) -> None:
    """Revoke every live key of an organization (it was deleted)."""
    live = {"organization": organization_id, "revokedAt": None}
    key_ids = [row["_id"] async for row in api_keys_collection().find(live, projection={"_id": 1})]
    await api_keys_collection().update_many(
        {"_id": {"$in": key_ids}, "revokedAt": None}, {"$set": {"revokedAt": now()}}
    )
    _revoked(key_ids)


async def still_valid(key_ids: Iterable[ObjectId]) -> set[ObjectId]:
    """Which of these keys are not revoked (one query)."""
    return {
        row["_id"]
        async for row in api_keys_collection().find(
            {"_id": {"$in": sorted(key_ids)}, "revokedAt": None}, projection={"_id": 1}
        )
    }
