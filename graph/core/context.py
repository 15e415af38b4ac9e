"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

if TYPE_CHECKING:
    from graph.live.hub import StatusHub
    from graph.loaders import Loaders


@dataclass
class Context:
    """What a resolver may use: the request, batched loaders and the live-status hub."""

    request: Request | WebSocket
    response: Response | None
    hub: StatusHub

    @cached_property
    def loaders(self) -> Loaders:
        """Made on first use: most requests never need them."""
        # Imported here: the loaders depend on the domain types, which depend on this module.
        from graph.loaders import Loaders

        # A WebSocket lives for hours, so its loaders batch but never cache.
        return Loaders.create(cache=not isinstance(self.request, WebSocket))


Info: TypeAlias = strawberry.Info[Context, None]
