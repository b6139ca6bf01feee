"""The report: every figure in JSON, and a markdown page with the targets checked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.dataset import LARGE, SMALL
from benchmarks.scenarios import CONNECTIONS, Result


@dataclass(frozen=True)
class Target:
    what: str
    limit: float
    unit: str
    measure: Callable[
        [Callable[[str, str], Result | None], dict[str, Any]], tuple[float, str] | None
    ]


def _cpu(scenario: str, dataset: str = LARGE.name) -> Callable[..., tuple[float, str] | None]:
    def measure(find: Callable[[str, str], Result | None], _facts: dict[str, Any]) -> Any:
        result = find(scenario, dataset) or find(scenario, SMALL.name)
        if result is None:
            return None
        stat = result.stat("cpu_ms")
        assert stat is not None
        return stat["median"], f"{stat['median']:.3f} ({stat['min']:.3f}-{stat['max']:.3f})"

    return measure


def _ratio(top: str, bottom: str, field: str = "cpu_ms") -> Callable[..., Any]:
    def measure(find: Callable[[str, str], Result | None], _facts: dict[str, Any]) -> Any:
        dataset = LARGE.name if find(top, LARGE.name) else SMALL.name  # quick mode: small only
        a, b = find(top, dataset), find(bottom, dataset)
        if a is None or b is None:
            return None
        ratio = a.median(field) / b.median(field)
        return ratio, f"{ratio:.2f} ({a.median(field):.3f} / {b.median(field):.3f})"

    return measure


def _worst_tail(find: Callable[[str, str], Result | None], _facts: dict[str, Any]) -> Any:
    ratios = {}
    for dataset in (LARGE.name, SMALL.name):
        for name in (
            "patient_list", "doctor_week", "get_by_id", "create", "update", "doctor_slots_week",
            "specialty_slots_day", "liveness",
        ):  # fmt: skip
            result = find(name, dataset)
            ratio = result.tail_ratio() if result is not None else None
            if ratio is not None:
                ratios[f"{name}@{dataset}"] = ratio
    if not ratios:
        return None
    worst = max(ratios, key=lambda k: ratios[k])
    return ratios[worst], f"{ratios[worst]:.2f} (worst: {worst})"


def _growth_target(find: Callable[[str, str], Result | None], _facts: dict[str, Any]) -> Any:
    small, large = find("patient_list", SMALL.name), find("patient_list", LARGE.name)
    if small is None or large is None:
        return None
    before, after = small.median("cpu_ms"), large.median("cpu_ms")
    return after / before, f"{after / before:.2f} ({before:.3f} -> {after:.3f})"


def _fact(name: str, digits: int = 2) -> Callable[..., Any]:
    def measure(_find: Callable[[str, str], Result | None], facts: dict[str, Any]) -> Any:
        value = facts.get(name)
        return None if value is None else (value, f"{value:.{digits}f}")

    return measure


def _probe(find: Callable[[str, str], Result | None], _facts: dict[str, Any]) -> Any:
    result = find("login", LARGE.name) or find("login", SMALL.name)
    stat = result.stat("probe_p99_ms") if result else None
    if stat is None:
        return None
    return stat["median"], f"{stat['median']:.1f} ({stat['min']:.1f}-{stat['max']:.1f})"


def _rss(find: Callable[[str, str], Result | None], facts: dict[str, Any]) -> Any:
    value = facts.get(f"{LARGE.name}_service_rss_mb") or facts.get(f"{SMALL.name}_service_rss_mb")
    return None if value is None else (value, f"{value:.0f}")


TARGETS = (
    Target(
        "patient list, 20 rows, 1M appointments: server CPU", 1.5, "ms/req", _cpu("patient_list")
    ),
    Target(
        "patient list: service / bare baseline (CPU)",
        1.6,
        "x",
        _ratio("patient_list", "bare_list"),
    ),
    Target("doctor one-week window: server CPU", 1.8, "ms/req", _cpu("doctor_week")),
    Target("get by id: server CPU", 1.0, "ms/req", _cpu("get_by_id")),
    Target("create: server CPU", 3.0, "ms/req", _cpu("create")),
    Target("free slots, one doctor, 7 days: server CPU", 2.0, "ms/req", _cpu("doctor_slots_week")),
    Target(
        "free slots, specialty of 20 doctors, 1 day: server CPU",
        5.0,
        "ms/req",
        _cpu("specialty_slots_day"),
    ),
    Target("growth 10k -> 1M, patient list (server CPU)", 1.3, "x", _growth_target),
    Target(f"p99 / p50 at {CONNECTIONS} connections", 3.0, "x", _worst_tail),
    Target("worker RSS after the run", 150, "MB", _rss),
    Target("liveness p99 while 8 clients log in", 50, "ms", _probe),
    Target("cold start to first 200 (fresh data folder)", 5.0, "s", _fact("cold_start_seconds")),
    Target("warm start to first 200", 3.0, "s", _fact("warm_start_seconds")),
)


def _growth(find: Callable[[str, str], Result | None], name: str, field: str) -> str:
    small, large = find(name, SMALL.name), find(name, LARGE.name)
    if small is None or large is None:
        return "n/a"
    return f"{large.median(field) / small.median(field):.2f}"


def write(
    base: Path,
    *,
    results: list[Result],
    facts: dict[str, Any],
    profiles: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    index = {(r.scenario, r.dataset): r for r in results}

    def find(scenario: str, dataset: str) -> Result | None:
        return index.get((scenario, dataset))

    checks = []
    for target in TARGETS:
        measured = target.measure(find, facts)
        checks.append(
            {
                "target": target.what,
                "limit": target.limit,
                "unit": target.unit,
                "measured": None if measured is None else round(measured[0], 3),
                "shown": None if measured is None else measured[1],
                "met": None if measured is None else measured[0] <= target.limit,
            }
        )
    document = {
        "meta": meta,
        "targets": checks,
        "results": [r.to_json() for r in results],
        "facts": facts,
        "profiles": profiles,
    }
    base.parent.mkdir(parents=True, exist_ok=True)
    base.with_suffix(".json").write_bytes(
        orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    markdown = base.with_suffix(".md")
    markdown.write_text(_markdown(document, find))
    return markdown


def _markdown(document: dict[str, Any], find: Callable[[str, str], Result | None]) -> str:
    meta = document["meta"]
    lines = [
        "# Benchmark report",
        "",
        f"{meta['date']}; {'QUICK mode (not comparable)' if meta['quick'] else 'full run'}: "
        f"{meta['runs']} x {meta['seconds']:.0f} s per scenario after a warm-up, "
        f"{CONNECTIONS} connections; {meta['cpus']} CPUs, Python {meta['python']}; "
        f"took {meta['duration_seconds']} s. Regenerate with `uv run python -m benchmarks.run`.",
        "",
        "Server: `medai serve`, one worker pinned to CPU 0 (uvloop, httptools, no response "
        "validation, no Swagger UI, access log and audit trail on). PostgreSQL 16 (embedded) and "
        "wrk on CPU 1. CPU per request is user+system time from /proc divided by the requests "
        "served; figures are medians with (min-max) over the runs.",
        "",
        "## Targets",
        "",
        "| target | limit | measured | met |",
        "|---|---|---|---|",
    ]
    for check in document["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[check["met"]]
        lines.append(
            f"| {check['target']} | <= {check['limit']:g} {check['unit']} | "
            f"{check['shown'] or '-'} | {met} |"
        )
    lines += [
        "",
        "## Scenarios",
        "",
        "| dataset | scenario | req/s | p50 ms | p99 ms | p99/p50 | server CPU ms/req "
        "| PostgreSQL CPU ms/req | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in document["results"]:
        lines.append(
            f"| {r['dataset']} | {r['title']} | {_stat(r, 'rate', 0)} | {_stat(r, 'p50_ms', 2)} "
            f"| {_stat(r, 'p99_ms', 2)} | {r['p99_over_p50'] or '-'} | {_stat(r, 'cpu_ms', 3)} "
            f"| {_stat(r, 'pg_cpu_ms', 3)} | {r['errors']} |"
        )
        if "probe_p99_ms" in r:
            lines.append(
                f"| {r['dataset']} | liveness probe during the logins | | "
                f"{_stat(r, 'probe_p50_ms', 1)} | {_stat(r, 'probe_p99_ms', 1)} | | | | |"
            )
    lines += ["", "## Growth 10,000 -> 1,000,000 appointments", ""]
    for name in ("patient_list", "doctor_week", "bare_list"):
        lines.append(
            f"- {name}: server CPU x{_growth(find, name, 'cpu_ms')}, "
            f"PostgreSQL CPU x{_growth(find, name, 'pg_cpu_ms')}"
        )
    facts = document["facts"]
    lines += ["", "## Facts", ""] + [
        f"- {k}: {'reused from an earlier run' if v is None else v}"
        for k, v in sorted(facts.items())
    ]
    for name, summary in document["profiles"].items():
        lines += ["", f"## Profile: {name} ({summary['samples']} samples, self time)", ""]
        lines += [f"- {layer}: {share} %" for layer, share in summary["layers"].items()]
        lines += ["", "Busiest functions:", ""]
        lines += [f"- {fn}: {share} %" for fn, share in summary["functions"].items()]
    return "\n".join(lines) + "\n"


def _stat(result: dict[str, Any], name: str, digits: int) -> str:
    stat = result.get(name)
    if stat is None:
        return "-"
    spread = f" ({stat['min']:.{digits}f}-{stat['max']:.{digits}f})" if result["runs"] > 1 else ""
    return f"{stat['median']:,.{digits}f}{spread}"
