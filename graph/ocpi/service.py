"""OCPI partners and the credentials handshake, in both directions.

A partner is invited with a Token A (createOcpiPartner). It calls this server's
versions with A and POSTs its credentials, carrying its Token B and its
versions URL; this server fetches the partner's 2.2.1 endpoints with B and
answers with a new Token C, after which A no longer works. Only hashes of the
tokens this server issues (A, C) are stored; B is kept, since it is sent.
The other way round (connectOcpiPartner), this server is the Sender: it
issues B, of which it keeps the hash, and keeps the partner's C.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from bson import ObjectId
from pymongo import ReturnDocument

from graph.connectors.replica import ConnectorReplica
from graph.core.errors import BadUserInput
from graph.core.timestamps import now
from graph.core.validators import check_text
from graph.core.viewer import Viewer, missing, require_admin
from graph.ocpi import ingest
from graph.ocpi.models import (
    PENDING,
    REGISTERED,
    OcpiPartnerDocument,
    outbox_collection,
    partners_collection,
)
from graph.ocpi.protocol import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    NO_MATCHING_ENDPOINTS,
    TOKEN_PATTERN,
    UNABLE_TO_USE_CLIENT_API,
    UNSUPPORTED_VERSION,
    VERSION,
    OcpiError,
    authorization,
    digest,
    new_token,
)
from graph.ocpi.push import REFRESH_SECONDS
from graph.ocpi.settings import OcpiSettings

log = logging.getLogger(__name__)


async def create_partner(viewer: Viewer, name: str, raw_token: bool) -> tuple[dict[str, Any], str]:
    """Invite a partner: its record and the Token A to hand it out of band (admins only)."""
    require_admin(viewer, "createOcpiPartner")
    label = check_text(name, "name", required=True)
    token_a = new_token()
    at = now()
    document = OcpiPartnerDocument(
        name=label, tokenHash=digest(token_a), rawToken=raw_token, createdAt=at, updatedAt=at
    )
    await document.insert()
    log.info("OCPI partner %s invited (%r)", document.id, label)
    return {"_id": document.id, **document.model_dump(exclude={"id"})}, token_a


async def partners(viewer: Viewer) -> list[dict[str, Any]]:
    """Every partner, oldest first (admins only)."""
    require_admin(viewer, "ocpiPartners")
    return [row async for row in partners_collection().find({}, sort=[("_id", 1)])]


async def delete_partner(
    viewer: Viewer, partner_id: ObjectId, replica: ConnectorReplica
) -> ObjectId:
    """Forget a partner (admins only): its token stops working at once, then what it sent
    and what waits to be pushed to it are removed, then the partner."""
    require_admin(viewer, "deleteOcpiPartner")
    if await _cut_off({"_id": partner_id}, {"status": PENDING}) is None:
        raise missing(viewer, "OCPI partner", partner_id, "id")
    await _forget(partner_id, replica)
    await partners_collection().delete_one({"_id": partner_id})
    log.info("OCPI partner %s deleted, with what it sent", partner_id)
    return partner_id


async def _cut_off(which: dict[str, Any], more: dict[str, Any]) -> dict[str, Any] | None:
    """The partner's token dies and its endpoints are forgotten: no call in or out."""
    result: dict[str, Any] | None = await partners_collection().find_one_and_update(
        which,
        {
            "$set": {"tokenHash": None, "endpoints": [], "updatedAt": now(), **more},
            "$unset": {"partnerToken": "", "pulledFrom": "", "fullyPulledFrom": ""},
        },
    )
    _partners_changed()
    return result


async def _forget(partner_id: ObjectId, replica: ConnectorReplica) -> None:
    """Remove the Locations received from a partner and the pushes waiting for it: a
    partner no longer registered keeps none of them current.

    Once cut off, it is given SETTLE_SECONDS first: every process has stopped taking its
    calls (PARTNER_CACHE_SECONDS) and pushing to it (push.REFRESH_SECONDS), and calls
    already under way have ended, so none stores anything after the removal.
    """
    await asyncio.sleep(SETTLE_SECONDS)
    await ingest.forget_partner(partner_id, replica)
    await outbox_collection().delete_many({"partner": partner_id})


# Partners by the digests of the tokens they presented, kept this long: a partner's calls
# come in bursts (a PATCH per status change), and each would read its partner again.
# This process's own writes to partners empty it at once; another process's (a deletion,
# an unregistering, a rotated token) are seen within this long.
PARTNER_CACHE_SECONDS = 1.0
# How long a partner cut off is given before what it sent is removed (`_forget`).
SETTLE_SECONDS = max(PARTNER_CACHE_SECONDS, REFRESH_SECONDS) + 1.0
# More entries than this empty it (random tokens are never kept: only partners found).
_MAX_CACHED = 1000
_recent: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
# Counts this process's partner writes: a read that began before one is not kept.
_generation = [0]


def _partners_changed() -> None:
    _generation[0] += 1
    _recent.clear()


async def partner_with_token(tokens: list[str]) -> dict[str, Any] | None:
    """The partner presenting one of these tokens, if any."""
    if not tokens:
        return None
    digests = tuple(digest(token) for token in tokens)
    kept = _recent.get(digests)
    if kept is not None and time.monotonic() - kept[0] < PARTNER_CACHE_SECONDS:
        return dict(kept[1])
    generation = _generation[0]
    found = await partners_collection().find_one({"tokenHash": {"$in": list(digests)}})
    if found is None:
        _recent.pop(digests, None)
        return None
    # Only registered partners are kept: one registering is read afresh until it is.
    if found.get("status") == REGISTERED and generation == _generation[0]:
        if len(_recent) >= _MAX_CACHED:
            _recent.clear()
        _recent[digests] = (time.monotonic(), found)
    return dict(found)


def _credentials_of(body: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """The token, versions URL and roles of a credentials object, or 2001 naming the field."""
    if not isinstance(body, dict):
        raise OcpiError(INVALID_PARAMETERS, "the body must be a credentials object")
    token, url, roles = body.get("token"), body.get("url"), body.get("roles")
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        raise OcpiError(
            INVALID_PARAMETERS, "token must be 1 to 64 printable non-whitespace ASCII characters"
        )
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise OcpiError(INVALID_PARAMETERS, "url must be the http(s) URL of the versions endpoint")
    if not isinstance(roles, list) or not roles:
        raise OcpiError(INVALID_PARAMETERS, "roles must be a non-empty list")
    for index, role in enumerate(roles):
        if not (
            isinstance(role, dict)
            and isinstance(role.get("role"), str)
            and isinstance(role.get("country_code"), str)
            and len(role["country_code"]) == 2
            and isinstance(role.get("party_id"), str)
            and len(role["party_id"]) == 3
            and isinstance(role.get("business_details"), dict)
        ):
            raise OcpiError(
                INVALID_PARAMETERS,
                f"roles[{index}] must have role, country_code (2), party_id (3), business_details",
            )
    return token, url, roles


async def _get_data(client: httpx.AsyncClient, url: str, token: str, raw: bool) -> Any:
    """The `data` of a successful OCPI answer from a partner, or 3001."""
    try:
        response = await client.get(url, headers={"Authorization": authorization(token, raw=raw)})
        body = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise OcpiError(UNABLE_TO_USE_CLIENT_API, f"could not read {url}: {error}") from error
    if response.status_code != 200 or not isinstance(body, dict) or body.get("status_code") != 1000:
        raise OcpiError(
            UNABLE_TO_USE_CLIENT_API, f"{url} answered HTTP {response.status_code}: {body}"
        )
    return body.get("data")


async def fetch_endpoints(
    settings: OcpiSettings, versions_url: str, token: str, raw: bool
) -> list[dict[str, str]]:
    """The partner's 2.2.1 endpoints, read from its versions with its token."""
    async with httpx.AsyncClient(timeout=settings.call_timeout_seconds) as client:
        versions = await _get_data(client, versions_url, token, raw)
        details_url = next(
            (
                entry.get("url")
                for entry in versions or []
                if isinstance(entry, dict) and entry.get("version") == VERSION
            ),
            None,
        )
        if not isinstance(details_url, str):
            raise OcpiError(UNSUPPORTED_VERSION, f"the partner offers no OCPI {VERSION}")
        details = await _get_data(client, details_url, token, raw)
    endpoints = details.get("endpoints") if isinstance(details, dict) else None
    if not isinstance(endpoints, list) or not any(
        isinstance(e, dict) and e.get("identifier") == "credentials" for e in endpoints
    ):
        raise OcpiError(NO_MATCHING_ENDPOINTS, "the partner's 2.2.1 endpoints lack credentials")
    return [
        {"identifier": str(e["identifier"]), "role": str(e.get("role", "")), "url": str(e["url"])}
        for e in endpoints
        if isinstance(e, dict) and "identifier" in e and "url" in e
    ]


async def exchange(
    settings: OcpiSettings, partner: dict[str, Any], body: Any, *, registering: bool
) -> str:
    """POST (`registering`) or PUT credentials: read the partner's endpoints with its new token,
    store them and return a new Token C; the token the partner presented dies."""
    if registering != (partner["status"] == PENDING):
        raise OcpiError(
            INVALID_PARAMETERS,
            "already registered: use PUT" if registering else "not registered: use POST",
            http_status=405,
        )
    token_b, url, roles = _credentials_of(body)
    endpoints = await fetch_endpoints(settings, url, token_b, partner["rawToken"])
    token_c = new_token()
    result = await partners_collection().update_one(
        _this_token(partner),
        {
            "$set": {
                "status": REGISTERED,
                "tokenHash": digest(token_c),
                "partnerToken": token_b,
                "versionsUrl": url,
                "endpoints": endpoints,
                "roles": roles,
                "updatedAt": now(),
            }
        },
    )
    _partners_changed()
    if result.matched_count == 0:
        raise OcpiError(INVALID_PARAMETERS, "the token changed meanwhile", http_status=401)
    log.info("OCPI partner %s %s", partner["_id"], "registered" if registering else "updated")
    return token_c


def _this_token(partner: dict[str, Any]) -> dict[str, Any]:
    """The partner as read, while the token it was found by is still its own."""
    return {"_id": partner["_id"], "tokenHash": partner["tokenHash"]}


async def unregister(partner: dict[str, Any], replica: ConnectorReplica) -> None:
    """DELETE credentials: the partner's token dies, its endpoints are forgotten, and so are
    the Locations it sent (registered again, it is pulled whole again)."""
    if partner["status"] != REGISTERED:
        raise OcpiError(INVALID_PARAMETERS, "not registered", http_status=405)
    # By the token it presented too: an old token (rotated since) unregisters nothing.
    if await _cut_off(_this_token(partner), {"status": PENDING}) is None:
        raise OcpiError(CLIENT_ERROR, "missing or unknown token", http_status=401)
    await _forget(partner["_id"], replica)
    log.info("OCPI partner %s unregistered; what it sent is forgotten", partner["_id"])


async def connect_partner(
    viewer: Viewer,
    settings: OcpiSettings,
    name: str,
    versions_url: str,
    token_a: str,
    raw_token: bool,
    own_credentials: Callable[[str], dict[str, Any]],
) -> dict[str, Any]:
    """Register with a partner that handed out a Token A (admins only): read its endpoints
    with A, POST this server's credentials carrying a new Token B, keep its Token C."""
    require_admin(viewer, "connectOcpiPartner")
    label = check_text(name, "name", required=True)
    if not versions_url.startswith(("http://", "https://")):
        raise BadUserInput("versionsUrl must be an http(s) URL", field="versionsUrl")
    if not TOKEN_PATTERN.match(token_a):
        raise BadUserInput(
            "tokenA must be 1 to 64 printable non-whitespace ASCII characters", field="tokenA"
        )
    try:
        endpoints = await fetch_endpoints(settings, versions_url, token_a, raw_token)
    except OcpiError as error:
        raise BadUserInput(f"versionsUrl: {error.message}", field="versionsUrl") from error
    credentials_url = next(e["url"] for e in endpoints if e["identifier"] == "credentials")
    # The partner calls this server's versions with Token B while it answers the POST.
    token_b = new_token()
    at = now()
    document = OcpiPartnerDocument(
        name=label,
        tokenHash=digest(token_b),
        rawToken=raw_token,
        versionsUrl=versions_url,
        endpoints=endpoints,
        createdAt=at,
        updatedAt=at,
    )
    await document.insert()
    try:
        async with httpx.AsyncClient(timeout=settings.call_timeout_seconds) as client:
            response = await client.post(
                credentials_url,
                json=own_credentials(token_b),
                headers={"Authorization": authorization(token_a, raw=raw_token)},
            )
        body = response.json()
        if (
            response.status_code != 200
            or not isinstance(body, dict)
            or body.get("status_code") != 1000
        ):
            raise OcpiError(UNABLE_TO_USE_CLIENT_API, f"HTTP {response.status_code}: {body}")
        token_c, _, roles = _credentials_of(body.get("data"))
    except (httpx.HTTPError, ValueError, OcpiError) as error:
        await partners_collection().delete_one({"_id": document.id})
        _partners_changed()
        message = error.message if isinstance(error, OcpiError) else str(error)
        raise BadUserInput(
            f"versionsUrl: the partner refused the registration: {message}", field="versionsUrl"
        ) from error
    stored = await partners_collection().find_one_and_update(
        {"_id": document.id},
        {
            "$set": {
                "status": REGISTERED,
                "partnerToken": token_c,
                "roles": roles,
                "updatedAt": now(),
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    _partners_changed()
    log.info("registered with OCPI partner %s (%r)", document.id, label)
    assert stored is not None
    return stored
