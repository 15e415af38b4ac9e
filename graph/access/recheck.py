"""A WebSocket authenticates once, at connection_init: its later operations check the key again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.access.service import Authenticator
from graph.core.errors import ClientError


class RecheckWebSocketKey(SchemaExtension):
    """Refuses a query or mutation sent over a WebSocket whose key was revoked since it connected.

    Subscriptions check the key in their resolver, and end when it is revoked.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context: Any = execution.context
        if (
            isinstance(context.request, WebSocket)
            and context.viewer.key_id is not None
            and execution.operation_type is not OperationType.SUBSCRIPTION
        ):
            try:
                await context.services.get(Authenticator).recheck(context.viewer)
            except ClientError as refused:
                execution.result = ExecutionResult(data=None, errors=[refused])
        yield
