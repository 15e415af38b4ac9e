"""Compiled plans answer exactly as graphql-core does: the same bytes, for every caller.

Two servers on one database, one with CHARGEGRAPH_COMPILED_EXECUTION=false
(every operation executed by graphql-core), one with it on. Hypothesis writes
queries over the schema itself (random fields of every type reached, aliases,
named fragments, inline fragments, @skip/@include with variables, nested
loaders, arguments the resolvers refuse, ids that do not exist or that the
caller may not see) and each is asked of both servers, by an anonymous caller,
an app key, an organization's key and an admin: the HTTP status and the body
must be the same, byte for byte.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from bson import ObjectId
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
    get_named_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.database import Database

from graph.compat.strawberry import graphql_schema
from graph.core.pagination import encode_cursor
from graph.core.plans import MAX_VARIANTS
from graph.schema import schema
from tests.support.access import CREATE_APP_KEY, create_key
from tests.support.server import (
    ADMIN_KEY,
    Server,
    create_chargestation,
    create_connector,
    create_organization,
    data,
    metric,
    module_server,
    unique_endpoint,
)

SCHEMA = graphql_schema(schema)
# Fields whose value moves with the clock, not with the query.
UNSTABLE = {("ApiKey", "lastUsedAt"), ("AppKey", "lastUsedAt")}
CALLERS = ("anonymous", "app", "organization", "admin")


@dataclass
class World:
    """What the generated queries name: ids that exist, are hidden, or never existed."""

    ids: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    keys: dict[str, str | None] = field(default_factory=dict)


@pytest.fixture(scope="module")
def servers(
    mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    unlimited = {"CHARGEGRAPH_SEARCHES_PER_MINUTE": "0", "CHARGEGRAPH_WRITES_PER_MINUTE": "0"}
    with (
        module_server(
            mongo_uri,
            db_name,
            tmp_path_factory,
            CHARGEGRAPH_COMPILED_EXECUTION="false",
            **unlimited,
        ) as executor,
        module_server(
            mongo_uri,
            db_name,
            tmp_path_factory,
            CHARGEGRAPH_COMPILED_EXECUTION="true",
            **unlimited,
        ) as compiled,
    ):
        yield executor, compiled


@pytest.fixture(scope="module")
def world(servers: tuple[Server, Server], db: Database[dict[str, Any]]) -> World:
    server = servers[0]
    # Non-ASCII text, dates and floats in every answer.
    own = create_organization(
        server, name="Énergie Zürich \u2013 \u201cLadestrom\u201d ⚡", address={"city": "Zürich"}
    )
    other = create_organization(server, name="Other B.V.")
    station = create_chargestation(
        server, own["id"], coordinates={"latitude": 52.37, "longitude": 4.9}
    )
    hidden_station = create_chargestation(server, other["id"], active=False)
    made = [
        create_connector(
            server, own["id"], power=7.2, coordinates={"latitude": 52.37, "longitude": 4.89}
        ),
        create_connector(server, own["id"], power=50.0, chargestationId=station["id"]),
        create_connector(
            server,
            own["id"],
            power=0.1 + 0.2,
            active=False,
            coordinates={"latitude": 52.371, "longitude": 4.891},
        ),
        create_connector(
            server,
            other["id"],
            power=150.0,
            status="CHARGING",
            coordinates={"latitude": 52.36, "longitude": 4.88},
        ),
        create_connector(
            server, other["id"], power=1e-7, active=False, chargestationId=hidden_station["id"]
        ),
        create_connector(server, other["id"], power=22.0, maxVoltage=400, maxAmperage=32),
    ]
    # A connector whose organization is gone: its non-null `organization` fails
    # and the null propagates up to the nearest nullable field.
    orphan = db.connectors.find_one({"_id": ObjectId(made[0]["id"])})
    assert orphan is not None
    orphan.update(_id=ObjectId(), endpoint=unique_endpoint(), organization=ObjectId())
    db.connectors.insert_one(orphan)
    for running in servers:
        wait_for_connector(running, str(orphan["_id"]))
    made.append({"id": str(orphan["_id"])})
    app = data(server.query(CREATE_APP_KEY, {"name": "Karte ✓", "rate": 600}))["createAppKey"]
    return World(
        ids=[
            own["id"],
            other["id"],
            station["id"],
            hidden_station["id"],
            *(connector["id"] for connector in made),
            str(ObjectId()),
            "not-an-id",
        ],
        endpoints=[made[0]["endpoint"].upper(), made[2]["endpoint"], "zzzz", "!"],
        keys={
            "anonymous": None,
            "app": app["key"],
            "organization": create_key(server, own["id"])["key"],
            "admin": ADMIN_KEY,
        },
    )


def wait_for_connector(server: Server, connector_id: str) -> None:
    """Until the server's connector index holds a connector written to the database."""
    query = "query($id: ID!) { connector(id: $id) { id } }"
    for _ in range(200):
        if server.query(query, {"id": connector_id}).get("data", {}).get("connector"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{server.base_url} never saw connector {connector_id}")


# --------------------------------------------------------------------------- queries


@dataclass
class Writer:
    """Builds one query: its fragments and the Boolean variables its directives read."""

    draw: Any
    world: World
    fragments: list[str] = field(default_factory=list)
    conditions: dict[str, bool] = field(default_factory=dict)
    aliases: int = 0

    def value(self, name: str, kind: Any) -> str:
        """A literal for an argument: mostly sensible, sometimes refused by the resolver."""
        draw = self.draw
        kind = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
        if isinstance(kind, GraphQLList):
            return f"[{self.value(name, kind.of_type)}]"
        if isinstance(kind, GraphQLEnumType):
            return draw(st.sampled_from(sorted(kind.values)))
        if isinstance(kind, GraphQLInputObjectType):
            chosen = draw(st.lists(st.sampled_from(sorted(kind.fields)), max_size=2, unique=True))
            chosen = [
                part
                for part in chosen
                if not isinstance(get_named_type(kind.fields[part].type), GraphQLInputObjectType)
            ]
            return (
                "{" + " ".join(f"{p}: {self.value(p, kind.fields[p].type)}" for p in chosen) + "}"
            )
        assert isinstance(kind, GraphQLScalarType)
        options: list[Any]
        if kind.name == "ID":
            options = self.world.ids
        elif kind.name == "Int":
            options = [0, 1, 2, 3, -1, 101] if name == "first" else [1, 60, -5]
        elif kind.name == "Float":
            options = {
                "latitude": [52.37, 52.0, 95.0],
                "longitude": [4.89, 5.2, -190.0],
                "radiusMeters": [2000.0, 50_000.0, -1.0],
                "south": [52.3, 52.36, 100.0],
                "north": [52.4, 52.38],
                "west": [4.8, 4.88],
                "east": [4.95, 4.9, 200.0],
            }.get(name, [50.0, -1.0, 0.0])
        elif kind.name == "Boolean":
            options = [True, False]
        elif kind.name == "DateTime":
            options = ["2020-01-01T00:00:00.000Z", "2020-01-01T00:00:00.000Z", "yesterday"]
        elif name == "endpoint":
            options = self.world.endpoints
        else:
            options = [
                encode_cursor(self.world.ids[4]),
                encode_cursor(str(ObjectId())),
                "garbage",
                "Name ✓",
            ]
        return json.dumps(draw(st.sampled_from(options)))

    def arguments(self, definition: GraphQLField) -> str:
        parts = []
        for name, argument in definition.args.items():
            required = (
                isinstance(argument.type, GraphQLNonNull) and argument.default_value is Undefined
            )
            if required or self.draw(st.booleans()):
                parts.append(f"{name}: {self.value(name, argument.type)}")
        return f"({', '.join(parts)})" if parts else ""

    def directive(self) -> str:
        which = self.draw(st.sampled_from(["", "", "", "include", "skip"]))
        if not which:
            return ""
        variable = f"c{len(self.conditions)}"
        self.conditions[variable] = self.draw(st.booleans())
        return f" @{which}(if: ${variable})"

    def field(self, parent: GraphQLObjectType, name: str, depth: int) -> str | None:
        definition = parent.fields[name]
        inner = get_named_type(definition.type)
        if isinstance(inner, GraphQLObjectType) and depth == 0:
            return None
        alias = ""
        if self.draw(st.integers(0, 3)) == 0:
            self.aliases += 1
            alias = f"a{self.aliases}: "
        head = f"{alias}{name}{self.arguments(definition)}{self.directive()}"
        if isinstance(inner, GraphQLObjectType):
            return f"{head} {{ {self.selection(inner, depth - 1)} }}"
        return head

    def selection(self, kind: GraphQLObjectType, depth: int) -> str:
        names = [name for name in kind.fields if (kind.name, name) not in UNSTABLE]
        chosen = self.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4))
        parts = [part for name in chosen if (part := self.field(kind, name, depth)) is not None]
        parts.append("__typename")
        how = self.draw(st.sampled_from(["plain", "plain", "inline", "fragment"]))
        if how == "inline":
            return f"... on {kind.name}{self.directive()} {{ {' '.join(parts)} }} __typename"
        if how == "fragment":
            fragment = f"F{len(self.fragments)}"
            self.fragments.append(f"fragment {fragment} on {kind.name} {{ {' '.join(parts)} }}")
            return f"...{fragment}{self.directive()} {parts[0]}"
        return " ".join(parts)


@st.composite
def queries(draw: Any, world: World) -> tuple[str, dict[str, bool]]:
    writer = Writer(draw, world)
    query_type = SCHEMA.query_type
    assert query_type is not None
    roots = draw(st.lists(st.sampled_from(sorted(query_type.fields)), min_size=1, max_size=3))
    body = (
        " ".join(part for name in roots if (part := writer.field(query_type, name, 3)) is not None)
        or "__typename"
    )
    declared = ", ".join(f"${name}: Boolean!" for name in writer.conditions)
    head = f"query Q({declared})" if declared else "query Q"
    return "\n".join([f"{head} {{ {body} }}", *writer.fragments]), writer.conditions


def both(servers: tuple[Server, Server], body: dict[str, Any], key: str | None) -> list[Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answers = []
    for server in servers:
        response = httpx.post(server.graphql_url, json=body, headers=headers, timeout=30)
        answers.append((response.status_code, response.content))
    return answers


@pytest.mark.parametrize("caller", CALLERS)
def test_generated_queries_get_the_same_bytes_from_both_paths(
    servers: tuple[Server, Server], world: World, caller: str
) -> None:
    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(asked=queries(world))
    def check(asked: tuple[str, dict[str, bool]]) -> None:
        query, variables = asked
        executor, compiled = both(
            servers, {"query": query, "variables": variables}, world.keys[caller]
        )
        assert compiled == executor, query

    check()
    # The compiled server did compile (and the other did not).
    assert metric(servers[1], "chargegraph_graphql_execution_paths_total", path="compiled") > 0
    assert metric(servers[0], "chargegraph_graphql_execution_paths_total", path="compiled") == 0


SEARCH_SHAPES = {
    "nearby": """query($lat: Float!, $lng: Float!, $edges: Boolean!) {
        nearbyConnectors(latitude: $lat, longitude: $lng, radiusMeters: 5000, first: 20) {
          totalCount edges @include(if: $edges) { distanceMeters cursor node { ...C } }
          pageInfo { hasNextPage endCursor } } }
        fragment C on Connector { id endpoint status type power powerType maxVoltage
          coordinates { latitude longitude } createdAt updatedAt organization { id name } }""",
    "bounds": """{ connectorsInBounds(south: 52.3, west: 4.8, north: 52.4, east: 4.95, first: 100) {
        totalCount edges { node { id endpoint status type power chargestation { id active } } } } }""",
    "list": """{ connectors(first: 100) { totalCount edges { cursor node { id ... on Connector {
        status organization { name connectorCountsByStatus { status count } } } } } } }""",
    "counts": """query($id: ID!) { organization(id: $id) { name address { city }
        connectorCountsByStatus { status count } connectors(first: 2) { totalCount } } }""",
    "one": """query($id: ID!) { connector(id: $id) { id status organization { id name active } } }""",
    "bad page": """{ connectors(first: 101) { totalCount } organizations(first: 1) { totalCount } }""",
    "orphan": """query($id: ID!) { one: connector(id: $id) { id organization { id } }
        page: connectors(first: 100) { edges { node { id organization { name } } } } }""",
}


@pytest.mark.parametrize("shape", sorted(SEARCH_SHAPES))
@pytest.mark.parametrize("caller", CALLERS)
def test_the_search_shapes_apps_ask_get_the_same_bytes(
    servers: tuple[Server, Server], world: World, shape: str, caller: str
) -> None:
    variables_of = [
        {"lat": 52.37, "lng": 4.89, "edges": True, "id": world.ids[0]},
        {"lat": 52.37, "lng": 4.89, "edges": False, "id": world.ids[6]},
        {"lat": 52.37, "lng": 4.89, "edges": True, "id": world.ids[8]},
        {"lat": 52.37, "lng": 4.89, "edges": True, "id": world.ids[-3]},
    ]
    for variables in variables_of:
        query = SEARCH_SHAPES[shape]
        used = {name: value for name, value in variables.items() if f"${name}" in query}
        executor, compiled = both(servers, {"query": query, "variables": used}, world.keys[caller])
        assert compiled == executor
        assert compiled[0] == 200


def test_operations_graphql_core_keeps_are_counted_with_their_reason(
    servers: tuple[Server, Server], world: World
) -> None:
    executor, compiled = servers
    before = metric(
        compiled,
        "chargegraph_graphql_execution_paths_total",
        path="executor",
        reason="introspection",
    )
    for server in servers:
        assert data(server.query("{ __schema { queryType { name } } }")) == {
            "__schema": {"queryType": {"name": "Query"}}
        }
    assert (
        metric(
            compiled,
            "chargegraph_graphql_execution_paths_total",
            path="executor",
            reason="introspection",
        )
        == before + 1
    )
    assert (
        metric(
            executor,
            "chargegraph_graphql_execution_paths_total",
            path="executor",
            reason="disabled",
        )
        > 0
    )


DEFAULTED = """query($edges: Boolean = true, $first: Int = 3, $lat: Float = 52.37,
    $near: Boolean! = false) {
    connectors(first: $first) { totalCount edges @include(if: $edges) { node { id status } } }
    nearbyConnectors(latitude: $lat, longitude: 4.89, first: $first) @skip(if: $near) {
        edges { distanceMeters node { id } } } }"""


@pytest.mark.parametrize(
    "variables",
    [{}, {"edges": False}, {"first": 1, "near": True}, {"first": None}, {"lat": 95.0}],
    ids=["defaults", "one given", "two given", "explicit null", "refused by the resolver"],
)
def test_variable_defaults_and_omitted_directive_variables_get_the_same_bytes(
    servers: tuple[Server, Server], variables: dict[str, Any]
) -> None:
    executor, compiled = both(servers, {"query": DEFAULTED, "variables": variables}, None)
    assert compiled == executor
    assert compiled[0] == 200


def test_one_operation_compiles_for_a_few_directive_values_and_runs_by_graphql_core_beyond(
    servers: tuple[Server, Server], world: World
) -> None:
    """Four @include variables make 16 variants of one text: the first MAX_VARIANTS get
    plans, the rest run by graphql-core, with the same answers either way."""
    compiled = servers[1]
    query = """query($a: Boolean!, $b: Boolean!, $c: Boolean!, $d: Boolean!) {
        connectors(first: 2) { totalCount @include(if: $a) edges { node { id
            status @include(if: $b) power @include(if: $c) type @include(if: $d) } } } }"""

    def counted(path: str, reason: str) -> float:
        return metric(
            compiled, "chargegraph_graphql_execution_paths_total", path=path, reason=reason
        )

    before = counted("executor", "variants"), counted("compiled", "")
    for number in range(16):
        flags = {name: bool(number >> bit & 1) for bit, name in enumerate("abcd")}
        answers = both(servers, {"query": query, "variables": flags}, None)
        assert answers[0] == answers[1], flags
        assert answers[0][0] == 200
    assert counted("executor", "variants") == before[0] + 16 - MAX_VARIANTS
    assert counted("compiled", "") == before[1] + MAX_VARIANTS


def test_a_failing_non_null_field_nulls_its_nearest_nullable_parent_on_both_paths(
    servers: tuple[Server, Server], world: World
) -> None:
    query = "query($id: ID!) { one: connector(id: $id) { id organization { id name } } }"
    executor, compiled = both(
        servers, {"query": query, "variables": {"id": world.ids[-3]}}, ADMIN_KEY
    )
    assert compiled == executor
    body = json.loads(compiled[1])
    assert body["data"] == {"one": None}
    (failure,) = body["errors"]
    assert failure["path"] == ["one", "organization"]
    assert failure["locations"] == [{"line": 1, "column": query.index("organization") + 1}]
    assert failure["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
