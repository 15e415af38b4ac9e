"""Configuration switches: production mode, introspection and GraphiQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import Server, data, error, module_server

INTROSPECTION = "{ __schema { queryType { name } } }"


@pytest.fixture(scope="module")
def locked_down(
    mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with module_server(
        mongo_uri,
        db_name,
        tmp_path_factory,
        CHARGEGRAPH_PRODUCTION="1",
        CHARGEGRAPH_INTROSPECTION="0",
        CHARGEGRAPH_GRAPHIQL="off",
    ) as running:
        yield running


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
    assert "totalCount" in data(locked_down.query("{ connectors { totalCount } }"))["connectors"]
