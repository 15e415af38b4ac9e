"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from graph.access.viewer import ANONYMOUS, Viewer

if TYPE_CHECKING:
    from graph.access.service import Authenticator
    from graph.core.rate_limit import RateLimiter
    from graph.live.hub import StatusHub
    from graph.loaders import Loaders


@dataclass
class Context:
    """What a resolver may use: the caller, the request, batched loaders and the live-status hub.

    Over HTTP there is one context per request; over a WebSocket, one per
    connection, whose caller is set by the `connection_init` payload.
    """

    request: Request | WebSocket
    response: Response | None
    hub: StatusHub
    authenticator: Authenticator
    limiter: RateLimiter
    viewer: Viewer = ANONYMOUS
    # The WebSocket `connection_init` payload (set by the protocol handler).
    connection_params: dict[str, Any] | None = field(default=None)
    # Subscriptions running on this WebSocket connection.
    open_subscriptions: int = 0

    @property
    def client_address(self) -> str:
        """The client's IP address (the proxy's, unless uvicorn trusts its forwarded headers)."""
        client = self.request.client
        return client.host if client is not None else "unknown"

    @cached_property
    def loaders(self) -> Loaders:
        """Made on first use: most requests never need them."""
        # Imported here: the loaders depend on the domain types, which depend on this module.
        from graph.loaders import Loaders

        # A WebSocket lives for hours, so its loaders batch but never cache.
        return Loaders.create(cache=not isinstance(self.request, WebSocket))


Info: TypeAlias = strawberry.Info[Context, None]
