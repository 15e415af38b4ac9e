"""The OCPI HTTP endpoints of this server: versions, version details and credentials."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from graph.ocpi import service
from graph.ocpi.protocol import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    VERSION,
    OcpiError,
    digest,
    envelope,
    presented_tokens,
    refusal,
)
from graph.ocpi.settings import OcpiSettings

Handler = Callable[[Request, dict[str, Any]], Awaitable[Response]]
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class OcpiEndpoints:
    """The routes under /ocpi, answering every request (errors too) in the OCPI envelope."""

    def __init__(self, settings: OcpiSettings) -> None:
        self.settings = settings

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
            # Anything else under /ocpi is unknown, answered in the envelope too.
            Route("/ocpi/{rest:path}", self._unknown, methods=_ALL_METHODS),
        ]

    async def _unknown(self, request: Request) -> Response:
        return envelope(
            request, status_code=CLIENT_ERROR, message="no such OCPI endpoint", http_status=404
        )

    def _guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """`handler` for a caller with a known token; 401 otherwise; OCPI errors enveloped."""

        async def endpoint(request: Request) -> Response:
            partner = await service.partner_with_token(presented_tokens(request))
            if partner is None:
                return envelope(
                    request,
                    status_code=CLIENT_ERROR,
                    message="missing or unknown token",
                    http_status=401,
                )
            try:
                return await handler(request, partner)
            except OcpiError as error:
                return refusal(request, error)

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
        raw = await request.body()
        if len(raw) > self.settings.max_body_bytes:
            raise OcpiError(
                INVALID_PARAMETERS,
                f"the body exceeds {self.settings.max_body_bytes} bytes",
                http_status=413,
            )
        try:
            return json.loads(raw)
        except ValueError as error:
            raise OcpiError(INVALID_PARAMETERS, f"the body is not JSON: {error}") from error

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
            await service.unregister(partner)
            return envelope(request)
        body = await self._body(request)
        token = await service.exchange(
            self.settings, partner, body, registering=request.method == "POST"
        )
        return envelope(request, self.own_credentials(request, token))


def _only(request: Request, *methods: str) -> None:
    """Refuse, in the envelope, a method the endpoint does not offer (HTTP 405)."""
    if request.method not in methods:
        raise OcpiError(CLIENT_ERROR, f"{request.method} is not offered here", http_status=405)
