"""docs/benchmarks.md, written from the run records in bench/results/*.jsonl.

    python -m bench.report [--results bench/results] [--output docs/benchmarks.md]
    python -m bench.report --import-markdown FILE

The first form writes the page: the state of every target (the latest run that
measured it), then each benchmark's history and each run in full. The same
records give the same bytes. The second turns the `## ` sections of a page in
the format benchmarks wrote before their records (a run per section, summaries
between them) into records, appends them, checks that every number of FILE is
in a record, and writes the page.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PAGE = ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Benchmark:
    name: str  # its records are bench/results/<name>.jsonl
    title: str
    command: str
    headlines: tuple[tuple[str, str], ...] = ()  # (column, figure) shown in its history


BENCHMARKS = (
    Benchmark(
        "run",
        "Read paths",
        "python -m bench.run",
        (
            ("nearby city p50 (ms)", "nearby, city (5 km, first 20)/chargegraph/p50 light (ms)"),
            ("by id ÷ baseline (%)", "connector by id/chargegraph/÷ baseline"),
        ),
    ),
    Benchmark(
        "index",
        "Connector index",
        "python -m bench.index",
        (
            ("nearby city p50 (ms)", "nearby city, 5 km, first 20/chargegraph/p50 light (ms)"),
            ("nearby city req/s", "nearby city, 5 km, first 20/chargegraph/req/s at 16 conns"),
        ),
    ),
    Benchmark(
        "live",
        "Live status",
        "python -m bench.live",
        (
            ("1 process p99 (ms)", "1/2,000/one organization/p99 (ms)"),
            ("2 processes p99 (ms)", "2/2,000/one organization/p99 (ms)"),
        ),
    ),
    Benchmark(
        "ocpp",
        "OCPP stations",
        "python -m bench.ocpp",
        (
            ("CALLRESULT p99 (ms)", "main/CALLRESULT p50 / p99 / max (ms): p99"),
            ("errors", "main/errors"),
        ),
    ),
    Benchmark(
        "ocpp_storm",
        "OCPP reconnect storm",
        "python -m bench.ocpp_storm",
        (("all online after (s)", "chargegraph/online after (s)"),),
    ),
    Benchmark(
        "workers",
        "Workers",
        "python -m bench.workers",
        (("by id, 2 ÷ 1 worker", "connector by id/workers 2 ÷ workers 1"),),
    ),
    Benchmark(
        "apq",
        "Persisted queries",
        "python -m bench.apq",
        (("hash only, bytes ÷ text (%)", "POST, hash only/÷ POST with text"),),
    ),
    Benchmark(
        "hostile",
        "Hostile requests",
        "python -m bench.hostile",
        (("30-level chain p99 (ms)", "fragment chain, 30 levels/p99 ms"),),
    ),
    Benchmark(
        "secantus_indexes",
        "Embedded server: write cost by index count",
        "python -m bench.secantus_indexes",
        (("declared indexes, ms per update", "the 10 indexes ChargeGraph declares/ms per update"),),
    ),
    Benchmark(
        "ocpi",
        "OCPI Locations",
        "python -m bench.ocpi",
        (
            ("page p50 (ms)", "pull: a page of 100 Locations/p50 (ms)"),
            ("push p99 (ms)", "push: status write → PATCH at the partner/p99 (ms)"),
        ),
    ),
    Benchmark(
        "clusters",
        "Map clusters",
        "python -m bench.clusters",
        (
            ("Europe z5 p50 (ms)", "Europe, zoom 5, no filter/clusters p50 (ms)"),
            ("Paris z12 p50 (ms)", "Paris, zoom 12, no filter/clusters p50 (ms)"),
        ),
    ),
    Benchmark(
        "ocpi_receive",
        "OCPI received PATCHes",
        "python -m bench.ocpi_receive",
        (
            ("PATCH → event p99 (ms)", "PATCH sent → subscriber's event/p99 (ms)"),
            (
                "pymongo → event p99 (ms)",
                "baseline: pymongo update written → subscriber's event/p99 (ms)",
            ),
        ),
    ),
    Benchmark(
        "seed",
        "Seeding",
        "chargegraph seed",
        (("100,000 connectors (s)", "100,000/total (s, its own figure)"),),
    ),
)
BY_NAME = {benchmark.name: benchmark for benchmark in BENCHMARKS}

OPTIONAL_TEXT = (str, type(None))
OPTIONAL_LOAD = (list, type(None))
KEYS: dict[str, type | tuple[type, ...]] = {
    "benchmark": str,
    "title": OPTIONAL_TEXT,
    "started": str,
    "machine": OPTIONAL_TEXT,
    "command": OPTIONAL_TEXT,
    "code": OPTIONAL_TEXT,
    "load_before": OPTIONAL_LOAD,
    "load_after": OPTIONAL_LOAD,
    "figures": dict,
    "targets": list,
    "report": str,
    "notes": list,
}
TARGET_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "target": str,
    "figure": str,
    "met": bool,
    "value": (int, float),
    "threshold": (int, float),
}
REQUIRED_TARGET_KEYS = ("name", "target", "figure", "met")
STARTED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def check(record: dict[str, Any]) -> None:
    """Raise ValueError unless `record` holds every key of a record, each of its type."""
    problems = [f"{key} missing" for key in KEYS if key not in record]
    problems += [key + " unknown" for key in record if key not in KEYS]
    problems += [
        f"{key} is not {kind}"
        for key, kind in KEYS.items()
        if key in record and not isinstance(record[key], kind)
    ]
    if record.get("benchmark") not in BY_NAME:
        problems.append(f"benchmark {record.get('benchmark')!r} is not in bench.report.BENCHMARKS")
    if not STARTED.fullmatch(str(record.get("started"))):
        problems.append("started is not YYYY-MM-DDTHH:MM:SSZ")
    for key in ("load_before", "load_after"):
        if record.get(key) is not None and not all(isinstance(n, int | float) for n in record[key]):
            problems.append(f"{key} holds a value that is not a number")
    for name, value in dict(record.get("figures", {})).items():
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            problems.append(f"figure {name!r} is neither a number nor text")
    for target in list(record.get("targets", [])):
        name = f"target {target.get('name')!r}"
        problems += [f"{name}: {key} missing" for key in REQUIRED_TARGET_KEYS if key not in target]
        problems += [f"{name}: {key} unknown" for key in target if key not in TARGET_KEYS]
        problems += [
            f"{name}: {key} is not {kind}"
            for key, kind in TARGET_KEYS.items()
            if key in target
            and (
                not isinstance(target[key], kind) or isinstance(target[key], bool) != (key == "met")
            )
        ]
    if not all(isinstance(note, str) for note in record.get("notes", [])):
        problems.append("a note is not text")
    if problems:
        raise ValueError(f"record of {record.get('started')}: " + "; ".join(problems))


def load(results: Path = RESULTS) -> list[dict[str, Any]]:
    """Every record, oldest first."""
    records = []
    for path in sorted(results.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            check(record)
            records.append(record)
    return sorted(records, key=lambda r: (r["started"], r["benchmark"], r["title"] or ""))


def recorded_text(results: Path = RESULTS) -> str:
    """The JSON text of every record: a figure quoted anywhere should be found in it."""
    return "".join(path.read_text(encoding="utf-8") for path in sorted(results.glob("*.jsonl")))


# --------------------------------------------------------------------------- figures

NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def number(cell: str) -> int | float | None:
    """A table cell that is a number (thousands separated by commas, maybe % or x after it)."""
    text = cell.strip().removesuffix("%").removesuffix("x").strip()
    if not NUMBER.fullmatch(text):
        return None
    plain = text.replace(",", "")
    return float(plain) if "." in plain else int(plain)


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def tables(markdown: str) -> list[tuple[list[str], list[list[str]]]]:
    """The markdown tables of a text: (header, rows)."""
    found: list[tuple[list[str], list[list[str]]]] = []
    block: list[str] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2 and set(block[1].replace("|", "").strip()) <= set("-: "):
            header = cells(block[0])
            rows = [(cells(row) + [""] * len(header))[: len(header)] for row in block[2:]]
            found.append((header, rows))
        block = []
    return found


def row_labels(rows: list[list[str]]) -> list[tuple[str, int]]:
    """Each row's label and width: its shortest run of leading cells that no other row
    shares, holding a word if one can."""
    labels = []
    for row in rows:
        unique = [
            width
            for width in range(1, len(row) + 1)
            if sum(other[:width] == row[:width] for other in rows) == 1
        ] or [len(row)]
        worded = [w for w in unique if any(number(cell) is None for cell in row[:w])]
        width = (worded or unique)[0]
        labels.append(("/".join(row[:width]), width))
    return labels


def table_figures(markdown: str) -> dict[str, int | float]:
    """Every number of the tables of `markdown`, named "row label/column header".

    A cell such as "16.9 / 2769.9 / 3506" under "CALLRESULT p50 / p99 / max (ms)"
    gives one figure a part, named after the header's part ("…/…: p99").
    """
    figures: dict[str, int | float] = {}
    for number_of_table, (header, rows) in enumerate(tables(markdown), 1):
        for (label, width), row in zip(row_labels(rows), rows, strict=True):
            for column, cell in list(zip(header, row, strict=True))[width:]:
                parts = [(column, cell)]
                if " / " in column and cell.count(" / ") == column.count(" / "):
                    parts = [
                        (f"{column}: {part.strip()}", value)
                        for part, value in zip(column.split(" / "), cell.split(" / "), strict=True)
                    ]
                for name, text in parts:
                    value = number(text)
                    if value is None:
                        continue
                    key = f"{label}/{name}"
                    if key in figures:
                        key = f"{key} (table {number_of_table})"
                    figures[key] = value
    return figures


# --------------------------------------------------------------------------- the page

INTRO = """\
# Benchmarks

Measured with the commands in `bench/` on this project's 2-core machine; the
server, the embedded database, the load generator and (for live status) the
writer all share those two cores, so compare ratios measured in the same run,
not milliseconds across days. What each benchmark measures against what, and
what it needs: [Running the benchmarks](running-benchmarks.md).

This page is generated by `python -m bench.report` from the run records in
`bench/results/` (one JSON object a line, one file a benchmark; every benchmark
appends its run and regenerates the page). A record holds the benchmark, its
start (UTC), the machine, the command, the code version (`-dirty`: graph/
differed from the commit), the load average before and after the run, every
figure of its tables by name ("row/column"), the targets with the figure
measured and whether each was met, the run's own report (tables and prose) and
notes that explain it. Do not edit this page: edit or add records.

The runs up to 2026-12-05 13:45 were converted from the log this page used to
be (`python -m bench.report --import-markdown`): each keeps its section of that
log whole as its report, and the summaries written between runs are notes of
the last run each covers; targets stated only in prose were written into the
runs they describe.
"""


def anchors(records: list[dict[str, Any]]) -> dict[int, str]:
    """An in-page anchor for each record (by its position), unique and stable."""
    found: dict[int, str] = {}
    for position, record in enumerate(records):
        anchor = record["benchmark"].replace("_", "-") + "-" + re.sub(r"\D", "", record["started"])
        while anchor in found.values():
            anchor += "-2"
        found[position] = anchor
    return found


def when(record: dict[str, Any]) -> str:
    return record["started"][:16].replace("T", " ")


def title(record: dict[str, Any]) -> str:
    return record["title"] or BY_NAME[record["benchmark"]].title


def load_text(load: list[float] | None) -> str:
    return " ".join(f"{n:.2f}" for n in load) if load else "—"


def met(target: dict[str, Any]) -> str:
    return "met" if target["met"] else "**missed**"


def row(*columns: object) -> str:
    return "| " + " | ".join(str(column).replace("|", "\\|") for column in columns) + " |"


def render(records: list[dict[str, Any]]) -> str:
    """The whole page for `records` (oldest first)."""
    anchor = anchors(records)
    lines = [INTRO, row("benchmark", "command", "runs", "latest"), row("---", "---", "---:", "---")]
    for benchmark in BENCHMARKS:
        runs = [p for p, record in enumerate(records) if record["benchmark"] == benchmark.name]
        if runs:
            lines.append(
                row(
                    f"[{benchmark.title}](#{benchmark.name.replace('_', '-')}-runs)",
                    f"`{benchmark.command}`",
                    len(runs),
                    f"[{when(records[runs[-1]])}](#{anchor[runs[-1]]})",
                )
            )
    lines += ["", "## Targets today", ""]
    lines.append(
        "Each target with the figure of the latest run that measured it; the run's own "
        "section says how it was measured."
    )
    lines += ["", row("benchmark", "measured", "target", "latest figure", "met?", "run")]
    lines.append(row("---", "---", "---", "---", "---", "---"))
    seen: set[tuple[str, str]] = set()
    latest: list[tuple[int, int, dict[str, Any]]] = []
    for position in reversed(range(len(records))):
        for target in records[position]["targets"]:
            key = (records[position]["benchmark"], target["name"])
            if key not in seen:
                seen.add(key)
                latest.append((position, len(latest), target))
    order = [benchmark.name for benchmark in BENCHMARKS]
    latest.sort(key=lambda item: (order.index(records[item[0]]["benchmark"]), item[1]))
    for position, _, target in latest:
        record = records[position]
        lines.append(
            row(
                BY_NAME[record["benchmark"]].title,
                target["name"],
                target["target"],
                target["figure"],
                met(target),
                f"[{when(record)}](#{anchor[position]})",
            )
        )
    for benchmark in BENCHMARKS:
        runs = [p for p, record in enumerate(records) if record["benchmark"] == benchmark.name]
        if not runs:
            continue
        heading = f"## {benchmark.title} {{#{benchmark.name.replace('_', '-')}-runs}}"
        lines += ["", heading, "", f"`{benchmark.command}`; oldest first.", ""]
        columns = [column for column, _ in benchmark.headlines]
        lines.append(row("run", "code", "load before", *columns, "targets met"))
        lines.append(row("---", "---", "---:", *["---:"] * len(columns), "---:"))
        for position in runs:
            record = records[position]
            targets = record["targets"]
            lines.append(
                row(
                    f"[{when(record)}](#{anchor[position]})",
                    record["code"] or "—",
                    f"{record['load_before'][0]:.2f}" if record["load_before"] else "—",
                    *(record["figures"].get(figure, "—") for _, figure in benchmark.headlines),
                    f"{sum(t['met'] for t in targets)} of {len(targets)}" if targets else "—",
                )
            )
        for position in runs:
            lines += section(records[position], anchor[position])
    return "\n".join(lines).rstrip() + "\n"


def section(record: dict[str, Any], anchor: str) -> list[str]:
    lines = ["", f"### {title(record)}, {when(record)} UTC {{#{anchor}}}", ""]
    facts = [
        f"Started {record['started']}",
        f"machine: {record['machine'] or 'not recorded'}",
        f"command: `{record['command']}`" if record["command"] else "command: not recorded",
        f"code: {record['code'] or 'not recorded'}",
        f"load average before: {load_text(record['load_before'])}",
        f"after: {load_text(record['load_after'])}",
    ]
    lines += ["; ".join(facts) + ".", ""]
    if record["targets"]:
        lines += [row("measured", "target", "figure", "met?"), row("---", "---", "---", "---")]
        lines += [row(t["name"], t["target"], t["figure"], met(t)) for t in record["targets"]]
        lines.append("")
    lines.append(record["report"].rstrip())
    for note in record["notes"]:
        lines += ["", note.rstrip()]
    return lines


def write(results: Path = RESULTS, page: Path = PAGE) -> None:
    page.write_text(render(load(results)), encoding="utf-8")


def append(records: Iterable[dict[str, Any]], results: Path = RESULTS) -> None:
    results.mkdir(parents=True, exist_ok=True)
    for record in records:
        check(record)
        with (results / f"{record['benchmark']}.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- the old page

RUN_TITLE = re.compile(
    r"(?P<label>.+?)(?: \(python -m bench\.(?P<module>\w+)\))?, "
    r"(?P<date>\d{4}-\d\d-\d\d) (?P<time>\d\d:\d\d) UTC"
)


def benchmark_of(label: str) -> str | None:
    """The benchmark whose title `label` begins with."""
    titles = sorted(BENCHMARKS, key=lambda b: -len(b.title))
    return next((b.name for b in titles if label.startswith(b.title)), None)


def first(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text)
    return match.group(1) if match else None


def run_record(match: re.Match[str], body: str) -> dict[str, Any]:
    """A run section of the old page as a record."""
    benchmark = match["module"] or benchmark_of(match["label"])
    if benchmark is None:
        raise ValueError(f"no benchmark known for {match[0]!r}")
    before = first(r"[Ll]oad before:? `([^`]*)`", body)
    after = first(r"[Ll]oad before:? `[^`]*`[^`]*?after: `([^`]*)`", body)
    seconds = first(rf"`{match['time']}:(\d\d) up", body) or "00"
    code = first(r"\b[Cc]ode:? (?:commit )?([0-9a-f]{7,40})\b", body)
    if code and "uncommitted" in (first(r"\b[Cc]ode:? ([^.]*)", body) or ""):
        code += "-dirty"
    return {
        "benchmark": benchmark,
        "title": match["label"],
        "started": f"{match['date']}T{match['time']}:{seconds}Z",
        "machine": first(r"Machine: (.*?Python \d+\.\d+\.\d+)", body),
        "command": first(r"`((?:python -m bench|/usr/bin/time|chargegraph )[^`]*)`", body),
        "code": code,
        "load_before": load_of(before) if before else None,
        "load_after": load_of(after) if after else None,
        "figures": table_figures(body),
        "targets": table_targets(body) + ocpp_targets(body),
        "report": body.strip() + "\n",
        "notes": [],
    }


def load_of(text: str) -> list[float]:
    """The three load averages of an `uptime` line (or of "0.57 0.16 0.21")."""
    return [float(n) for n in re.findall(r"\d+\.\d+", text.split("load average")[-1])]


def split_target(text: str) -> tuple[str, str]:
    """ "X: p50 ≤ 3 ms" -> ("X: p50", "≤ 3 ms"); "X: throughput ≥ 35 % of raw's" ->
    ("X: throughput ÷ raw's", "≥ 35 % of raw's"), so that each name says what it compares."""
    name, sign, rest = re.split(r" ([≤≥]) ", text, maxsplit=1)
    against = re.sub(r"^[\d.,]+ ?(?:x|%|ms|s|kB)? ?(?:of )?", "", rest)
    if against and not against.startswith("("):
        name += f" ÷ {against}"
    return name, f"{sign} {rest}"


def table_targets(markdown: str) -> list[dict[str, Any]]:
    """The rows of "| target | measured | met? |" tables, as bench.index writes them."""
    scale = first(r"([\d,]+) connectors, [\d,]+ organizations", markdown)
    found = []
    for header, rows in tables(markdown):
        if header[:3] != ["target", "measured", "met?"]:
            continue
        for target, measured, verdict in (r[:3] for r in rows):
            name, limit = split_target(target)
            found.append(
                {
                    "name": f"{name} ({scale} connectors)" if scale else name,
                    "target": limit,
                    "figure": measured,
                    "met": verdict.startswith("met"),
                }
            )
    return found


def ocpp_targets(markdown: str) -> list[dict[str, Any]]:
    """The "Targets, main run (…): …; …." sentence bench.ocpp writes."""
    sentence = re.search(r"Targets, main run \((.*?), [\d.]+ s\): (.*?\.)(?: |$)", markdown)
    if sentence is None:
        return []
    found = []
    for item in re.split(r"; (?![^(]*\))", sentence[2].rstrip(".")):
        verdict = re.fullmatch(
            r"(?P<name>.+?) (?P<target>[≤≥] .+?) (?:(?P<met>met) \((?P<figure>[^,]+),.*\)|"
            r"MISSED by .*? \((?P<missed>.+)\))",
            item,
        )
        count = re.fullmatch(
            r"(?P<name>[a-z ]+?) (?P<figure>\d+) \((?P<met>met|MISSED)(?P<more>.*)\)", item
        )
        if verdict:
            name, target = verdict["name"], verdict["target"]
            figure, ok = verdict["figure"] or verdict["missed"], bool(verdict["met"])
        elif count:
            name, target = count["name"], "0"
            figure = count["figure"] + (f" ({count['more'].lstrip('; ')})" if count["more"] else "")
            ok = count["met"] == "met"
        else:
            raise ValueError(f"a target of bench.ocpp not understood: {item!r}")
        found.append(
            {"name": f"{name} ({sentence[1]})", "target": target, "figure": figure, "met": ok}
        )
    return found


def summary_parts(heading: str, body: str) -> list[tuple[str, str]]:
    """A summary's text by the benchmark it explains: its title's, or else each
    paragraph goes with the benchmark the last paragraph naming one began with."""
    own = benchmark_of(heading)
    if own:
        return [(own, body)]
    parts: list[tuple[str, list[str]]] = []
    for paragraph in body.split("\n\n"):
        named = benchmark_of(paragraph)
        if named and named not in (p[0] for p in parts):
            parts.append((named, []))
        if parts:
            parts[-1][1].append(paragraph)
        else:
            parts.append(("", [paragraph]))  # before any benchmark: with the first one
    if parts[0][0] == "" and len(parts) > 1:
        parts[1] = (parts[1][0], parts[0][1] + parts[1][1])
        parts = parts[1:]
    return [(name, "\n\n".join(paragraphs)) for name, paragraphs in parts]


def import_markdown(path: Path, results: Path = RESULTS) -> list[dict[str, Any]]:
    """Records for the sections of an old-format page; summaries become notes of the
    last run they cover (same benchmark and day, not after the time their title ends).

    `path` may be the generated page with old-format sections appended (as a branch
    that still appends markdown leaves it): only those sections are imported."""
    text = path.read_text(encoding="utf-8")
    sections = [s.split("\n", 1) for s in re.split(r"^## ", text, flags=re.MULTILINE)[1:]]
    records, summaries = [], []
    generated = {"Targets today", *(benchmark.title for benchmark in BENCHMARKS)}
    for heading, body in ((h.strip(), b.strip()) for h, b in sections):
        if re.sub(r" \{#[\w-]+\}$", "", heading) in generated:
            continue  # this page as bench.report writes it, old-format sections added to it
        match = RUN_TITLE.fullmatch(heading)
        if match:
            records.append(run_record(match, body))
        else:
            summaries.append((heading, body))
    records.sort(key=lambda r: r["started"])
    for heading, body in summaries:
        day = first(r"(\d{4}-\d\d-\d\d)", heading)
        end = re.findall(r"\d\d:\d\d", heading)
        until = f"{day}T{end[-1] if end else '23:59'}"
        for benchmark, part in summary_parts(heading, body):
            covered = [
                r
                for r in records
                if r["benchmark"] == benchmark
                and r["started"][:10] == day
                and r["started"][:16] <= until
            ]
            if not covered:
                raise ValueError(f"no run of {benchmark} for the summary {heading!r}")
            covered[-1]["notes"].append(f"**{heading}**\n\n{part}\n")
    append(records, results)
    return records


def missing_numbers(path: Path, results: Path = RESULTS) -> list[str]:
    """The numbers of `path` that no record holds."""
    recorded = recorded_text(results)
    numbers = re.findall(r"\d+(?:[.,]\d+)*", path.read_text(encoding="utf-8"))
    return sorted({n for n in numbers if n not in recorded})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--output", type=Path, default=PAGE)
    parser.add_argument("--import-markdown", type=Path, metavar="FILE")
    args = parser.parse_args()
    if args.import_markdown:
        imported = import_markdown(args.import_markdown, args.results)
        print(f"{len(imported)} runs recorded from {args.import_markdown}")
        missing = missing_numbers(args.import_markdown, args.results)
        print(f"numbers of {args.import_markdown} in no record: {len(missing)} {missing[:20]}")
    write(args.results, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
