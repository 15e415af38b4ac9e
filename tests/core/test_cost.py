"""What an operation may cost, computed from its document (in process)."""

from __future__ import annotations

import pytest
from graphql import parse

from graph.compat.strawberry import graphql_schema
from graph.core.cost import document_size, operation_cost, subscription_searches
from graph.core.errors import RateLimited
from graph.core.rate_limit import CallerSlots
from graph.schema import schema

SCHEMA = graphql_schema(schema)


def test_fragments_are_measured_once_however_often_they_are_spread() -> None:
    levels = 60
    chain = " ".join(
        f"fragment F{n} on Connector {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)
    )
    document = parse(
        f"{{ connector(id: 1) {{ ...F0 }} }} {chain} fragment F{levels} on Connector {{ id }}"
    )
    size = document_size(document)
    # 2**60 fields once expanded, counted without expanding them.
    assert size.fields > 2**60 and size.depth == 2


def test_a_cyclic_fragment_counts_as_empty_for_validation_to_refuse() -> None:
    document = parse("{ connector(id: 1) { ...A } } fragment A on Connector { id ...A }")
    # The operation (connector, id) and the definition itself (id, and A once more).
    assert document_size(document).fields == 4


def test_pages_multiply_what_they_hold_and_searches_pay_per_possible_run() -> None:
    document = parse(
        "query($n: Int!) { connectors(first: $n) { edges { node { organization { "
        "connectors(first: 5) { totalCount edges { node { id } } } } } } } }"
    )
    cost = operation_cost(SCHEMA, document, None, {"n": 10})
    # inner page: 5 items + 5 x (edges + node) = 15; organization 16; node 17; edges 18.
    assert cost.nodes == 10 + 10 * 18
    assert cost.searches == 1 + 10
    assert cost.writes == 0
    # Without a value the default page size (20) counts; over the maximum, the maximum.
    assert operation_cost(SCHEMA, document, None, {}).searches == 1 + 20
    assert operation_cost(SCHEMA, document, None, {"n": 10**9}).searches == 1 + 100


def test_mutation_fields_are_writes() -> None:
    document = parse(
        'mutation { a: deleteConnector(id: "x") b: deleteConnector(id: "y") __typename }'
    )
    assert operation_cost(SCHEMA, document, None, None).writes == 2


def test_searches_inside_subscriptions_are_named() -> None:
    document = parse(
        "subscription { connectorStatusChanged { status connector { "
        "organization { name connectors { totalCount } } chargestation { connectors { totalCount } } } } }"
    )
    assert subscription_searches(SCHEMA, document) == [
        "Chargestation.connectors",
        "Organization.connectors",
    ]
    plain = parse("subscription { connectorStatusChanged { status connector { id } } }")
    assert subscription_searches(SCHEMA, plain) == []


def test_caller_slots_cap_what_one_caller_holds_and_free_on_exit() -> None:
    slots = CallerSlots(2, "replays")
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(RateLimited) as refused, slots.hold("a"):
            pass
        assert "at most 2 replays" in refused.value.message
        with slots.hold("b"):
            assert slots.held("b") == 1
    assert slots.held("a") == 0
    with slots.hold("a"):
        assert slots.held("a") == 1
