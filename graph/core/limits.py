"""Limits that keep one client from exhausting the server."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    parse,
    specified_rules,
)
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension

from graph.compat.strawberry import (
    IgnoreContext,
    aliases_rule,
    depth_rule,
    graphql_schema,
    validate_document,
)
from graph.core.cost import document_size, subscription_searches

MAX_DEPTH = 12
MAX_ALIASES = 50
MAX_TOKENS = 2000
# Fields an operation selects once every fragment is expanded where it is spread.
MAX_SELECTED_FIELDS = 2000
# Objects one answer may hold, every page counted at its page size (graph.core.cost).
MAX_NODES = 10_000
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
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
    """Size, depth, alias and token limits, refused before any resolver runs."""
    return [
        lambda: AddValidationRules([_DEPTH_RULE, _ALIASES_RULE]),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        BoundedValidation,
    ]


class BoundedValidation(SchemaExtension):
    """Validation, remembered per document, behind a size check that cannot be made costly.

    The depth and alias rules (and some of graphql-core's own) expand every
    fragment spread on every path: measured first in linear time
    (`graph.core.cost.document_size`), an operation whose fragments expand
    past MAX_SELECTED_FIELDS is refused before any of them runs. Valid
    documents are then checked for search fields inside subscriptions, which
    would run again for every event. Replaces Strawberry's ValidationCache.
    """

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        if execution.pre_execution_errors is None and execution.graphql_document is not None:
            execution.pre_execution_errors = _validated(
                graphql_schema(execution.schema),
                execution.graphql_document,
                tuple(execution.validation_rules),
            )
        yield


def is_valid_operation(schema: GraphQLSchema, text: str) -> bool:
    """Does the text parse and pass validation with this server's limits?"""
    try:
        document = parse(text, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return False
    return not _validated(schema, document, (*specified_rules, _DEPTH_RULE, _ALIASES_RULE))


@lru_cache(maxsize=1000)
def _validated(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    size = document_size(document)
    if size.fields > MAX_SELECTED_FIELDS:
        return [
            GraphQLError(
                f"the operation selects {size.fields} fields once its fragments are expanded; "
                f"the limit is {MAX_SELECTED_FIELDS}",
                extensions={"code": VALIDATION_FAILED, "limit": MAX_SELECTED_FIELDS},
            )
        ]
    errors = validate_document(schema, document, rules)
    if errors:
        return errors
    searched = subscription_searches(schema, document)
    if searched:
        return [
            GraphQLError(
                "search fields cannot be selected in a subscription, where they would run for "
                f"every event: {', '.join(searched)}; query them when needed instead",
                extensions={"code": VALIDATION_FAILED, "fields": searched},
            )
        ]
    return []


class BodySizeLimit:
    """Refuses HTTP request bodies over `limit` bytes before reading them whole, except under
    the path prefixes in `exempt`, whose endpoints enforce limits of their own."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY_BYTES, exempt: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.exempt):
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
