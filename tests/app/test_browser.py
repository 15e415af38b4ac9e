"""In a real browser: GraphiQL's queries and keyed subscriptions, and a page on another origin."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page

from graph.embedded import free_port
from tests.support.access import create_key
from tests.support.browser import chromium
from tests.support.live import set_status, wait_for_subscribers
from tests.support.server import Server, create_connector, create_organization, server_fixture

PAGE_PORT = free_port()
ALLOWED_ORIGIN = f"http://127.0.0.1:{PAGE_PORT}"
# The same page on another port is another origin, one the server does not list.
OTHER_PORT = free_port()

CALLER = """<!doctype html>
<html><body><pre id="anonymous">pending</pre><pre id="keyed">pending</pre>
<script>
  const api = new URL(location.href).searchParams.get("api");
  const key = new URL(location.href).searchParams.get("key");
  async function ask(target, headers) {
    try {
      const response = await fetch(api, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify({ query: "{ organizations { totalCount } }" }),
      });
      document.getElementById(target).textContent = JSON.stringify(await response.json());
    } catch (error) {
      document.getElementById(target).textContent = "blocked: " + error;
    }
  }
  ask("anonymous", {});
  ask("keyed", { Authorization: "Bearer " + key });
</script></body></html>
"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = CALLER.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def page_servers() -> Iterator[None]:
    servers = [ThreadingHTTPServer(("127.0.0.1", port), _Page) for port in (PAGE_PORT, OTHER_PORT)]
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    yield
    for server in servers:
        server.shutdown()


cors_server = server_fixture(
    "A server that lists the test page's origin.", CHARGEGRAPH_CORS_ORIGINS=ALLOWED_ORIGIN
)


def result_text(page: Page) -> str:
    """What GraphiQL's result pane shows."""
    text: str = page.locator(".graphiql-response").inner_text()
    return text


def replace_editor(page: Page, selector: str, text: str) -> None:
    """Put `text` in a GraphiQL editor, as pasted (no auto-closed brackets)."""
    page.locator(selector).first.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def test_graphiql_runs_the_example_query_and_shows_the_data(cors_server: Server) -> None:
    organization = create_organization(cors_server, name="Shown In GraphiQL")
    create_connector(cors_server, organization["id"])
    with chromium() as browser:
        page = browser.new_page()
        page.goto(cors_server.graphql_url)
        page.locator(".graphiql-execute-button").click()
        page.wait_for_function(
            "document.querySelector('.graphiql-response')?.innerText.includes('totalCount')"
        )
        shown = result_text(page)
    assert '"organization"' in shown and "Shown In GraphiQL" in shown


def test_a_keyed_subscription_from_graphiql_sees_an_event(cors_server: Server) -> None:
    organization = create_organization(cors_server, name="Watched From GraphiQL")
    connector = create_connector(cors_server, organization["id"], active=False)
    key = create_key(cors_server, organization["id"])["key"]
    subscription = (
        "subscription { connectorStatusChanged(connectorIds: "
        f'["{connector["id"]}"]) {{ status connector {{ active }} }} }}'
    )
    with chromium() as browser:
        page = browser.new_page()
        page.goto(cors_server.graphql_url)
        replace_editor(
            page, ".graphiql-query-editor .CodeMirror, .graphiql-query-editor", subscription
        )
        page.get_by_text("Headers", exact=True).click()
        replace_editor(
            page,
            ".graphiql-editor-tool .graphiql-editor:not(.hidden)",
            f'{{"Authorization": "Bearer {key}"}}',
        )
        page.locator(".graphiql-execute-button").click()
        # The connector is inactive: only its organization's key sees its events.
        wait_for_subscribers(cors_server, 1)
        set_status(cors_server, connector["id"], "CHARGING")
        page.wait_for_function(
            "document.querySelector('.graphiql-response')?.innerText.includes('CHARGING')",
            timeout=20_000,
        )
        shown = result_text(page)
    assert '"active": false' in shown


def test_a_page_on_a_listed_origin_reads_with_and_without_a_key(
    cors_server: Server, page_servers: None
) -> None:
    organization = create_organization(cors_server, name="Cross Origin")
    key = create_key(cors_server, organization["id"])["key"]
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{ALLOWED_ORIGIN}/?api={cors_server.graphql_url}&key={key}")
        page.wait_for_function(
            "!['pending'].includes(document.getElementById('keyed').textContent) && "
            "!['pending'].includes(document.getElementById('anonymous').textContent)"
        )
        anonymous = page.inner_text("#anonymous")
        keyed = page.inner_text("#keyed")
    assert '"totalCount"' in anonymous
    assert '"totalCount"' in keyed


def test_a_page_on_another_origin_is_stopped_by_the_browser(
    cors_server: Server, page_servers: None
) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{OTHER_PORT}/?api={cors_server.graphql_url}&key=x")
        page.wait_for_function("document.getElementById('anonymous').textContent !== 'pending'")
        anonymous = page.inner_text("#anonymous")
    assert anonymous.startswith("blocked")
