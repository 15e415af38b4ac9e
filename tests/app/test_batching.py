"""Nested fields are batched: database round trips do not grow with the page size.

Both search engines are checked: the database path reads each page, total and
status count with one command per question, and the organizations an answer
names with one more; the connector index and the organizations replica answer
them without any, leaving only a page of organizations to read.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from pymongo import MongoClient, monitoring

from graph.app import create_app
from graph.core.settings import Settings
from graph.core.timestamps import now
from graph.embedded import free_port
from graph.seed import CITIES, connector_documents

READS = {"find", "aggregate", "count"}


class ReadCounter(monitoring.CommandListener):
    """Counts the read commands the server sends to one database."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.counts: Counter[str] = Counter()
        # Which engine answers searches ("database" or "index").
        self.engine = "database"

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name == self.database and event.command_name in READS:
            self.counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(scope="module", params=["database", "index"])
def counted_server(
    mongo_uri: str, request: pytest.FixtureRequest
) -> Iterator[tuple[str, ReadCounter]]:
    """A uvicorn server in this process, so its MongoDB client can be observed."""
    database = f"test_batching_{uuid.uuid4().hex[:8]}"
    counter = ReadCounter(database)
    port = free_port()
    app = create_app(
        Settings(mongodb_uri=mongo_uri, database_name=database, search=request.param),
        event_listeners=[counter],
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/graphql"
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.05)

    # The network is written straight to the database once the server is up.
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    moment = now()
    organizations = (
        client[database]
        .organizations.insert_many(
            [
                {
                    "name": f"Batch Org {index}",
                    "active": True,
                    "address": {},
                    "configurations": {},
                    "createdAt": moment,
                    "updatedAt": moment,
                }
                for index in range(10)
            ]
        )
        .inserted_ids
    )
    client[database].connectors.insert_many(
        connector_documents(random.Random(7), organizations, 120, CITIES)
    )
    client.close()
    if request.param == "index":
        # The connectors and organizations reach the replicas through the change stream.
        for _ in range(200):
            health = httpx.get(url.replace("/graphql", "/healthz")).json()
            organizations_held = health["organization_replica"]
            if (
                health["connector_index"]["connectors"] == 120
                and organizations_held["loaded"]
                and organizations_held["organizations"] == 10
            ):
                break
            time.sleep(0.05)
    counter.engine = request.param
    yield url, counter
    server.should_exit = True
    thread.join(20)


def reads_for(url: str, counter: ReadCounter, query: str) -> tuple[dict[str, Any], Counter[str]]:
    counter.counts.clear()
    response = httpx.post(url, json={"query": query}, timeout=30)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"], Counter(counter.counts)


@pytest.mark.parametrize("size", [10, 100])
def test_a_page_of_connectors_with_organizations_costs_two_reads(
    counted_server: tuple[str, ReadCounter], size: int
) -> None:
    url, counter = counted_server
    result, reads = reads_for(
        url,
        counter,
        f"{{ connectors(first: {size}) {{ edges {{ node {{ endpoint organization {{ name }} }} }} }} }}",
    )
    edges = result["connectors"]["edges"]
    assert len(edges) == size
    assert all(edge["node"]["organization"]["name"].startswith("Batch Org") for edge in edges)
    # One find for the page, one for all the organizations on it; none from the replicas.
    assert reads == (Counter({"find": 2}) if counter.engine == "database" else Counter())


@pytest.mark.parametrize("size", [3, 10])
def test_organizations_with_their_connectors_cost_a_constant_number_of_reads(
    counted_server: tuple[str, ReadCounter], size: int
) -> None:
    url, counter = counted_server
    query = f"""{{ organizations(first: {size}) {{ edges {{ node {{
        name
        connectorCountsByStatus {{ status count }}
        connectors(first: 5) {{ totalCount edges {{ node {{ endpoint organization {{ name }} }} }} }}
    }} }} }} }}"""
    result, reads = reads_for(url, counter, query)
    nodes = [edge["node"] for edge in result["organizations"]["edges"]]
    assert len(nodes) == size
    assert all(len(node["connectors"]["edges"]) == 5 for node in nodes)
    assert sum(node["connectors"]["totalCount"] for node in nodes) == sum(
        entry["count"] for node in nodes for entry in node["connectorCountsByStatus"]
    )
    # organizations page + nested organizations; pages, totals and status counts are one
    # aggregate each; from the replicas, the organizations page alone.
    expected = {"find": 2, "aggregate": 3} if counter.engine == "database" else {"find": 1}
    assert reads == Counter(expected)


_, _, CITY_LATITUDE, CITY_LONGITUDE = CITIES[0]
SEARCHES = {
    "nearby": f"""{{ nearbyConnectors(latitude: {CITY_LATITUDE}, longitude: {CITY_LONGITUDE},
        radiusMeters: 50000, first: 20) {{ totalCount edges {{ distanceMeters node {{ id status }} }} }} }}""",
    "viewport": """{ connectorsInBounds(south: 35, west: -10, north: 65, east: 30, first: 50,
        filter: {minPowerKw: 11}) { totalCount edges { node { id power type } } } }""",
    "list": "{ connectors(first: 100, filter: {availableOnly: true}) { totalCount edges { node { id } } } }",
}


@pytest.mark.parametrize("search", sorted(SEARCHES))
def test_searches_read_nothing_from_the_database_when_the_index_answers(
    counted_server: tuple[str, ReadCounter], search: str
) -> None:
    """What the documentation promises: searches, lists and counts need no database read
    (only the organizations or stations an answer selects are read, as above)."""
    url, counter = counted_server
    result, reads = reads_for(url, counter, SEARCHES[search])
    (answer,) = result.values()
    assert answer["totalCount"] > 0 and answer["edges"]
    if counter.engine == "index":
        assert reads == Counter()
    else:
        assert reads
