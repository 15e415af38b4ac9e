"""Map clusters: `connectorClusters` at national scale, against what a map could ask before.

    python -m bench.clusters [--connectors 1000000] [--http-connectors 20000] [--repeat 41]

Two parts, each with its baseline in the same run:

- In process, on a `ConnectorIndex` filled with `--connectors` synthetic rows
  (the distribution `chargegraph seed` writes: 30 European cities and a rural
  scatter, built with `IndexBuilder` in batches; seeding a database of a
  million takes about 25 minutes, this takes about one): the cluster
  computation itself (`graph.connectors.clusters.cluster`, anonymous
  visibility) for a 1920 x 1080 screen over Europe at zooms 4, 5 and 6,
  without a filter and with availableOnly + minPowerKw 50, a city at zoom 12,
  and the members of a cluster (first 20). Baseline: what `connectorsInBounds`
  asks of the same index for the same box and filter (`count_matching` and a
  page of 20): the list a map would page through instead.
- Over HTTP, on a database seeded with `--http-connectors` (the embedded
  server, a `chargegraph serve` process): `connectorClusters` for the same
  views against `connectorsInBounds(first: 20) { totalCount }` for the same
  box, one request at a time.

p50 of `--repeat` timings each (after two unrecorded warm-up calls); prints
the ratios and the targets, and records the run (bench/results/clusters.jsonl,
regenerating docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from bson import ObjectId

from bench.record import (
    Target,
    begin,
    bound,
    code_version,
    command_line,
    machine,
    record_run,
    uptime,
)
from graph.connectors import clusters
from graph.connectors.index import ConnectorIndex, IndexBuilder
from graph.core.geo import Box
from graph.embedded import free_port
from graph.seed import CITIES, connector_documents

ROOT = Path(__file__).resolve().parent.parent
SCREEN = (1920, 1080)
EUROPE = (50.0, 8.0)
PARIS = (48.8566, 2.3522)
ANONYMOUS: dict[str, Any] = {"active": True}
FAST: dict[str, Any] = {"active": True, "status": {"$in": ["Available"]}, "power": {"$gte": 50.0}}
TARGETS_MS = {"europe": 10.0, "city": 5.0, "members": 5.0}
BATCH = 50_000


def screen_box(latitude: float, longitude: float, zoom: int) -> Box:
    """The box a SCREEN-sized map centred on a point shows at `zoom` (256-pixel tiles)."""
    size = 256 * 2**zoom
    x = (longitude + 180) / 360 * size
    sine = math.sin(math.radians(latitude))
    y = (0.5 - math.log((1 + sine) / (1 - sine)) / (4 * math.pi)) * size

    def latitude_at(pixel: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * pixel / size))))

    half_w, half_h = SCREEN[0] / 2, SCREEN[1] / 2
    west = max(-180.0, (x - half_w) / size * 360 - 180)
    east = min(180.0, (x + half_w) / size * 360 - 180)
    return Box(latitude_at(y + half_h), west, latitude_at(y - half_h), east)


def build_index(count: int) -> tuple[ConnectorIndex, float]:
    started = time.perf_counter()
    rng = random.Random(1)
    organizations = [ObjectId() for _ in range(20)]
    endpoints: set[str] = set()
    builder = IndexBuilder()
    made = 0
    while made < count:
        batch = connector_documents(rng, organizations, min(BATCH, count - made), CITIES, endpoints)
        for document in batch:
            document["_id"] = ObjectId()
        builder.add(batch)
        made += len(batch)
    return builder.finish(), time.perf_counter() - started


def p50_ms(call: Callable[[], object], repeat: int) -> float:
    for _ in range(2):
        call()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return float(np.median(timings))


def in_process(count: int, repeat: int) -> list[tuple[str, str, float, float, str]]:
    """(question, target kind, ChargeGraph p50 ms, baseline p50 ms, note) of each question."""
    index, seconds = build_index(count)
    print(f"index of {index.count:,} rows built in {seconds:.1f} s", flush=True)
    started = time.perf_counter()
    clusters.spatial_order(index)
    order_seconds = time.perf_counter() - started
    rows: list[tuple[str, str, float, float, str]] = []

    def baseline(query: dict[str, Any], box: Box) -> None:
        index.count_matching(query, box)
        index.page(query, 20, None, box)

    for zoom in (4, 5, 6):
        box = screen_box(*EUROPE, zoom)
        for label, query in (("no filter", ANONYMOUS), ("availableOnly + minPowerKw 50", FAST)):
            answer = clusters.cluster(index, query, box, zoom)
            ours = p50_ms(partial(clusters.cluster, index, query, box, zoom), repeat)
            theirs = p50_ms(partial(baseline, query, box), repeat)
            note = f"{answer.total:,} connectors, {len(answer.clusters)} clusters, {len(answer.connectors)} alone"
            rows.append((f"Europe, zoom {zoom}, {label}", "europe", ours, theirs, note))
            print(rows[-1], flush=True)
    box = screen_box(*PARIS, 12)
    answer = clusters.cluster(index, ANONYMOUS, box, 12)
    ours = p50_ms(partial(clusters.cluster, index, ANONYMOUS, box, 12), repeat)
    theirs = p50_ms(partial(baseline, ANONYMOUS, box), repeat)
    note = f"{answer.total:,} connectors, {len(answer.clusters)} clusters, {len(answer.connectors)} alone"
    rows.append(("Paris, zoom 12, no filter", "city", ours, theirs, note))
    print(rows[-1], flush=True)
    for zoom, centre, place in ((12, PARIS, "Paris"), (6, EUROPE, "Europe")):
        box = screen_box(*centre, zoom)
        biggest = max(clusters.cluster(index, ANONYMOUS, box, zoom).clusters, key=lambda c: c.count)
        key = clusters.read_cluster_id(clusters.cluster_id(biggest, ANONYMOUS, box))

        def members(key: clusters.ClusterKey) -> None:
            index.documents(
                clusters.first_rows(clusters.cluster_members(index, key, ANONYMOUS), 20)
            )

        cell = clusters.cell_box(key)
        ours = p50_ms(partial(members, key), repeat)
        theirs = p50_ms(partial(index.page, ANONYMOUS, 20, None, cell), repeat)
        rows.append(
            (
                f"clusterConnectors first 20, biggest cluster of {place} at zoom {zoom}",
                "members",
                ours,
                theirs,
                f"{biggest.count:,} members; baseline: connectorsInBounds' page of 20 for the cell's box",
            )
        )
        print(rows[-1], flush=True)
    rows.append(("(curve order built once, first question)", "", order_seconds * 1000, 0.0, ""))
    return rows


CLUSTERS_QUERY = (
    "query($b: BoundsInput!, $z: Int!, $f: ConnectorFilter) { connectorClusters(bounds: $b, "
    "zoom: $z, filter: $f) { totalCount clusters { id count expansionZoom maxPowerKw "
    "coordinates { latitude longitude } countsByStatus { status count } } "
    "connectors { id status coordinates { latitude longitude } } } }"
)
IN_BOUNDS_QUERY = (
    "query($s: Float!, $w: Float!, $n: Float!, $e: Float!, $f: ConnectorFilter) { "
    "connectorsInBounds(south: $s, west: $w, north: $n, east: $e, filter: $f, first: 20) "
    "{ totalCount edges { node { id status coordinates { latitude longitude } } } } }"
)


def over_http(count: int, repeat: int) -> list[tuple[str, float, float, str]]:
    """(question, ChargeGraph p50 ms, connectorsInBounds p50 ms, note) over HTTP."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-clusters-"))
    python = sys.executable
    started = time.perf_counter()
    subprocess.run(
        [
            python,
            "-m",
            "graph.cli",
            "seed",
            "--connectors",
            str(count),
            "--organizations",
            "4",
            "--data-dir",
            str(data_dir),
        ],
        check=True,
        capture_output=True,
    )
    print(f"seeded {count:,} connectors in {time.perf_counter() - started:.0f} s", flush=True)
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "MONGODB_URI"}
    env.update(CHARGEGRAPH_SEARCHES_PER_MINUTE="0", CHARGEGRAPH_LOG_LEVEL="warning")
    server = subprocess.Popen(
        [python, "-m", "graph.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        with httpx.Client(timeout=60) as client:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    if client.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)

            def ask(query: str, variables: dict[str, Any]) -> dict[str, Any]:
                response = client.post(
                    f"{url}/graphql", json={"query": query, "variables": variables}
                )
                body: dict[str, Any] = response.json()
                assert "errors" not in body, body
                return body

            views = [(f"Europe, zoom {z}", EUROPE, z) for z in (4, 6)] + [
                ("Paris, zoom 12", PARIS, 12)
            ]
            for label, centre, zoom in views:
                for filter_label, filter in (
                    ("", None),
                    (", availableOnly + minPowerKw 50", {"availableOnly": True, "minPowerKw": 50}),
                ):
                    box = screen_box(*centre, zoom)
                    bounds = {
                        "south": box.south,
                        "west": box.west,
                        "north": box.north,
                        "east": box.east,
                    }
                    clustered = {"b": bounds, "z": zoom, "f": filter}
                    ours_body = ask(CLUSTERS_QUERY, clustered)
                    answer = ours_body["data"]["connectorClusters"]
                    ours = p50_ms(partial(ask, CLUSTERS_QUERY, clustered), repeat)
                    plain = {
                        "s": box.south,
                        "w": box.west,
                        "n": box.north,
                        "e": box.east,
                        "f": filter,
                    }
                    theirs = p50_ms(partial(ask, IN_BOUNDS_QUERY, plain), repeat)
                    note = f"{answer['totalCount']:,} connectors, {len(answer['clusters'])} clusters, {len(answer['connectors'])} alone, {len(json.dumps(ours_body)) // 1024} kB"
                    rows.append((label + filter_label, ours, theirs, note))
                    print(rows[-1], flush=True)
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(data_dir, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connectors", type=int, default=1_000_000)
    parser.add_argument("--http-connectors", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=41)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    started = begin()
    load_before = started.uptime
    code = code_version()
    print(f"code {code}; load before: {load_before}", flush=True)
    local = in_process(args.connectors, args.repeat)
    load_middle = uptime()
    remote = over_http(args.http_connectors, args.repeat) if args.http_connectors else []
    load_after = uptime()
    lines = [
        f"Command: `{command_line()}`. Machine: {machine()}. Code: {code}. "
        f"Load before: `{load_before}`; after the in-process part: `{load_middle}`; "
        f"after: `{load_after}`. A 1920 x 1080 screen's box at each zoom (256-pixel tiles); "
        "anonymous visibility (active connectors). p50 of "
        f"{args.repeat} calls each after 2 warm-up calls.",
        "",
        f"In process, {args.connectors:,} synthetic connectors (the seed's distribution) in a "
        "`ConnectorIndex`; baseline: the same index's `count_matching` + a page of 20 for the "
        "same box and filter (what `connectorsInBounds` asks of it).",
        "",
        "| question | clusters p50 (ms) | baseline p50 (ms) | ratio | target | answer |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    targets: list[Target] = []
    for name, kind, ours, theirs, note in local:
        target = TARGETS_MS.get(kind)
        verdict = ""
        if target is not None:
            targets.append(bound(f"{name}: p50", ours, target, "ms", digits=2))
            verdict = f"≤ {target:g} ms: {'met' if ours <= target else 'MISSED'}"
        ratio = f"{ours / theirs:.2f}x" if theirs else ""
        lines.append(f"| {name} | {ours:.2f} | {theirs:.2f} | {ratio} | {verdict} | {note} |")
    if remote:
        lines += [
            "",
            f"Over HTTP, {args.http_connectors:,} connectors seeded with `chargegraph seed` in the "
            "embedded database, one `chargegraph serve` process, one request at a time (httpx); "
            "baseline: `connectorsInBounds(first: 20) { totalCount edges }` for the same box and filter.",
            "",
            "| question | connectorClusters p50 (ms) | connectorsInBounds p50 (ms) | ratio | answer |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for name, ours, theirs, note in remote:
            lines.append(f"| {name} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}x | {note} |")
    print("\n".join(lines))
    if not args.no_record:
        record_run("clusters", started, lines, targets, title="Map clusters")


if __name__ == "__main__":
    main()
