"""The live map at /map, served entirely from this server so it works without internet access.

Country outlines (Natural Earth via world-atlas) under `connectorClusters`:
clusters sized by count and coloured by their share of available
connectors, lone connectors coloured by status and recoloured live by the
`connectorStatusChanged` area subscription; the filter applies to both.
"""

from __future__ import annotations

import json
from pathlib import Path

MAP_ASSETS_DIR = Path(__file__).resolve().parent / "static" / "map"
MAP_ASSETS_URL_PATH = "/map-assets"
MAP_PATH = "/map"
# Clusters are refreshed this often even when the map does not move.
REFRESH_SECONDS = 5

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>ChargeGraph map</title>
  <link rel="stylesheet" href="{assets}/maplibre-gl.css">
  <style>
    html, body, #map {{ margin: 0; height: 100%; font: 14px system-ui, sans-serif; }}
    #panel {{ position: absolute; top: 10px; left: 10px; z-index: 2; background: #fff;
      padding: 10px 12px; border-radius: 6px; box-shadow: 0 1px 4px #0004; max-width: 260px; }}
    #panel h1 {{ font-size: 16px; margin: 0 0 6px; }}
    #panel label {{ display: block; margin: 3px 0; }}
    #panel input[type=number] {{ width: 64px; }}
    #types label {{ display: inline-block; margin-right: 8px; }}
    #summary {{ margin-top: 6px; color: #444; }}
    #details {{ margin-top: 6px; border-top: 1px solid #ddd; padding-top: 6px; white-space: pre-line; }}
    #details:empty {{ display: none; }}
    .cluster {{ border-radius: 50%; color: #fff; font-weight: 600; display: flex;
      align-items: center; justify-content: center; border: 2px solid #fff;
      box-shadow: 0 0 3px #0007; cursor: pointer; font-size: 12px; }}
    .connector {{ width: 12px; height: 12px; border-radius: 50%; border: 2px solid #fff;
      box-shadow: 0 0 2px #0009; cursor: pointer; }}
  </style>
</head>
<body>
  <div id="map"></div>
  <div id="panel">
    <h1>ChargeGraph</h1>
    <label><input type="checkbox" id="available"> Available only</label>
    <label>Minimum power <input type="number" id="power" min="0" step="1" placeholder="kW"> kW</label>
    <div id="types"></div>
    <div id="summary">Loading…</div>
    <div id="details"></div>
  </div>
  <script src="{assets}/maplibre-gl.js"></script>
  <script src="{assets}/topojson-client.min.js"></script>
  <script src="{graphiql_assets}/graphql-ws.min.js"></script>
  <script>
    const API = new URL({api}, location.href).toString();
    const TYPES = {types};
    const STATUS_COLOURS = {colours};
    const REFRESH_MS = {refresh} * 1000;
    const VIEWPORT_PX = {viewport_px};
    const state = {{ markers: new Map(), connectors: new Map(), generation: 0, dispose: null }};
    window.chargegraphMap = state;

    async function graphql(query, variables) {{
      const response = await fetch(API, {{
        method: "POST",
        headers: {{ "Content-Type": "application/json" }},
        body: JSON.stringify({{ query, variables }}),
      }});
      const body = await response.json();
      if (body.errors) throw new Error(body.errors[0].message);
      return body.data;
    }}

    const typesBox = document.getElementById("types");
    for (const type of TYPES) {{
      const label = document.createElement("label");
      label.innerHTML = `<input type="checkbox" value="${{type}}"> ${{type}}`;
      typesBox.appendChild(label);
    }}

    function filter() {{
      const result = {{}};
      if (document.getElementById("available").checked) result.availableOnly = true;
      const power = parseFloat(document.getElementById("power").value);
      if (Number.isFinite(power) && power > 0) result.minPowerKw = power;
      const types = [...typesBox.querySelectorAll("input:checked")].map((box) => box.value);
      if (types.length) result.types = types;
      return result;
    }}

    // MapLibre's zoom counts 512-pixel tiles; the API's counts 256-pixel ones. A very
    // large screen rounds down, so the box stays within the pixels the API accepts.
    function apiZoom() {{
      const container = map.getContainer();
      const widest = Math.max(container.clientWidth, container.clientHeight);
      let zoom = Math.max(0, Math.min(20, Math.round(map.getZoom()) + 1));
      while (zoom > 0 && widest * Math.pow(2, zoom - 1 - map.getZoom()) > VIEWPORT_PX * 0.97) zoom -= 1;
      return zoom;
    }}

    function viewBounds() {{
      const b = map.getBounds();
      let west = b.getWest(), east = b.getEast();
      if (east - west >= 360) {{ west = -180; east = 180; }}
      else {{
        west = ((west + 180) % 360 + 360) % 360 - 180;
        east = ((east + 180) % 360 + 360) % 360 - 180;
      }}
      const clamp = (v) => Math.max(-85, Math.min(85, v));
      return {{ south: clamp(b.getSouth()), west, north: clamp(b.getNorth()), east }};
    }}

    function availableShare(cluster) {{
      const available = cluster.countsByStatus.find((s) => s.status === "AVAILABLE");
      return available ? available.count / cluster.count : 0;
    }}

    function shareColour(share) {{
      // red (none free) through amber to green (all free)
      const hue = Math.round(120 * share);
      return `hsl(${{hue}}, 70%, 42%)`;
    }}

    // Markers are kept by key (cluster id, connector id) so that what did not change stays put.
    function keepOnly(keys) {{
      for (const [key, marker] of state.markers) {{
        if (keys.has(key)) continue;
        marker.remove();
        state.markers.delete(key);
        if (key.startsWith("connector:")) state.connectors.delete(key.slice(10));
      }}
    }}

    function showDetails(text) {{
      document.getElementById("details").textContent = text;
    }}

    function connectorText(c) {{
      return `Connector ${{c.endpoint}}\\nStatus: ${{c.status}}\\n${{c.type}} · ${{c.powerType}} · ${{c.power}} kW\\n` +
        `Operator: ${{c.organization.name}}`;
    }}

    function addCluster(cluster) {{
      const element = document.createElement("div");
      if (state.markers.has("cluster:" + cluster.id)) return;
      const size = Math.round(Math.min(46, 20 + 5 * Math.log2(cluster.count)));
      element.className = "cluster";
      element.style.width = element.style.height = `${{size}}px`;
      element.style.background = shareColour(availableShare(cluster));
      element.textContent = cluster.count >= 10000 ? `${{Math.round(cluster.count / 1000)}}k` : cluster.count;
      element.dataset.count = cluster.count;
      element.dataset.expansionZoom = cluster.expansionZoom;
      element.title = `${{cluster.count}} connectors, ${{Math.round(100 * availableShare(cluster))}}% available, up to ${{cluster.maxPowerKw}} kW`;
      element.addEventListener("click", async (event) => {{
        event.stopPropagation();
        if (cluster.expansionZoom <= 20) {{
          map.easeTo({{ center: [cluster.coordinates.longitude, cluster.coordinates.latitude],
            zoom: cluster.expansionZoom - 1 }});
          return;
        }}
        const data = await graphql(`query($id: ID!) {{ clusterConnectors(id: $id, first: 20) {{
          totalCount edges {{ node {{ endpoint status type powerType power organization {{ name }} }} }} }} }}`,
          {{ id: cluster.id }});
        const page = data.clusterConnectors;
        showDetails(`${{page.totalCount}} connectors here:\\n` +
          page.edges.map((e) => `${{e.node.endpoint}} ${{e.node.status}} ${{e.node.type}} ${{e.node.power}} kW`).join("\\n"));
      }});
      const marker = new maplibregl.Marker({{ element }})
        .setLngLat([cluster.coordinates.longitude, cluster.coordinates.latitude]).addTo(map);
      state.markers.set("cluster:" + cluster.id, marker);
    }}

    function paintConnector(element, status) {{
      element.dataset.status = status;
      element.style.background = STATUS_COLOURS[status] || "#777";
    }}

    function addConnector(connector) {{
      const shown = state.connectors.get(connector.id);
      if (shown) {{
        shown.data = connector;
        paintConnector(shown.element, connector.status);
        shown.marker.setLngLat([connector.coordinates.longitude, connector.coordinates.latitude]);
        return;
      }}
      const element = document.createElement("div");
      element.className = "connector";
      element.dataset.id = connector.id;
      paintConnector(element, connector.status);
      element.addEventListener("click", (event) => {{
        event.stopPropagation();
        showDetails(connectorText(state.connectors.get(connector.id).data));
      }});
      const marker = new maplibregl.Marker({{ element }})
        .setLngLat([connector.coordinates.longitude, connector.coordinates.latitude]).addTo(map);
      state.markers.set("connector:" + connector.id, marker);
      state.connectors.set(connector.id, {{ element, marker, data: connector }});
    }}

    const CLUSTERS = `query($bounds: BoundsInput!, $zoom: Int!, $filter: ConnectorFilter) {{
      connectorClusters(bounds: $bounds, zoom: $zoom, filter: $filter) {{
        totalCount
        clusters {{ id count expansionZoom maxPowerKw coordinates {{ latitude longitude }}
          countsByStatus {{ status count }} }}
        connectors {{ id endpoint status type powerType power
          coordinates {{ latitude longitude }} organization {{ name }} }}
      }}
    }}`;

    async function refresh() {{
      const generation = ++state.generation;
      const bounds = viewBounds();
      const zoom = apiZoom();
      let data;
      try {{
        data = await graphql(CLUSTERS, {{ bounds, zoom, filter: filter() }});
      }} catch (error) {{
        document.getElementById("summary").textContent = "Error: " + error.message;
        return;
      }}
      if (generation !== state.generation) return;  // a newer answer is on its way
      const answer = data.connectorClusters;
      keepOnly(new Set([...answer.clusters.map((c) => "cluster:" + c.id),
        ...answer.connectors.map((c) => "connector:" + c.id)]));
      answer.clusters.forEach(addCluster);
      answer.connectors.forEach(addConnector);
      document.getElementById("summary").textContent =
        `${{answer.totalCount.toLocaleString("en")}} connectors: ` +
        `${{answer.clusters.length}} clusters, ${{answer.connectors.length}} alone (zoom ${{zoom}})`;
      document.body.dataset.loaded = String(generation);
      follow(bounds);
    }}

    const ws = graphqlWs.createClient({{ url: API.replace(/^http/, "ws"), lazy: true, retryAttempts: Infinity }});
    let followed = null;
    function follow(bounds) {{
      const key = JSON.stringify(bounds);
      if (key === followed) return;
      followed = key;
      if (state.dispose) state.dispose();
      state.dispose = ws.subscribe(
        {{ query: `subscription($bounds: BoundsInput) {{ connectorStatusChanged(bounds: $bounds) {{
            status connector {{ id }} }} }}`, variables: {{ bounds }} }},
        {{
          next: ({{ data }}) => {{
            const event = data && data.connectorStatusChanged;
            const shown = event && state.connectors.get(event.connector.id);
            if (!shown) return;
            shown.data.status = event.status;
            paintConnector(shown.element, event.status);
          }},
          error: () => {{ followed = null; }},
          complete: () => {{}},
        }},
      );
      document.body.dataset.following = key;
    }}

    const map = new maplibregl.Map({{
      container: "map",
      style: {{
        version: 8,
        sources: {{}},
        layers: [{{ id: "sea", type: "background", paint: {{ "background-color": "#cfe3f0" }} }}],
      }},
      center: [10, 51],
      zoom: 3.6,
      hash: true,  // the view is in the address: #zoom/latitude/longitude
      attributionControl: {{ customAttribution: "Country outlines: Natural Earth" }},
    }});
    state.map = map;
    map.addControl(new maplibregl.NavigationControl(), "top-right");
    map.on("load", async () => {{
      const topology = await (await fetch("{assets}/countries-50m.json")).json();
      map.addSource("countries", {{
        type: "geojson",
        data: topojson.feature(topology, topology.objects.countries),
      }});
      map.addLayer({{ id: "land", type: "fill", source: "countries", paint: {{ "fill-color": "#f4f1ea" }} }});
      map.addLayer({{ id: "borders", type: "line", source: "countries",
        paint: {{ "line-color": "#9a9a9a", "line-width": 0.6 }} }});
      refresh();
    }});
    map.on("moveend", refresh);
    for (const id of ["available", "power"]) document.getElementById(id).addEventListener("change", refresh);
    typesBox.addEventListener("change", refresh);
    state.timer = setInterval(refresh, REFRESH_MS);
  </script>
</body>
</html>
"""

# Marker colours by status (GraphQL enum names).
STATUS_COLOURS = {
    "AVAILABLE": "#2e9e44",
    "PREPARING": "#e0a100",
    "CHARGING": "#1f6fd1",
    "SUSPENDED_EVSE": "#7b5cc4",
    "SUSPENDED_EV": "#7b5cc4",
    "FINISHING": "#e0a100",
    "RESERVED": "#b06d1c",
    "UNAVAILABLE": "#6b6b6b",
    "FAULTED": "#d1342f",
}


def map_page(
    types: list[str], graphiql_assets: str, viewport_px: int, graphql_path: str = "/graphql"
) -> str:
    """The map page for the API at `graphql_path` (which accepts viewports of up to
    `viewport_px` pixels each way), loading only local assets."""
    return _PAGE.format(
        assets=MAP_ASSETS_URL_PATH,
        graphiql_assets=graphiql_assets,
        api=json.dumps(graphql_path),
        types=json.dumps(types),
        colours=json.dumps(STATUS_COLOURS),
        refresh=REFRESH_SECONDS,
        viewport_px=viewport_px,
    )
