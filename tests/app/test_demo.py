"""`chargegraph serve --demo`: the newcomer's first run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import Server, data, server_env

FIRST_QUERY = "{ connectors(first: 5) { totalCount edges { node { endpoint status organization { name } } } } }"


def test_demo_network_is_added_once_and_answers_the_first_query(tmp_path: Path) -> None:
    server = Server(
        env=server_env(),
        args=["--data-dir", str(tmp_path / "data"), "--demo"],
        log_path=tmp_path / "server.log",
    )
    server.start()
    try:
        first = data(server.query(FIRST_QUERY))["connectors"]
        # The README's first query, as a newcomer sends it: without a key.
        anonymous = data(server.query(FIRST_QUERY, key=None))["connectors"]
        assert "GraphiQL: http://localhost:" in server.log()
        # The demo opens on the live map: its address is printed, and it is served.
        assert f"Live map: http://localhost:{server.port}/map" in server.log()
        assert "maplibre-gl.js" in httpx.get(f"{server.base_url}/map").text
    finally:
        server.stop()
    # The demo network is the same on every machine: the README quotes its counts.
    assert first["totalCount"] == 300
    assert anonymous["totalCount"] == 291
    assert len(first["edges"]) == 5
    for edge in first["edges"]:
        node = edge["node"]
        assert len(node["endpoint"]) == 4 and node["endpoint"].isalnum()
        assert node["organization"]["name"]

    located = "{ connectors(first: 100) { edges { node { coordinates { latitude longitude } } } } }"
    server.start()
    try:
        again = data(server.query(FIRST_QUERY))["connectors"]
        coordinates = [
            edge["node"]["coordinates"]
            for edge in data(server.query(located))["connectors"]["edges"]
        ]
    finally:
        server.stop()
    assert again == first, "a second start with --demo must not add the network again"
    assert all(c is not None and -90 <= c["latitude"] <= 90 for c in coordinates)


def test_demo_prints_an_admin_key_that_works_only_for_that_run(tmp_path: Path) -> None:
    env = {key: value for key, value in server_env().items() if key != "CHARGEGRAPH_ADMIN_KEYS"}
    server = Server(
        env=env, args=["--data-dir", str(tmp_path / "data"), "--demo"], log_path=tmp_path / "log"
    )
    create = 'mutation { createOrganization(input: {name: "Tried In GraphiQL"}) { name } }'
    keys: list[str] = []
    for _ in range(2):
        server.start()
        try:
            keys.append(re.findall(r"Demo admin key \(this run only\): (\S+)", server.log())[-1])
            made = data(server.query(create, key=keys[-1]))["createOrganization"]
            assert made == {"name": "Tried In GraphiQL"}
            earlier = httpx.post(
                server.graphql_url,
                json={"query": create},
                headers={"Authorization": f"Bearer {keys[0]}"},
            )
        finally:
            server.stop()
    assert keys[0] != keys[1]
    # The first run's key is refused by the second run.
    assert earlier.status_code == 401


def test_a_short_admin_key_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "graph.cli", "serve", "--data-dir", str(tmp_path / "data")],
        env=server_env(CHARGEGRAPH_ADMIN_KEYS="short"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "at least 24 ASCII characters" in finished.stderr
    assert "short" not in finished.stderr.replace("at least", "")
