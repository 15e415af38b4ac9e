"""The errors a client can receive, each with a stable `extensions.code`.

Services raise these; the schema's error policy (`graph.core.error_policy`)
turns anything else into an opaque INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

from graphql import GraphQLError


class ClientError(GraphQLError):
    """A refused request: the client can fix it, so it is logged on one line only."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        extensions: dict[str, object] = {"code": self.code}
        if field is not None:
            extensions["field"] = field
        super().__init__(message, extensions=extensions)


class BadUserInput(ClientError):
    """An argument or input field has a value the API does not accept."""

    code = "BAD_USER_INPUT"


class NotFound(ClientError):
    """A mutation names an object that does not exist."""

    code = "NOT_FOUND"


class Conflict(ClientError):
    """The change would break a uniqueness or integrity rule."""

    code = "CONFLICT"


class Unauthenticated(ClientError):
    """No usable credentials: a write without a key, or a key that is unknown or revoked."""

    code = "UNAUTHENTICATED"


class Forbidden(ClientError):
    """The caller's key is valid but does not cover this object or action."""

    code = "FORBIDDEN"


class RateLimited(ClientError):
    """The caller spent its allowance; `extensions.retryAfter` says how many seconds to wait."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.extensions = {**(self.extensions or {}), "retryAfter": retry_after}


class QueryTooComplex(ClientError):
    """The operation could cost more than any caller may ask at once (`graph.core.cost`)."""

    code = "QUERY_TOO_COMPLEX"

    def __init__(self, message: str, *, limit: int, cost: int) -> None:
        super().__init__(message)
        self.extensions = {**(self.extensions or {}), "limit": limit, "cost": cost}
