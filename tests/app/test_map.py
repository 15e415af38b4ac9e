"""The live map at /map in a real browser, with every request outside the server refused."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from tests.support.browser import chromium
from tests.support.live import set_status, wait_for_subscribers
from tests.support.server import Server, create_connector, create_organization

# A connector alone in the Hungarian plain, far from the Amsterdam network.
ALONE = (47.0, 20.0)


@pytest.fixture(scope="module")
def network(server: Server) -> dict[str, Any]:
    rng = random.Random(5)
    organization = create_organization(server, name="Mapped")
    for _ in range(40):
        create_connector(
            server,
            organization["id"],
            coordinates={
                "latitude": round(52.37 + rng.gauss(0, 0.05), 6),
                "longitude": round(4.9 + rng.gauss(0, 0.07), 6),
            },
            status=rng.choice(["AVAILABLE", "CHARGING"]),
        )
    alone = create_connector(
        server,
        organization["id"],
        coordinates={"latitude": ALONE[0], "longitude": ALONE[1]},
        status="AVAILABLE",
    )
    return {"alone": alone}


@pytest.fixture
def page(server: Server) -> Iterator[tuple[Page, list[str]]]:
    """A browser page that may reach only the server: anything else is refused and noted."""
    outside: list[str] = []

    def only_the_server(route: Route) -> None:
        if route.request.url.startswith(server.base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with chromium() as browser:
        opened = browser.new_page(viewport={"width": 1200, "height": 800})
        opened.route("**/*", only_the_server)
        yield opened, outside


def open_map(page: Page, server: Server, view: str) -> None:
    page.goto(f"{server.base_url}/map#{view}")
    page.wait_for_function("document.body.dataset.loaded", timeout=30_000)


def test_the_map_renders_offline_with_clusters(
    server: Server, network: dict[str, Any], page: tuple[Page, list[str]]
) -> None:
    browser_page, outside = page
    open_map(browser_page, server, "3.6/51/10")
    assert browser_page.locator(".cluster").count() >= 1
    # The country outlines came with the page.
    assert browser_page.evaluate(
        "chargegraphMap.map.getSource('countries') !== undefined && "
        "chargegraphMap.map.getLayer('land') !== undefined"
    )
    shown = browser_page.inner_text("#summary")
    assert shown.startswith("41 connectors")
    assert outside == []


def test_a_click_on_a_cluster_zooms_to_where_it_splits(
    server: Server, network: dict[str, Any], page: tuple[Page, list[str]]
) -> None:
    browser_page, _ = page
    open_map(browser_page, server, "6/52.37/4.9")
    # The first cluster not covered by another one where it is drawn.
    x, y, expansion = browser_page.evaluate(
        """() => {
          for (const element of document.querySelectorAll('.cluster')) {
            const box = element.getBoundingClientRect();
            const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
            if (document.elementFromPoint(x, y) === element)
              return [x, y, Number(element.dataset.expansionZoom)];
          }
        }"""
    )
    before = browser_page.evaluate("chargegraphMap.map.getZoom()")
    browser_page.mouse.click(x, y)
    # MapLibre counts 512-pixel tiles: the API's zoom minus one.
    browser_page.wait_for_function(
        f"Math.abs(chargegraphMap.map.getZoom() - {expansion - 1}) < 0.01", timeout=20_000
    )
    assert expansion - 1 > before


def test_a_status_written_elsewhere_recolours_its_connector_live(
    server: Server, network: dict[str, Any], page: tuple[Page, list[str]]
) -> None:
    browser_page, _ = page
    connector = network["alone"]
    open_map(browser_page, server, f"9/{ALONE[0]}/{ALONE[1]}")
    marker = browser_page.locator(f'.connector[data-id="{connector["id"]}"]')
    assert marker.get_attribute("data-status") == "AVAILABLE"
    colour = marker.evaluate("element => element.style.background")
    wait_for_subscribers(server, 1)
    # Without its periodic refresh, only the subscription can repaint the marker; the
    # page's load counter shows it asked for no clusters meanwhile.
    browser_page.evaluate("clearInterval(chargegraphMap.timer)")
    loads = browser_page.evaluate("document.body.dataset.loaded")
    set_status(server, connector["id"], "FAULTED")
    browser_page.wait_for_function(
        f"document.querySelector('.connector[data-id=\"{connector['id']}\"]')"
        ".dataset.status === 'FAULTED'",
        timeout=20_000,
    )
    assert browser_page.evaluate("document.body.dataset.loaded") == loads
    assert marker.evaluate("element => element.style.background") != colour
