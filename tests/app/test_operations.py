"""What an operator relies on: readiness, metrics, JSON logs, validated settings, workers, deploy files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from graph.core.settings import Settings
from tests.support.server import (
    ADMIN_KEY,
    Server,
    children_of,
    create_organization,
    data,
    error,
    metric,
    module_server,
    server_env,
    server_fixture,
)

ROOT = Path(__file__).resolve().parents[2]


json_server = server_fixture("A server logging JSON lines.", CHARGEGRAPH_LOG_FORMAT="json")


def log_lines(server: Server) -> list[dict[str, Any]]:
    lines = [line for line in server.log().splitlines() if line.startswith("{")]
    return [json.loads(line) for line in lines]


def wait_for(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_readiness_and_liveness(json_server: Server) -> None:
    ready = httpx.get(f"{json_server.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {
            "database": True,
            "connector_index": True,
            "organization_replica": True,
            "change_stream": True,
        },
    }
    assert httpx.get(f"{json_server.base_url}/healthz").json()["status"] == "ok"


def test_metrics_count_operations_by_name_and_outcome(json_server: Server) -> None:
    before_ok = metric(
        json_server, "chargegraph_graphql_operations_total", name="Listing", outcome="ok"
    )
    data(json_server.query("query Listing { organizations { totalCount } }"))
    refused = error(json_server.query('query Broken { connector(id: "nope") { id } }'))
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert (
        metric(json_server, "chargegraph_graphql_operations_total", name="Listing", outcome="ok")
        == before_ok + 1
    )
    assert (
        metric(
            json_server,
            "chargegraph_graphql_operations_total",
            name="Broken",
            outcome="BAD_USER_INPUT",
        )
        >= 1
    )
    assert metric(json_server, "chargegraph_graphql_operation_duration_seconds_count", type="query")
    for name in (
        "chargegraph_subscriptions_open",
        "chargegraph_live_events_total",
        "chargegraph_change_stream_restarts_total",
        "chargegraph_change_stream_lag_seconds",
        "chargegraph_ocpp_stations_connected",
    ):
        assert name in httpx.get(f"{json_server.base_url}/metrics").text
    # An unknown key is refused before GraphQL runs: counted as such.
    httpx.post(
        json_server.graphql_url,
        json={"query": "{ organizations { totalCount } }"},
        headers={"Authorization": "Bearer cgk_unknown"},
    )
    assert metric(json_server, "chargegraph_http_refusals_total", code="UNAUTHENTICATED") >= 1


def test_one_json_line_per_operation_with_the_request_id_and_no_secrets(
    json_server: Server,
) -> None:
    password = "station-secret-password"
    organization = create_organization(json_server, name="Logged Org")
    response = httpx.post(
        json_server.graphql_url,
        json={
            "query": "mutation SetPassword($id: ID!, $p: String!) { updateOrganization(id: $id, "
            "input: {configurations: {basicAuthEnabled: true, basicAuthPassword: $p}}) { id } }",
            "variables": {"id": organization["id"], "p": password},
        },
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "X-Request-ID": "trace-42"},
    )
    assert response.headers["x-request-id"] == "trace-42"
    generated = httpx.get(f"{json_server.base_url}/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", generated)
    # GET requests carry their query in the URL: the access line drops it.
    httpx.get(json_server.graphql_url, params={"query": "{ organizations { totalCount } }"})

    def operation_logged() -> bool:
        return any(line.get("request_id") == "trace-42" for line in log_lines(json_server))

    wait_for(operation_logged)
    text = json_server.log()
    assert password not in text and ADMIN_KEY not in text
    assert "updateOrganization" not in text and "totalCount" not in text
    assert all(line.startswith("{") for line in text.splitlines() if line.strip())
    lines = log_lines(json_server)
    operation = next(
        line
        for line in lines
        if line.get("request_id") == "trace-42" and line.get("logger") == "graph.operations"
    )
    assert operation["operation_name"] == "SetPassword"
    assert operation["operation_type"] == "mutation"
    assert operation["outcome"] == "ok"
    assert operation["role"] == "admin"
    assert operation["duration_ms"] > 0
    assert {"time", "level", "message"} <= operation.keys()
    access = [line for line in lines if line.get("logger") == "uvicorn.access"]
    assert any('"GET /graphql HTTP/1.1"' in line["message"] for line in access)


def test_metrics_can_be_switched_off(
    mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with module_server(
        mongo_uri, db_name + "_nometrics", tmp_path_factory, CHARGEGRAPH_METRICS="false"
    ) as quiet:
        assert httpx.get(f"{quiet.base_url}/metrics").status_code == 404


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("CHARGEGRAPH_PRODUCTION", "ture", "valid boolean"),
        ("CHARGEGRAPH_SUBSCRIBER_QUEUE", "lots", "valid integer"),
        ("CHARGEGRAPH_WRITES_PER_MINUTE", "-1", "greater than or equal to 0"),
        ("CHARGEGRAPH_LOG_FORMAT", "xml", "'json' or 'text'"),
    ],
)
def test_an_invalid_setting_stops_the_server_naming_the_variable(
    tmp_path: Path, variable: str, value: str, accepted: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "graph.cli", "serve", "--data-dir", str(tmp_path)],
        env=server_env(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{variable}={value!r}" in result.stderr
    assert accepted in result.stderr


def test_workers_share_one_port_and_stop_together(tmp_path: Path) -> None:
    server = Server(
        env=server_env(),
        args=["--workers", "2", "--data-dir", str(tmp_path / "data")],
        log_path=tmp_path / "server.log",
    ).start()
    assert server.process is not None
    parent = server.process.pid
    pids = set()
    deadline = time.monotonic() + 30
    while len(pids) < 2 and time.monotonic() < deadline:
        pids.add(httpx.get(f"{server.base_url}/healthz").json()["pid"])
    assert len(pids) == 2 and parent not in pids
    create_organization(server, name="Seen By Every Worker")
    for _ in range(6):
        found = data(server.query("{ organizations { totalCount } }"))
        assert found["organizations"]["totalCount"] == 1
    family = children_of(parent)
    assert server.stop(signal.SIGTERM) == 0
    for pid in family:
        wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid))


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_readiness_reports_a_paused_database(tmp_path: Path) -> None:
    server = Server(
        env=server_env(),
        args=["--data-dir", str(tmp_path / "data")],
        log_path=tmp_path / "server.log",
    ).start()
    assert server.process is not None
    database = children_of(server.process.pid)[0]
    try:
        os.kill(database, signal.SIGSTOP)
        not_ready = httpx.get(f"{server.base_url}/readyz", timeout=10)
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["database"] is False
        assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
    finally:
        os.kill(database, signal.SIGCONT)
    wait_for(lambda: httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 200)
    server.stop()


def test_deploy_files_match_the_settings_the_code_reads() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {
        "mongo1",
        "mongo2",
        "mongo3",
        "mongo-init",
        "mongo-keyfile",
        "chargegraph-1",
        "chargegraph-2",
        "proxy",
    } <= (services.keys())
    known = {
        field.validation_alias
        for field in Settings.model_fields.values()
        if isinstance(field.validation_alias, str)
    }
    proxy_address = services["proxy"]["networks"]["backend"]["ipv4_address"]
    assert services["proxy"]["ports"] == ["8000:8000"]
    for name in ("chargegraph-1", "chargegraph-2"):
        replica = services[name]
        assert set(replica["environment"]) <= known
        uri = replica["environment"]["MONGODB_URI"]
        assert "replicaSet=rs0" in uri and "authSource=admin" in uri
        assert uri.startswith("mongodb://chargegraph:${MONGO_APP_PASSWORD")
        assert replica["environment"]["CHARGEGRAPH_FORWARDED_ALLOW_IPS"] == proxy_address
        assert "/readyz" in " ".join(replica["healthcheck"]["test"])
    initiation = " ".join(services["mongo-init"]["entrypoint"])
    assert all(f"mongo{n}:27017" in initiation for n in (1, 2, 3))
    assert 'createUser({user: "chargegraph"' in initiation
    # Members authenticate each other and clients: no anonymous access to the database.
    for member in ("mongo1", "mongo2", "mongo3"):
        assert "--keyFile" in services[member]["command"]
        assert services[member]["environment"]["MONGO_INITDB_ROOT_USERNAME"] == "root"
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    for needed in ("chargegraph-1:8000", "chargegraph-2:8000", "X-Forwarded-For", "Upgrade"):
        assert needed in nginx
    # Process figures are not passed to the internet.
    for private in ("/metrics", "/healthz"):
        assert f"location = {private} {{ return 404; }}" in nginx
    listen = re.search(r"listen (\d+);", nginx)
    assert listen is not None and listen.group(1) == "8000"

    dockerfile = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path
    assert re.search(r"^ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim", dockerfile, re.MULTILINE)
    assert "USER chargegraph" in dockerfile and "/readyz" in dockerfile
    command = json.loads(re.findall(r"^CMD (.+)$", dockerfile, re.MULTILINE)[-1])
    scripts = (ROOT / "pyproject.toml").read_text()
    assert command[0] == "chargegraph" and 'chargegraph = "graph.cli:main"' in scripts
