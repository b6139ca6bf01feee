"""The benchmark: ``uv run python -m benchmarks.run`` (about 8 minutes; the first run also
generates the 1,000,000-appointment dataset, about 3 minutes more) or ``--quick`` (under
3 minutes, small dataset, one short run per scenario).

The service runs as in production but for the database's origin: ``medai serve``, one
worker, uvloop/httptools, no response validation, no Swagger UI, JSON access log on, audit
trail on, on the embedded PostgreSQL. The server is pinned to CPU 0; PostgreSQL, wrk and
this script to CPU 1. Each scenario is warmed up, then run several times; the report gives
medians with their spread. Writes ``benchmarks/report.json`` and ``benchmarks/report.md``
(``--quick`` or ``--only``: ``var/bench/report-*.*``, so the committed report is always a full
run).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import dataset, explain, loadgen, procstat, profile, report
from benchmarks.dataset import Dataset, Shape
from benchmarks.fixtures import Fixtures
from benchmarks.processes import ROOT, Server, start_bare, start_service
from benchmarks.scenarios import LOAD_CPU, SERVER_CPU, Result, Scenario, measure, scenarios
from modelserver.launcher import free_port
from service import embedded_db

WORK_DIR = ROOT / "var" / "bench"
REPORT_DIR = Path(__file__).resolve().parent
LARGE_SCENARIOS = (
    "patient_list", "bare_list", "doctor_week", "bare_week", "get_by_id", "create", "update",
    "doctor_slots_week", "specialty_slots_day", "liveness", "login",
)  # fmt: skip
SMALL_SCENARIOS = ("patient_list", "bare_list", "doctor_week", "bare_week")
# Interleaved so that a noisy moment on the shared machine hits both sides of the ratio.
PAIRS = {"patient_list": "bare_list", "doctor_week": "bare_week"}


@dataclass(frozen=True)
class Plan:
    quick: bool
    runs: int
    seconds: float
    warmup: float
    shapes: tuple[tuple[Shape, tuple[str, ...]], ...]
    profile: str | None
    partial: bool = False  # --only: not the committed report
    fresh: bool = False  # regenerate the datasets even if unchanged

    @property
    def startup(self) -> bool:
        return not self.partial

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        if args.quick:
            return cls(
                True, 1, 3, 1, ((dataset.SMALL, LARGE_SCENARIOS),), args.profile, fresh=args.fresh
            )
        only = tuple(args.only.split(",")) if args.only else None

        def pick(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(n for n in names if only is None or n in only)

        return cls(
            False,
            args.runs,
            args.seconds,
            3,
            ((dataset.SMALL, pick(SMALL_SCENARIOS)), (dataset.LARGE, pick(LARGE_SCENARIOS))),
            args.profile,
            partial=only is not None,
            fresh=args.fresh,
        )


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.secret = secrets.token_urlsafe(48)
        self.results: list[Result] = []
        self.facts: dict[str, Any] = {}
        self.profiles: dict[str, Any] = {}
        # Production has its ML service elsewhere; without one, ``medai serve`` starts the
        # reference model server beside the API (a development convenience). Nothing listens
        # at this address: no scenario asks for a prediction.
        self.ml_elsewhere = {"MEDAI_ML_URL": f"http://127.0.0.1:{free_port()}"}

    def run(self) -> None:
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        postgres = embedded_db.start(WORK_DIR)
        pg_pid = postgres.pid()
        assert pg_pid is not None
        procstat.pin_tree(pg_pid, LOAD_CPU)
        admin_url = postgres.libpq_url("postgres")
        for shape, names in self.plan.shapes:
            if not names:
                continue
            log(f"dataset {shape.name}: {shape.appointments:,} appointments")
            data = dataset.prepare(
                admin_url, postgres.libpq_url(shape.name), shape, fresh=self.plan.fresh
            )
            self.facts[f"{shape.name}_load_seconds"] = (
                None if data.load_seconds is None else round(data.load_seconds, 1)
            )
            log(
                f"  loaded in {data.load_seconds:.1f} s"
                if data.load_seconds
                else "  reused from an earlier run"
            )
            self.on_dataset(data, pg_pid, names)
            procstat.pin_tree(pg_pid, LOAD_CPU)
            if shape is dataset.LARGE:
                log("  EXPLAIN ANALYZE of the list queries -> benchmarks/explain.md")
                explain.write(data, REPORT_DIR / "explain.md")
        if self.plan.startup:
            self.startup_times()

    def on_dataset(self, data: Dataset, pg_pid: int, names: Sequence[str]) -> None:
        fixtures = Fixtures(data, self.secret, WORK_DIR / "wrk")
        files = fixtures.write_all()
        table = scenarios(fixtures, files)
        logs = WORK_DIR / "logs"
        service = start_service(
            database_url=data.url,
            data_dir=WORK_DIR / "service",
            secret=self.secret,
            cpu=SERVER_CPU,
            log_dir=logs,
            extra_env=self.ml_elsewhere,
        )
        bare = start_bare(database_url=data.url, secret=self.secret, cpu=SERVER_CPU, log_dir=logs)
        try:
            service.wait_until("/health/ready")
            bare.wait_until("/appointments", statuses=(401,))
            same_answers(service, bare, files)
            procstat.pin_tree(pg_pid, LOAD_CPU)  # the pools' new backends
            servers = {"service": service, "bare": bare}
            for name in names:
                if name in PAIRS.values():
                    continue
                group = [table[name]] + ([table[PAIRS[name]]] if PAIRS.get(name) in names else [])
                self.run_group(group, servers, pg_pid, data)
                service.clear_log()
            self.facts[f"{data.shape.name}_service_rss_mb"] = round(procstat.rss_mb(service.pid), 1)
            self.facts[f"{data.shape.name}_bare_rss_mb"] = round(procstat.rss_mb(bare.pid), 1)
        finally:
            service.stop()
            bare.stop()

    def run_group(
        self, group: list[Scenario], servers: dict[str, Server], pg_pid: int, data: Dataset
    ) -> None:
        results = {s.name: Result(s.name, s.title, data.shape.name) for s in group}
        for scenario in group:
            log(f"  {scenario.name}: warming up")
            measure(scenario, servers[scenario.target], pg_pid, 0, self.plan.warmup)
        for run in range(1, self.plan.runs + 1):
            for scenario in group:
                server = servers[scenario.target]
                profiled = self.plan.profile == scenario.name and run == 1
                spy = self.start_profile(scenario, server, data) if profiled else None
                sample = measure(scenario, server, pg_pid, run, self.plan.seconds)
                if spy is not None:
                    self.finish_profile(spy, scenario, data)
                results[scenario.name].samples.append(sample)
                log(
                    f"  {scenario.name} run {run}: {sample.rate:,.0f} req/s, "
                    f"server {sample.cpu_ms:.3f} ms/req, PostgreSQL {sample.pg_cpu_ms:.3f} ms/req, "
                    f"p50 {sample.p50_ms:.2f} ms, p99 {sample.p99_ms:.2f} ms, "
                    f"errors {sample.errors}"
                    + (f", probe p99 {sample.probe_p99_ms:.1f} ms" if sample.probe_p99_ms else "")
                )
        self.results.extend(results.values())

    def start_profile(self, scenario: Scenario, server: Server, data: Dataset) -> Any:
        output = WORK_DIR / f"profile-{data.shape.name}-{scenario.name}.txt"
        return (profile.start(server.pid, self.plan.seconds, output, LOAD_CPU), output)

    def finish_profile(self, spy: Any, scenario: Scenario, data: Dataset) -> None:
        process, output = spy
        process.wait()
        summary = profile.summarise(output)
        self.profiles[f"{data.shape.name}/{scenario.name}"] = summary
        log(f"  profile: {summary['layers']}")

    def startup_times(self) -> None:
        """Cold start (a fresh data folder: initdb, migrations) and warm start (the same
        folder again) of ``medai serve`` on its own embedded database, to the first 200 of
        /health/ready (the database answers and the schema is current): with the ML service
        configured elsewhere, as in production, on the server's one CPU; and out of the box,
        where ``medai serve`` also starts the reference model server (a second interpreter
        starting beside the first), once on that one CPU and once on both."""
        setups: tuple[tuple[str, dict[str, str], int | str], ...] = (
            ("", self.ml_elsewhere, SERVER_CPU),
            ("_out_of_the_box", {}, SERVER_CPU),
            ("_out_of_the_box_two_cpus", {}, f"{SERVER_CPU},{LOAD_CPU}"),
        )
        for setup, extra, cpus in setups:
            folder = WORK_DIR / "startup"
            shutil.rmtree(folder, ignore_errors=True)
            try:
                for kind in ("cold", "warm"):
                    server = start_service(
                        database_url=None,
                        data_dir=folder,
                        secret=self.secret,
                        cpu=cpus,
                        log_dir=WORK_DIR / "logs",
                        name=f"{kind}-start{setup}",
                        extra_env=extra,
                    )
                    try:
                        seconds = server.wait_until("/health/ready")
                    finally:
                        server.stop()
                    self.facts[f"{kind}_start{setup}_seconds"] = round(seconds, 2)
                    log(f"{kind} start{setup.replace('_', ' ')} to first 200: {seconds:.2f} s")
            finally:
                shutil.rmtree(folder, ignore_errors=True)


def same_answers(service: Server, bare: Server, files: dict[str, str]) -> None:
    """The ratio compares equal work only if both answer alike: check a few requests."""
    for name in ("patient_list", "doctor_week"):
        rows = Path(files[name]).read_text().splitlines()[:3]
        for token, path in (row.split("\t") for row in rows):
            headers = {"Authorization": f"Bearer {token}"}
            answers = [
                httpx.get(server.base_url + path, headers=headers, timeout=10)
                for server in (service, bare)
            ]
            if answers[0].status_code != 200 or answers[0].json() != answers[1].json():
                raise RuntimeError(f"the baseline answers {path} unlike the service")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small dataset, one 3 s run each")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario")
    parser.add_argument("--seconds", type=float, default=10, help="length of each run")
    parser.add_argument("--only", help="comma-separated scenario names (full mode)")
    parser.add_argument("--profile", help="py-spy the first run of this scenario")
    parser.add_argument("--fresh", action="store_true", help="regenerate the datasets")
    args = parser.parse_args(argv)
    try:
        loadgen.wrk_path()
    except loadgen.WrkMissing as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 2
    if len(os.sched_getaffinity(0)) < 2:
        print("benchmark: needs two CPUs (server on one, load and database on the other)")
        return 2
    os.sched_setaffinity(0, {LOAD_CPU})
    plan = Plan.from_args(args)
    bench = Bench(plan)
    started = time.monotonic()
    bench.run()
    if plan.quick or plan.partial:
        outputs = WORK_DIR / ("report-quick" if plan.quick else "report-partial")
    else:
        outputs = REPORT_DIR / "report"
    written = report.write(
        outputs,
        results=bench.results,
        facts=bench.facts,
        profiles=bench.profiles,
        meta={
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": plan.quick,
            "runs": plan.runs,
            "seconds": plan.seconds,
            "duration_seconds": round(time.monotonic() - started),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        },
    )
    print(written.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
