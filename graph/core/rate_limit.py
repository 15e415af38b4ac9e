"""Allowances per caller, for writes and for expensive searches.

Each caller (its API key, or its client address when it sends none) has one
token bucket per kind: a minute's allowance that refills continuously. Every
mutation field costs one write; every top-level field in SEARCH_FIELDS costs
one search, so an alias-bombed query pays for each copy. An operation that
cannot be paid for in full is refused whole with RATE_LIMITED and
`extensions.retryAfter` (seconds), and over HTTP with status 429 and a
`Retry-After` header. Admin keys are not limited.

Buckets live in each process: behind a balancer spreading a caller over N
processes, the caller may get up to N times the allowance.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.errors import RateLimited

# The query fields whose cost grows with the data: the cost map of the API.
SEARCH_FIELDS = frozenset({"connectors", "nearbyConnectors", "connectorsInBounds", "organizations"})
# Callers remembered per process; the least recently seen are forgotten first.
MAX_CALLERS = 100_000


class TokenBuckets:
    """One bucket per caller holding up to `per_minute` tokens, refilled at per_minute/60 a second."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def take(self, caller: Hashable, amount: int) -> float:
        """Spend `amount` tokens; returns 0 when granted, else the seconds until it would be."""
        now = self._clock()
        tokens, since = self._buckets.pop(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - since) * self.refill_per_second)
        wait = 0.0
        if amount > self.capacity:
            wait = math.inf
        elif tokens >= amount:
            tokens -= amount
        else:
            wait = (amount - tokens) / self.refill_per_second
        self._buckets[caller] = (tokens, now)
        if len(self._buckets) > MAX_CALLERS:
            self._buckets.popitem(last=False)
        return wait


def _root_fields(document: DocumentNode, operation_name: str | None) -> Iterator[str]:
    """The names of the operation's top-level fields, one per selection (aliases included)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    chosen = [
        operation
        for operation in operations
        if operation_name is None or (operation.name and operation.name.value == operation_name)
    ]
    if not chosen:
        return

    def walk(selection_set: SelectionSetNode, seen: frozenset[str]) -> Iterator[str]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection.name.value
            elif isinstance(selection, InlineFragmentNode):
                yield from walk(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    yield from walk(fragments[name].selection_set, seen | {name})

    yield from walk(chosen[0].selection_set, frozenset())


def operation_cost(
    document: DocumentNode, operation_name: str | None, operation_type: OperationType
) -> tuple[int, int]:
    """(writes, searches) an operation costs."""
    fields = [name for name in _root_fields(document, operation_name) if not name.startswith("__")]
    if operation_type is OperationType.MUTATION:
        return len(fields), 0
    if operation_type is OperationType.QUERY:
        return 0, sum(1 for name in fields if name in SEARCH_FIELDS)
    return 0, 0


class RateLimit(SchemaExtension):
    """Charges each operation to its caller before it runs; refuses it whole when over."""

    def __init__(self, writes: TokenBuckets | None, searches: TokenBuckets | None) -> None:
        self.writes = writes
        self.searches = searches

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context: Any = execution.context
        viewer = context.viewer
        document = execution.graphql_document
        if document is not None and not viewer.is_admin:
            caller = (
                ("key", viewer.key_id) if viewer.key_id else ("address", context.client_address)
            )
            writes, searches = operation_cost(
                document, execution.operation_name, execution.operation_type
            )
            wait = max(
                self._charge(self.writes, caller, writes, "writes"),
                self._charge(self.searches, caller, searches, "searches"),
            )
            if wait > 0:
                retry_after = max(1, math.ceil(wait)) if math.isfinite(wait) else 60
                refusal = RateLimited(
                    self._message(writes, searches, retry_after), retry_after=retry_after
                )
                execution.result = ExecutionResult(data=None, errors=[refusal])
                if isinstance(context.response, Response):
                    context.response.status_code = 429
                    context.response.headers["Retry-After"] = str(retry_after)
        yield

    def _charge(
        self, buckets: TokenBuckets | None, caller: Hashable, amount: int, kind: str
    ) -> float:
        if buckets is None or amount == 0:
            return 0.0
        return buckets.take((kind, caller), amount)

    def _message(self, writes: int, searches: int, retry_after: int) -> str:
        spent = []
        if writes and self.writes:
            spent.append(f"{self.writes.capacity:g} writes")
        if searches and self.searches:
            spent.append(f"{self.searches.capacity:g} searches")
        return (
            f"rate limit of {' and '.join(spent)} per minute reached for this caller; "
            f"retry after {retry_after} s"
        )


def rate_limit(writes_per_minute: int, searches_per_minute: int) -> Callable[[], RateLimit]:
    """The extension factory, with buckets shared by every request of the process (0 = off)."""
    writes = TokenBuckets(writes_per_minute) if writes_per_minute > 0 else None
    searches = TokenBuckets(searches_per_minute) if searches_per_minute > 0 else None
    return lambda: RateLimit(writes, searches)
