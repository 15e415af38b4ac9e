"""Benchmark records: docs/benchmarks.md is generated from them, and every benchmark writes one."""

from __future__ import annotations

import json
import re
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import apq, hostile, index, live, ocpp, ocpp_storm, record, report, run, workers
from bench.record import Target, begin, record_run
from bench.run import Result

Records = Callable[[], list[dict[str, Any]]]


def test_the_page_is_generated_from_the_records() -> None:
    page = report.PAGE.read_text(encoding="utf-8")
    assert page == report.render(report.load()), "run `python -m bench.report`"


def test_every_record_is_one_sorted_json_line_with_every_key_of_its_type() -> None:
    lines = report.recorded_text().splitlines()
    assert len(lines) == len(report.load()) > 0
    for line in lines:
        parsed = json.loads(line)
        assert line == json.dumps(parsed, sort_keys=True, ensure_ascii=False)
        report.check(parsed)
        assert set(parsed) == set(report.KEYS)
        assert all(isinstance(target["met"], bool) for target in parsed["targets"])


def test_a_record_without_a_key_or_with_a_wrong_type_is_refused() -> None:
    good = report.load()[-1]
    without = {key: value for key, value in good.items() if key != "machine"}
    with pytest.raises(ValueError, match="machine missing"):
        report.check(without)
    with pytest.raises(ValueError, match="met is not"):
        report.check(good | {"targets": [{"name": "n", "target": "t", "figure": "f", "met": 1}]})


def test_every_link_of_the_page_reaches_a_run() -> None:
    page = report.PAGE.read_text(encoding="utf-8")
    anchors = re.findall(r"\{#([\w-]+)\}$", page, re.MULTILINE)
    assert len(anchors) == len(set(anchors))
    assert set(report.anchors(report.load()).values()) <= set(anchors)
    assert set(re.findall(r"\]\(#([\w-]+)\)", page)) <= set(anchors)


def test_targets_today_hold_each_target_s_latest_run_at_each_scale() -> None:
    today = report.render(report.load()).split("## Targets today")[1].split("\n## ")[0]
    assert (
        "| OCPP stations | CALLRESULT p99 (1,000 stations, 500 subscribers) | ≤ 100 ms |" in today
    )
    assert "freshness: p99 (1,000,000 connectors)" in today
    assert "freshness: p99 (100,000 connectors)" in today


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Records:
    """Benchmarks record into a temporary directory and page; returns the records there."""
    monkeypatch.setattr(record, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(record, "PAGE", tmp_path / "benchmarks.md")
    return lambda: report.load(tmp_path / "results")


def test_record_run_appends_one_line_and_the_page_shows_its_target_today(
    tmp_path: Path,
) -> None:
    results, page = tmp_path / "results", tmp_path / "benchmarks.md"
    started = begin()
    target = Target("connector by id p50", "≤ 5 ms", "3.1 ms", True, 3.1, 5)
    lines = ["Some prose.", "", "| question | p50 ms |", "| --- | --- |", "| by id | 3.1 |"]
    written = record_run("hostile", started, lines, [target], results=results, page=page)
    stored = (results / "hostile.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in stored] == [written]
    assert written["figures"] == {"by id/p50 ms": 3.1}
    assert written["load_before"] == started.load and len(started.load) == 3
    assert re.fullmatch(r"[0-9a-f]{7,}(-dirty)?", written["code"])
    today = page.read_text(encoding="utf-8").split("## Targets today")[1].split("\n## ")[0]
    anchor = report.anchors([written])[0]
    assert (
        f"| connector by id p50 | ≤ 5 ms | 3.1 ms | met | [{report.when(written)}](#{anchor}) |"
        in today
    )
    assert f"{{#{anchor}}}" in page.read_text(encoding="utf-8")


def result(p50: float, rps: float) -> Result:
    return Result(p50, p50 * 2, rps)


def test_bench_run_records_its_targets(recorded: Records) -> None:
    pair = {"chargegraph": {"light": result(11, 90), "loaded": result(170, 90)}}
    pair["baseline"] = {"light": result(10, 100), "loaded": result(160, 100)}
    results = {
        "nearby, city (5 km, first 20)": pair,
        "nearby, rural (5 km, first 20)": pair,
        "nearby with totalCount, city": pair,
        "connector by id": pair,
        "page of 100 with organizations": pair,
        "nearby, city, naive Beanie Near peer": {"naive": pair["baseline"]},
    }
    run.report(results, 1000, begin())
    (stored,) = recorded()
    assert stored["benchmark"] == "run"
    assert stored["figures"]["connector by id/chargegraph/÷ baseline"] == 90
    assert [t["met"] for t in stored["targets"]] == [True] * 6


def test_bench_workers_records_its_targets(recorded: Records) -> None:
    def measured(rps: float) -> workers.Measured:
        return workers.Measured(result(1, rps), result(10, rps), [90.0], 50.0, 5.0)

    rps = {"baseline": 3000.0, "workers 1": 1000.0, "workers 2": 1300.0}
    rounds = [{t: {q: measured(rps[t]) for q in workers.QUERIES} for t in workers.TARGETS}]
    workers.report(rounds, Namespace(duration=8, rounds=1), 100_000, begin(), "load")
    (stored,) = recorded()
    assert [t["figure"] for t in stored["targets"]] == ["33 %", "43 %"]
    assert stored["figures"]["connector by id/workers 2 ÷ workers 1"] == 1.3


def test_bench_apq_records_its_run(recorded: Records) -> None:
    requests = {name: [b"GET / HTTP/1.1\r\n\r\n"] for name in apq.VARIANTS}
    sizes = {name: [300, 310] for name in apq.VARIANTS}
    rounds = [{name: apq.Measured(result(11, 95), result(160, 95), 35) for name in apq.VARIANTS}]
    apq.report(Namespace(duration=8, rounds=1), begin(), "load", requests, sizes, sizes, rounds)
    (stored,) = recorded()
    assert stored["figures"]["POST, hash only/÷ POST with text"] == 100
    assert stored["targets"] == []


def test_bench_hostile_records_its_run(recorded: Records) -> None:
    figures = hostile.Figures(23, ["answered"], [1.5, 2.5], [1.0, 3.0])
    hostile.report({"baseline": figures, "fragment chain, 30 levels": figures}, 2, begin())
    (stored,) = recorded()
    assert stored["figures"]["fragment chain, 30 levels/p50 ÷ baseline"] == 1.0


def test_bench_live_records_its_targets(recorded: Records) -> None:
    def outcome(processes: int, p99: float, expected: int) -> live.Outcome:
        hub = [dict.fromkeys(live.HUB_FIGURES, 1)] * processes
        return live.Outcome(
            2000, processes, 50, 60, 3000, 60, expected, expected, expected, 0.0, 0, "all arrived",
            7, p99, 0, hub, [], 51.8,
        )  # fmt: skip

    results = [([outcome(1, 15, 300_000)], "one organization")]
    results.append(([outcome(2, 300, 300_000)], "one organization"))
    live.report(results, Namespace(memory=False, wait=300), begin(), "load")
    (stored,) = recorded()
    verdicts = {t["name"]: t["met"] for t in stored["targets"]}
    assert verdicts == {
        "p99, 1 process, 2,000 subscribers, 50 writes/s": True,
        "p99, 2 processes, 1,000 subscribers each, 50 writes/s": False,
        "events lost": True,
        "memory per idle subscriber": False,
    }
    assert stored["figures"]["1/2,000/one organization/p99 (ms)"] == 15


def test_bench_ocpp_records_the_targets_of_its_main_run(recorded: Records) -> None:
    main = ocpp.Outcome(
        "main", "chargegraph", 1000, 1000, 120, 2, reports=12000, heartbeats=2000,
        call_p50=16.9, call_p99=2769.9, call_max=3506, subscribers=500, expected=120_000,
        on_time=120_000, deliver_p50=27, deliver_p99=1745.8, deliver_max=1993,
        kb_per_station=42.5, connectors_in_database=2000,
    )  # fmt: skip
    arguments = Namespace(
        stations=1000, subscribers=500, seconds=120, steps="", down_steps="", step_seconds=60,
        generators=2, organizations=50, external_uri=False, note="",
    )  # fmt: skip
    network = ocpp.Network(endpoints=["BENCH-00000"], seconds=16)
    ocpp.record(arguments, begin(), network, [main], None, "load", "", [])
    (stored,) = recorded()
    assert [(t["name"], t["met"]) for t in stored["targets"]] == [
        ("CALLRESULT p99 (1,000 stations, 500 subscribers)", False),
        ("report -> subscriber p99 (1,000 stations, 500 subscribers)", False),
        ("errors (1,000 stations, 500 subscribers)", True),
        ("lost reports (1,000 stations, 500 subscribers)", True),
        ("memory (1,000 stations, 500 subscribers)", True),
    ]
    assert stored["figures"]["main/CALLRESULT p50 / p99 / max (ms): p99"] == 2769.9


def test_bench_ocpp_storm_records_its_target(recorded: Records) -> None:
    def storm(answered_at: float) -> ocpp_storm.Storm:
        made = ocpp_storm.Storm()
        made.connected, made.latencies, made.answered_at = 10, [5.0] * 40, answered_at
        return made

    arguments = Namespace(stations=10, within=2.0)
    ocpp_storm.report(arguments, begin(), "abc1234", storm(3), 2.5, {"server": 100, "database": 300}, storm(1))  # fmt: skip
    (stored,) = recorded()
    (target,) = stored["targets"]
    assert target["met"] and target["figure"] == "2.5 s, 0 errors"
    assert stored["figures"]["chargegraph/online after (s)"] == 2.5


def test_bench_index_records_its_verdicts_as_targets(recorded: Records) -> None:
    state = index.Run(
        Path("/tmp/data"), connectors=100_000, started="2026-12-05 14:00",
        started_uptime="14:00:00 up 1 day,  load average: 0.50, 0.40, 0.30", code="abc1234 (graph/ unchanged since)",
    )  # fmt: skip
    verdict = index.Verdict(
        "nearby city: throughput ≥ 35 % of raw's", "25% (1 vs 4)", False, "10 points", None
    )
    lines = ["\n## Connector index (python -m bench.index), 2026-12-05 14:00 UTC\n", "| a | b |", "| --- | --- |", "| x | 1 |"]  # fmt: skip
    index.record(state, lines, [verdict])
    (stored,) = recorded()
    assert stored["started"] == "2026-12-05T14:00:00Z" and stored["code"] == "abc1234"
    assert stored["load_before"] == [0.5, 0.4, 0.3]
    assert stored["targets"] == [
        {
            "name": "nearby city: throughput ÷ raw's (100,000 connectors)",
            "target": "≥ 35 % of raw's",
            "figure": "25% (1 vs 4)",
            "met": False,
        }
    ]
    assert "## " not in stored["report"]


def test_old_format_sections_appended_to_the_page_are_imported_alone(tmp_path: Path) -> None:
    old_section = (
        "\n## Hostile requests (python -m bench.hostile), 2026-12-06 10:00 UTC\n\n"
        "Command: `python -m bench.hostile`. Machine: 2 cores (AMD EPYC), 24 GiB, Linux x86_64, "
        "Python 3.11.7. Code: 1234567 (graph/ unchanged since). Load before: `10:00:01 up 1:00,  "
        "0 user,  load average: 0.10, 0.20, 0.30`.\n\n"
        "| question | p50 ms |\n| --- | --- |\n| baseline: { __typename } | 1.64 |\n"
        "\n## Hostile requests: what the 10:00 run shows (run of 2026-12-06 10:00 UTC, above)\n\n"
        "Refused before any cost.\n"
    )
    page = tmp_path / "benchmarks.md"
    page.write_text(report.PAGE.read_text(encoding="utf-8") + old_section, encoding="utf-8")
    (imported,) = report.import_markdown(page, tmp_path / "results")
    assert imported["started"] == "2026-12-06T10:00:01Z" and imported["code"] == "1234567"
    assert imported["load_before"] == [0.1, 0.2, 0.3]
    assert imported["figures"] == {"baseline: { __typename }/p50 ms": 1.64}
    assert imported["notes"] == [
        "**Hostile requests: what the 10:00 run shows (run of 2026-12-06 10:00 UTC, above)**"
        "\n\nRefused before any cost.\n"
    ]
