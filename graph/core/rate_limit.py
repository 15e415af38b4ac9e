"""Allowances per caller, for writes and for searches.

Each caller (an organization, whichever of its keys is used; an app key; or
the client address of a request without a key) has one token bucket per kind
(an app key's searches: at the rate the key names): a minute's allowance that
refills continuously. Every mutation field costs one write; every field
declared with `metadata=SEARCH` costs one search each time it may run: a
search inside a page of 100 costs 100 (`graph.core.cost`), so aliased and
nested copies each pay. Every subscription costs one search when it starts.
An operation that cannot be paid for in full is refused whole with
RATE_LIMITED and `extensions.retryAfter` (seconds), and over HTTP with status
429 and a `Retry-After` header; one that costs more than the whole allowance
is refused the same way and says so. An operation whose answer could hold more than MAX_NODES
objects is refused with QUERY_TOO_COMPLEX, whoever asks: admin keys are not
limited by allowances, only by size.

Buckets live in each process: behind a balancer spreading a caller over N
processes, the caller may get up to N times the allowance.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, ExecutionResult, GraphQLSchema
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.compat.strawberry import graphql_schema
from graph.core.cost import OperationCost, operation_cost
from graph.core.errors import Forbidden, QueryTooComplex, RateLimited
from graph.core.limits import MAX_NODES
from graph.core.viewer import require_active_organization

if TYPE_CHECKING:
    from graph.core.viewer import Viewer

# Callers remembered per process; the least recently seen are forgotten first.
MAX_CALLERS = 100_000


class TokenBuckets:
    """One bucket per caller holding up to `per_minute` tokens, refilled at per_minute/60 a second."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def _tokens(self, caller: Hashable) -> float:
        """The caller's tokens now (refilled), remembered as its most recent use."""
        now = self._clock()
        tokens, since = self._buckets.pop(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - since) * self.refill_per_second)
        self._buckets[caller] = (tokens, now)
        if len(self._buckets) > MAX_CALLERS:
            self._buckets.popitem(last=False)
        return tokens

    def wait_for(self, caller: Hashable, amount: int) -> float:
        """Seconds until `amount` tokens are there (0 when they are; inf when they never will be)."""
        if amount > self.capacity:
            return math.inf
        return max(0.0, (amount - self._tokens(caller)) / self.refill_per_second)

    def take(self, caller: Hashable, amount: int) -> None:
        tokens = self._tokens(caller)
        self._buckets[caller] = (tokens - amount, self._clock())


# What one caller may hold open in one process at the same time.
DEFAULT_SUBSCRIPTIONS_PER_CALLER = 200
MAX_REPLAYS_PER_CALLER = 2
DEFAULT_WEBSOCKETS_PER_ADDRESS = 100
# Seconds a caller refused for holding too much should wait before trying again.
HOLD_RETRY_SECONDS = 5


def caller_of(viewer: Viewer, address: str) -> Hashable:
    """Whose allowance a request spends: its organization, its app key, or its address."""
    # An organization's keys share one allowance: minting keys does not multiply it.
    if viewer.organization_id is not None:
        return ("organization", viewer.organization_id)
    if viewer.key_id is not None:
        return ("key", viewer.key_id)
    return ("address", address)


class CallerSlots:
    """How many of something each caller holds open, up to a cap."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self._held: dict[Hashable, int] = {}

    def held(self, caller: Hashable) -> int:
        return self._held.get(caller, 0)

    @contextmanager
    def hold(self, caller: Hashable) -> Iterator[None]:
        """One slot for the block's duration; RateLimited when the caller holds `limit` already."""
        if self.held(caller) >= self.limit:
            raise RateLimited(
                f"at most {self.limit} {self.what} may be open at once for one caller; close one "
                f"or retry after {HOLD_RETRY_SECONDS} s",
                retry_after=HOLD_RETRY_SECONDS,
            )
        self._held[caller] = self.held(caller) + 1
        try:
            yield
        finally:
            left = self._held[caller] - 1
            if left:
                self._held[caller] = left
            else:
                del self._held[caller]


class RateLimiter:
    """The process's allowances, shared by all its requests and connections."""

    def __init__(
        self,
        writes_per_minute: int,
        searches_per_minute: int,
        websockets_per_address: int = DEFAULT_WEBSOCKETS_PER_ADDRESS,
        subscriptions_per_caller: int = DEFAULT_SUBSCRIPTIONS_PER_CALLER,
    ) -> None:
        # 0 means unlimited.
        self.writes = TokenBuckets(writes_per_minute) if writes_per_minute > 0 else None
        self.searches = TokenBuckets(searches_per_minute) if searches_per_minute > 0 else None
        # Allowances of app keys, which each name their own rate (buckets by rate).
        self._by_rate: dict[int, TokenBuckets] = {}
        # What a caller may hold open at once (admins are not counted).
        self.subscriptions = CallerSlots(subscriptions_per_caller, "subscriptions")
        self.replays = CallerSlots(MAX_REPLAYS_PER_CALLER, "replays of past changes")
        # Counted by address: a WebSocket is opened before it says who it is.
        self.websockets = CallerSlots(websockets_per_address, "WebSocket connections")

    def _searches_of(self, viewer: Viewer) -> TokenBuckets | None:
        rate = viewer.searches_per_minute
        if rate is None:
            return self.searches
        buckets = self._by_rate.get(rate)
        if buckets is None:
            buckets = self._by_rate[rate] = TokenBuckets(rate)
        return buckets

    def charge(self, viewer: Viewer, address: str, writes: int, searches: int) -> None:
        """Spend the caller's allowance, all of it or none; RateLimited when it does not suffice."""
        if viewer.is_admin:
            return
        caller = caller_of(viewer, address)
        costs = [
            (buckets, amount, name)
            for buckets, amount, name in (
                (self.writes, writes, "writes"),
                (self._searches_of(viewer), searches, "searches"),
            )
            if buckets is not None and amount > 0
        ]
        short = [
            (buckets.wait_for((name, caller), amount), f"{buckets.capacity:g} {name}")
            for buckets, amount, name in costs
        ]
        wait = max((seconds for seconds, _ in short), default=0.0)
        if wait > 0:
            spent = " and ".join(limit for seconds, limit in short if seconds > 0)
            if math.isinf(wait):
                raise refusal(
                    f"this operation costs more than this caller's whole allowance of {spent} per "
                    "minute: ask for smaller pages or fewer nested searches",
                    wait,
                )
            raise refusal(f"rate limit of {spent} per minute reached for this caller", wait)
        for buckets, amount, name in costs:
            buckets.take((name, caller), amount)


def refusal(reason: str, wait: float) -> RateLimited:
    retry_after = max(1, math.ceil(wait)) if math.isfinite(wait) else 60
    return RateLimited(f"{reason}; retry after {retry_after} s", retry_after=retry_after)


# Costs by (schema, query text, operation name, the Int variables): walking the document
# took a tenth of a small query's time. Only Int variables (page sizes) change a cost.
# Cleared when full (texts are bounded by the parse cache and persisted queries anyway).
_COSTS: dict[tuple[GraphQLSchema, str, str | None, tuple[tuple[str, int], ...]], OperationCost] = {}
MAX_CACHED_COSTS = 4096


def cached_operation_cost(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> OperationCost:
    """`operation_cost`, remembered per query text and page sizes (not without a text)."""
    if not query:
        return operation_cost(schema, document, operation_name, variables)
    sizes = tuple(
        sorted(
            (name, value)
            for name, value in (variables or {}).items()
            if isinstance(value, int) and not isinstance(value, bool)
        )
    )
    key = (schema, query, operation_name, sizes)
    cost = _COSTS.get(key)
    if cost is None:
        if len(_COSTS) >= MAX_CACHED_COSTS:
            _COSTS.clear()
        cost = _COSTS[key] = operation_cost(schema, document, operation_name, variables)
    return cost


def check_nodes(cost: OperationCost) -> None:
    """Refuse an operation whose answer could hold more than MAX_NODES objects."""
    if cost.nodes > MAX_NODES:
        raise QueryTooComplex(
            f"the answer could hold {cost.nodes} objects (every page at its `first`, multiplied "
            f"through enclosing pages); the limit is {MAX_NODES}: ask for smaller pages",
            limit=MAX_NODES,
            cost=cost.nodes,
        )


class Admission(SchemaExtension):
    """Decides, before any resolver runs, whether an operation may run at all.

    Refused whole: an operation whose answer could be too large (every kind);
    a mutation by a key of a deactivated organization (FORBIDDEN); a query or
    mutation its caller cannot pay for (its searches and writes are charged
    here). A subscription is only sized here: it pays when it starts, in its
    resolver.
    """

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context: Any = execution.context
        document = execution.graphql_document
        if document is not None:
            cost = cached_operation_cost(
                graphql_schema(execution.schema),
                execution.query or "",
                document,
                execution.operation_name,
                execution.variables,
            )
            if execution.operation_type is OperationType.SUBSCRIPTION:
                # Strawberry reports what on_execute raises as the subscription's error.
                check_nodes(cost)
            else:
                try:
                    check_nodes(cost)
                    if cost.writes:
                        require_active_organization(context.viewer)
                    context.limiter.charge(
                        context.viewer, context.client_address, cost.writes, cost.searches
                    )
                except (QueryTooComplex, Forbidden, RateLimited) as refused:
                    execution.result = ExecutionResult(data=None, errors=[refused])
                    if isinstance(refused, RateLimited) and isinstance(context.response, Response):
                        context.response.status_code = 429
                        context.response.headers["Retry-After"] = str(refused.retry_after)
        yield
