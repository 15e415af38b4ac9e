"""GraphiQL renders in a real browser with nothing fetched from outside this server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.support.browser import CHROMIUM, FLAGS
from tests.support.server import Server


def test_graphiql_page_loads_only_local_assets(server: Server) -> None:
    page = httpx.get(server.graphql_url, headers={"accept": "text/html"})
    assert page.status_code == 200 and "<title>ChargeGraph GraphiQL</title>" in page.text
    assert "https://" not in page.text and "http://" not in page.text
    for asset in (
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "graphql-ws.min.js",
    ):
        assert httpx.get(f"{server.base_url}/graphiql-assets/{asset}").status_code == 200


def test_graphiql_renders_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    assert CHROMIUM is not None, "install Debian's chromium (scripts/test does)"
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            server.graphql_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "graphiql-container" in dom
    assert "graphiql-execute-button" in dom
    assert "Loading…" not in dom
