"""Execution tuned for subscriptions, where one selection runs for every event.

A subscription executes its selection for each event and each subscriber, so
the same work is repeated thousands of times a second. Two savings:

- graphql-core works out which subfields a selection collects once per
  execution (about a quarter of a busy fan-out, measured with py-spy); this
  context remembers them across executions of the same parsed operation (the
  parser cache hands every request with the same text the same document).
- An event that offers `shared_results` is executed once per distinct
  question: the same operation, variables and caller scope (what the caller
  may see). Every subscriber asking that question gets the same result, and
  once it is known, without even the per-event copy of the executor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any, ClassVar

from graphql import ExecutionResult, GraphQLObjectType
from graphql.execution.collect_fields import CollectedFields
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

MAX_SHARED_SELECTIONS = 4096


class SharedFieldCollection(StrawberryGraphQLCoreExecutionContext):
    """Shares collected subfields between executions of the same operation."""

    # key -> (what keeps the key's objects alive, collected fields)
    _shared: ClassVar[dict[Hashable, tuple[Any, CollectedFields]]] = {}

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: Any
    ) -> CollectedFields:
        key = self._shared_key(return_type, field_details_list)
        if key is None:
            return super().collect_subfields(return_type, field_details_list)
        shared = self._shared.get(key)
        if shared is not None:
            return shared[1]
        collected = super().collect_subfields(return_type, field_details_list)
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            return collected
        if len(self._shared) >= MAX_SHARED_SELECTIONS:
            self._shared.clear()
        # Holding the operation and the field nodes keeps their ids from being reused.
        self._shared[key] = ((self.operation, field_details_list), collected)
        return collected

    def build_per_event_executor(self, payload: Any) -> Any:
        shared: dict[Hashable, Any] | None = getattr(payload, "shared_results", None)
        if shared is not None:
            found = shared.get(self._question())
            if isinstance(found, ExecutionResult):
                return _Answered(found)
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        shared: dict[Hashable, Any] | None = getattr(self.root_value, "shared_results", None)
        key = self._question() if shared is not None else None
        if shared is None or key is None:
            return super().execute_operation(serially)
        found: Any = shared.get(key)
        if found is None:
            found = super().execute_operation(serially)
            if self.is_awaitable(found):
                found = asyncio.ensure_future(found)
                found.add_done_callback(_keep_result(shared, key))
            shared[key] = found
        if isinstance(found, ExecutionResult):
            return found
        # One subscriber going away must not cancel the work the others await.
        return asyncio.shield(found)

    def _question(self) -> Hashable | None:
        """What an event's result depends on besides the event, or None if not shareable.

        Worked out once per subscription: the per-event executors are copies.
        """
        if "_question_key" not in self.__dict__:
            viewer = getattr(self.context_value, "viewer", None)
            variables = self._variables()
            self._question_key = (
                None
                if viewer is None or variables is None
                else (id(self.operation), variables, viewer.role, viewer.organization_id)
            )
        return self._question_key

    def _variables(self) -> Hashable | None:
        try:
            variables = tuple(sorted(self.variable_values.coerced.items()))
            hash(variables)
        except TypeError:
            return None
        return variables

    def _shared_key(
        self, return_type: GraphQLObjectType, field_details_list: Any
    ) -> Hashable | None:
        """Everything the collected subfields depend on, or None when not worth sharing."""
        if any(
            details.defer_usage is not None or details.fragment_variable_values is not None
            for details in field_details_list
        ):
            return None
        # Variables matter through @include and @skip.
        variables = self._variables()
        if variables is None:
            return None
        return (
            return_type,
            id(self.operation),
            tuple(id(details.node) for details in field_details_list),
            variables,
        )


class _Answered:
    """Stands in for a per-event executor when the event's result is already known."""

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return self.result


def _keep_result(shared: dict[Hashable, Any], key: Hashable) -> Any:
    """Once shared work is done, keep its result itself, so later subscribers skip the wait."""

    def keep(done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and done.exception() is None:
            shared[key] = done.result()

    return keep
