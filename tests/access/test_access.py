"""Who may do what: every mutation and restricted field, for every kind of caller.

Each row runs against a fresh world: an organization T (the target), another
organization O, a key of T ("own"), a key of O ("other"), a revoked key of T
and a client application's key ("app", read-only). Where the outcome is a
refusal, nothing stored may have changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.access import (
    CREATE_APP_KEY,
    CREATE_KEY,
    MISSING_ID,
    ROLES,
    World,
    ask,
    create_app_key,
    create_key,
    make_world,
    revoke,
    snapshot,
)
from tests.support.server import (
    ADMIN_KEY,
    Server,
    connector_input,
    create_chargestation,
    create_connector,
    create_organization,
    data,
    error,
    unique_endpoint,
)

# An operation: given the server and a fresh world, set up what it needs (as
# admin) and return (query, variables, the result field to inspect).
Operation = Callable[[Server, World], tuple[str, dict[str, Any], str]]


def create_organization_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    return (
        'mutation { createOrganization(input: {name: "Newcomer"}) { id } }',
        {},
        "createOrganization",
    )


def update_organization_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    return (
        'mutation($id: ID!) { updateOrganization(id: $id, input: {name: "Renamed"}) { id name } }',
        {"id": world.target["id"]},
        "updateOrganization",
    )


def delete_organization_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    return (
        "mutation($id: ID!) { deleteOrganization(id: $id) }",
        {"id": world.target["id"]},
        "deleteOrganization",
    )


def create_connector_op(organization: str) -> Operation:
    def operation(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
        owner = {"target": world.target["id"], "missing": MISSING_ID}[organization]
        return (
            "mutation($input: CreateConnectorInput!) { createConnector(input: $input) { id } }",
            {"input": connector_input(owner)},
            "createConnector",
        )

    return operation


def on_connector(mutation: str, field: str, extra: str = "", exists: bool = True) -> Operation:
    """A mutation on a connector of T (or on an id no connector has)."""

    def operation(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
        connector_id = create_connector(server, world.target["id"])["id"] if exists else MISSING_ID
        variables: dict[str, Any] = {"id": connector_id}
        if "$org" in extra:
            variables["org"] = world.other["id"]
        declared = "$id: ID!, $org: ID!" if "$org" in extra else "$id: ID!"
        return f"mutation({declared}) {{ {mutation} }}", variables, field

    return operation


def create_chargestation_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    return (
        "mutation($input: CreateChargestationInput!) { createChargestation(input: $input) { id } }",
        {"input": {"organizationId": world.target["id"], "endpoint": unique_endpoint()}},
        "createChargestation",
    )


def on_chargestation(mutation: str, field: str, exists: bool = True) -> Operation:
    """A mutation on a charge station of T (or on an id no station has)."""

    def operation(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
        station_id = (
            create_chargestation(server, world.target["id"])["id"] if exists else MISSING_ID
        )
        return f"mutation($id: ID!) {{ {mutation} }}", {"id": station_id}, field

    return operation


def inactive_chargestation_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    hidden = create_chargestation(server, world.target["id"], active=False)
    return (
        "query($id: ID!) { chargestation(id: $id) { id active } }",
        {"id": hidden["id"]},
        "chargestation",
    )


def create_app_key_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    return CREATE_APP_KEY, {"name": "Another App", "rate": 60}, "createAppKey"


def app_keys_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    return "{ appKeys { id name searchesPerMinute } }", {}, "appKeys"


def revoke_app_key_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    key_id = create_app_key(server, "Doomed App")["appKey"]["id"]
    return "mutation($id: ID!) { revokeAppKey(id: $id) }", {"id": key_id}, "revokeAppKey"


def create_key_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    return CREATE_KEY, {"org": world.target["id"], "name": "another"}, "createApiKey"


def revoke_key_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    key_id = create_key(server, world.target["id"])["apiKey"]["id"]
    return "mutation($id: ID!) { revokeApiKey(id: $id) }", {"id": key_id}, "revokeApiKey"


def organization_field_op(selection: str) -> Operation:
    def operation(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
        return (
            f"query($id: ID!) {{ organization(id: $id) {{ name {selection} }} }}",
            {"id": world.target["id"]},
            "organization",
        )

    return operation


def inactive_connector_op(server: Server, world: World) -> tuple[str, dict[str, Any], str]:
    hidden = create_connector(server, world.target["id"], active=False)
    return "query($id: ID!) { connector(id: $id) { id active } }", {"id": hidden["id"]}, "connector"


U, F, N = "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"
OK, NULL, REFUSED_REQUEST = "ok", "null", "401"

# operation -> expected outcome for anonymous, admin, own key, other key, revoked key, app key
TABLE: dict[str, tuple[Operation, tuple[str, str, str, str, str]]] = {
    "createOrganization": (create_organization_op, (U, OK, F, F, REFUSED_REQUEST, F)),
    "updateOrganization": (update_organization_op, (U, OK, OK, F, REFUSED_REQUEST, F)),
    "deleteOrganization": (delete_organization_op, (U, OK, F, F, REFUSED_REQUEST, F)),
    "createConnector": (create_connector_op("target"), (U, OK, OK, F, REFUSED_REQUEST, F)),
    "createConnector for a missing organization": (
        create_connector_op("missing"),
        (U, N, F, F, REFUSED_REQUEST, F),
    ),
    "updateConnector": (
        on_connector("updateConnector(id: $id, input: {power: 22}) { id }", "updateConnector"),
        (U, OK, OK, F, REFUSED_REQUEST, F),
    ),
    "updateConnector moving it to another organization": (
        on_connector(
            "updateConnector(id: $id, input: {organizationId: $org}) { id }",
            "updateConnector",
            extra="$org",
        ),
        (U, OK, F, F, REFUSED_REQUEST, F),
    ),
    "updateConnector on a missing id": (
        on_connector(
            "updateConnector(id: $id, input: {power: 22}) { id }", "updateConnector", exists=False
        ),
        (U, N, F, F, REFUSED_REQUEST, F),
    ),
    "setConnectorStatus": (
        on_connector("setConnectorStatus(id: $id, status: CHARGING) { id }", "setConnectorStatus"),
        (U, OK, OK, F, REFUSED_REQUEST, F),
    ),
    "deleteConnector": (
        on_connector("deleteConnector(id: $id)", "deleteConnector"),
        (U, OK, OK, F, REFUSED_REQUEST, F),
    ),
    "deleteConnector on a missing id": (
        on_connector("deleteConnector(id: $id)", "deleteConnector", exists=False),
        (U, N, F, F, REFUSED_REQUEST, F),
    ),
    "createApiKey": (create_key_op, (U, OK, OK, F, REFUSED_REQUEST, F)),
    "revokeApiKey": (revoke_key_op, (U, OK, OK, F, REFUSED_REQUEST, F)),
    "Organization.apiKeys": (
        organization_field_op("apiKeys { id prefix }"),
        (U, OK, OK, F, REFUSED_REQUEST, F),
    ),
    "Organization.configurations": (
        organization_field_op("configurations { basicAuthEnabled }"),
        (U, OK, OK, F, REFUSED_REQUEST, F),
    ),
    "an inactive connector": (inactive_connector_op, (NULL, OK, OK, NULL, REFUSED_REQUEST, NULL)),
    "createChargestation": (create_chargestation_op, (U, OK, OK, F, REFUSED_REQUEST, F)),
    "updateChargestation": (
        on_chargestation(
            "updateChargestation(id: $id, input: {active: false}) { id }", "updateChargestation"
        ),
        (U, OK, OK, F, REFUSED_REQUEST, F),
    ),
    "updateChargestation on a missing id": (
        on_chargestation(
            "updateChargestation(id: $id, input: {active: false}) { id }",
            "updateChargestation",
            exists=False,
        ),
        (U, N, F, F, REFUSED_REQUEST, F),
    ),
    "deleteChargestation": (
        on_chargestation("deleteChargestation(id: $id)", "deleteChargestation"),
        (U, OK, OK, F, REFUSED_REQUEST, F),
    ),
    "an inactive charge station": (
        inactive_chargestation_op,
        (NULL, OK, OK, NULL, REFUSED_REQUEST, NULL),
    ),
    "createAppKey": (create_app_key_op, (U, OK, F, F, REFUSED_REQUEST, F)),
    "appKeys": (app_keys_op, (U, OK, F, F, REFUSED_REQUEST, F)),
    "revokeAppKey": (revoke_app_key_op, (U, OK, F, F, REFUSED_REQUEST, F)),
    "a public read": (
        organization_field_op("address { city }"),
        (OK, OK, OK, OK, REFUSED_REQUEST, OK),
    ),
}

CASES = [
    pytest.param(name, role, expected[index], id=f"{name} as {role}")
    for name, (_, expected) in TABLE.items()
    for index, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("name", "role", "expected"), CASES)
def test_authorization_table(
    server: Server, db: Database[dict[str, Any]], name: str, role: str, expected: str
) -> None:
    world = make_world(server)
    query, variables, field = TABLE[name][0](server, world)
    before = snapshot(db)
    status, body = ask(server, world.keys[role], query, variables)
    if expected == REFUSED_REQUEST:
        assert status == 401, body
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "data" not in body
    else:
        assert status == 200, body
        if expected == OK:
            assert data(body)[field] is not None
        elif expected == NULL:
            assert data(body)[field] is None
        else:
            refusal = error(body)
            assert refusal["extensions"]["code"] == expected, refusal
            assert "Traceback" not in refusal["message"]
    if expected not in (OK, NULL):
        assert snapshot(db) == before, f"{name} as {role} changed stored data"


def test_refusals_say_nothing_about_other_organizations_objects(server: Server) -> None:
    """An existing connector of another organization and a missing id are refused alike."""
    world = make_world(server)
    theirs = create_connector(server, world.other["id"], active=False)
    mutation = "mutation($id: ID!) { setConnectorStatus(id: $id, status: FAULTED) { id } }"
    own_key = world.keys["own"]
    existing = error(ask(server, own_key, mutation, {"id": theirs["id"]})[1])
    missing = error(ask(server, own_key, mutation, {"id": MISSING_ID})[1])
    assert existing["extensions"] == missing["extensions"] == {"code": "FORBIDDEN", "field": "id"}
    assert existing["message"].replace(theirs["id"], "X") == missing["message"].replace(
        MISSING_ID, "X"
    )


def test_a_key_is_shown_once_stored_as_a_hash_and_listed(
    server: Server, db: Database[dict[str, Any]]
) -> None:
    organization = create_organization(server, name="Keyed Charging")
    created = create_key(server, organization["id"])
    key, record = created["key"], created["apiKey"]
    assert key.startswith("cgk_") and len(key) >= 40
    assert key.startswith(record["prefix"]) and len(record["prefix"]) < len(key) // 2
    assert record["name"] == "backend" and record["lastUsedAt"] is None
    stored = db.api_keys.find_one({"_id": ObjectId(record["id"])})
    assert stored is not None
    assert stored["hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(stored)

    # The key works, and its use is recorded.
    listing = "query($id: ID!) { organization(id: $id) { apiKeys { id name prefix lastUsedAt } } }"
    keys = data(ask(server, key, listing, {"id": organization["id"]})[1])["organization"]["apiKeys"]
    assert [entry["id"] for entry in keys] == [record["id"]]
    assert keys[0]["lastUsedAt"] is not None
    # Nothing anywhere returns the key again.
    assert key not in str(ask(server, ADMIN_KEY, listing, {"id": organization["id"]})[1])
    assert key not in server.log()

    # An organization key makes more keys for its own organization only.
    second = create_key(server, organization["id"], key=key)
    assert second["key"] != key
    revoke(server, record["id"], key=second["key"])
    status, body = ask(server, key, listing, {"id": organization["id"]})
    assert status == 401 and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    remaining = data(ask(server, ADMIN_KEY, listing, {"id": organization["id"]})[1])
    assert [entry["id"] for entry in remaining["organization"]["apiKeys"]] == [
        second["apiKey"]["id"]
    ]


def test_deleting_an_organization_revokes_its_keys(server: Server) -> None:
    organization = create_organization(server, name="Closing Down")
    key = create_key(server, organization["id"])["key"]
    data(
        server.query(
            "mutation($id: ID!) { deleteOrganization(id: $id) }", {"id": organization["id"]}
        )
    )
    status, body = ask(server, key, "{ organizations(first: 1) { totalCount } }")
    assert status == 401 and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer cgk_not-a-key-this-server-issued",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "cgk_missing-scheme",
    ],
)
def test_a_bad_credential_is_refused_even_for_reads(server: Server, authorization: str) -> None:
    response = httpx.post(
        server.graphql_url,
        json={"query": "{ organizations(first: 1) { totalCount } }"},
        headers={"Authorization": authorization},
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    refusal = response.json()["errors"][0]
    assert refusal["extensions"]["code"] == "UNAUTHENTICATED"
    assert "authorization" in refusal["message"].lower() or "key" in refusal["message"]


def test_inactive_connectors_are_seen_only_by_their_organization(server: Server) -> None:
    world = make_world(server)
    shown = create_connector(server, world.target["id"])
    hidden = create_connector(server, world.target["id"], active=False, status="FAULTED")
    listing = """
    query($id: ID!, $endpoint: String!) {
      organization(id: $id) {
        connectors { totalCount edges { node { id } } }
        connectorCountsByStatus { status count }
      }
      connectors(filter: {organizationId: $id}) { totalCount }
      connectorByEndpoint(endpoint: $endpoint) { id }
    }
    """

    def seen_by(role: str) -> dict[str, Any]:
        result: dict[str, Any] = data(
            ask(
                server,
                world.keys[role],
                listing,
                {"id": world.target["id"], "endpoint": hidden["endpoint"]},
            )[1]
        )
        return result

    for role in ("anonymous", "other"):
        seen = seen_by(role)
        assert [e["node"]["id"] for e in seen["organization"]["connectors"]["edges"]] == [
            shown["id"]
        ]
        assert seen["organization"]["connectors"]["totalCount"] == 1
        assert seen["organization"]["connectorCountsByStatus"] == [
            {"status": "AVAILABLE", "count": 1}
        ]
        assert seen["connectors"]["totalCount"] == 1
        assert seen["connectorByEndpoint"] is None
    for role in ("own", "admin"):
        seen = seen_by(role)
        assert seen["organization"]["connectors"]["totalCount"] == 2
        assert {"status": "FAULTED", "count": 1} in seen["organization"]["connectorCountsByStatus"]
        assert seen["connectors"]["totalCount"] == 2
        assert seen["connectorByEndpoint"] == {"id": hidden["id"]}
    # An organization's connectors filtered by another organization: none.
    crossed = data(
        ask(
            server,
            world.keys["own"],
            "query($id: ID!, $other: ID!) { organization(id: $id) "
            "{ connectors(filter: {organizationId: $other}) { totalCount edges { node { id } } } } }",
            {"id": world.target["id"], "other": world.other["id"]},
        )[1]
    )
    assert crossed["organization"]["connectors"] == {"totalCount": 0, "edges": []}
    # An organization key lists its own inactive connectors among everyone's active ones.
    everything = data(
        ask(server, world.keys["own"], "{ connectors(first: 100) { edges { node { id } } } }")[1]
    )
    assert hidden["id"] in {e["node"]["id"] for e in everything["connectors"]["edges"]}
