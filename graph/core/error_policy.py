"""What a client sees of an error, and what the log keeps.

Every error leaves with an `extensions.code`. Refusals (bad input, unknown
ids, parse and validation failures) are logged on one line; anything
unexpected is logged with its traceback and reaches the client only as
INTERNAL_SERVER_ERROR, with no detail.

Strawberry hands every error of every transport (HTTP, both WebSocket
protocols) to `Schema.process_errors` before it is sent, which makes that
hook the one place for this policy.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.types import ExecutionContext

from graph.compat.graphql_core import is_token_limit_error, is_variable_error

log = logging.getLogger("graph.errors")

INTERNAL = "INTERNAL_SERVER_ERROR"


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
        if code == INTERNAL:
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
            log.info("refused (%s): %s", code, error.message)
            error.extensions = {**(error.extensions or {}), "code": code}
