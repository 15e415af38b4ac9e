"""The documentation a newcomer reads: the README's promises and the generated pages."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import build_schema

from bench.report import recorded_text
from graph.reference import (
    CONFIGURATION_PAGE,
    SCHEMA_FILE,
    SCHEMA_PAGE,
    configuration_page,
    schema_page,
    variables,
)

ROOT = Path(__file__).resolve().parents[2]
# Pages written by generators (they quote only what they are generated from).
GENERATED = {Path("docs/benchmarks.md"), SCHEMA_PAGE, CONFIGURATION_PAGE}
README = (ROOT / "README.md").read_text()
# The two commands a newcomer needs, exactly as they must be typed.
RUN = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/chargegraph serve --demo"
TEST = "bash scripts/test"


def test_the_readme_is_short_and_opens_with_the_two_commands() -> None:
    lines = README.splitlines()
    assert len(lines) <= 150
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.DOTALL)
    assert blocks[:2] == [RUN, TEST]
    assert README.index(TEST) < README.index("## Documentation")
    # The CI script runs exactly the README's test command.
    assert TEST in (ROOT / ".ci" / "run").read_text()


def test_every_link_of_the_readme_reaches_a_file() -> None:
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README)
    assert targets
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert not missing


def test_the_settings_table_is_generated_from_the_settings() -> None:
    page = (ROOT / CONFIGURATION_PAGE).read_text()
    assert page == configuration_page(page), "run `chargegraph export-docs`"
    listed = re.findall(r"^\| `([A-Z_]+)` \|", page, re.MULTILINE)
    assert listed == list(variables())
    # Defaults as the server applies them, e.g. the heartbeat interval.
    assert "| `CHARGEGRAPH_OCPP_HEARTBEAT_SECONDS` | " in page
    assert re.search(r"^\| `CHARGEGRAPH_OCPP_HEARTBEAT_SECONDS` \| .* \| `60` \|$", page, re.M)


def test_the_schema_reference_is_generated_from_the_committed_schema() -> None:
    committed = (ROOT / SCHEMA_PAGE).read_text()
    schema = build_schema((ROOT / SCHEMA_FILE).read_text())
    assert committed == schema_page(schema), "run `chargegraph export-docs`"
    # Every type, field, argument and enum value is on the page with its description.
    for name, named in schema.type_map.items():
        if name.startswith("__"):
            continue
        assert f"### {name}\n" in committed
        for field_name in getattr(named, "fields", {}):
            assert f"| `{field_name}` |" in committed, (name, field_name)


FIGURE = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s?(?:ms|s|kB|MB|MiB|GB|%|\u00d7|req/s|requests/s|minutes)(?!\w)"
)
# A paragraph with one of these words reports a measurement.
MEASURED = re.compile(r"measured|Measured|bench\.|p50|p99|took|recorded|throughput")


def recorded_numbers() -> list[float]:
    """Every number in the benchmark records."""
    text = recorded_text()
    return [float(number.replace(",", "")) for number in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def test_every_figure_the_documentation_quotes_is_in_a_benchmark_record() -> None:
    recorded = recorded_numbers()
    pages = [ROOT / "README.md", ROOT / "SECURITY.md"] + [
        page for page in (ROOT / "docs").rglob("*.md") if page.relative_to(ROOT) not in GENERATED
    ]
    unrecorded = []
    for page in pages:
        for paragraph in page.read_text().split("\n\n"):
            if not MEASURED.search(paragraph):
                continue
            for quoted in FIGURE.findall(paragraph):
                value = float(quoted.replace(",", ""))
                decimals = len(quoted.partition(".")[2])
                # Quoted as recorded, or rounded from a recorded figure.
                if not any(round(number, decimals) == value for number in recorded):
                    unrecorded.append(f"{page.relative_to(ROOT)}: {quoted}")
    assert not unrecorded
