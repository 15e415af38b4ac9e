"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass
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
    loaders: Loaders
    hub: StatusHub


Info: TypeAlias = strawberry.Info[Context, None]
