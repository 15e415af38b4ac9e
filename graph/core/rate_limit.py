"""Allowances per caller, for writes and for searches.

Each caller (its API key, or its client address when it sends none) has one
token bucket per kind (an app key's searches: at the rate the key names): a minute's allowance that refills continuously. Every
mutation field costs one write; every field declared with `metadata=SEARCH`
(`strawberry.field(..., metadata=SEARCH)`: the fields whose cost grows with
the data) costs one search wherever it appears in the operation, so aliased
and nested copies each pay;
every subscription costs one search when it starts. An operation that cannot
be paid for in full is refused whole with RATE_LIMITED and
`extensions.retryAfter` (seconds), and over HTTP with status 429 and a
`Retry-After` header. Admin keys are not limited.

Buckets live in each process: behind a balancer spreading a caller over N
processes, the caller may get up to N times the allowance.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.compat.strawberry import field_metadata, graphql_schema
from graph.core.errors import RateLimited

if TYPE_CHECKING:
    from graph.core.viewer import Viewer

SEARCH: Mapping[str, str] = MappingProxyType({"rate_limit": "search"})
"""Field metadata declaring that a field costs one search each time it is asked for."""
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


class RateLimiter:
    """The process's allowances, shared by all its requests and connections."""

    def __init__(self, writes_per_minute: int, searches_per_minute: int) -> None:
        # 0 means unlimited.
        self.writes = TokenBuckets(writes_per_minute) if writes_per_minute > 0 else None
        self.searches = TokenBuckets(searches_per_minute) if searches_per_minute > 0 else None
        # Allowances of app keys, which each name their own rate (buckets by rate).
        self._by_rate: dict[int, TokenBuckets] = {}

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
        caller = ("key", viewer.key_id) if viewer.key_id else ("address", address)
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
            raise refusal(f"rate limit of {spent} per minute reached for this caller", wait)
        for buckets, amount, name in costs:
            buckets.take((name, caller), amount)


def refusal(reason: str, wait: float) -> RateLimited:
    retry_after = max(1, math.ceil(wait)) if math.isfinite(wait) else 60
    return RateLimited(f"{reason}; retry after {retry_after} s", retry_after=retry_after)


def _chosen_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None or (definition.name and definition.name.value == operation_name)
        ):
            return definition
    return None


@cache
def search_fields(schema: GraphQLSchema) -> frozenset[tuple[str, str]]:
    """(type name, field name) of every field declared with `metadata=SEARCH`."""
    return frozenset(
        (type_name, field_name)
        for type_name, named in schema.type_map.items()
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
        for field_name, field in named.fields.items()
        if field_metadata(field).get("rate_limit") == SEARCH["rate_limit"]
    )


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    operation_type: OperationType,
) -> tuple[int, int]:
    """(writes, searches) a query or mutation costs; subscriptions pay in their resolver."""
    operation = _chosen_operation(document, operation_name)
    root = schema.get_root_type(operation.operation) if operation is not None else None
    if operation is None or root is None or operation_type is OperationType.SUBSCRIPTION:
        return 0, 0
    searched = search_fields(schema)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def fields(
        selection_set: SelectionSetNode, parent: GraphQLNamedType, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, GraphQLNamedType]]:
        """Field nodes of one level with their parent type, through fragments (each once per path)."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = schema.get_type(condition.name.value) if condition else parent
                yield from fields(selection.selection_set, inner or parent, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    fragment = fragments[name]
                    inner = schema.get_type(fragment.type_condition.name.value)
                    yield from fields(fragment.selection_set, inner or parent, seen | {name})

    def searches(selection_set: SelectionSetNode, parent: GraphQLNamedType) -> int:
        total = 0
        for field, owner in fields(selection_set, parent, frozenset()):
            name = field.name.value
            total += (owner.name, name) in searched
            definition = getattr(owner, "fields", {}).get(name)
            if field.selection_set is not None and definition is not None:
                total += searches(field.selection_set, get_named_type(definition.type))
        return total

    roots = [
        field
        for field, _ in fields(operation.selection_set, root, frozenset())
        if not field.name.value.startswith("__")
    ]
    writes = len(roots) if operation_type is OperationType.MUTATION else 0
    return writes, searches(operation.selection_set, root)


# Costs by (schema, query text, operation name, operation type): walking the document
# took a tenth of a small query's time. Cleared when full (texts are bounded by the
# parse cache and persisted queries anyway).
_COSTS: dict[tuple[GraphQLSchema, str, str | None, OperationType], tuple[int, int]] = {}
MAX_CACHED_COSTS = 4096


def cached_operation_cost(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    operation_name: str | None,
    operation_type: OperationType,
) -> tuple[int, int]:
    """`operation_cost`, remembered per query text (not without one)."""
    if not query:
        return operation_cost(schema, document, operation_name, operation_type)
    key = (schema, query, operation_name, operation_type)
    cost = _COSTS.get(key)
    if cost is None:
        if len(_COSTS) >= MAX_CACHED_COSTS:
            _COSTS.clear()
        cost = _COSTS[key] = operation_cost(schema, document, operation_name, operation_type)
    return cost


class RateLimit(SchemaExtension):
    """Charges each query and mutation to its caller before it runs; refuses it whole when over."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context: Any = execution.context
        document = execution.graphql_document
        if document is not None:
            writes, searches = cached_operation_cost(
                graphql_schema(execution.schema),
                execution.query or "",
                document,
                execution.operation_name,
                execution.operation_type,
            )
            try:
                context.limiter.charge(context.viewer, context.client_address, writes, searches)
            except RateLimited as refused:
                execution.result = ExecutionResult(data=None, errors=[refused])
                if isinstance(context.response, Response):
                    context.response.status_code = 429
                    context.response.headers["Retry-After"] = str(refused.retry_after)
        yield
