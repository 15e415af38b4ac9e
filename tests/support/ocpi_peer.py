"""A roaming partner written from the OCPI 2.2.1 specification, run by uvicorn on loopback.

It serves versions and version details (credentials, locations RECEIVER, and a
locations SENDER when it is given Locations to offer) and registers a server
that POSTs its credentials (reading the server's versions with the server's
token), accepts only its own token, Base64-encoded as 2.2.1 says (or raw when
asked), and records every request it receives. As a Sender it pages its
Locations as 2.2.1's pagination says: `date_from` inclusive, at most `x_limit`
a page, `X-Total-Count`, `X-Limit`, and `Link: <…>; rel="next"` except on the
last page.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from graph.embedded import free_port


def ocpi_answer(data: Any, status_code: int = 1000, http_status: int = 200) -> JSONResponse:
    body = {"status_code": status_code, "timestamp": "2026-01-01T00:00:00Z"}
    if data is not None:
        body["data"] = data
    return JSONResponse(body, status_code=http_status)


def token_header(token: str, *, raw: bool = False) -> dict[str, str]:
    """The Authorization header a 2.2.1 client sends (raw: as older peers do)."""
    value = token if raw else base64.b64encode(token.encode()).decode()
    return {"Authorization": f"Token {value}"}


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Peer:
    """The partner: its token (Token B), how it expects it encoded, what it received."""

    token: str = "peer-token-B-0001"
    raw: bool = False
    offers_version: str = "2.2.1"
    port: int = field(default_factory=free_port)
    received: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    # As credentials Receiver: the Token C it answers a registration with, and the
    # token the registering server gave it (and that it checked on the server's versions).
    token_c: str = "peer-token-C-0001"
    server_token: str | None = None
    # As Locations receiver: what was pushed to it, in order, and whether it is down
    # (answering 503, as a partner in maintenance does).
    pushed: list[tuple[str, str, Any]] = field(default_factory=list)
    down: bool = False
    # As Locations sender (offered only when not None): its Locations, the largest page it
    # returns, and the query of every page request it answered.
    offered: list[dict[str, Any]] | None = None
    x_limit: int = 100
    pulls: list[dict[str, str]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/versions"

    def credentials(self, **changes: Any) -> dict[str, Any]:
        """The credentials object this partner POSTs or PUTs."""
        return {
            "token": self.token,
            "url": self.versions_url,
            "roles": [
                {
                    "role": "EMSP",
                    "country_code": "DE",
                    "party_id": "PEE",
                    "business_details": {"name": "Peer Mobility"},
                }
            ],
            **changes,
        }

    def _authorised(self, request: Request) -> bool:
        presented = request.headers.get("Authorization")
        return presented == token_header(self.token, raw=self.raw)["Authorization"]

    async def _credentials(self, request: Request) -> JSONResponse:
        """POST credentials: read the caller's versions with its token, then answer with C."""
        self.received.append((request.method, request.url.path, dict(request.headers)))
        if not self._authorised(request):
            return ocpi_answer(None, 2000, 401)
        body = await request.json()
        async with httpx.AsyncClient(timeout=30) as client:
            versions = await client.get(body["url"], headers=token_header(body["token"]))
        if versions.status_code != 200 or versions.json()["status_code"] != 1000:
            return ocpi_answer(None, 3001, 400)
        self.server_token = body["token"]
        self.token = self.token_c
        return ocpi_answer(self.credentials(token=self.token_c))

    async def _versions(self, request: Request) -> JSONResponse:
        self.received.append((request.method, request.url.path, dict(request.headers)))
        if not self._authorised(request):
            return ocpi_answer(None, 2000, 401)
        return ocpi_answer([{"version": self.offers_version, "url": f"{self.base_url}/ocpi/2.2.1"}])

    async def _details(self, request: Request) -> JSONResponse:
        self.received.append((request.method, request.url.path, dict(request.headers)))
        if not self._authorised(request):
            return ocpi_answer(None, 2000, 401)
        endpoints = [
            {
                "identifier": "credentials",
                "role": "RECEIVER",
                "url": f"{self.base_url}/ocpi/2.2.1/credentials",
            },
            {
                "identifier": "locations",
                "role": "RECEIVER",
                "url": f"{self.base_url}/ocpi/emsp/2.2.1/locations",
            },
        ]
        if self.offered is not None:
            endpoints.append({"identifier": "locations", "role": "SENDER", "url": self.sender_url})
        return ocpi_answer({"version": "2.2.1", "endpoints": endpoints})

    async def _locations(self, request: Request) -> JSONResponse:
        """The Locations receiver: takes PUTs and PATCHes signed with this partner's token."""
        if self.down:
            return JSONResponse({"message": "maintenance"}, status_code=503)
        if not self._authorised(request):
            return ocpi_answer(None, 2000, 401)
        body = await request.json()
        if request.method == "PATCH" and "last_updated" not in body:
            return ocpi_answer(None, 2001, 400)
        self.pushed.append((request.method, request.url.path, body))
        return ocpi_answer(None)

    @property
    def sender_url(self) -> str:
        return f"{self.base_url}/ocpi/cpo/2.2.1/locations"

    async def _sender(self, request: Request) -> JSONResponse:
        """GET a page of the offered Locations, filtered on `last_updated` from `date_from`."""
        if not self._authorised(request):
            return ocpi_answer(None, 2000, 401)
        query = dict(request.query_params)
        self.pulls.append(query)
        since = _moment(query["date_from"]) if "date_from" in query else None
        matching = [
            location
            for location in self.offered or []
            if since is None or _moment(location["last_updated"]) >= since
        ]
        offset = int(query.get("offset", 0))
        limit = min(int(query.get("limit", self.x_limit)), self.x_limit)
        response = ocpi_answer(matching[offset : offset + limit])
        response.headers["X-Total-Count"] = str(len(matching))
        response.headers["X-Limit"] = str(self.x_limit)
        if offset + limit < len(matching):
            following = urlencode({**query, "offset": offset + limit, "limit": limit})
            response.headers["Link"] = f'<{self.sender_url}?{following}>; rel="next"'
        return response

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/ocpi/versions", self._versions),
                Route("/ocpi/2.2.1", self._details),
                Route("/ocpi/2.2.1/credentials", self._credentials, methods=["POST"]),
                Route(
                    "/ocpi/emsp/2.2.1/locations/{rest:path}",
                    self._locations,
                    methods=["PUT", "PATCH"],
                ),
                Route("/ocpi/cpo/2.2.1/locations", self._sender),
            ]
        )

    @contextmanager
    def running(self) -> Iterator[Peer]:
        server = uvicorn.Server(
            uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive(), "the peer did not start"
            time.sleep(0.02)
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(10)
