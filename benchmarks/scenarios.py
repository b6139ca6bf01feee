"""The scenarios, and measuring one run of a scenario: wrk's figures plus the CPU the server
and PostgreSQL spent on it, per request."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from benchmarks import loadgen, procstat
from benchmarks.fixtures import SLOTS_SPECIALTY_DOCTORS, Fixtures
from benchmarks.loadgen import Load
from benchmarks.probe import LivenessProbe
from benchmarks.processes import Server

SERVER_CPU, LOAD_CPU = 0, 1
CONNECTIONS = 32
SETTLE_SECONDS = 0.5
LOGIN_CLIENTS = 8


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    target: str  # "service" or "bare"
    load: Callable[[int], Load]  # run number -> what wrk sends
    probe: bool = False  # a paced liveness probe alongside, measured separately
    min_seconds: float = 0  # logins take a second each under load: short runs count none


def scenarios(fixtures: Fixtures, files: dict[str, str]) -> dict[str, Scenario]:
    """The scenarios over ``fixtures``' data files; the update's file is written afresh for
    every run, since each run moves the versions its If-Match headers must name."""
    dataset = fixtures.dataset

    def get(name: str, connections: int = CONNECTIONS) -> Callable[[int], Load]:
        return lambda _run: Load("get.lua", (files[name],), connections=connections)

    # Each run books in its own week after the dataset ends, so runs never collide either.
    first_booking = dataset.end + timedelta(days=7)

    def create(run: int) -> Load:
        base = int((first_booking + timedelta(weeks=run)).timestamp())
        return Load("create.lua", (files["create"], str(base), "2"))

    return {
        s.name: s
        for s in (
            Scenario("patient_list", "patient's own list, 20 rows", "service", get("patient_list")),
            Scenario(
                "bare_list", "same list, bare Starlette + psycopg", "bare", get("patient_list")
            ),
            Scenario("doctor_week", "doctor's one-week window", "service", get("doctor_week")),
            Scenario(
                "bare_week", "same week, bare Starlette + psycopg", "bare", get("doctor_week")
            ),
            Scenario("get_by_id", "get by id", "service", get("get_by_id")),
            Scenario("create", "create (distinct free slots)", "service", create),
            Scenario(
                "update",
                "update with If-Match (doctor's notes)",
                "service",
                lambda _run: Load("update.lua", (fixtures.write_update(), "2")),
            ),
            Scenario(
                "doctor_slots_week",
                "free slots of one doctor, 7 days",
                "service",
                get("doctor_slots_week"),
            ),
            Scenario(
                "specialty_slots_day",
                f"free slots of a specialty of {SLOTS_SPECIALTY_DOCTORS} doctors, 1 day",
                "service",
                get("specialty_slots_day"),
            ),
            Scenario("liveness", "liveness", "service", get("liveness")),
            Scenario(
                "login",
                f"login, bcrypt cost 12, {LOGIN_CLIENTS} clients (+ liveness probe, 20/s)",
                "service",
                lambda _run: Load(
                    "login.lua",
                    (files["login"], fixtures.password),
                    connections=LOGIN_CLIENTS,
                    threads=1,
                ),
                probe=True,
                min_seconds=8,
            ),
        )
    }


@dataclass(frozen=True)
class Sample:
    """One measured run."""

    rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    cpu_ms: float  # server CPU per request
    pg_cpu_ms: float  # PostgreSQL CPU per request
    probe_p50_ms: float | None = None
    probe_p99_ms: float | None = None


def measure(
    scenario: Scenario, server: Server, postgres_pid: int, run: int, seconds: float
) -> Sample:
    # wrk stops without waiting for its last replies; the server finishes them (updates
    # commit) after it has gone. Let them drain before reading versions or counting CPU.
    time.sleep(SETTLE_SECONDS)
    load = scenario.load(run)
    seconds = max(seconds, scenario.min_seconds)
    cpu_before = procstat.cpu_seconds(server.pid)
    pg_before = procstat.tree_cpu(postgres_pid)
    with contextlib.ExitStack() as stack:
        probe = stack.enter_context(LivenessProbe(server.base_url)) if scenario.probe else None
        summary = loadgen.run(load, server.base_url, seconds, LOAD_CPU)
    probed = probe.result() if probe is not None else None
    cpu = procstat.cpu_seconds(server.pid) - cpu_before
    pg_cpu = procstat.tree_cpu_delta(pg_before, procstat.tree_cpu(postgres_pid))
    requests = max(summary.requests, 1)
    return Sample(
        rate=summary.rate,
        p50_ms=summary.p50_ms,
        p90_ms=summary.p90_ms,
        p99_ms=summary.p99_ms,
        max_ms=summary.max_ms,
        requests=summary.requests,
        errors=summary.status_errors + summary.socket_errors + (probed.failures if probed else 0),
        cpu_ms=1000 * cpu / requests,
        pg_cpu_ms=1000 * pg_cpu / requests,
        probe_p50_ms=probed.p50_ms if probed else None,
        probe_p99_ms=probed.p99_ms if probed else None,
    )


@dataclass
class Result:
    """All runs of one scenario on one dataset; figures are medians with (min, max)."""

    scenario: str
    title: str
    dataset: str
    samples: list[Sample] = field(default_factory=list)

    def stat(self, name: str) -> dict[str, float] | None:
        values = [getattr(s, name) for s in self.samples if getattr(s, name) is not None]
        if not values:
            return None
        return {
            "median": round(statistics.median(values), 3),
            "min": round(min(values), 3),
            "max": round(max(values), 3),
        }

    def median(self, name: str) -> float:
        stat = self.stat(name)
        return stat["median"] if stat else float("nan")

    def tail_ratio(self) -> float | None:
        ratios = [s.p99_ms / s.p50_ms for s in self.samples if s.p50_ms]
        return round(statistics.median(ratios), 2) if ratios else None

    def to_json(self) -> dict[str, Any]:
        names: Sequence[str] = [
            "rate", "p50_ms", "p99_ms", "cpu_ms", "pg_cpu_ms", "probe_p50_ms", "probe_p99_ms"
        ]  # fmt: skip
        return {
            "scenario": self.scenario,
            "title": self.title,
            "dataset": self.dataset,
            "runs": len(self.samples),
            "errors": sum(s.errors for s in self.samples),
            "requests": sum(s.requests for s in self.samples),
            **{name: stat for name in names if (stat := self.stat(name)) is not None},
            "p99_over_p50": self.tail_ratio(),
            "samples": [asdict(s) for s in self.samples],
        }
