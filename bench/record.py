"""The record of a benchmark run: one JSON object a line in bench/results/<benchmark>.jsonl.

Every benchmark takes `start()` first thing and ends with `record_run(...)`, which
adds what it knows by itself (machine, code version, command, load average after
the run), appends the record and regenerates docs/benchmarks.md (`bench.report`).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import PAGE, RESULTS, check, load_of, table_figures, write
from bench.run import ROOT, machine


@dataclass(frozen=True)
class Target:
    """A target and how the run fared against it, as the run states it."""

    name: str  # what is measured, e.g. "CALLRESULT p99 (1,000 stations, 500 subscribers)"
    target: str  # e.g. "≤ 100 ms"
    figure: str  # the run's figure, as text, e.g. "2769.9 ms"
    met: bool
    value: float | None = None
    threshold: float | None = None

    def as_record(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class Start:
    """When a run started and how busy the machine was then."""

    at: datetime
    uptime: str  # `uptime`'s line, which the markdown reports quote

    @property
    def load(self) -> list[float]:
        return load_of(self.uptime)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def start() -> Start:
    """Taken by a benchmark before it does anything else."""
    return Start(datetime.now(UTC).replace(microsecond=0), uptime())


def _git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], capture_output=True, text=True, cwd=ROOT).stdout


def changed_files() -> list[str]:
    """Files under graph/ (and the package metadata) that differ from the commit."""
    return _git("status", "--porcelain", "--", "graph", "pyproject.toml").splitlines()


def commit() -> str:
    return _git("rev-parse", "--short", "HEAD").strip()


def code() -> str:
    """The commit measured, with `-dirty` when the application's code differs from it."""
    return commit() + ("-dirty" if changed_files() else "")


def code_version() -> str:
    """The same, in words, for the markdown reports."""
    changed = changed_files()
    if changed:
        return f"{commit()} plus uncommitted changes to {len(changed)} file(s) under graph/"
    return f"{commit()} (graph/ unchanged since)"


def command_line() -> str:
    """How this benchmark was started, as `python -m module args`."""
    path = Path(sys.argv[0]).resolve()
    module = path.stem
    with contextlib.suppress(ValueError):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return " ".join(["python", "-m", module, *(shlex.quote(a) for a in sys.argv[1:])])


def record_run(
    benchmark: str,
    started: Start,
    report: Iterable[str],
    targets: Iterable[Target] = (),
    figures: dict[str, float | int | str] | None = None,
    notes: Iterable[str] = (),
    *,
    title: str | None = None,
    results: Path = RESULTS,
    page: Path | None = PAGE,
) -> dict[str, Any]:
    """Append the run's record to `results`/<benchmark>.jsonl and regenerate `page`.

    `report` is the run's markdown (its tables and prose); every number of its
    tables is among the figures, with `figures` added to them (numbers the tables
    do not hold).
    """
    markdown = "\n".join(report).strip() + "\n"
    record = {
        "benchmark": benchmark,
        "title": title,
        "started": f"{started.at:%Y-%m-%dT%H:%M:%SZ}",
        "machine": machine(),
        "command": command_line(),
        "code": code(),
        "load_before": started.load,
        "load_after": load_of(uptime()),
        "figures": table_figures(markdown) | (figures or {}),
        "targets": [target.as_record() for target in targets],
        "report": markdown,
        "notes": list(notes),
    }
    check(record)
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{benchmark}.jsonl"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"recorded in {path}")
    if page is not None:
        write(results, page)
        print(f"regenerated {page}")
    return record
