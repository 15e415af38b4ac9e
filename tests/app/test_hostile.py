"""Hostile input: whatever a client sends, the answer is a coded error or a valid result.

Values for every argument of every mutation are generated from the schema
itself: huge and odd strings, operator-injection shapes, wrong types, NaN and
infinities, deeply nested values, ids that are not ObjectIds and ids of real
objects. Each request must end in a GraphQL error with a code (never an
internal error, a 500 or a dropped connection) or a result, and nothing stored
may change unless the mutation succeeded.

Half the requests are valid GraphQL (every required field present and of its
type) so that they get past GraphQL's variable checks and test the mutation's
own validation; the test fails when too few of them do.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
    is_leaf_type,
    is_required_input_field,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.database import Database

from graph.schema import schema
from tests.support.access import create_key, snapshot
from tests.support.server import ADMIN_KEY, Server, create_connector, create_organization, data

HEALTHY = "{ organizations(first: 1) { totalCount } }"
CODES = {
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "CONFLICT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "RATE_LIMITED",
    "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_PARSE_FAILED",
}
MUTATIONS = schema._schema.mutation_type.fields  # type: ignore[union-attr]


def deeply_nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"$in": value}
    return value


INJECTIONS = st.sampled_from(
    [
        '{"$gt": ""}',
        "$where",
        "'; db.dropDatabase(); //",
        '{"$ne": null}',
        "\x00\x01\x7f",
        "\u202eevil\u202c",
        "ǅ̶̢̛̀ͅ" * 20,
        "😀" * 300,
        "<script>alert(1)</script>",
        "lone \ud800 surrogate",
        "a" * 100_000,
    ]
)
TEXT = st.one_of(
    st.text(max_size=40),
    INJECTIONS,
    st.builds(lambda char, count: char * count, st.characters(), st.integers(150, 5000)),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
WRONG = st.one_of(
    ANY_JSON,
    st.fixed_dictionaries({"$gt": st.just("")}),
    st.just({"$where": "sleep(5000)"}),
    st.integers(10, 300).map(deeply_nested),
)


INT32 = st.integers(-(2**31), 2**31 - 1) | st.sampled_from([0, -1, 2**31 - 1, -(2**31)])
FINITE = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 1e308, -1e308, 5e-324]
)
INSTANTS = (
    st.sampled_from(
        ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999+14:00", "2026-02-30T00:00:00Z", "now"]
    )
    | st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat())
    | TEXT
)


def well_typed(graphql_type: GraphQLInputType, ids: list[str]) -> st.SearchStrategy[Any]:
    """Values GraphQL's own type checks accept, hostile only in what they say.

    Required input fields are always present and of their type, so the value
    reaches the mutation's own validation; nullable ones are sometimes null.
    """
    if isinstance(graphql_type, GraphQLNonNull):
        return _well_typed_value(graphql_type.of_type, ids)
    return _well_typed_value(graphql_type, ids) | st.none()


def _well_typed_value(graphql_type: GraphQLInputType, ids: list[str]) -> st.SearchStrategy[Any]:
    if isinstance(graphql_type, GraphQLList):
        return st.lists(well_typed(graphql_type.of_type, ids), max_size=4)
    if isinstance(graphql_type, GraphQLInputObjectType):
        fields = graphql_type.fields.items()
        return st.fixed_dictionaries(
            {
                name: well_typed(field.type, ids)
                for name, field in fields
                if is_required_input_field(field)
            },
            optional={
                name: well_typed(field.type, ids)
                for name, field in fields
                if not is_required_input_field(field)
            },
        )
    if isinstance(graphql_type, GraphQLEnumType):
        return st.sampled_from(list(graphql_type.values))
    assert isinstance(graphql_type, GraphQLScalarType), graphql_type
    return {
        "String": TEXT,
        "ID": st.sampled_from(ids) | st.text(alphabet="0123456789abcdef", max_size=30) | TEXT,
        "Int": INT32,
        "Float": FINITE | INT32,
        "Boolean": st.booleans(),
        "DateTime": INSTANTS,
    }[graphql_type.name]


def ill_typed(graphql_type: GraphQLInputType, ids: list[str]) -> st.SearchStrategy[Any]:
    """Plausible-shaped but hostile values for a GraphQL input type, and often a wrong type."""
    if isinstance(graphql_type, GraphQLNonNull):
        return ill_typed(graphql_type.of_type, ids)
    proper: st.SearchStrategy[Any]
    if isinstance(graphql_type, GraphQLList):
        proper = st.lists(ill_typed(graphql_type.of_type, ids), max_size=4)
    elif isinstance(graphql_type, GraphQLInputObjectType):
        proper = st.fixed_dictionaries(
            {},
            optional={
                name: ill_typed(field.type, ids) for name, field in graphql_type.fields.items()
            },
        )
    elif isinstance(graphql_type, GraphQLEnumType):
        proper = st.sampled_from(list(graphql_type.values)) | TEXT
    elif isinstance(graphql_type, GraphQLScalarType):
        proper = {
            "String": TEXT,
            "ID": st.sampled_from(ids) | st.text(alphabet="0123456789abcdef", max_size=30) | TEXT,
            "Int": st.integers(-(2**70), 2**70) | st.sampled_from([0, -1, 2**31 - 1, 2**31]),
            "Float": st.floats(allow_nan=True, allow_infinity=True) | st.integers(),
            "Boolean": st.booleans(),
        }.get(graphql_type.name, ANY_JSON)
    else:
        proper = ANY_JSON
    return st.one_of(proper, proper, proper, WRONG, st.none())


def operation_for(name: str) -> str:
    """`mutation($a: T!, …) { name(a: $a, …) { __typename } }` for a mutation field."""
    field = MUTATIONS[name]
    declared = ", ".join(f"${arg}: {spec.type}" for arg, spec in field.args.items())
    passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
    return f"mutation({declared}) {{ {name}({passed}){selection} }}"


@pytest.fixture
def targets(server: Server) -> dict[str, Any]:
    """Real objects for generated ids to hit, and an organization key (fresh for each test).

    The key may revoke itself or lose its organization along the way: later
    requests are then refused as UNAUTHENTICATED (401), which is a right answer.
    """
    organization = create_organization(server, name="Target Of Abuse")
    connector = create_connector(server, organization["id"])
    created = create_key(server, organization["id"])
    return {
        "ids": [organization["id"], connector["id"], created["apiKey"]["id"]],
        "key": created["key"],
    }


# A refusal that comes before the mutation's own checks, whatever the values.
GATEKEEPERS = {"UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED"}
# Share of an administrator's well-typed requests that must reach the mutation's own checks.
REACHED_SHARE = 0.5


def check_answer(response: httpx.Response, name: str) -> str:
    """Asserts a coded refusal or a result, and says how far the request got.

    "stored": the mutation succeeded; "resolver": the mutation's own checks
    refused it (an error on the field's path); "gate": refused before them
    (GraphQL's type checks, a missing key, the rate limit).
    """
    assert response.status_code in (200, 400, 401, 413, 429), (response.status_code, response.text)
    body = response.json()
    errors = body.get("errors") or []
    for error in errors:
        assert error.get("extensions", {}).get("code") in CODES, error
        assert "Traceback" not in error["message"] and "graph." not in error["message"]
    if body.get("data") and body["data"].get(name) is not None:
        return "stored"
    for error in errors:
        code = error["extensions"]["code"]
        if error.get("path") == [name] and code not in GATEKEEPERS:
            if code == "BAD_USER_INPUT":
                # A refusal by the mutation names what was wrong.
                assert error["extensions"].get("field"), error
            return "resolver"
    return "gate"


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_generated_arguments_never_break_the_server(
    server: Server, db: Database[dict[str, Any]], targets: dict[str, Any], name: str
) -> None:
    query = operation_for(name)
    field = MUTATIONS[name]
    valid_graphql = st.fixed_dictionaries(
        {arg: well_typed(spec.type, targets["ids"]) for arg, spec in field.args.items()}
    )
    wrong_types = st.fixed_dictionaries(
        {arg: ill_typed(spec.type, targets["ids"]) for arg, spec in field.args.items()}
    )
    # (well typed, sent by an administrator, outcome) of every request.
    outcomes: list[tuple[bool, bool, str]] = []

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        well_typed_variables=st.booleans().flatmap(
            lambda typed: st.tuples(st.just(typed), valid_graphql if typed else wrong_types)
        ),
        as_admin=st.booleans(),
    )
    def attempt(well_typed_variables: tuple[bool, dict[str, Any]], as_admin: bool) -> None:
        typed, variables = well_typed_variables
        before = snapshot(db)
        key = ADMIN_KEY if as_admin else targets["key"]
        # json.dumps writes NaN and Infinity as bare words, as a careless client would.
        body = json.dumps({"query": query, "variables": variables})
        response = httpx.post(
            server.graphql_url,
            content=body,
            headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
            timeout=30,
        )
        outcome = check_answer(response, name)
        if outcome != "stored":
            assert snapshot(db) == before, (name, variables)
        outcomes.append((typed, as_admin, outcome))

    attempt()
    assert "totalCount" in data(server.query(HEALTHY))["organizations"]
    # Hostile values must get past GraphQL's type checks to test the mutation itself.
    admitted = [outcome for typed, as_admin, outcome in outcomes if typed and as_admin]
    reached = sum(outcome != "gate" for outcome in admitted)
    assert admitted and reached >= REACHED_SHARE * len(admitted), (name, outcomes)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 40_000 + b"]" * 40_000,
        b'{"query": "{ organizations { totalCount } }", "variables": '
        + b'{"a":' * 15_000
        + b"1"
        + b"}" * 15_001,
        b'"just a string"',
        b"12",
        b"null",
        b"{not json",
        b"\xff\xfe\x00",
    ],
    ids=["nested arrays", "nested variables", "a string", "a number", "null", "broken", "binary"],
)
def test_malformed_bodies_are_refused_with_a_code(server: Server, body: bytes) -> None:
    response = httpx.post(
        server.graphql_url, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "totalCount" in data(server.query(HEALTHY))["organizations"]


def test_a_deeply_nested_websocket_message_does_not_crash_the_server(server: Server) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(socket.recv(timeout=10))["type"] == "connection_ack"
        socket.send("[" * 30_000 + "]" * 30_000)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    # The protocol's answer to a message it cannot read: close 4400.
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert "totalCount" in data(server.query(HEALTHY))["organizations"]
