"""The per-request context every resolver receives.

The context knows no domain: domains find their process-wide objects in
`services` (by type) and their DataLoaders in `loaders` (see
`graph.core.loaders`).

The shared-execution rule. A subscription event is executed once per
*question* and the result handed to every subscriber asking it (see
`graph.core.execution`). The question is the operation, its variables and the
caller's scope: `viewer.role` and `viewer.organization_id`, nothing else. So a
shared execution runs on `scoped()`, a copy of the context that holds only
the scope: a resolver that reads anything else (the API key's id, a header,
the client's address) reads the same empty value for every subscriber, never
one subscriber's value that would then leak to the others. A resolver whose
answer must depend on more than the scope cannot serve live events.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias, TypeVar

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from graph.core.rate_limit import RateLimiter
from graph.core.viewer import ANONYMOUS, Viewer

ServiceT = TypeVar("ServiceT")


class Services:
    """The process's long-lived objects (a hub, an authenticator…), found by their type.

    Each domain provides its own when the application is built; the core only
    hands them on.
    """

    def __init__(self) -> None:
        self._by_type: dict[type, object] = {}

    def provide(self, service: object, kind: type | None = None) -> None:
        kind = kind or type(service)
        if kind in self._by_type:
            raise RuntimeError(f"a {kind.__name__} is already provided")
        self._by_type[kind] = service

    def get(self, kind: type[ServiceT]) -> ServiceT:
        try:
            found = self._by_type[kind]
        except KeyError:
            raise LookupError(f"no {kind.__name__} was provided to this application") from None
        assert isinstance(found, kind)
        return found


@dataclass
class Context:
    """What a resolver may use: the caller, the request, loaders and the process's services.

    Over HTTP there is one context per request; over a WebSocket, one per
    connection, whose caller is set by the `connection_init` payload. Shared
    subscription executions see `scoped()` instead (the module docstring has
    the rule).
    """

    request: Request | WebSocket | None
    response: Response | None
    services: Services
    limiter: RateLimiter
    viewer: Viewer = ANONYMOUS
    # The WebSocket `connection_init` payload (set by the protocol handler).
    connection_params: dict[str, Any] | None = field(default=None)
    # Subscriptions running on this WebSocket connection.
    open_subscriptions: int = 0
    # DataLoaders made on first use, by loader class (graph.core.loaders).
    loaders: dict[type, Any] = field(default_factory=dict)

    @property
    def client_address(self) -> str:
        """The client's IP address (the proxy's, unless uvicorn trusts its forwarded headers)."""
        client = self.request.client if self.request is not None else None
        return client.host if client is not None else "unknown"

    @property
    def caches_loads(self) -> bool:
        """A WebSocket lives for hours, so its loaders batch but never cache."""
        return isinstance(self.request, Request)

    def scoped(self) -> Context:
        """This context reduced to the caller's scope: what a shared execution may see."""
        return replace(
            self,
            request=None,
            response=None,
            viewer=self.viewer.scope(),
            connection_params=None,
            open_subscriptions=0,
            loaders={},
        )


Info: TypeAlias = strawberry.Info[Context, None]
