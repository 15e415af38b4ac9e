"""Execution: compiled plans for queries, and sharing for subscriptions.

A query is executed by its compiled plan when the planner has one
(`graph.core.plans`), otherwise by graphql-core, as mutations always are;
which, and why, is counted in `chargegraph_graphql_execution_paths_total`.

A subscription executes its selection for each event and each subscriber, so
the same work is repeated thousands of times a second. Two savings:

- graphql-core works out which subfields a selection collects once per
  execution (about a quarter of a busy fan-out, measured with py-spy); this
  executor remembers them across executions of the same parsed operation (the
  parser cache hands every request with the same text the same document).
- An event that offers `shared_results` is executed once per distinct
  question: the same operation, variables and caller scope (role and
  organization). Every subscriber asking that question gets the same result,
  and once it is known, without even the per-event copy of the executor. The
  shared execution runs on the context's `scoped()` copy, so no resolver can
  read anything of one subscriber beyond the question (the rule is stated on
  `graph.core.context`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, ClassVar

from graphql import ExecutionResult, GraphQLObjectType, OperationType

from graph.compat.graphql_core import CollectedFields, HookedExecutor
from graph.core.observability import Metrics
from graph.core.plans import COMPILED, EXECUTOR, Plan, Planner

MAX_SHARED_SELECTIONS = 4096


class SharedExecution(HookedExecutor):
    """Shares collected subfields between executions, and event results between subscribers."""

    # key -> (what keeps the key's objects alive, collected fields)
    _subfields: ClassVar[dict[Hashable, tuple[Any, CollectedFields]]] = {}
    # Set per schema (graph.schema): whether and how queries are compiled.
    planner: ClassVar[Planner] = Planner(enabled=False)

    def subfields_key(
        self, return_type: GraphQLObjectType, field_details_list: Any
    ) -> Hashable | None:
        # Variables matter through @include and @skip.
        variables = self.variables_key()
        if variables is None:
            return None
        return (
            return_type,
            self.operation_identity,
            self.field_nodes_identity(field_details_list),
            variables,
        )

    def known_subfields(self, key: Hashable) -> CollectedFields | None:
        shared = self._subfields.get(key)
        return shared[1] if shared is not None else None

    def remember_subfields(
        self, key: Hashable, keep_alive: Any, collected: CollectedFields
    ) -> None:
        if len(self._subfields) >= MAX_SHARED_SELECTIONS:
            self._subfields.clear()
        self._subfields[key] = (keep_alive, collected)

    def known_answer(self, payload: Any) -> ExecutionResult | None:
        shared: dict[Hashable, Any] | None = getattr(payload, "shared_results", None)
        if shared is None:
            return None
        found = shared.get(self._question())
        return found if isinstance(found, ExecutionResult) else None

    def run_operation(self, execute: Callable[[], Any]) -> Any:
        shared: dict[Hashable, Any] | None = getattr(self.root_value, "shared_results", None)
        if shared is None:
            return self._planned(execute)
        key = self._question()
        if key is None:
            return execute()
        found: Any = shared.get(key)
        if found is None:
            # This executor is the event's own copy: it may run on the scoped context.
            self.context_value = self.context_value.scoped()
            found = execute()
            if self.result_is_pending(found):
                found = asyncio.ensure_future(found)
                found.add_done_callback(_keep_result(shared, key))
            shared[key] = found
        if isinstance(found, ExecutionResult):
            return found
        # One subscriber going away must not cancel the work the others await.
        return asyncio.shield(found)

    def _planned(self, execute: Callable[[], Any]) -> Any:
        """The operation by its plan if it has one, else by graphql-core; counted."""
        chosen = self.planner.choose(self)
        if self.operation.operation is not OperationType.SUBSCRIPTION:
            # Queries and mutations (subscription events would count once per subscriber).
            metrics = self.context_value.services.get(Metrics)
            if isinstance(chosen, Plan):
                metrics.execution_paths.labels(COMPILED, "").inc()
            else:
                metrics.execution_paths.labels(EXECUTOR, chosen).inc()
        return chosen.run(self) if isinstance(chosen, Plan) else execute()

    def _question(self) -> Hashable | None:
        """What an event's result depends on besides the event, or None if not shareable.

        Worked out once per subscription: the per-event executors are copies.
        """
        if "_question_key" not in self.__dict__:
            viewer = getattr(self.context_value, "viewer", None)
            variables = self.variables_key()
            self._question_key = (
                None
                if viewer is None or variables is None or not hasattr(self.context_value, "scoped")
                else (self.operation_identity, variables, viewer.role, viewer.organization_id)
            )
        return self._question_key


def _keep_result(shared: dict[Hashable, Any], key: Hashable) -> Any:
    """Once shared work is done, keep its result itself, so later subscribers skip the wait."""

    def keep(done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and done.exception() is None:
            shared[key] = done.result()

    return keep
