"""Helpers for tests about API keys: asking with a key, issuing and revoking keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from bson import ObjectId
from pymongo.database import Database

from tests.support.server import ADMIN_KEY, Server, create_organization, data

ROLES = ("anonymous", "admin", "own", "other", "revoked", "app")
MISSING_ID = str(ObjectId())

CREATE_KEY = """
mutation($org: ID!, $name: String!) {
  createApiKey(organizationId: $org, name: $name) {
    key apiKey { id name prefix createdAt lastUsedAt }
  }
}
"""


@dataclass
class World:
    target: dict[str, Any]
    other: dict[str, Any]
    keys: dict[str, str | None]
    revoked_key_id: str


def ask(
    server: Server, key: str | None, query: str, variables: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(
        server.graphql_url,
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=30,
    )
    body: dict[str, Any] = response.json()
    return response.status_code, body


def create_key(server: Server, organization_id: str, key: str = ADMIN_KEY) -> dict[str, Any]:
    status, body = ask(server, key, CREATE_KEY, {"org": organization_id, "name": "backend"})
    assert status == 200
    created: dict[str, Any] = data(body)["createApiKey"]
    return created


def revoke(server: Server, key_id: str, key: str = ADMIN_KEY) -> None:
    data(ask(server, key, "mutation($id: ID!) { revokeApiKey(id: $id) }", {"id": key_id})[1])


def make_world(server: Server) -> World:
    target = create_organization(server, name="Target Charging")
    other = create_organization(server, name="Other Charging")
    revoked = create_key(server, target["id"])
    revoke(server, revoked["apiKey"]["id"])
    return World(
        target=target,
        other=other,
        keys={
            "anonymous": None,
            "admin": ADMIN_KEY,
            "own": create_key(server, target["id"])["key"],
            "other": create_key(server, other["id"])["key"],
            "revoked": revoked["key"],
            "app": create_app_key(server, "Table App")["key"],
        },
        revoked_key_id=revoked["apiKey"]["id"],
    )


def snapshot(db: Database[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Everything stored, except when keys were last used (a refused request still used one)."""
    return {
        name: list(db[name].find({}, projection={"lastUsedAt": 0}, sort=[("_id", 1)]))
        for name in ("organizations", "connectors", "api_keys", "chargestations")
    }


CREATE_APP_KEY = """
mutation($name: String!, $rate: Int!) {
  createAppKey(name: $name, searchesPerMinute: $rate) {
    key appKey { id name prefix searchesPerMinute createdAt lastUsedAt }
  }
}
"""


def create_app_key(
    server: Server, name: str, searches_per_minute: int = 600, key: str = ADMIN_KEY
) -> dict[str, Any]:
    status, body = ask(server, key, CREATE_APP_KEY, {"name": name, "rate": searches_per_minute})
    assert status == 200
    created: dict[str, Any] = data(body)["createAppKey"]
    return created
