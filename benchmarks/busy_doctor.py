"""A busy doctor's bookings, this checkout against an earlier commit, interleaved in one run:
``uv run python -m benchmarks.busy_doctor --before <commit>`` (about 3 minutes).

Many clients (wrk, 32 connections) book one doctor's distinct free 30-minute slots, each
request another slot and a patient of 200: nothing collides, so every reply should be a 201,
and what is measured is how many bookings of one doctor the service takes per second when
they all need that doctor's locks. The earlier commit's code is exported (``git archive``) to
``var/bench/before-src`` and served from there; both services run one worker pinned to the
server CPU, on the small dataset of the main benchmark, and take turns run by run so that a
noisy moment on the shared machine hits both. Writes ``benchmarks/busy_doctor.md``.
"""

from __future__ import annotations

import argparse
import io
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from benchmarks import dataset, procstat
from benchmarks.fixtures import Fixtures
from benchmarks.loadgen import Load
from benchmarks.processes import ROOT, Server, start_service
from benchmarks.run import REPORT_DIR, WORK_DIR, log
from benchmarks.scenarios import LOAD_CPU, SERVER_CPU, Result, Sample, Scenario, measure
from modelserver.launcher import free_port
from service import embedded_db

# Each measurement books from its own base time, far enough apart that no two runs share a
# slot (a 10 s run books a few thousand half hours: a few months).
SPACING = timedelta(days=400)


def export(ref: str, folder: Path) -> str:
    """The tree of ``ref`` in ``folder``; returns its full commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return commit


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", required=True, help="the commit to compare with")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args(argv)

    before_src = WORK_DIR / "before-src"
    before_commit = export(args.before, before_src)
    after_commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    dirty = bool(
        subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    postgres = embedded_db.start(WORK_DIR)
    pg_pid = postgres.pid()
    assert pg_pid is not None
    procstat.pin_tree(pg_pid, LOAD_CPU)
    shape = dataset.SMALL
    data = dataset.prepare(postgres.libpq_url("postgres"), postgres.libpq_url(shape.name), shape)
    secret = secrets.token_urlsafe(48)
    file = Fixtures(data, secret, WORK_DIR / "wrk").write_busy_doctor()
    first_booking = data.end + timedelta(days=7)

    def scenario(name: str, side: int) -> Scenario:
        def load(run: int) -> Load:
            base = int((first_booking + SPACING * (2 * run + side)).timestamp())
            return Load("create.lua", (file, str(base), "2", "spread"))

        return Scenario(name, f"busy doctor, {name}", name, load)

    table = {"before": scenario("before", 0), "after": scenario("after", 1)}
    ml_elsewhere = {"MEDAI_ML_URL": f"http://127.0.0.1:{free_port()}"}
    servers: dict[str, Server] = {}
    try:
        for name, source in (("before", before_src), ("after", ROOT)):
            servers[name] = start_service(
                database_url=data.url,
                data_dir=WORK_DIR / f"busy-{name}",
                secret=secret,
                cpu=SERVER_CPU,
                log_dir=WORK_DIR / "logs",
                extra_env=ml_elsewhere,
                name=f"busy-{name}",
                source=source,
            )
        for server in servers.values():
            server.wait_until("/health/ready")
        procstat.pin_tree(pg_pid, LOAD_CPU)
        results = {name: Result(name, s.title, shape.name) for name, s in table.items()}
        for name, s in table.items():
            log(f"{name}: warming up")
            measure(s, servers[name], pg_pid, 0, 2)
        for run in range(1, args.runs + 1):
            for name, s in table.items():
                sample = measure(s, servers[name], pg_pid, run, args.seconds)
                results[name].samples.append(sample)
                log(
                    f"{name} run {run}: {sample.rate:,.0f} bookings/s, "
                    f"server {sample.cpu_ms:.3f} ms/req, PostgreSQL {sample.pg_cpu_ms:.3f} ms/req, "
                    f"p50 {sample.p50_ms:.1f} ms, p99 {sample.p99_ms:.1f} ms, "
                    f"errors {sample.errors}"
                )
    finally:
        for server in servers.values():
            server.stop()
        postgres.stop()
    report = write_report(
        results,
        before=before_commit,
        after=after_commit + (" (with uncommitted changes)" if dirty else ""),
        seconds=args.seconds,
    )
    print(report)
    return 0


def write_report(results: dict[str, Result], *, before: str, after: str, seconds: float) -> str:
    def cell(samples: list[Sample], field: str, digits: int) -> str:
        values = sorted(getattr(sample, field) for sample in samples)
        median = values[len(values) // 2]
        return f"{median:,.{digits}f} ({values[0]:,.{digits}f}-{values[-1]:,.{digits}f})"

    rows = [
        "| code | bookings/s | p50 ms | p99 ms | server ms/req | PostgreSQL ms/req | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        samples = result.samples
        rows.append(
            f"| {name} | {cell(samples, 'rate', 0)} | {cell(samples, 'p50_ms', 1)} "
            f"| {cell(samples, 'p99_ms', 1)} | {cell(samples, 'cpu_ms', 3)} "
            f"| {cell(samples, 'pg_cpu_ms', 3)} | {sum(s.errors for s in samples)} |"
        )
    text = "\n".join(
        [
            "# A busy doctor's bookings, before and after (benchmarks/busy_doctor.py)",
            "",
            f"before: `{before}`; after: `{after}`. wrk, 32 connections, "
            f"{len(next(iter(results.values())).samples)} runs of {seconds:g} s each side, "
            "interleaved; medians (min-max). Errors are non-2xx replies and socket errors.",
            "",
            *rows,
            "",
        ]
    )
    (REPORT_DIR / "busy_doctor.md").write_text(text)
    return text


if __name__ == "__main__":
    raise SystemExit(main())
