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
