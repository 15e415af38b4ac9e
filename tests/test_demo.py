"""`chargegraph serve --demo`: the newcomer's first run."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Server, data, server_env

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
        assert "GraphiQL: http://localhost:" in server.log()
    finally:
        server.stop()
    assert first["totalCount"] >= 200
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
