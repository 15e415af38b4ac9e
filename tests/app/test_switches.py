"""Configuration switches: production mode, introspection and GraphiQL."""

from __future__ import annotations

import httpx

from tests.support.server import Server, data, error, server_fixture

INTROSPECTION = "{ __schema { queryType { name } } }"


locked_down = server_fixture(
    "A server in production mode, with introspection and GraphiQL off.",
    CHARGEGRAPH_PRODUCTION="1",
    CHARGEGRAPH_INTROSPECTION="0",
    CHARGEGRAPH_GRAPHIQL="off",
)


def test_defaults_help_developers(server: Server) -> None:
    assert data(server.query(INTROSPECTION)) == {"__schema": {"queryType": {"name": "Query"}}}
    assert "Did you mean" in error(server.query("{ connectorz { totalCount } }"))["message"]
    assert (
        "ChargeGraph GraphiQL"
        in httpx.get(server.graphql_url, headers={"accept": "text/html"}).text
    )


def test_switched_off_introspection_graphiql_and_suggestions(locked_down: Server) -> None:
    refused = locked_down.query(INTROSPECTION)
    assert refused["data"] is None
    assert {e["extensions"]["code"] for e in refused["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection has been disabled" in refused["errors"][0]["message"]
    typo = error(locked_down.query("{ connectorz { totalCount } }"))
    assert typo["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Did you mean" not in typo["message"] and "connectorz" in typo["message"]
    page = httpx.get(locked_down.graphql_url, headers={"accept": "text/html"})
    assert "GraphiQL" not in page.text
    # The live map is a developer's page too, off with GraphiQL.
    assert httpx.get(f"{locked_down.base_url}/map").status_code == 404
    assert "totalCount" in data(locked_down.query("{ connectors { totalCount } }"))["connectors"]
