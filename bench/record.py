"""The record of a benchmark run: one JSON object a line in bench/results/<benchmark>.jsonl.

Every benchmark calls `begin()` first thing (the time, the load average and the
code version at its start) and ends with `record_run(...)`, which adds what it
knows by itself (machine, command, load average after the run), appends the
record and regenerates docs/benchmarks.md (`bench.report`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import PAGE, RESULTS, ROOT, append, load_of, table_figures, write


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
    """When a run started, how busy the machine was then and the code it measures."""

    at: datetime
    uptime: str  # `uptime`'s line, which the markdown reports quote
    code: str  # as `code()` gives it (others may commit while a run goes on)

    @property
    def load(self) -> list[float]:
        return load_of(self.uptime)


def machine() -> str:
    """Cores, CPU model, memory, system and Python of this machine."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}"
    )


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def begin() -> Start:
    """Taken by a benchmark before it does anything else."""
    return Start(datetime.now(UTC).replace(microsecond=0), uptime(), code())


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
    results: Path | None = None,
    page: Path | None = None,
) -> dict[str, Any]:
    """Append the run's record to `results` (bench/results)/<benchmark>.jsonl and
    regenerate `page` (docs/benchmarks.md).

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
        "code": started.code,
        "load_before": started.load,
        "load_after": load_of(uptime()),
        "figures": table_figures(markdown) | (figures or {}),
        "targets": [target.as_record() for target in targets],
        "report": markdown,
        "notes": list(notes),
    }
    results = results or RESULTS
    page = page or PAGE
    append([record], results)
    write(results, page)
    print(f"recorded in {results / benchmark}.jsonl; regenerated {page}")
    return record


def bound(
    name: str, value: float, limit: float, unit: str, *, at_least: bool = False, digits: int = 1
) -> Target:
    """A target that is a bound on one figure: `value` ≤ `limit` (or ≥ with `at_least`)."""
    sign, met = ("≥", value >= limit) if at_least else ("≤", value <= limit)
    return Target(name, f"{sign} {limit:g} {unit}", f"{value:.{digits}f} {unit}", met, value, limit)
