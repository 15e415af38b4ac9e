"""GraphiQL, served entirely from this server so it works without internet access."""

from __future__ import annotations

import json
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
ASSETS_URL_PATH = "/graphiql-assets"

DEFAULT_QUERY = """# Welcome to ChargeGraph. Press the run button (or Ctrl-Enter).
{
  connectors(first: 5) {
    totalCount
    edges {
      node {
        endpoint
        status
        type
        power
        organization { name }
      }
    }
  }
}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>ChargeGraph GraphiQL</title>
  <link rel="stylesheet" href="{assets}/graphiql.min.css">
  <style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
  <div id="graphiql">Loading…</div>
  <script src="{assets}/react.production.min.js"></script>
  <script src="{assets}/react-dom.production.min.js"></script>
  <script src="{assets}/graphql-ws.min.js"></script>
  <script src="{assets}/graphiql.min.js"></script>
  <script>
    // Same origin for queries over HTTP and subscriptions over WebSocket.
    const httpUrl = new URL({path}, window.location.href).toString();
    const wsUrl = httpUrl.replace(/^http/, "ws");
    // The Headers tab's Authorization goes to HTTP requests and, in the
    // connection_init payload, to the WebSocket: one client per key.
    const fetchers = new Map();
    function fetcherFor(authorization) {{
      if (!fetchers.has(authorization)) {{
        const connectionParams = authorization ? {{ authorization }} : {{}};
        fetchers.set(authorization, GraphiQL.createFetcher({{
          url: httpUrl,
          wsClient: graphqlWs.createClient({{ url: wsUrl, lazy: true, connectionParams }}),
        }}));
      }}
      return fetchers.get(authorization);
    }}
    function fetcher(params, options) {{
      const headers = (options && options.headers) || {{}};
      const name = Object.keys(headers).find((key) => key.toLowerCase() === "authorization");
      return fetcherFor(name ? String(headers[name]) : "")(params, options);
    }}
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {{
        fetcher,
        defaultQuery: {query},
        defaultEditorToolsVisibility: true,
        isHeadersEditorEnabled: true,
      }})
    );
  </script>
</body>
</html>
"""


def graphiql_page(graphql_path: str = "/graphql") -> str:
    """The GraphiQL page for the API at `graphql_path`, loading only local assets."""
    return _PAGE.format(
        assets=ASSETS_URL_PATH, path=json.dumps(graphql_path), query=json.dumps(DEFAULT_QUERY)
    )
