"""Compiled execution plans: queries answered without graphql-core's per-field dispatch.

graphql-core executes a query field by field, and for every field of every
object it looks the field up, builds a resolve info, works out from the type
what completing the value means, and collects the subfields again. For a page
of 100 connectors that is most of the request (py-spy: graphql-core and
Strawberry together 40-45 % of a nearby search). A plan does that work once
per operation: it is a tree of steps, one per selected field, made from the
validated document and the schema graphql-core executes (built by Strawberry:
there is no second schema), each step knowing its resolver, how to complete
its value and the steps of its subselection.

The steps do what graphql-core's executor does, in the same order (the order
of fields, of items, and of awaiting, so DataLoaders batch as before), with
graphql-core's own pieces wherever an answer could differ: field collection
(so fragments, inline fragments, aliases and @skip/@include merge exactly as
the executor merges them), argument coercion, resolve infos for every resolver
that takes one, leaf serialization, error location and null propagation. What
a plan saves is the dispatch: fields whose Strawberry resolver only reads an
attribute are read directly (Strawberry passes them no info), and leaf,
list and object completion are chosen when the plan is made. Anything a plan
does not complete itself (abstract types, objects with `is_type_of`, values
that are not lists) is handed to the executor's own completion.

A plan depends on the operation and on the values of the variables its
@skip/@include directives read, and is cached under both. Not compiled, and
executed by graphql-core as before (the reason is counted in
`chargegraph_graphql_execution_paths_total`): mutations (executed serially),
subscriptions, introspection, resolvers wrapped by an extension's `resolve`,
@defer/@stream, fragment arguments, operations run with middleware or an abort
signal, an operation's @skip/@include values beyond its first MAX_VARIANTS
sets, and all operations when CHARGEGRAPH_COMPILED_EXECUTION is false.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DirectiveNode,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    visit,
)

from graph.compat.graphql_core import (
    CollectedFields,
    FieldGroup,
    HookedExecutor,
    Path,
    gather_with_cancel,
    null_in_non_null_message,
)
from graph.compat.strawberry import attribute_reader

COMPILED = "compiled"
EXECUTOR = "executor"
# Plans kept per schema, cleared when full. A plan keeps its operation alive after the
# parser cache lets it go, so this bounds their memory: at most 2,000 fields each.
MAX_PLANS = 1024
# Plans of one operation for different @skip/@include values; beyond, graphql-core runs
# it (otherwise a few directive variables could fill the cache with one document).
MAX_VARIANTS = 8

# Values that are never awaitable nor exceptions (as Strawberry's is_awaitable knows them).
_PLAIN = frozenset({str, int, float, bool})
# What completed fields mostly are: never awaitable (checked without a call).
_SETTLED = frozenset({str, int, float, bool, type(None), dict, list})

# (executor, value, path) -> the completed value, or an awaitable of it.
Complete = Callable[[HookedExecutor, Any, Path], Any]


class Uncompiled(Exception):
    """The operation is executed by graphql-core; the message is the reason."""


@dataclass(frozen=True, slots=True)
class Site:
    """Where a value is completed: the field and the nodes it was selected with."""

    field: GraphQLField
    group: FieldGroup
    parent_type: GraphQLObjectType

    def complete_generally(
        self, executor: HookedExecutor, return_type: GraphQLOutputType, value: Any, path: Path
    ) -> Any:
        info = executor.resolve_info(self.field, self.group, self.parent_type, path)
        return executor.complete_generally(return_type, self.group, info, path, value)


class Step:
    """One selected field: resolve it on its source, then complete its value."""

    __slots__ = (
        "complete",
        "has_arguments",
        "name",
        "parent_name",
        "read",
        "resolve",
        "return_type",
        "site",
    )

    def __init__(self, name: str, site: Site, complete: Complete) -> None:
        field = site.field
        self.name = name
        self.site = site
        self.parent_name = site.parent_type.name
        self.return_type = field.type
        self.read = attribute_reader(field)
        assert field.resolve is not None  # Strawberry gives every field its resolver
        self.resolve = field.resolve
        self.has_arguments = bool(field.args or site.group[0].node.arguments)
        self.complete = complete

    def run(self, executor: HookedExecutor, source: Any, parent: Path | None) -> Any:
        """graphql-core's `execute_field`."""
        path = Path(parent, self.name, self.parent_name)
        try:
            if self.read is not None:
                result = self.read(source)
            else:
                site = self.site
                info = executor.resolve_info(site.field, site.group, site.parent_type, path)
                arguments = executor.arguments(site.field, site.group) if self.has_arguments else {}
                result = self.resolve(source, info, **arguments)
        except Exception as raw:
            executor.field_error(raw, self.return_type, self.site.group, path)
            return None
        return self.finish(executor, result, path)

    def finish(self, executor: HookedExecutor, result: Any, path: Path) -> Any:
        """The resolved value completed (awaited first if it must be)."""
        try:
            if executor.is_awaitable(result):
                return _complete_awaited(
                    executor, self.complete, self.return_type, self.site.group, result, path
                )
            completed = self.complete(executor, result, path)
            if executor.is_awaitable(completed):
                return _guarded(executor, completed, self.return_type, self.site.group, path)
        except Exception as raw:
            executor.field_error(raw, self.return_type, self.site.group, path)
            return None
        return completed


class LeafRead(Step):
    """A scalar or enum read from an attribute: the common case, with no path made for it.

    A plain value is serialized at once; anything else (null, an exception,
    an awaitable, a value the scalar refuses) is completed as any step's is.
    """

    __slots__ = ("nullable", "serialize")

    def __init__(self, name: str, site: Site, complete: Complete) -> None:
        super().__init__(name, site, complete)
        self.nullable = not isinstance(self.return_type, GraphQLNonNull)
        leaf = get_named_type(self.return_type)
        assert isinstance(leaf, GraphQLLeafType)
        self.serialize = leaf.coerce_output_value

    def run(self, executor: HookedExecutor, source: Any, parent: Path | None) -> Any:
        try:
            value = self.read(source)  # type: ignore[misc]
        except Exception as raw:
            path = Path(parent, self.name, self.parent_name)
            executor.field_error(raw, self.return_type, self.site.group, path)
            return None
        if value is None:
            if self.nullable:
                return None
        elif type(value) in _PLAIN or not (
            isinstance(value, Exception) or executor.is_awaitable(value)
        ):
            try:
                coerced = self.serialize(value)
            except Exception:
                coerced = None  # completed again below, which reports the error
            if coerced is not None and coerced is not Undefined:
                return coerced
        return self.finish(executor, value, Path(parent, self.name, self.parent_name))


class TypeName(Step):
    """`__typename`: the name of the object type it is selected on."""

    __slots__ = ()

    def run(self, executor: HookedExecutor, source: Any, parent: Path | None) -> Any:
        return self.parent_name


async def _guarded(
    executor: HookedExecutor,
    completed: Awaitable[Any],
    return_type: GraphQLOutputType,
    group: FieldGroup,
    path: Path,
) -> Any:
    try:
        return await completed
    except Exception as raw:
        executor.field_error(raw, return_type, group, path)
        return None


def run_fields(
    executor: HookedExecutor, steps: tuple[Step, ...], source: Any, path: Path | None
) -> Any:
    """graphql-core's `execute_fields`: every field, then the pending ones awaited together."""
    results: dict[str, Any] = {}
    pending: list[str] = []
    is_awaitable = executor.is_awaitable
    try:
        for step in steps:
            result = step.run(executor, source, path)
            results[step.name] = result
            if type(result) not in _SETTLED and is_awaitable(result):
                pending.append(step.name)
    except Exception:
        _settle(executor, results, pending)
        raise
    return _awaited(results, pending) if pending else results


async def _awaited(results: Any, pending: list[Any]) -> Any:
    """The results (a dict of fields or a list of items) with their pending entries awaited."""
    if len(pending) == 1:
        results[pending[0]] = await results[pending[0]]
    else:
        awaited = await gather_with_cancel(*(results[key] for key in pending))
        for key, value in zip(pending, awaited, strict=True):
            results[key] = value
    return results


def _settle(executor: HookedExecutor, results: Any, pending: list[Any]) -> None:
    """A sibling failed for good: let the pending entries finish in the background."""
    if pending:
        executor.settle([results[key] for key in pending])


async def _complete_awaited(
    executor: HookedExecutor,
    complete: Complete,
    return_type: GraphQLOutputType,
    group: FieldGroup,
    awaitable: Awaitable[Any],
    path: Path,
) -> Any:
    """graphql-core's `complete_awaitable_value` (and its list-item twin)."""
    try:
        completed = complete(executor, await awaitable, path)
        if executor.is_awaitable(completed):
            completed = await completed
    except Exception as raw:
        executor.field_error(raw, return_type, group, path)
        return None
    return completed


@dataclass(frozen=True)
class Plan:
    """The root steps of one operation, for one set of @skip/@include values."""

    steps: tuple[Step, ...]

    def run(self, executor: HookedExecutor) -> Any:
        """graphql-core's `execute_operation` for a query."""
        try:
            data = run_fields(executor, self.steps, executor.root_value, None)
        except GraphQLError as error:
            return executor.respond_failed(error)
        if not executor.is_awaitable(data):
            return executor.respond(data)
        return _respond_awaited(executor, data)


async def _respond_awaited(executor: HookedExecutor, data: Awaitable[dict[str, Any]]) -> Any:
    try:
        completed = await data
    except GraphQLError as error:
        return executor.respond_failed(error)
    return executor.respond(completed)


class Planner:
    """Chooses, once per operation, between a plan and graphql-core, and keeps the plans."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        # (operation id, directive values) -> (the operation, kept alive; plan or reason)
        self._plans: dict[Hashable, tuple[OperationDefinitionNode, Plan | str]] = {}
        # operation id -> (the operation, the variables its directives read)
        self._conditions: dict[int, tuple[OperationDefinitionNode, tuple[str, ...]]] = {}
        # operation id -> how many plans it has
        self._variants: dict[int, int] = {}

    def choose(self, executor: HookedExecutor) -> Plan | str:
        """The operation's plan, or why graphql-core executes it."""
        if not self.enabled:
            return "disabled"
        operation = executor.operation
        if operation.operation is not OperationType.QUERY:
            return str(operation.operation.value)
        if executor.has_middleware:
            return "middleware"
        if executor.may_abort:
            return "abort signal"
        coerced = executor.variable_values.coerced
        key = (
            id(operation),
            tuple(coerced.get(name) for name in self._condition_variables(executor)),
        )
        known = self._plans.get(key)
        if known is not None:
            return known[1]
        if self._variants.get(id(operation), 0) >= MAX_VARIANTS:
            return "variants"
        try:
            chosen: Plan | str = Plan(_root_steps(executor))
        except Uncompiled as reason:
            chosen = str(reason)
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
            self._conditions.clear()
            self._variants.clear()
        self._plans[key] = (operation, chosen)
        self._variants[id(operation)] = self._variants.get(id(operation), 0) + 1
        return chosen

    def _condition_variables(self, executor: HookedExecutor) -> tuple[str, ...]:
        operation = executor.operation
        known = self._conditions.get(id(operation))
        if known is not None:
            return known[1]
        names = _directive_variables(
            [operation, *(details.definition for details in executor.fragments.values())]
        )
        self._conditions[id(operation)] = (operation, names)
        return names


class _DirectiveVariables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, None] = {}

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        for argument in node.arguments or ():
            if isinstance(argument.value, VariableNode):
                self.names[argument.value.name.value] = None


def _directive_variables(nodes: Iterable[Any]) -> tuple[str, ...]:
    """The variables any directive of these nodes reads (their values change the selection)."""
    found = _DirectiveVariables()
    for node in nodes:
        visit(node, found)
    return tuple(found.names)


def _checked(collected: CollectedFields | None) -> dict[str, FieldGroup]:
    if collected is None:
        raise Uncompiled("nested too deeply")
    grouped, deferred, forbidden = collected
    if deferred or forbidden:
        raise Uncompiled("deferred")
    return grouped  # type: ignore[return-value]


def _root_steps(executor: HookedExecutor) -> tuple[Step, ...]:
    root_type = executor.schema.query_type
    assert root_type is not None
    return _steps(executor, root_type, _checked(executor.root_selection()))


def _steps(
    executor: HookedExecutor, parent_type: GraphQLObjectType, grouped: dict[str, FieldGroup]
) -> tuple[Step, ...]:
    steps: list[Step] = []
    for name, group in grouped.items():
        field_name = group[0].node.name.value
        if any(details.fragment_variable_values is not None for details in group):
            raise Uncompiled("fragment arguments")
        if field_name == "__typename":
            field = executor.schema.get_field(parent_type, field_name)
            assert field is not None
            site = Site(field, group, parent_type)
            steps.append(TypeName(name, site, _completion(executor, field.type, site)))
            continue
        if field_name.startswith("__"):
            raise Uncompiled("introspection")
        found = parent_type.fields.get(field_name)
        if found is None:
            continue  # graphql-core leaves it out (validation refuses it first)
        site = Site(found, group, parent_type)
        kind = LeafRead if _reads_leaf(found) else Step
        steps.append(kind(name, site, _completion(executor, found.type, site)))
    return tuple(steps)


def _reads_leaf(field: GraphQLField) -> bool:
    """A scalar or enum itself (not a list of them) read from an attribute."""
    return attribute_reader(field) is not None and isinstance(
        get_nullable_type(field.type), GraphQLLeafType
    )


def _completion(executor: HookedExecutor, return_type: GraphQLOutputType, site: Site) -> Complete:
    """graphql-core's `complete_value` for this type, chosen now rather than for every value."""
    if isinstance(return_type, GraphQLNonNull):
        return _non_null(_completion(executor, return_type.of_type, site), site)
    if isinstance(return_type, GraphQLList):
        return _list(executor, return_type, site)
    if isinstance(return_type, GraphQLLeafType):
        return _leaf(return_type)
    if isinstance(return_type, GraphQLObjectType) and return_type.is_type_of is None:
        subselection = _checked(executor.subselection(return_type, site.group))
        return _object(_steps(executor, return_type, subselection))
    return _general(return_type, site)


def _non_null(inner: Complete, site: Site) -> Complete:
    message = null_in_non_null_message(site.parent_type.name, site.group[0].node.name.value)

    def complete(executor: HookedExecutor, value: Any, path: Path) -> Any:
        completed = inner(executor, value, path)
        if completed is None:
            raise TypeError(message)
        return completed

    return complete


def _leaf(return_type: Any) -> Complete:
    serialize = return_type.coerce_output_value

    def complete(executor: HookedExecutor, value: Any, path: Path) -> Any:
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            return None
        coerced = serialize(value)
        if coerced is None or coerced is Undefined:
            return executor.leaf(return_type, value)  # raises graphql-core's own error
        return coerced

    return complete


def _object(steps: tuple[Step, ...]) -> Complete:
    def complete(executor: HookedExecutor, value: Any, path: Path) -> Any:
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            return None
        return run_fields(executor, steps, value, path)

    return complete


def _general(return_type: GraphQLOutputType, site: Site) -> Complete:
    def complete(executor: HookedExecutor, value: Any, path: Path) -> Any:
        return site.complete_generally(executor, return_type, value, path)

    return complete


def _list(executor: HookedExecutor, list_type: GraphQLList[Any], site: Site) -> Complete:
    item_type = list_type.of_type
    complete_item = _completion(executor, item_type, site)
    group = site.group

    def complete(executor: HookedExecutor, value: Any, path: Path) -> Any:
        if type(value) is not list:
            # Exceptions, nulls, other iterables and async iterables: as graphql-core does.
            return site.complete_generally(executor, list_type, value, path)
        is_awaitable = executor.is_awaitable
        results: list[Any] = []
        pending: list[int] = []
        try:
            for index, item in enumerate(value):
                item_path = path.add_key(index, None)
                try:
                    if is_awaitable(item):
                        completed = _complete_awaited(
                            executor, complete_item, item_type, group, item, item_path
                        )
                        pending.append(index)
                    else:
                        completed = complete_item(executor, item, item_path)
                        if is_awaitable(completed):
                            completed = _guarded(executor, completed, item_type, group, item_path)
                            pending.append(index)
                except Exception as raw:
                    executor.field_error(raw, item_type, group, item_path)
                    completed = None
                results.append(completed)
        except Exception:
            _settle(executor, results, pending)
            raise
        return _awaited(results, pending) if pending else results

    return complete
