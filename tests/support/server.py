"""Helpers for end-to-end tests: ChargeGraph server processes and GraphQL calls.

Fixtures live in tests/conftest.py; test modules import helpers from here,
never from each other.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.embedded import free_port

ADMIN_KEY = "test-admin-key-0123456789abcdef"
"""The admin key every test server accepts (CHARGEGRAPH_ADMIN_KEYS)."""

STOP_SECONDS = 30
"""How long a stopped server may take to exit (its requests get 5 s, its tasks more)."""


@dataclass
class Server:
    """A `chargegraph serve` process on loopback."""

    env: dict[str, str]
    args: list[str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self, timeout: float = 60.0) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graph.cli", "serve", "--port", str(self.port), *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self.process = None
            tail = "\n".join(self.log().splitlines()[-40:])
            raise AssertionError(f"server did not stop within {STOP_SECONDS} s:\n{tail}") from None
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def query(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        key: str | None = ADMIN_KEY,
        **headers: str,
    ) -> dict[str, Any]:
        """POST a GraphQL request with an API key (admin unless `key` says otherwise; None:
        anonymous); returns the JSON body (the HTTP status must be 200)."""
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        response = httpx.post(
            self.graphql_url,
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def children_of(pid: int) -> list[int]:
    """The child processes of a process (e.g. a server's embedded database)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()]


def server_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "MONGODB_URI"}
    env["CHARGEGRAPH_ADMIN_KEYS"] = ADMIN_KEY
    env.update(extra)
    return env


def server_fixture(doc: str, **settings: str) -> Any:
    """A module-scoped fixture: a server on the module's database with extra settings."""

    @pytest.fixture(scope="module")
    def running_server(
        mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Server]:
        with module_server(mongo_uri, db_name, tmp_path_factory, **settings) as running:
            yield running

    running_server.__doc__ = doc
    return running_server


@contextmanager
def module_server(
    mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory, **settings: str
) -> Iterator[Server]:
    """A running server on the shared database server and the module's database.

    `settings` are extra environment variables (CHARGEGRAPH_…).
    """
    running = Server(
        env=server_env(MONGODB_URI=mongo_uri, CHARGEGRAPH_DB=db_name, **settings),
        args=[],
        log_path=tmp_path_factory.mktemp("server") / "server.log",
    ).start()
    try:
        yield running
    finally:
        running.stop()


def data(body: dict[str, Any]) -> dict[str, Any]:
    """The `data` of a response that must have no errors."""
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"]
    return result


def error(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a refused request."""
    assert len(body.get("errors") or []) == 1, body
    only: dict[str, Any] = body["errors"][0]
    return only


ORGANIZATION_FIELDS = """
    id name active createdAt updatedAt
    address { streetAndNumber postalCode city country }
    configurations { basicAuthEnabled }
"""

CONNECTOR_FIELDS = """
    id active status endpoint ocppId type format powerType power
    coordinates { latitude longitude } createdAt updatedAt organization { id name }
"""


def create_organization(server: Server, **fields: Any) -> dict[str, Any]:
    result = server.query(
        f"mutation($input: CreateOrganizationInput!) {{ createOrganization(input: $input) {{ {ORGANIZATION_FIELDS} }} }}",
        {"input": {"name": "Rockstart B.V.", **fields}},
    )
    organization: dict[str, Any] = data(result)["createOrganization"]
    return organization


_endpoints = iter(
    f"{a}{b}{c}{d}"
    for a in "tuvwxyz"
    for b in "0123456789"
    for c in "abcdefghij"
    for d in "0123456789"
)


def unique_endpoint() -> str:
    """An endpoint no other test of the session uses."""
    return next(_endpoints)


def connector_input(organization_id: str, **fields: Any) -> dict[str, Any]:
    """A valid CreateConnectorInput with a fresh endpoint, changed by `fields`."""
    return {
        "organizationId": organization_id,
        "endpoint": unique_endpoint(),
        "ocppId": 1,
        "type": "TYPE2",
        "format": "CABLE",
        "powerType": "AC_3_PHASE",
        "power": 7.2,
        **fields,
    }


def create_connector(server: Server, organization_id: str, **fields: Any) -> dict[str, Any]:
    values = connector_input(organization_id, **fields)
    result = server.query(
        f"mutation($input: CreateConnectorInput!) {{ createConnector(input: $input) {{ {CONNECTOR_FIELDS} }} }}",
        {"input": values},
    )
    connector: dict[str, Any] = data(result)["createConnector"]
    return connector


CHARGESTATION_FIELDS = """
    id endpoint active online protocol coordinates { latitude longitude }
    organization { id } createdAt updatedAt
"""


def create_chargestation(server: Server, organization_id: str, **fields: Any) -> dict[str, Any]:
    """A charge station of the organization, with a fresh endpoint unless `fields` gives one."""
    result = server.query(
        f"mutation($input: CreateChargestationInput!) {{ createChargestation(input: $input) {{ {CHARGESTATION_FIELDS} }} }}",
        {"input": {"organizationId": organization_id, "endpoint": unique_endpoint(), **fields}},
    )
    station: dict[str, Any] = data(result)["createChargestation"]
    return station


def metric(server: Server, sample: str, **labels: str) -> float:
    """One sample of the server's /metrics (0 when absent)."""
    text = httpx.get(f"{server.base_url}/metrics").text
    for line in text.splitlines():
        if not line.startswith(sample + "{") and not line.startswith(sample + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
