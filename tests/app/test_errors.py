"""What a client sees when a request is malformed or something breaks, and what is logged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.server import Server, create_organization, error


def test_parse_and_validation_failures_carry_codes(server: Server) -> None:
    parse = error(server.query("{ connectors(first: 3 { totalCount }"))
    assert parse["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "Syntax Error" in parse["message"]

    unknown = error(server.query("{ connectorz { totalCount } }"))
    assert unknown["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "connectorz" in unknown["message"]

    wrong_literal = error(server.query('{ connectors(first: "ten") { totalCount } }'))
    assert wrong_literal["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_bad_variables_are_bad_user_input(server: Server) -> None:
    query = "query($first: Int!) { connectors(first: $first) { totalCount } }"
    wrong_type = error(server.query(query, {"first": "ten"}))
    assert wrong_type["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$first" in wrong_type["message"]
    missing = error(server.query(query, {}))
    assert missing["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_variables_are_refused(server: Server, number: bytes) -> None:
    # JSON has no such numbers, but Python's parser accepts these spellings.
    response = httpx.post(
        server.graphql_url,
        content=b'{"query": "query($p: Float) { connectors(filter: {minPowerKw: $p}) { totalCount } }",'
        b' "variables": {"p": ' + number + b"}}",
        headers={"content-type": "application/json"},
    )
    refused = error(response.json())
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$p" in refused["message"]


def test_out_of_range_float_literal_is_refused(server: Server) -> None:
    refused = error(server.query("{ connectors(filter: {minPowerKw: 1e400}) { totalCount } }"))
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter.minPowerKw"}


def test_an_unexpected_failure_is_opaque_to_the_client_and_logged_in_full(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    # A connector whose organization was removed behind the API's back.
    organization = create_organization(server, name="Soon Gone")
    broken = db.connectors.insert_one(
        {
            "active": True,
            "status": "Available",
            "endpoint": "br0k",
            "ocppId": 1,
            "type": "Type2",
            "format": "CABLE",
            "power_type": "AC_3_PHASE",
            "power": 7.2,
            "createdAt": ObjectId().generation_time,
            "updatedAt": ObjectId().generation_time,
            "organization": ObjectId(organization["id"]),
        }
    ).inserted_id
    db.organizations.delete_one({"_id": ObjectId(organization["id"])})

    body = server.query(
        "query($id: ID!) { connector(id: $id) { endpoint organization { name } } }",
        {"id": str(broken)},
    )
    failure = error(body)
    assert failure["message"] == "Internal server error"
    assert failure["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "Traceback" not in str(body) and "organization" not in failure["message"]
    log = server.log()
    assert "unexpected failure at connector.organization" in log
    assert "Traceback (most recent call last)" in log


def test_refusals_are_logged_on_one_line_without_a_traceback(server: Server) -> None:
    before = server.log()
    error(server.query('{ connector(id: "xyz-not-an-id") { id } }'))
    added = server.log()[len(before) :]
    refusal_lines = [line for line in added.splitlines() if "refused (BAD_USER_INPUT)" in line]
    assert len(refusal_lines) == 1 and "id must be" in refusal_lines[0]
    assert "Traceback" not in added


def test_graphiql_is_served_to_browsers(server: Server) -> None:
    page = httpx.get(server.graphql_url, headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "GraphiQL" in page.text


SECRET = "SuperSecret-PW-123"


@pytest.mark.parametrize(
    ("variables", "path"),
    [
        ({"configurations": {"basicAuthPassword": SECRET, "typo": 1}}, ".configurations"),
        ({"configurations": {"basicAuthPassword": [SECRET]}}, ".configurations.basicAuthPassword"),
        ({"name": {SECRET: 1}}, ".name"),
        (SECRET, ""),
    ],
)
def test_a_rejected_variable_value_is_never_echoed_nor_logged(
    server: Server, db: Database[dict[str, Any]], variables: Any, path: str
) -> None:
    organization = create_organization(server, name="Secretive")
    before = db.organizations.find_one({"_id": ObjectId(organization["id"])})
    mutation = (
        "mutation($id: ID!, $in: UpdateOrganizationInput!) "
        "{ updateOrganization(id: $id, input: $in) { id } }"
    )
    response = server.query(mutation, {"id": organization["id"], "in": variables})
    refusal = error(response)
    assert refusal["extensions"]["code"] == "BAD_USER_INPUT"
    # The message names the variable and where in it the value is wrong, not the value.
    assert refusal["message"].startswith(
        f"Variable '$in' has invalid value{' at ' + path if path else ''}"
    )
    assert SECRET not in str(response)
    assert SECRET not in server.log()
    assert db.organizations.find_one({"_id": ObjectId(organization["id"])}) == before
