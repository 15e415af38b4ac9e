"""What an operation may cost, worked out from its document before anything runs.

Every figure comes from one walk of the document in which each fragment is
measured once and its figures reused wherever it is spread. Without that, a
chain of fragments that each spread the next twice doubles the work at every
level (20 levels: a million visits for a 1 kB request).

- `document_size`: how many fields the document selects once its fragments
  are expanded, and how deep it nests. Checked before the validation rules,
  which expand fragments on every path (`graph.core.limits`).
- `operation_cost`: what one operation may make the server do, with its
  variables. A field that takes `first` (a page) holds up to `first` items,
  so everything selected inside it counts `first` times, and that multiplies
  through every enclosing page, as GitHub's and Shopify's APIs count:
  `nodes` is the number of objects the answer may hold, `searches` the number
  of times a search field (`metadata=SEARCH`) may run. A list that is not a
  page but may be long declares its largest size (`metadata=at_most(n)`) and
  counts like a page of n. Other lists in this schema are small bounded sets
  (statuses, an organization's keys) and count once. `@skip`/`@include` are
  ignored: the cost is an upper bound.
- `subscription_searches`: search fields selected inside a subscription,
  which would run again for every event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any, TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

from graph.compat.strawberry import field_metadata
from graph.core.pagination import MAX_PAGE_SIZE

SEARCH: Mapping[str, str] = MappingProxyType({"rate_limit": "search"})
"""Field metadata declaring that a field costs one search each time it may run."""

PAGE_ARGUMENT = "first"
_MAX_ITEMS = "max_items"


def at_most(items: int) -> Mapping[str, int]:
    """Field metadata: a list that is not a page holds at most `items` items."""
    return MappingProxyType({_MAX_ITEMS: items})


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DocumentSize:
    """Fields selected with every fragment expanded where it is spread, and the deepest nesting."""

    fields: int
    depth: int


@dataclass(frozen=True, slots=True)
class OperationCost:
    """What one operation may make the server do."""

    nodes: int
    """Objects the answer may hold, every page at its page size."""
    searches: int
    """Times a search field may run, multiplied through enclosing pages."""
    writes: int
    """Mutation fields at the root."""


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _memoized_by_fragment(
    document: DocumentNode,
    measure: Callable[[FragmentDefinitionNode, Callable[[str], T]], T],
    empty: T,
) -> Callable[[str], T]:
    """A fragment's figures, each computed once; a cycle counts as empty (validation refuses it)."""
    fragments = _fragments(document)
    known: dict[str, T] = {}
    measuring: set[str] = set()

    def of(name: str) -> T:
        if name in known:
            return known[name]
        fragment = fragments.get(name)
        if fragment is None or name in measuring:
            return empty
        measuring.add(name)
        known[name] = measure(fragment, of)
        measuring.discard(name)
        return known[name]

    return of


def document_size(document: DocumentNode) -> DocumentSize:
    """Fields and depth of every operation and fragment, fragments expanded (linear time)."""

    def measure(
        selection_set: SelectionSetNode, fragment: Callable[[str], DocumentSize]
    ) -> DocumentSize:
        fields = depth = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = (
                    measure(selection.selection_set, fragment)
                    if selection.selection_set is not None
                    else DocumentSize(0, 0)
                )
                fields += 1 + inner.fields
                depth = max(depth, 1 + inner.depth)
            else:
                inner = (
                    measure(selection.selection_set, fragment)
                    if isinstance(selection, InlineFragmentNode)
                    else fragment(selection.name.value)
                    if isinstance(selection, FragmentSpreadNode)
                    else DocumentSize(0, 0)
                )
                fields += inner.fields
                depth = max(depth, inner.depth)
        return DocumentSize(fields, depth)

    fragment = _memoized_by_fragment(
        document, lambda definition, of: measure(definition.selection_set, of), DocumentSize(0, 0)
    )
    sizes = [
        measure(definition.selection_set, fragment)
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    return DocumentSize(sum(s.fields for s in sizes), max((s.depth for s in sizes), default=0))


@cache
def long_lists(schema: GraphQLSchema) -> Mapping[tuple[str, str], int]:
    """(type name, field name) -> largest size, of every field declared with `at_most`."""
    return {
        (type_name, field_name): int(field_metadata(field)[_MAX_ITEMS])
        for type_name, named in schema.type_map.items()
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
        for field_name, field in named.fields.items()
        if _MAX_ITEMS in field_metadata(field)
    }


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


def chosen_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """The operation a request runs: the one named, or the only one."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None or (definition.name and definition.name.value == operation_name)
        ):
            return definition
    return None


@dataclass(frozen=True, slots=True)
class _Figures:
    nodes: int
    searches: int
    search_paths: frozenset[str]


_NOTHING = _Figures(0, 0, frozenset())


def _page_size(field: FieldNode, argument: Any, variables: Mapping[str, Any]) -> int:
    """The page a field may return: `first` as given, from a variable, or its default."""
    given = next((a.value for a in field.arguments or () if a.name.value == PAGE_ARGUMENT), None)
    value: Any = argument.default_value
    if isinstance(given, IntValueNode):
        value = int(given.value)
    elif isinstance(given, VariableNode):
        value = variables.get(given.name.value, value)
    if not isinstance(value, int) or isinstance(value, bool):
        return MAX_PAGE_SIZE
    # Pages over the maximum are refused by the field itself.
    return max(0, min(value, MAX_PAGE_SIZE))


def _measure_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
) -> _Figures:
    searched = search_fields(schema)
    bounded = long_lists(schema)

    def selections(
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        fragment: Callable[[str], _Figures],
    ) -> Iterator[_Figures]:
        fields = getattr(parent, "fields", {})
        for selection in selection_set.selections:
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                narrowed = schema.get_type(condition.name.value) if condition else parent
                yield measure(selection.selection_set, narrowed or parent, fragment)
            elif isinstance(selection, FragmentSpreadNode):
                yield fragment(selection.name.value)
            elif isinstance(selection, FieldNode):
                definition = fields.get(selection.name.value)
                if definition is None:
                    continue
                path = f"{parent.name}.{selection.name.value}"
                search = (parent.name, selection.name.value) in searched
                page = definition.args.get(PAGE_ARGUMENT)
                longest = bounded.get((parent.name, selection.name.value))
                times = _page_size(selection, page, variables) if page is not None else longest or 1
                if selection.selection_set is None:
                    yield _Figures(0, int(search), frozenset((path,)) if search else frozenset())
                    continue
                inner = measure(selection.selection_set, get_named_type(definition.type), fragment)
                listed = page is not None or longest is not None
                yield _Figures(
                    nodes=(times if listed else 1) + times * inner.nodes,
                    searches=int(search) + times * inner.searches,
                    search_paths=inner.search_paths | {path} if search else inner.search_paths,
                )

    def measure(
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        fragment: Callable[[str], _Figures],
    ) -> _Figures:
        return _sum(selections(selection_set, parent, fragment))

    def measure_fragment(
        definition: FragmentDefinitionNode, fragment: Callable[[str], _Figures]
    ) -> _Figures:
        parent = schema.get_type(definition.type_condition.name.value)
        if parent is None:
            return _NOTHING
        return measure(definition.selection_set, parent, fragment)

    root = schema.get_root_type(operation.operation)
    if root is None:
        return _NOTHING
    fragment = _memoized_by_fragment(document, measure_fragment, _NOTHING)
    return measure(operation.selection_set, root, fragment)


def _sum(parts: Iterable[_Figures]) -> _Figures:
    nodes = searches = 0
    paths: frozenset[str] = frozenset()
    for part in parts:
        nodes += part.nodes
        searches += part.searches
        paths |= part.search_paths
    return _Figures(nodes, searches, paths)


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> OperationCost:
    """Nodes, searches and writes of the operation a request runs (zero if there is none)."""
    operation = chosen_operation(document, operation_name)
    if operation is None:
        return OperationCost(0, 0, 0)
    figures = _measure_operation(schema, document, operation, variables or {})
    writes = 0
    if operation.operation is OperationType.MUTATION:
        writes = sum(
            1
            for selection in _root_fields(document, operation.selection_set)
            if not selection.name.value.startswith("__")
        )
    return OperationCost(nodes=figures.nodes, searches=figures.searches, writes=writes)


def _root_fields(document: DocumentNode, selection_set: SelectionSetNode) -> Iterator[FieldNode]:
    fragments = _fragments(document)

    def walk(selections: SelectionSetNode, seen: frozenset[str]) -> Iterator[FieldNode]:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from walk(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    yield from walk(fragments[name].selection_set, seen | {name})

    return walk(selection_set, frozenset())


def subscription_searches(schema: GraphQLSchema, document: DocumentNode) -> list[str]:
    """`Type.field` of each search field selected inside any subscription of the document."""
    found: set[str] = set()
    for definition in document.definitions:
        if (
            isinstance(definition, OperationDefinitionNode)
            and definition.operation is OperationType.SUBSCRIPTION
        ):
            found |= _measure_operation(schema, document, definition, {}).search_paths
    return sorted(found)
