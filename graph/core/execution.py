"""Execution tuned for subscriptions, where one selection runs for every event.

graphql-core works out which subfields a selection collects once per
execution. A subscription executes its selection for each event and each
subscriber, so the same work is repeated thousands of times a second (about a
quarter of a busy fan-out, measured with py-spy). This context remembers the
result across executions of the same parsed operation (the parser cache hands
every request with the same text the same document).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar

from graphql import GraphQLObjectType
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

    def _shared_key(
        self, return_type: GraphQLObjectType, field_details_list: Any
    ) -> Hashable | None:
        """Everything the collected subfields depend on, or None when not worth sharing."""
        if any(
            details.defer_usage is not None or details.fragment_variable_values is not None
            for details in field_details_list
        ):
            return None
        try:
            # Variables matter through @include and @skip.
            variables = tuple(sorted(self.variable_values.coerced.items()))
            hash(variables)
        except TypeError:
            return None
        return (
            return_type,
            id(self.operation),
            tuple(id(details.node) for details in field_details_list),
            variables,
        )
