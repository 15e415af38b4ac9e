"""Field collection shared across executions still honours each request's variables."""

from __future__ import annotations

from tests.support.server import Server, create_connector, create_organization, data

QUERY = """
query($withEdges: Boolean!, $skipTotal: Boolean!) {
  connectors(first: 1) {
    totalCount @skip(if: $skipTotal)
    edges @include(if: $withEdges) { node { endpoint } }
  }
}
"""


def test_include_and_skip_follow_each_requests_variables(server: Server) -> None:
    organization = create_organization(server, name="Directive Org")
    create_connector(server, organization["id"])
    seen = []
    for with_edges, skip_total in [
        (True, False),
        (False, False),
        (True, True),
        (False, True),
        (True, False),
    ]:
        result = data(server.query(QUERY, {"withEdges": with_edges, "skipTotal": skip_total}))[
            "connectors"
        ]
        seen.append(sorted(result))
    assert seen == [
        ["edges", "totalCount"],
        ["totalCount"],
        ["edges"],
        [],
        ["edges", "totalCount"],
    ]
