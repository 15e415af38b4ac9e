"""Limits that keep one client from exhausting the server."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension

from graph.compat.strawberry import IgnoreContext, aliases_rule, depth_rule

MAX_DEPTH = 12
MAX_ALIASES = 50
MAX_TOKENS = 2000
MAX_BODY_BYTES = 100_000
MAX_WEBSOCKET_MESSAGE_BYTES = 64_000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _introspection(context: IgnoreContext) -> bool:
    # GraphiQL's own schema query nests type references deeply; it is cheap.
    return context.field_name.startswith("__")


# Built once: the validation cache is keyed by the rule classes, so a fresh
# class per request (what the limiter extensions make) would defeat it.
_DEPTH_RULE = depth_rule(MAX_DEPTH, _introspection)
_ALIASES_RULE = aliases_rule(MAX_ALIASES)


def query_limits() -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    """Depth, alias and token limits, refused before any resolver runs."""
    return [
        lambda: AddValidationRules([_DEPTH_RULE, _ALIASES_RULE]),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ]


class BodySizeLimit:
    """Refuses HTTP request bodies over `limit` bytes before reading them whole."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted_receive, send)
        except _TooLarge:
            # Raised while the body is read, before any response was started.
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "errors": [
                    {
                        "message": f"request body exceeds the limit of {self.limit} bytes",
                        "extensions": {"code": "BAD_USER_INPUT", "limit": self.limit},
                    }
                ]
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
