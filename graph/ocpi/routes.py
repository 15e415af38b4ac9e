"""The OCPI HTTP endpoints of this server: versions, version details, credentials, and the
Locations module as CPO (Sender: partners pull ChargeGraph's stations) and as eMSP
(Receiver: partners push their Locations, graph.ocpi.ingest)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from graph.connectors.index import ConnectorIndex
from graph.connectors.replica import ConnectorReplica
from graph.core.context import Services
from graph.core.error_policy import RETRY_AFTER_SECONDS, database_unavailable
from graph.core.group_commit import GroupCommit
from graph.core.rate_limit import TokenBuckets
from graph.ocpi import catalogue, ingest, service
from graph.ocpi.locations import location
from graph.ocpi.models import REGISTERED
from graph.ocpi.paging import Snapshots
from graph.ocpi.protocol import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    SERVER_ERROR,
    VERSION,
    OcpiError,
    digest,
    envelope,
    member,
    presented_tokens,
    refusal,
    unknown_object,
)
from graph.ocpi.received import instant
from graph.ocpi.settings import OcpiSettings

Handler = Callable[[Request, dict[str, Any]], Awaitable[Response]]
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
LOCATIONS_PATH = f"/ocpi/cpo/{VERSION}/locations"
RECEIVER_PATH = f"/ocpi/emsp/{VERSION}/locations"
# An EVSE PATCH of only these fields is a status change (ingest.patch_status, the hot path).
STATUS_PATCH = frozenset({"status", "last_updated"})
# The largest page of Locations this server returns (sent as X-Limit).
MAX_PAGE = 100
# The query parameter of `Link` naming the snapshot a walk pages through (graph.ocpi.paging).
SNAPSHOT = "snapshot"

log = logging.getLogger(__name__)


class OcpiEndpoints:
    """The routes under /ocpi, answering every request (errors too) in the OCPI envelope."""

    def __init__(self, settings: OcpiSettings, services: Services) -> None:
        self.settings = settings
        self.services = services
        self.snapshots = Snapshots()
        # Each partner's calls to this process: a bucket refilled continuously.
        self.calls = TokenBuckets(settings.calls_per_minute)
        # Calls refused for their token, by client address: each cost a database read.
        self.refused = TokenBuckets(settings.refused_per_minute)

    def base_url(self, request: Request) -> str:
        return (self.settings.base_url or str(request.base_url)).rstrip("/")

    def versions_url(self, request: Request) -> str:
        return f"{self.base_url(request)}/ocpi/versions"

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/ocpi/versions", self._guarded(self.versions), methods=_ALL_METHODS),
            Route(f"/ocpi/{VERSION}", self._guarded(self.details), methods=_ALL_METHODS),
            Route(
                f"/ocpi/{VERSION}/credentials",
                self._guarded(self.credentials),
                methods=_ALL_METHODS,
            ),
            Route(
                LOCATIONS_PATH, self._guarded(self.locations, registered=True), methods=_ALL_METHODS
            ),
            Route(
                LOCATIONS_PATH + "/{location_id}",
                self._guarded(self.location_object, registered=True),
                methods=_ALL_METHODS,
            ),
            Route(
                LOCATIONS_PATH + "/{location_id}/{evse_uid}",
                self._guarded(self.location_object, registered=True),
                methods=_ALL_METHODS,
            ),
            Route(
                LOCATIONS_PATH + "/{location_id}/{evse_uid}/{connector_id}",
                self._guarded(self.location_object, registered=True),
                methods=_ALL_METHODS,
            ),
            *(
                Route(
                    RECEIVER_PATH + "/{country_code}/{party_id}/{location_id}" + rest,
                    self._guarded(self.received, registered=True),
                    methods=_ALL_METHODS,
                )
                for rest in ("", "/{evse_uid}", "/{evse_uid}/{connector_id}")
            ),
            # Anything else under /ocpi is unknown, answered in the envelope too.
            Route("/ocpi/{rest:path}", self._unknown, methods=_ALL_METHODS),
        ]

    async def _unknown(self, request: Request) -> Response:
        return envelope(
            request, status_code=CLIENT_ERROR, message="no such OCPI endpoint", http_status=404
        )

    def _guarded(
        self, handler: Handler, *, registered: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """`handler` for a caller with a known token (a registered partner's token, Token C,
        for the functional modules); 401 otherwise; OCPI errors enveloped, and an unavailable
        database too (3000, HTTP 503, Retry-After), as the GraphQL endpoint answers it."""

        async def endpoint(request: Request) -> Response:
            try:
                address = request.client.host if request.client is not None else ""
                refused_wait = self.refused.wait_for(address, 1)
                if refused_wait > 0:
                    return _too_many(request, refused_wait)
                partner = await service.partner_with_token(presented_tokens(request))
                if partner is None or (registered and partner["status"] != REGISTERED):
                    self.refused.take(address, 1)
                    return envelope(
                        request,
                        status_code=CLIENT_ERROR,
                        message="missing or unknown token",
                        http_status=401,
                    )
                wait = self.calls.wait_for(partner["_id"], 1)
                if wait > 0:
                    return _too_many(request, wait)
                self.calls.take(partner["_id"], 1)
                return await handler(request, partner)
            except OcpiError as error:
                return refusal(request, error)
            except PyMongoError as failure:
                if not database_unavailable(failure):
                    log.exception("OCPI %s %s failed", request.method, request.url.path)
                    return _failed(request)
                return _unavailable(request)
            except Exception:
                # Still an OCPI answer (3000 in the envelope), never a bare 500 page.
                log.exception("OCPI %s %s failed", request.method, request.url.path)
                return _failed(request)

        return endpoint

    async def versions(self, request: Request, partner: dict[str, Any]) -> Response:
        _only(request, "GET")
        return envelope(
            request, [{"version": VERSION, "url": f"{self.base_url(request)}/ocpi/{VERSION}"}]
        )

    async def details(self, request: Request, partner: dict[str, Any]) -> Response:
        _only(request, "GET")
        base = self.base_url(request)
        endpoints = [
            {
                "identifier": "credentials",
                "role": "SENDER",
                "url": f"{base}/ocpi/{VERSION}/credentials",
            },
            {"identifier": "locations", "role": "SENDER", "url": f"{base}{LOCATIONS_PATH}"},
            {"identifier": "locations", "role": "RECEIVER", "url": f"{base}{RECEIVER_PATH}"},
        ]
        return envelope(request, {"version": VERSION, "endpoints": endpoints})

    def own_credentials(self, request: Request, token: str) -> dict[str, Any]:
        return {
            "token": token,
            "url": self.versions_url(request),
            "roles": [
                {
                    "role": "CPO",
                    "country_code": self.settings.country_code,
                    "party_id": self.settings.party_id,
                    "business_details": {"name": self.settings.business_name},
                }
            ],
        }

    async def _body(self, request: Request) -> Any:
        """The JSON body, read no further than the size limit (HTTP 413 beyond it)."""
        limit = self.settings.max_body_bytes
        too_large = OcpiError(
            INVALID_PARAMETERS, f"the body exceeds {limit} bytes", http_status=413
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            return json.loads(raw)
        except ValueError as error:
            raise OcpiError(INVALID_PARAMETERS, f"the body is not JSON: {error}") from error
        except RecursionError:
            raise OcpiError(INVALID_PARAMETERS, "the body is nested too deeply") from None

    async def credentials(self, request: Request, partner: dict[str, Any]) -> Response:
        _only(request, "GET", "POST", "PUT", "DELETE")
        if request.method == "GET":
            if partner["status"] != "REGISTERED":
                raise OcpiError(INVALID_PARAMETERS, "not registered", http_status=405)
            # The token the partner presented is the one this server issued it (only its hash
            # is stored).
            token = next(t for t in presented_tokens(request) if digest(t) == partner["tokenHash"])
            return envelope(request, self.own_credentials(request, token))
        if request.method == "DELETE":
            await service.unregister(partner, self.services.get(ConnectorReplica))
            return envelope(request)
        body = await self._body(request)
        token = await service.exchange(
            self.settings, partner, body, registering=request.method == "POST"
        )
        return envelope(request, self.own_credentials(request, token))

    async def locations(self, request: Request, partner: dict[str, Any]) -> Response:
        """A page of Locations, oldest station first, filtered by `last_updated`."""
        _only(request, "GET")
        date_from = _instant(request, "date_from")
        date_to = _instant(request, "date_to")
        offset = _count(request, "offset", 0, lowest=0)
        limit = min(_count(request, "limit", MAX_PAGE, lowest=1), MAX_PAGE)
        index = self.services.get(ConnectorReplica).current()
        token = request.query_params.get(SNAPSHOT)
        matched = self.snapshots.get(token)
        if matched is None:
            sites = [
                site
                for site in await catalogue.published_sites(index)
                if (date_from is None or site.last_changed() >= date_from)
                and (date_to is None or site.last_changed() < date_to)
            ]
            matched = tuple(site.station["_id"] for site in sites)
            token = self.snapshots.keep(matched)
            self._read_ahead(token, matched, offset + limit, limit, index)
            on_page = sites[offset : offset + limit]
        else:
            # The stations of this page as they are now, or as read ahead a moment ago (one
            # unpublished since is left out).
            assert token is not None  # the snapshot was found by it
            self._read_ahead(token, matched, offset + limit, limit, index)
            ids = matched[offset : offset + limit]
            on_page = await self.snapshots.page(
                token, offset, limit, lambda: catalogue.published_sites(index, ids)
            )
        response = envelope(request, [location(site) for site in on_page])
        response.headers["X-Total-Count"] = str(len(matched))
        response.headers["X-Limit"] = str(MAX_PAGE)
        if offset + limit < len(matched):
            following = {
                **request.query_params,
                "offset": str(offset + limit),
                "limit": str(limit),
                SNAPSHOT: token,
            }
            url = f"{self.base_url(request)}{LOCATIONS_PATH}?{urlencode(following)}"
            response.headers["Link"] = f'<{url}>; rel="next"'
        return response

    def _read_ahead(
        self,
        token: str,
        matched: tuple[ObjectId, ...],
        offset: int,
        limit: int,
        index: ConnectorIndex | None,
    ) -> None:
        """Start reading the walk's next page (if any) while this one is answered."""
        ahead = matched[offset : offset + limit]
        if ahead:
            self.snapshots.read_ahead(
                token, offset, limit, lambda: catalogue.published_sites(index, ahead)
            )

    async def location_object(self, request: Request, partner: dict[str, Any]) -> Response:
        """One Location, one of its EVSEs, or one EVSE's Connector."""
        _only(request, "GET")
        parameters = request.path_params
        try:
            station_id = ObjectId(parameters["location_id"])
        except (InvalidId, TypeError) as error:
            raise unknown_object("Location", parameters["location_id"], PUBLISHED) from error
        index = self.services.get(ConnectorReplica).current()
        sites = await catalogue.published_sites(index, [station_id])
        if not sites:
            raise unknown_object("Location", parameters["location_id"], PUBLISHED)
        found: dict[str, Any] = location(sites[0])
        if "evse_uid" in parameters:
            found = member(found["evses"], "uid", parameters["evse_uid"], "EVSE", PUBLISHED)
        if "connector_id" in parameters:
            found = member(
                found["connectors"], "id", parameters["connector_id"], "Connector", PUBLISHED
            )
        return envelope(request, found)

    async def received(self, request: Request, partner: dict[str, Any]) -> Response:
        """The Locations receiver: a partner's PUT, PATCH or GET of its own party's Location,
        EVSE or Connector (graph.ocpi.ingest)."""
        _only(request, "GET", "PUT", "PATCH")
        path: dict[str, str] = dict(request.path_params)
        ingest.require_party(partner, path["country_code"], path["party_id"])
        if request.method == "GET":
            _, found = await ingest.stored_object(partner, path)
            return envelope(request, found)
        replica = self.services.get(ConnectorReplica)
        body = await self._body(request)
        if request.method == "PUT":
            if "evse_uid" in path:
                await ingest.put_member(partner, path, body, replica)
                return envelope(request)
            url_ids = {
                "country_code": path["country_code"],
                "party_id": path["party_id"],
                "id": path["location_id"],
            }
            created = await ingest.put_location(partner, body, replica, url_ids)
            return envelope(request, http_status=201 if created else 200)
        if (
            "evse_uid" in path
            and "connector_id" not in path
            and isinstance(body, dict)
            and body.keys() <= STATUS_PATCH
            and await ingest.patch_status(
                partner, path, body, replica, self.services.get(GroupCommit)
            )
        ):
            return envelope(request)
        await ingest.patch(partner, path, body, replica)
        return envelope(request)


def _too_many(request: Request, wait: float) -> Response:
    """HTTP 429 in the envelope: a partner's calls past CHARGEGRAPH_OCPI_CALLS_PER_MINUTE, or an
    address's refused ones past CHARGEGRAPH_OCPI_REFUSED_PER_MINUTE."""
    seconds = max(1, math.ceil(wait))
    return _retry_later(
        request, CLIENT_ERROR, f"too many calls; retry after {seconds} s", 429, seconds
    )


def _unavailable(request: Request) -> Response:
    message = f"the database is unavailable; retry after {RETRY_AFTER_SECONDS} s"
    return _retry_later(request, SERVER_ERROR, message, 503, RETRY_AFTER_SECONDS)


def _retry_later(
    request: Request, status_code: int, message: str, http_status: int, seconds: int
) -> Response:
    """A refusal in the envelope that says when to try again (`Retry-After`)."""
    response = envelope(request, status_code=status_code, message=message, http_status=http_status)
    response.headers["Retry-After"] = str(seconds)
    return response


def _failed(request: Request) -> Response:
    """An unexpected failure (logged with its traceback), in OCPI's envelope."""
    return envelope(request, status_code=SERVER_ERROR, message="internal error", http_status=500)


PUBLISHED = "published"


def _instant(request: Request, name: str) -> datetime | None:
    """An RFC 3339 query parameter (UTC when it carries no offset), or 2001 naming it."""
    text = request.query_params.get(name)
    return None if text is None else instant({name: text}, name, "")


def _count(request: Request, name: str, default: int, *, lowest: int) -> int:
    """A whole-number query parameter of at least `lowest`, or 2001 naming it."""
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < lowest:
        raise OcpiError(
            INVALID_PARAMETERS,
            f"{name} must be a whole number of at least {lowest}, got {text[:20]!r}",
        )
    return int(text)


def _only(request: Request, *methods: str) -> None:
    """Refuse, in the envelope, a method the endpoint does not offer (HTTP 405)."""
    if request.method not in methods:
        raise OcpiError(CLIENT_ERROR, f"{request.method} is not offered here", http_status=405)
