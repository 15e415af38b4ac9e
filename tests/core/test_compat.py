"""The library internals graph.compat relies on are still there, and used nowhere else.

Each test names the upstream API; when an upgrade changes it, the failure says
which promise in graph.compat no longer holds.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import graphql
import pytest
import strawberry
from graphql import GraphQLError, GraphQLSchema, parse
from graphql.validation import ASTValidationRule

from graph.compat import cross_web, graphql_core
from graph.compat import strawberry as strawberry_internals

GRAPH = Path(__file__).resolve().parents[2] / "graph"

# Modules of strawberry and graphql-core that are public API (documented for users).
PUBLIC = {
    "graphql",
    "strawberry",
    "strawberry.asgi",
    "strawberry.dataloader",
    "strawberry.exceptions",
    "strawberry.extensions",
    "strawberry.http",
    "strawberry.schema.config",
    "strawberry.types",
    "strawberry.types.graphql",
    "strawberry.types.unset",
}


def test_graphql_core_is_the_tested_minor() -> None:
    assert graphql.version_info[:2] == (3, 3)


def test_executor_hooks_keep_their_signatures() -> None:
    executor = graphql_core.StrawberryGraphQLCoreExecutionContext
    assert list(inspect.signature(executor.collect_subfields).parameters) == [
        "self",
        "return_type",
        "field_details_list",
    ]
    assert list(inspect.signature(executor.build_per_event_executor).parameters) == [
        "self",
        "payload",
    ]
    assert list(inspect.signature(executor.execute_operation).parameters) == ["self", "serially"]
    fields = graphql_core.CollectedFields._fields
    assert {"new_defer_usages", "forbidden_directive_instances"} <= set(fields)


@strawberry.type
class _Query:
    @strawberry.field
    def echo(self, word: str) -> str:
        return word

    @strawberry.field(metadata={"rate_limit": "search"})
    def costly(self) -> int:
        return 1

    @strawberry.field
    def broken(self) -> str:
        return None  # type: ignore[return-value]


class _Recording(graphql_core.HookedExecutor):
    seen: dict[str, object] = {}

    def subfields_key(self, return_type: object, field_details_list: object) -> None:
        _Recording.seen["nodes"] = self.field_nodes_identity(field_details_list)
        return None

    def run_operation(self, execute: object) -> object:
        _Recording.seen.update(
            operation=self.operation_identity,
            variables=self.variables_key(),
            context=self.context_value,
        )
        return super().run_operation(execute)  # type: ignore[arg-type]


def test_the_hooked_executor_sees_operation_variables_and_context() -> None:
    schema = strawberry.Schema(query=_Query, execution_context_class=_Recording)
    result = schema.execute_sync(
        "query($w: String!) { echo(word: $w) }", variable_values={"w": "hi"}, context_value="ctx"
    )
    assert result.data == {"echo": "hi"}
    assert _Recording.seen["variables"] == (("w", "hi"),)
    assert _Recording.seen["context"] == "ctx"
    assert isinstance(_Recording.seen["operation"], int)


def test_token_limit_and_variable_errors_are_recognised() -> None:
    with pytest.raises(GraphQLError) as stopped:
        parse("{ a b c d e f }", max_tokens=3)
    assert graphql_core.is_token_limit_error(stopped.value)
    schema = strawberry.Schema(query=_Query)
    result = schema.execute_sync("query($w: String!) { echo(word: $w) }", variable_values={})
    assert result.errors is not None
    assert graphql_core.is_variable_error(result.errors[0])
    # The words compiled plans repeat for a non-null field that completed to null.
    nulled = schema.execute_sync("{ broken }")
    assert nulled.errors is not None
    assert nulled.errors[0].message == graphql_core.null_in_non_null_message("Query", "broken")


def test_strawberry_internals() -> None:
    schema = strawberry.Schema(query=_Query)
    built = strawberry_internals.graphql_schema(schema)
    assert isinstance(built, GraphQLSchema)
    query_type = built.query_type
    assert query_type is not None
    assert strawberry_internals.field_metadata(query_type.fields["costly"]) == {
        "rate_limit": "search"
    }
    assert strawberry_internals.field_metadata(query_type.fields["echo"]) == {}
    depth = strawberry_internals.depth_rule(3, lambda context: False)
    aliases = strawberry_internals.aliases_rule(3)
    assert issubclass(depth, ASTValidationRule)
    assert issubclass(aliases, ASTValidationRule)
    # graph.core.limits reads `field_name` to let introspection nest deeply.
    assert "field_name" in inspect.signature(strawberry_internals.IgnoreContext).parameters


@strawberry.type
class _Row:
    name: str

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


def test_plain_fields_only_read_their_attribute() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def row(self) -> _Row:
            return _Row(name="x")

    built = strawberry_internals.graphql_schema(strawberry.Schema(query=Query))
    assert built.query_type is not None
    row_type = graphql.get_named_type(built.query_type.fields["row"].type)
    assert isinstance(row_type, graphql.GraphQLObjectType)
    read = strawberry_internals.attribute_reader(row_type.fields["name"])
    assert read is not None
    assert read(_Row(name="y")) == "y"
    # What Strawberry's own resolver for the field returns, without an info.
    assert row_type.fields["name"].resolve(_Row(name="y"), None) == "y"  # type: ignore[misc]
    assert strawberry_internals.attribute_reader(row_type.fields["shout"]) is None


def test_the_executor_steps_plans_use_keep_their_signatures() -> None:
    executor = graphql_core.StrawberryGraphQLCoreExecutionContext
    expected = {
        "handle_field_error": ["self", "raw_error", "return_type", "field_details_list", "path"],
        "complete_value": [
            "self",
            "return_type",
            "field_details_list",
            "info",
            "path",
            "result",
            "position_context",
        ],
        "build_resolve_info": ["self", "field_def", "field_nodes", "parent_type", "path"],
        "settle_in_background": ["self", "awaitables"],
        "build_response": ["self", "data"],
        "finish": ["self", "result"],
    }
    for name, parameters in expected.items():
        assert list(inspect.signature(getattr(executor, name)).parameters) == parameters, name
    assert list(inspect.signature(executor.complete_leaf_value).parameters) == [
        "return_type",
        "result",
    ]


def test_cross_web_http_exception() -> None:
    error = cross_web.HTTPException(400, "bad body")
    assert (error.status_code, error.reason) == (400, "bad body")


def test_library_internals_are_imported_only_in_graph_compat() -> None:
    offenders = []
    for path in GRAPH.rglob("*.py"):
        if "compat" in path.relative_to(GRAPH).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            for module in modules:
                library = module.split(".")[0]
                if library in ("graphql", "strawberry", "cross_web") and module not in PUBLIC:
                    offenders.append(f"{path.relative_to(GRAPH)}: {module}")
    assert offenders == []


async def test_a_swallowed_cancellation_still_ends_a_change_stream_read() -> None:
    import asyncio

    from graph.compat.pymongo import next_change

    class SwallowingStream:
        """Behaves as pymongo's try_next was seen to: the cancellation is absorbed."""

        async def try_next(self) -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                return None

    reading = asyncio.ensure_future(next_change(SwallowingStream()))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading


def test_the_ocpp_charge_point_internals_graph_compat_ocpp_relies_on() -> None:
    import inspect as inspection

    from ocpp.charge_point import ChargePoint

    from graph.compat.ocpp import OcppJRouting

    assert list(inspection.signature(ChargePoint._handle_call).parameters) == ["self", "msg"]
    assert inspection.iscoroutinefunction(ChargePoint._send)
    assert inspection.iscoroutinefunction(ChargePoint.route_message)

    class Station(OcppJRouting, ChargePoint):
        pass

    station = Station("CS-1", connection=None)
    for attribute in ("route_map", "_call_lock", "_response_queue", "id"):
        assert hasattr(station, attribute), attribute
    # The correction takes the package's place in the method resolution order.
    assert Station.route_message is OcppJRouting.route_message
