"""graphql-core 3.3 internals ChargeGraph relies on (tested against 3.3.2).

- `Executor.collect_subfields(return_type, field_details_list) ->
  CollectedFields`: called for every composite field of every execution;
  `CollectedFields.new_defer_usages` / `.forbidden_directive_instances` and
  `FieldDetails.node` / `.defer_usage` / `.fragment_variable_values`.
- `Executor.build_per_event_executor(payload)`: the per-event copy of a
  subscription's executor, whose `execute_operation(serially)` runs one event.
- Executor attributes `operation`, `context_value`, `root_value`,
  `variable_values.coerced`, `is_awaitable`, `schema`, `fragments`,
  `hide_suggestions`, `middleware_manager.middlewares`, `abort_signal`.
- For compiled plans (`graph.core.plans`), the executor's own steps:
  `collect_fields(...)` (root selection), `Executor.collect_subfields`,
  `build_resolve_info`, `handle_field_error(raw, return_type,
  field_details_list, path)`, `complete_leaf_value`, `complete_value` (the
  general completion a plan hands anything unusual to), `settle_in_background`,
  `build_response` / `finish`; `graphql.pyutils.Path` and `gather_with_cancel`.
- Messages: the parser's token limit ("… tokens. Parsing aborted.") and
  variable coercion errors ("Variable '$x' …"), which carry no code of their own;
  the latter's form "Variable '$x' has invalid value at .a.b[0]: <reason>",
  where the reason quotes the rejected value, and the variable's definition
  as the error's first node; and literal values a scalar refused during
  validation ("Expected value of type 'X', but encountered error …"), which
  carry the scalar's ValueError as their original error; and the executor's
  message for a non-null field that completed to null.

`HookedExecutor` turns those internals into three decisions with stable names
that `graph.core.execution` implements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    VariableDefinitionNode,
    get_nullable_type,
    type_from_ast,
)
from graphql.execution.collect_fields import CollectedFields, FieldDetailsList, collect_fields
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from graphql.pyutils.gather_with_cancel import gather_with_cancel

from graph.compat.strawberry import StrawberryGraphQLCoreExecutionContext

__all__ = [
    "CollectedFields",
    "FieldGroup",
    "HookedExecutor",
    "Path",
    "gather_with_cancel",
    "is_refused_literal_error",
    "is_token_limit_error",
    "is_variable_error",
    "null_in_non_null_message",
    "redacted_variable_message",
]

_INVALID_VARIABLE = re.compile(
    r"Variable '\$(?P<name>\w+)' has invalid (?P<what>(?:default )?value)"
    r"(?: at (?P<path>[^:]*))?: (?P<reason>.*)",
    re.DOTALL,
)
# Reasons that name only types and fields, never the value sent.
_VALUE_FREE_REASONS = (
    re.compile(r"Expected value of type '[^']+' not to include unknown field '[^']*'"),
    re.compile(r"Expected value of type '[^']+' to include required field '[^']*'"),
    re.compile(r"Field '[^']+' of required type '[^']+' was not provided\."),
)


def is_refused_literal_error(error: GraphQLError) -> bool:
    """Did validation find a literal that its scalar's parser refused (bad input, not a bug)?"""
    return (
        error.path is None
        and error.message.startswith("Expected value of type '")
        # A scalar's parser refuses with ValueError; anything else is a bug in it.
        and isinstance(error.original_error, ValueError)
    )


def null_in_non_null_message(type_name: str, field_name: str) -> str:
    """graphql-core's words for a non-null field that completed to null (its executor's
    `complete_value`), which a compiled plan must repeat exactly."""
    return f"Cannot return null for non-nullable field {type_name}.{field_name}."


def is_token_limit_error(error: GraphQLError) -> bool:
    """Did the parser stop at its token limit (a limit, not a syntax error)?"""
    return "tokens. Parsing aborted" in error.message


def is_variable_error(error: GraphQLError) -> bool:
    """Is this a variable whose value does not fit its declared type?"""
    return error.path is None and error.message.startswith(("Variable '$", 'Variable "$'))


def redacted_variable_message(error: GraphQLError, schema: GraphQLSchema) -> str:
    """A variable error's message without the value it quotes (a password, a token).

    graphql-core's reasons quote the rejected value ("String cannot represent a
    non string value: …", "…, found: {…}"); they are replaced by the type the
    value should have had at that path. Reasons that name only fields are kept.
    """
    match = _INVALID_VARIABLE.match(error.message)
    if match is None:
        return error.message
    path = match["path"] or ""
    head = f"Variable '${match['name']}' has invalid {match['what']}{' at ' + path if path else ''}"
    for value_free in _VALUE_FREE_REASONS:
        kept = value_free.match(match["reason"])
        if kept is not None:
            return f"{head}: {kept.group(0).rstrip('.')}."
    expected = _type_at(error, schema, path)
    return f"{head}: expected a value of type {expected}." if expected else f"{head}."


def _type_at(error: GraphQLError, schema: GraphQLSchema, path: str) -> str | None:
    """The declared type at `.a.b[0]` inside the variable the error is about."""
    node = error.nodes[0] if error.nodes else None
    if not isinstance(node, VariableDefinitionNode):
        return None
    current: GraphQLInputType | None = type_from_ast(schema, node.type)  # type: ignore[assignment]
    for field, index in re.findall(r"\.(\w+)|\[(\d+)\]", path):
        inner = get_nullable_type(current) if current is not None else None
        if index and isinstance(inner, GraphQLList):
            current = inner.of_type
        elif field and isinstance(inner, GraphQLInputObjectType) and field in inner.fields:
            current = inner.fields[field].type
        else:
            return None
    return str(current) if current is not None else None


# The field nodes merged under one response name, as graphql-core collects them.
FieldGroup = FieldDetailsList


class HookedExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor with three overridable decisions.

    - `subfields_key`: a key under which collected subfields may be reused
      (None: collect as usual), with `known_subfields` / `remember_subfields`.
    - `known_answer`: the result of an event already known (skip the copy).
    - `run_operation`: wraps the execution of the operation.
    """

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: Any
    ) -> CollectedFields:
        deferred = any(
            details.defer_usage is not None or details.fragment_variable_values is not None
            for details in field_details_list
        )
        key = None if deferred else self.subfields_key(return_type, field_details_list)
        if key is None:
            return super().collect_subfields(return_type, field_details_list)
        known = self.known_subfields(key)
        if known is not None:
            return known
        collected = super().collect_subfields(return_type, field_details_list)
        if not (collected.new_defer_usages or collected.forbidden_directive_instances):
            # Holding the operation and the field nodes keeps their ids from being reused.
            self.remember_subfields(key, (self.operation, field_details_list), collected)
        return collected

    def build_per_event_executor(self, payload: Any) -> Any:
        answer = self.known_answer(payload)
        if answer is not None:
            return _Answered(answer)
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        return self.run_operation(lambda: super(HookedExecutor, self).execute_operation(serially))

    # --- what the hooks may read -------------------------------------------

    @property
    def operation_identity(self) -> int:
        """Same for every request with the same text (the parser cache shares the document)."""
        return id(self.operation)

    @staticmethod
    def field_nodes_identity(field_details_list: Any) -> tuple[int, ...]:
        return tuple(id(details.node) for details in field_details_list)

    def variables_key(self) -> Hashable | None:
        """The coerced variables as a hashable value, or None if they are not hashable."""
        try:
            variables = tuple(sorted(self.variable_values.coerced.items()))
            hash(variables)
        except TypeError:
            return None
        return variables

    def result_is_pending(self, value: Any) -> bool:
        return bool(self.is_awaitable(value))

    # --- what a compiled plan may use (graphql-core's own steps) --------------

    @property
    def has_middleware(self) -> bool:
        """Does anything wrap field resolvers (a Strawberry extension with `resolve`)?"""
        manager = self.middleware_manager
        return manager is not None and bool(manager.middlewares)

    @property
    def may_abort(self) -> bool:
        return self.abort_signal is not None

    def root_selection(self) -> CollectedFields | None:
        """The operation's root fields for these variables (None: nested too deeply)."""
        root_type = self.schema.get_root_type(self.operation.operation)
        assert root_type is not None
        try:
            return collect_fields(
                self.schema,
                self.fragments,
                self.variable_values,
                root_type,
                self.operation,
                self.hide_suggestions,
            )
        except RecursionError:
            return None

    def subselection(self, return_type: GraphQLObjectType, group: Any) -> CollectedFields:
        return self.collect_subfields(return_type, group)

    def resolve_info(
        self, field: GraphQLField, group: Any, parent_type: GraphQLObjectType, path: Path
    ) -> GraphQLResolveInfo:
        return self.build_resolve_info(
            field, [details.node for details in group], parent_type, path
        )

    def arguments(self, field: GraphQLField, group: Any) -> dict[str, Any]:
        first = group[0]
        return get_argument_values(
            field,
            first.node,
            self.variable_values,
            first.fragment_variable_values,
            self.hide_suggestions,
        )

    def field_error(
        self, raw: Exception, return_type: GraphQLOutputType, group: Any, path: Path
    ) -> None:
        """Locate the error; raise it on for a non-null type, else record it (the field is null)."""
        self.handle_field_error(raw, return_type, group, path)

    def leaf(self, return_type: Any, value: Any) -> Any:
        return self.complete_leaf_value(return_type, value)

    def complete_generally(
        self,
        return_type: GraphQLOutputType,
        group: Any,
        info: GraphQLResolveInfo,
        path: Path,
        value: Any,
    ) -> Any:
        """graphql-core's own completion, for whatever a plan does not handle itself."""
        return self.complete_value(return_type, group, info, path, value, None)

    def settle(self, awaitables: list[Any]) -> None:
        self.settle_in_background(awaitables)

    def respond(self, data: dict[str, Any] | None) -> Any:
        return self.finish(self.build_response(data))

    def respond_failed(self, error: GraphQLError) -> Any:
        """The whole operation nulled: a non-null root field failed."""
        self.collected_errors.add(error, None)
        return self.respond(None)

    # --- the decisions (defaults: graphql-core's own behaviour) --------------

    def subfields_key(
        self, return_type: GraphQLObjectType, field_details_list: Any
    ) -> Hashable | None:
        return None

    def known_subfields(self, key: Hashable) -> CollectedFields | None:
        return None

    def remember_subfields(
        self, key: Hashable, keep_alive: Any, collected: CollectedFields
    ) -> None:
        return None

    def known_answer(self, payload: Any) -> ExecutionResult | None:
        return None

    def run_operation(self, execute: Callable[[], Any]) -> Any:
        return execute()


class _Answered:
    """Stands in for a per-event executor when the event's result is already known."""

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return self.result
