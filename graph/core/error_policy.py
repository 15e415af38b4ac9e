"""What a client sees of an error, and what the log keeps.

Every error leaves with an `extensions.code`. Refusals (bad input, unknown
ids, parse and validation failures) are logged on one line; a database that
cannot be reached or cannot serve is SERVICE_UNAVAILABLE with
`extensions.retryAfter` (HTTP 503 with Retry-After); anything else
unexpected is logged with its traceback and reaches the client only as
INTERNAL_SERVER_ERROR, with no detail.

Strawberry hands every error of every transport (HTTP, both WebSocket
protocols) to `Schema.process_errors` before it is sent, which makes that
hook the one place for this policy.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    WaitQueueTimeoutError,
)
from starlette.responses import Response
from strawberry.types import ExecutionContext

from graph.compat.graphql_core import (
    is_refused_literal_error,
    is_token_limit_error,
    is_variable_error,
    redacted_variable_message,
)
from graph.compat.strawberry import graphql_schema

log = logging.getLogger("graph.errors")

INTERNAL = "INTERNAL_SERVER_ERROR"
UNAVAILABLE = "SERVICE_UNAVAILABLE"
# Seconds a client should wait before retrying when the database is unavailable.
RETRY_AFTER_SECONDS = 2
# MongoDB's codes for a server that cannot serve now (shutting down, stepped
# down, not primary, interrupted, network): worth retrying, not the request's fault.
_UNAVAILABLE_CODES = {6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436}


def database_unavailable(error: BaseException | None) -> bool:
    """Is this the database being unreachable or unable to serve, rather than a bug?"""
    if isinstance(error, ConnectionFailure | ExecutionTimeout | WaitQueueTimeoutError):
        return True
    return isinstance(error, OperationFailure) and (
        error.code in _UNAVAILABLE_CODES or error.has_error_label("RetryableWriteError")
    )


def classify(error: GraphQLError, parsed: bool) -> str:
    """The `extensions.code` an error should carry."""
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    if not parsed:
        # The token limit is enforced by the parser, but it is a limit, not a syntax error.
        if is_token_limit_error(error):
            return "GRAPHQL_VALIDATION_FAILED"
        return "GRAPHQL_PARSE_FAILED"
    if is_variable_error(error):
        return "BAD_USER_INPUT"
    if database_unavailable(error.original_error):
        return UNAVAILABLE
    if is_refused_literal_error(error):
        # The scalar's own exception rides along, but the fault is the literal's.
        return "GRAPHQL_VALIDATION_FAILED"
    if error.original_error is not None:
        return INTERNAL
    return "GRAPHQL_VALIDATION_FAILED"


def apply_error_policy(
    errors: list[GraphQLError], execution_context: ExecutionContext | None
) -> None:
    """Log each error, then give it a code and, if unexpected, hide its details (in place)."""
    parsed = execution_context is not None and execution_context.graphql_document is not None
    for error in errors:
        code = classify(error, parsed)
        if code == UNAVAILABLE:
            log.warning("database unavailable: %s", error.original_error)
            error.message = (
                f"the database is unavailable; retry after {RETRY_AFTER_SECONDS} seconds"
            )
            error.original_error = None
            error.extensions = {"code": UNAVAILABLE, "retryAfter": RETRY_AFTER_SECONDS}
            _answer_unavailable(execution_context)
        elif code == INTERNAL:
            original = error.original_error or error
            log.error(
                "unexpected failure at %s",
                ".".join(map(str, error.path or [])) or "operation",
                exc_info=(type(original), original, original.__traceback__),
            )
            error.message = "Internal server error"
            error.original_error = None
            error.extensions = {"code": INTERNAL}
        else:
            if execution_context is not None and is_variable_error(error):
                # Never echo a variable's value: it may be a password.
                error.message = redacted_variable_message(
                    error, graphql_schema(execution_context.schema)
                )
            log.info("refused (%s): %s", code, error.message)
            error.extensions = {**(error.extensions or {}), "code": code}


def _answer_unavailable(execution_context: ExecutionContext | None) -> None:
    """Over HTTP, an unavailable database is 503 with Retry-After, as proxies and clients expect."""
    response = getattr(execution_context.context, "response", None) if execution_context else None
    if isinstance(response, Response):
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
