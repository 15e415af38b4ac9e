"""The embedded default: data survives a clean restart and a crash."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.server import Server, children_of, create_organization, data, server_env

COUNT = "{ organizations { totalCount edges { node { name } } } }"


@pytest.fixture
def embedded_server(tmp_path: Path) -> Server:
    """A server with no MONGODB_URI: it starts its own database under --data-dir."""
    return Server(
        env=server_env(),
        args=["--data-dir", str(tmp_path / "data")],
        log_path=tmp_path / "server.log",
    )


def names(server: Server) -> list[str]:
    result = data(server.query(COUNT))["organizations"]
    return [edge["node"]["name"] for edge in result["edges"]]


def test_data_survives_a_graceful_restart(embedded_server: Server) -> None:
    embedded_server.start()
    create_organization(embedded_server, name="Kept Across Restarts")
    embedded_server.stop(signal.SIGTERM)
    embedded_server.start()
    try:
        assert names(embedded_server) == ["Kept Across Restarts"]
    finally:
        embedded_server.stop()


def test_acknowledged_writes_survive_a_crash(embedded_server: Server) -> None:
    embedded_server.start()
    assert embedded_server.process is not None
    database_pids = children_of(embedded_server.process.pid)
    assert database_pids, "the embedded database runs as a child process"
    for index in range(3):
        create_organization(embedded_server, name=f"Durable {index}")
    # Kill the API and its database at once, the instant the last write was acknowledged.
    for pid in [embedded_server.process.pid, *database_pids]:
        os.kill(pid, signal.SIGKILL)
    embedded_server.stop()
    embedded_server.start()
    try:
        assert names(embedded_server) == ["Durable 0", "Durable 1", "Durable 2"]
    finally:
        embedded_server.stop()
