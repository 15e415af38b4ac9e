"""Small anonymous requests that would make the server do enormous work are refused first.

Each test plays a request an attacker would send: a fragment chain that
doubles at every level, pages nested in pages, searches inside a
subscription, a replay of the whole network, connections without end.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from graph.core.limits import MAX_NODES, MAX_SELECTED_FIELDS
from graph.core.rate_limit import DEFAULT_SUBSCRIPTIONS_PER_CALLER, DEFAULT_WEBSOCKETS_PER_ADDRESS
from graph.live.schema import MAX_SUBSCRIPTIONS_PER_CONNECTION, REPLAY_CHANGES_PER_SEARCH
from tests.support.access import create_app_key, create_key
from tests.support.live import (
    RESUMABLE,
    health,
    next_event,
    set_status,
    start,
    subscribed,
    subscription_error,
    wait_for_subscribers,
)
from tests.support.server import (
    Server,
    create_connector,
    create_organization,
    data,
    error,
    metric,
    server_fixture,
)

SEARCHES = 60

server = server_fixture(
    "A server whose anonymous callers may spend 60 searches a minute.",
    CHARGEGRAPH_SEARCHES_PER_MINUTE=str(SEARCHES),
)


def anonymous(server: Server, query: str, variables: dict[str, Any] | None = None) -> Any:
    return httpx.post(server.graphql_url, json={"query": query, "variables": variables or {}})


def fragment_chain(levels: int) -> str:
    """Each fragment spreads the next twice: 2**levels copies of `id` once expanded."""
    fragments = " ".join(
        f"fragment F{level} on Connector {{ ...F{level + 1} ...F{level + 1} }}"
        for level in range(levels)
    )
    return (
        f'{{ connector(id: "000000000000000000000000") {{ ...F0 }} }} {fragments} '
        f"fragment F{levels} on Connector {{ id }}"
    )


def test_a_doubling_fragment_chain_is_refused_before_validation_and_others_are_served(
    server: Server,
) -> None:
    # 20 levels: about a million field visits for the validation rules before the fix.
    hostile = fragment_chain(20)
    assert len(hostile.encode()) < 1500
    answers: list[httpx.Response] = []
    attack = threading.Thread(
        target=lambda: answers.extend(anonymous(server, hostile) for _ in range(5))
    )
    attack.start()
    served = httpx.get(f"{server.base_url}/healthz", timeout=60)
    attack.join()
    assert served.status_code == 200
    assert len(answers) == 5
    for answer in answers:
        refusal = error(answer.json())
        assert refusal["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert refusal["extensions"]["limit"] == MAX_SELECTED_FIELDS
        assert "once its fragments are expanded" in refusal["message"]


def test_fragments_spread_a_few_times_still_run(server: Server) -> None:
    body = anonymous(server, fragment_chain(3)).json()
    assert "errors" not in body and body["data"] == {"connector": None}


NESTED = """
query($outer: Int!, $inner: Int!) {
  connectors(first: $outer) { edges { node { organization {
    connectors(first: $inner) { edges { node { organization {
      connectors(first: $inner) { edges { node { id } } } } } } } } } } }
}
"""


def test_pages_nested_in_pages_are_refused_by_what_they_could_return(server: Server) -> None:
    refused = anonymous(server, NESTED, {"outer": 100, "inner": 100})
    refusal = error(refused.json())
    assert refusal["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert refusal["extensions"]["limit"] == MAX_NODES
    assert refusal["extensions"]["cost"] > 1_000_000
    assert refused.json()["data"] is None
    # The same shape with small pages is an ordinary question.
    small = anonymous(server, NESTED, {"outer": 2, "inner": 2}).json()
    assert "errors" not in small, small


def test_a_subscription_may_not_select_searches(server: Server) -> None:
    query = """
    subscription { connectorStatusChanged {
      status connector { organization { connectors(first: 100) { totalCount } } } } }
    """
    with subscribed(server, {}, query=query) as socket:
        refusal = subscription_error(socket)
    assert refusal["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Organization.connectors" in refusal["message"]
    assert refusal["extensions"]["fields"] == ["Organization.connectors"]


AREA_REPLAY = """
subscription($bounds: BoundsInput, $after: String) {
  connectorStatusChanged(bounds: $bounds, after: $after) { status cursor connector { id } }
}
"""


@pytest.mark.parametrize("watch", ["organization", "area"])
def test_a_replay_reads_only_the_changes_it_watches(server: Server, watch: str) -> None:
    watched_org = create_organization(server, name=f"Replayed {watch}")
    busy_org = create_organization(server, name=f"Busy Elsewhere {watch}")
    # Amsterdam is watched; Paris is busy.
    watched = create_connector(
        server, watched_org["id"], coordinates={"latitude": 52.37, "longitude": 4.89}
    )
    busy = create_connector(
        server, busy_org["id"], coordinates={"latitude": 48.86, "longitude": 2.35}
    )
    key = create_key(server, watched_org["id"])["key"]
    query, variables = (
        (RESUMABLE, {"org": watched_org["id"]})
        if watch == "organization"
        else (AREA_REPLAY, {"bounds": {"south": 52.3, "west": 4.8, "north": 52.4, "east": 5.0}})
    )
    with subscribed(server, variables, query=query, key=key) as socket:
        wait_for_subscribers(server, 1)
        set_status(server, watched["id"], "CHARGING")
        cursor = next_event(socket)["cursor"]
    wait_for_subscribers(server, 0)
    cycle = ["FAULTED", "AVAILABLE", "CHARGING", "PREPARING"]
    for number in range(40):
        set_status(server, busy["id"], cycle[number % len(cycle)])
    set_status(server, watched["id"], "FAULTED")
    set_status(server, watched["id"], "AVAILABLE")
    before = health(server)["replay_reads"]
    with subscribed(server, {**variables, "after": cursor}, query=query, key=key) as socket:
        replayed = [next_event(socket)["status"], next_event(socket)["status"]]
    assert replayed == ["FAULTED", "AVAILABLE"]
    # The 40 changes elsewhere were never read by the replay.
    assert health(server)["replay_reads"] - before == 2
    assert REPLAY_CHANGES_PER_SEARCH > 2


def test_websockets_are_capped_per_address(server: Server) -> None:
    # Connections of earlier tests are let go by the server once it sees them closed.
    deadline = time.monotonic() + 30
    while metric(server, "chargegraph_websockets_open", path="graphql") > 0:
        assert time.monotonic() < deadline, "earlier WebSockets were never let go"
        time.sleep(0.05)
    with contextlib.ExitStack() as opened:
        for _ in range(DEFAULT_WEBSOCKETS_PER_ADDRESS):
            opened.enter_context(connect(server.ws_url, subprotocols=["graphql-transport-ws"]))  # type: ignore[list-item]
        with pytest.raises(InvalidStatus):
            connect(server.ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    # Once they are closed, the address may connect again.
    with subscribed(server, {}) as socket:
        assert socket.protocol.state.name == "OPEN"
    assert data(server.query("{ __typename }")) == {"__typename": "Query"}


def test_subscriptions_are_capped_per_caller_across_connections(server: Server) -> None:
    # An app whose allowance covers every subscription opened here.
    organization = create_organization(server, name="Many Dashboards")
    key = create_app_key(server, "Dashboards", searches_per_minute=1000)["key"]
    per_connection = MAX_SUBSCRIPTIONS_PER_CONNECTION
    connections = DEFAULT_SUBSCRIPTIONS_PER_CALLER // per_connection
    variables = {"org": organization["id"]}
    with contextlib.ExitStack() as opened:
        for _ in range(connections):
            socket = opened.enter_context(subscribed(server, variables, key=key))
            for number in range(2, per_connection + 1):
                start(socket, str(number), variables)
        wait_for_subscribers(server, DEFAULT_SUBSCRIPTIONS_PER_CALLER)
        # One more, on a fresh connection of the same organization: refused.
        extra = opened.enter_context(subscribed(server, variables, key=key))
        refusal = subscription_error(extra)
        assert refusal["extensions"]["code"] == "RATE_LIMITED"
        assert f"at most {DEFAULT_SUBSCRIPTIONS_PER_CALLER} subscriptions" in refusal["message"]
        # Another caller is not affected.
        other_key = create_app_key(server, "Other Dashboards")["key"]
        opened.enter_context(subscribed(server, variables, key=other_key))
        wait_for_subscribers(server, DEFAULT_SUBSCRIPTIONS_PER_CALLER + 1)
    wait_for_subscribers(server, 0)


def test_a_search_nested_in_a_page_pays_for_each_time_it_may_run(server: Server) -> None:
    """Last in this module: it spends the anonymous allowance of 127.0.0.1."""
    organization = create_organization(server, name="Nested Pages")
    create_connector(server, organization["id"])
    # 1 outer search + 40 inner ones (one per possible row): 41 of the 60 a minute.
    query = (
        "{ connectors(first: 40) { edges { node { organization { "
        "connectors(first: 1) { totalCount } } } } } }"
    )
    first = httpx.post(server.graphql_url, json={"query": query})
    assert first.status_code == 200 and "errors" not in first.json()
    again = httpx.post(server.graphql_url, json={"query": query})
    assert again.status_code == 429
    assert error(again.json())["extensions"]["code"] == "RATE_LIMITED"
    # More than the whole allowance: refused, and the message says no wait will help.
    wide = "{ connectors(first: 100) { edges { node { organization { connectors(first: 1) { totalCount } } } } } }"
    never = httpx.post(server.graphql_url, json={"query": wide})
    assert never.status_code == 429
    assert "whole allowance" in error(never.json())["message"]
