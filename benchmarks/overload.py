"""Overload: one worker offered 3x what it can serve, with and without admission control.

    uv run python -m benchmarks.overload --max-in-flight 4   # about 3 minutes
    # writes benchmarks/overload.md: the new run first, the earlier ones kept below

1. PostgreSQL 16 (embedded, its own folder) with 64 patients, each with 5 appointments, and
   ``medai serve`` with one worker pinned to one core (``--server-cpu``, 0 by default), access
   log on; PostgreSQL, this generator and the liveness probe pinned to the other core.
2. Unloaded: one connection, one request after the other, for 5 s: the p50 latency.
3. Capacity: 16 connections as fast as they are answered, 10 s, no bound: requests per
   second, and the worker's CPU per request answered (``/proc``).
4. Without a bound, for contrast: the overload below on that server (``--contrast-seconds``).
5. With ``MEDAI_MAX_IN_FLIGHT`` set: the refusal's CPU cost (the bound held by requests whose
   body never comes, every other request refused for 5 s), then the overload: an open-loop
   generator (requests sent on a fixed schedule whether or not the earlier ones were
   answered, each timed from its scheduled moment, so a queue shows as latency) at 3x the
   capacity for ``--seconds``, with a liveness probe (20/s) beside it.

The scenario is a patient's own list (``GET /appointments``, 5 rows), the hottest read.
The machine is shared with other work: absolute rates move from run to run; the report
states the load average at the start and the CPU each process used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg

from benchmarks import procstat
from benchmarks.probe import LivenessProbe, ProbeResult
from benchmarks.processes import ROOT, Server, start_service
from benchmarks.scenarios import SERVER_CPU
from service import embedded_db, migrate

DATABASE = "medai_overload"
SECRET = "overload-benchmark-secret-" + "o" * 40
PASSWORD = "overload patient password"  # noqa: S105 - a throwaway benchmark account
PATIENTS = 64
REPORT = Path(__file__).with_name("overload.md")


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent during one phase by the worker, PostgreSQL and the generator."""

    worker: float
    postgres: float
    generator: float


class CpuMeter:
    """Snapshots of the worker's, PostgreSQL's and this process's CPU time (``/proc``)."""

    def __init__(self, worker_pid: int, postgres_pid: int) -> None:
        self.worker_pid, self.postgres_pid = worker_pid, postgres_pid

    def snapshot(self) -> tuple[dict[int, float], dict[int, float], float]:
        return (
            procstat.tree_cpu(self.worker_pid),
            procstat.tree_cpu(self.postgres_pid),
            time.process_time(),
        )

    def since(self, before: tuple[dict[int, float], dict[int, float], float]) -> CpuUse:
        after = self.snapshot()
        return CpuUse(
            worker=procstat.tree_cpu_delta(before[0], after[0]),
            postgres=procstat.tree_cpu_delta(before[1], after[1]),
            generator=after[2] - before[2],
        )


@dataclass
class Outcome:
    latencies: dict[int, list[float]] = field(default_factory=dict)  # status -> ms
    transport_errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    # How late the generator itself sent each request (its own CPU starvation), ms.
    send_lag: list[float] = field(default_factory=list)
    # The admitted requests' latency from the moment actually sent (without that lag), ms.
    admitted_from_send: list[float] = field(default_factory=list)
    sent: int = 0
    seconds: float = 0.0
    cpu: CpuUse | None = None
    elapsed: float = 0.0  # from the first request sent to the last answer

    def failed(self, exc: BaseException) -> None:
        self.transport_errors += 1
        kind = type(exc).__name__
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def add(self, status: int, milliseconds: float) -> None:
        self.latencies.setdefault(status, []).append(milliseconds)

    def count(self, status: int) -> int:
        return len(self.latencies.get(status, []))

    def percentile(self, status: int, q: float) -> float:
        values = sorted(self.latencies.get(status, []))
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(len(values) * q / 100))]


class Connection:
    """One keep-alive HTTP/1.1 connection; just enough of the protocol for these replies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = (await self.reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        # Only the framing headers are looked at (the generator's CPU is the load's limit).
        start = head.find(b"\r\ncontent-length:")
        if start >= 0:
            start += 17
            await self.reader.readexactly(int(head[start : head.index(b"\r\n", start)]))
        elif b"\r\ntransfer-encoding: chunked\r\n" in head:
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        return status

    def close(self) -> None:
        self.writer.close()


class Generator:
    """Raw asyncio streams, timed with ``perf_counter`` (uvloop's clock is the loop's cached
    time in whole milliseconds; httpx's pool slows down quadratically with thousands of
    requests waiting; uvloop did not make this generator cheaper). Most recently used
    connection first; a connection the server closed while idle (uvicorn's keep-alive
    timeout) is dropped and the request sent again on another, as any HTTP client does."""

    def __init__(self, base_url: str, tokens: Sequence[str], meter: CpuMeter) -> None:
        self.meter = meter
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.requests = [
            (
                "GET /appointments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token}\r\n\r\n"
            ).encode()
            for token in tokens
        ]
        self.idle: list[Connection] = []

    async def one(self, index: int, scheduled: float, outcome: Outcome) -> None:
        sent = time.perf_counter()
        outcome.send_lag.append((sent - scheduled) * 1000)
        request = self.requests[index % len(self.requests)]
        while True:
            reused = bool(self.idle)
            try:
                if reused:
                    conn = self.idle.pop()
                else:
                    conn = Connection(*await asyncio.open_connection(self.host, self.port))
            except OSError as exc:
                outcome.failed(exc)
                return
            try:
                status = await conn.exchange(request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                conn.close()
                if reused:  # closed by the server while idle: try the next (or a new) one
                    continue
                outcome.failed(exc)
                return
            answered = time.perf_counter()
            outcome.add(status, (answered - scheduled) * 1000)
            if status == 200:
                outcome.admitted_from_send.append((answered - sent) * 1000)
            self.idle.append(conn)
            return

    async def open_loop(self, rate: float, seconds: float) -> Outcome:
        """Send at ``rate`` per second on schedule, whether or not earlier requests were
        answered; time each from its scheduled moment, so a queue anywhere shows."""
        outcome = Outcome()
        tasks: set[asyncio.Task[None]] = set()
        cpu_before = self.meter.snapshot()
        start = time.perf_counter()
        sent = 0
        while (now := time.perf_counter()) < start + seconds:
            while sent < int((now - start) * rate):
                task = asyncio.create_task(self.one(sent, start + sent / rate, outcome))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(0.001)
        outcome.sent = sent
        outcome.seconds = seconds
        if tasks:
            await asyncio.wait(tasks, timeout=90)
        outcome.cpu = self.meter.since(cpu_before)
        outcome.elapsed = time.perf_counter() - start
        return outcome

    async def hold(self, count: int) -> list[Connection]:
        """``count`` requests admitted and kept in flight: each sends its headers and one byte
        of a longer body, and the service waits for the rest (it reads bodies whole)."""
        held = []
        for _ in range(count):
            conn = Connection(*await asyncio.open_connection(self.host, self.port))
            conn.writer.write(
                b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 64\r\n\r\n{"
            )
            held.append(conn)
        await asyncio.sleep(0.5)  # until the worker has read them all
        return held

    async def closed_loop(self, connections: int, seconds: float) -> Outcome:
        outcome = Outcome()
        cpu_before = self.meter.snapshot()
        end = time.perf_counter() + seconds
        counter = iter(range(10**9))

        async def client() -> None:
            while time.perf_counter() < end:
                await self.one(next(counter), time.perf_counter(), outcome)

        await asyncio.gather(*(client() for _ in range(connections)))
        outcome.cpu = self.meter.since(cpu_before)
        outcome.sent = sum(len(v) for v in outcome.latencies.values())
        outcome.seconds = seconds
        outcome.elapsed = time.perf_counter() - end + seconds
        return outcome

    async def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def prepare(postgres: embedded_db.EmbeddedPostgres) -> str:
    with psycopg.connect(postgres.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    url = postgres.libpq_url(DATABASE)
    migrate.upgrade(url)
    return url


def tokens_for(server: Server, doctor_id: str, url: str) -> list[str]:
    """Sign up PATIENTS patients, book 5 appointments each; their access tokens. (Their
    addresses are marked verified in the database, as answering the verification mail would:
    a patient books only once verified.)"""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    tokens = []
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for n in range(PATIENTS):
            email = f"overload-{n}-{uuid.uuid4().hex[:6]}@example.org"
            body = {"email": email, "password": PASSWORD, "full_name": f"Patient {n}"}
            assert client.post("/auth/register", json=body).status_code == 201
            with psycopg.connect(url) as conn:
                conn.execute(
                    "UPDATE users SET email_verified_at = now() WHERE email = %s", (email,)
                )
            reply = client.post("/auth/login", json={"email": email, "password": PASSWORD})
            token = reply.json()["access_token"]
            for k in range(5):
                start = base + timedelta(minutes=30 * (n * 5 + k))
                booked = client.post(
                    "/appointments",
                    headers={"Authorization": f"Bearer {token}"},
                    json={
                        "doctor_id": doctor_id,
                        "start_at": start.strftime(fmt),
                        "end_at": (start + timedelta(minutes=30)).strftime(fmt),
                    },
                )
                assert booked.status_code == 201, booked.text
            tokens.append(token)
    return tokens


def add_doctor(url: str) -> str:
    import bcrypt

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO users "
            "(email, password_hash, full_name, role, specialty, email_verified_at) "
            "VALUES ('overload-doctor@example.org', %s, 'Doctor', 'doctor', 'GP', now()) "
            "RETURNING id",
            (bcrypt.hashpw(b"unused password", bcrypt.gensalt(4)).decode(),),
        ).fetchone()
        assert row is not None
        # Open around the clock (domain.scheduling): the load books whatever time comes next.
        conn.execute(
            "INSERT INTO doctor_availability (doctor_id, time_zone, schedule) "
            "SELECT %s, 'UTC', jsonb_build_object("
            "'weekly_hours', (SELECT jsonb_agg(jsonb_build_object("
            "'day', d, 'start', '00:00', 'end', '24:00')) FROM unnest(ARRAY['monday', "
            "'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']) AS d), "
            "'appointment_minutes', jsonb_build_array(30), 'horizon_days', 730, "
            "'minimum_notice_minutes', 0, 'buffer_minutes', 0)",
            (row[0],),
        )
    return str(row[0])


def start(url: str, max_in_flight: int, work: Path, cpu: int) -> Server:
    server = start_service(
        database_url=url,
        data_dir=work / "data",
        secret=SECRET,
        cpu=cpu,
        log_dir=work / "logs",
        extra_env={
            "MEDAI_BCRYPT_COST": "4",
            "MEDAI_MAX_IN_FLIGHT": str(max_in_flight),
            # All PATIENTS sign up from this one address.
            "MEDAI_SIGN_UPS_PER_ADDRESS": str(4 * PATIENTS),
            "MEDAI_ML_URL": "http://127.0.0.1:9",  # unused; no reference model server
        },
        name=f"overload-{max_in_flight}",
    )
    server.wait_until("/health/ready", deadline=120)
    return server


def row(name: str, outcome: Outcome, probe: ProbeResult) -> dict[str, Any]:
    ok = outcome.count(200)
    cpu = outcome.cpu
    assert cpu is not None
    others = sum(len(v) for status, v in outcome.latencies.items() if status not in (200, 503))
    return {
        "run": name,
        "offered_per_s": outcome.sent / outcome.seconds,
        "goodput_per_s": ok / outcome.seconds,
        "admitted_p50_ms": outcome.percentile(200, 50),
        "admitted_p99_ms": outcome.percentile(200, 99),
        "refused_503": outcome.count(503),
        "refused_p99_ms": outcome.percentile(503, 99),
        "refused_max_ms": max(outcome.latencies.get(503, [float("nan")])),
        "other_statuses": others,
        "transport_errors": outcome.transport_errors,
        "liveness_p99_ms": probe.p99_ms,
        "liveness_failures": probe.failures,
        "error_kinds": outcome.error_kinds,
        "send_lag_p99_ms": sorted(outcome.send_lag)[int(len(outcome.send_lag) * 0.99)]
        if outcome.send_lag
        else float("nan"),
        "refused_p999_ms": outcome.percentile(503, 99.9),
        "admitted_from_send_p99_ms": sorted(outcome.admitted_from_send)[
            int(len(outcome.admitted_from_send) * 0.99)
        ]
        if outcome.admitted_from_send
        else float("nan"),
        "worker_busy": cpu.worker / outcome.elapsed,
        "postgres_busy": cpu.postgres / outcome.elapsed,
        "generator_busy": cpu.generator / outcome.elapsed,
        "worker_cpu_s": cpu.worker,
    }


def probe_for(base_url: str, seconds: float) -> ProbeResult:
    """A liveness probe for ``seconds``, in its own process: in the generator's, it would
    wait for the interpreter lock and time the generator instead of the service."""
    probe = LivenessProbe(base_url)
    with probe:
        time.sleep(seconds)
    return probe.result()


async def overload(
    generator: Generator, base_url: str, rate: float, seconds: float
) -> tuple[Outcome, ProbeResult]:
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1) as pool:
        probe = loop.run_in_executor(pool, probe_for, base_url, seconds)
        outcome = await generator.open_loop(rate, seconds)
        return outcome, await probe


async def baseline(
    server: Server, tokens: list[str], args: argparse.Namespace, postgres_pid: int
) -> dict[str, Any]:
    """Without a bound: the unloaded p50, the capacity, then 3x the capacity for contrast."""
    generator = Generator(server.base_url, tokens, CpuMeter(server.pid, postgres_pid))
    await generator.closed_loop(8, 3)  # warm-up
    unloaded = await generator.closed_loop(1, 5)
    capacity = await generator.closed_loop(16, 10)
    capacity_rate = capacity.count(200) / capacity.seconds
    assert capacity.cpu is not None
    contrast = None
    if args.contrast_seconds:
        outcome, probe = await overload(
            generator, server.base_url, 3 * capacity_rate, args.contrast_seconds
        )
        contrast = row("no bound", outcome, probe)
    await generator.close()
    return {
        "unloaded_p50_ms": unloaded.percentile(200, 50),
        "capacity_per_s": capacity_rate,
        "capacity_p99_ms": capacity.percentile(200, 99),
        "capacity_other": sum(len(v) for s, v in capacity.latencies.items() if s != 200)
        + capacity.transport_errors,
        "capacity_worker_busy": capacity.cpu.worker / capacity.elapsed,
        "capacity_postgres_busy": capacity.cpu.postgres / capacity.elapsed,
        "capacity_generator_busy": capacity.cpu.generator / capacity.elapsed,
        # The worker's CPU per request answered: what one admitted request costs it.
        "served_cpu_ms": capacity.cpu.worker / max(1, capacity.count(200)) * 1000,
        "contrast": contrast,
    }


async def bounded(
    server: Server,
    tokens: list[str],
    rate: float,
    seconds: float,
    postgres_pid: int,
    max_in_flight: int,
) -> dict[str, Any]:
    generator = Generator(server.base_url, tokens, CpuMeter(server.pid, postgres_pid))
    await generator.closed_loop(8, 3)  # warm-up
    # What a refusal costs the worker: with the bound taken by held requests, every other
    # request is refused; its CPU over the refusals.
    held = await generator.hold(max_in_flight)
    refusals = await generator.closed_loop(16, 5)
    for conn in held:
        conn.close()
    assert refusals.cpu is not None
    only_refused = refusals.count(503) == refusals.sent and refusals.sent > 0
    assert only_refused, f"not every request refused: {refusals.latencies.keys()}"
    await asyncio.sleep(1)  # the held ones end as their clients are gone
    outcome, probe = await overload(generator, server.base_url, rate, seconds)
    await generator.close()
    return {
        **row("overload", outcome, probe),
        "refusal_cpu_ms": refusals.cpu.worker / refusals.sent * 1000,
        "refusal_rate": refusals.sent / refusals.elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-in-flight", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--contrast-seconds", type=float, default=15, help="0: no run without a bound"
    )
    parser.add_argument(
        "--server-cpu",
        type=int,
        choices=(0, 1),
        default=SERVER_CPU,
        help="the core for the worker (the other one takes the load and PostgreSQL): "
        "the one other people's benchmarks leave alone at the time",
    )
    args = parser.parse_args()
    load = os.getloadavg()
    work = ROOT / "var" / "bench-overload"
    shutil.rmtree(work, ignore_errors=True)
    postgres = embedded_db.start(ROOT / "var" / "bench-overload-pg")
    postgres_pid = postgres.pid()
    assert postgres_pid is not None
    # The worker has CPU 0 to itself (as far as this benchmark goes); the generator, the
    # probe (a child of this process) and PostgreSQL (new backends inherit) share CPU 1.
    load_cpu = 1 - args.server_cpu
    procstat.pin_tree(postgres_pid, load_cpu)
    os.sched_setaffinity(0, {load_cpu})
    url = prepare(postgres)
    doctor_id = add_doctor(url)
    try:
        unbounded = start(url, 0, work, args.server_cpu)
        try:
            tokens = tokens_for(unbounded, doctor_id, url)
            results = asyncio.run(baseline(unbounded, tokens, args, postgres_pid))
        finally:
            unbounded.stop()
        server = start(url, args.max_in_flight, work, args.server_cpu)
        try:
            rate = 3 * results["capacity_per_s"]
            results["overload"] = asyncio.run(
                bounded(server, tokens, rate, args.seconds, postgres_pid, args.max_in_flight)
            )
        finally:
            server.stop()
    finally:
        postgres.stop()
    write_report(results, args, load)


HISTORY_MARK = "\n## "


def write_report(
    results: dict[str, Any], args: argparse.Namespace, load: tuple[float, ...]
) -> None:
    """The new run's section first, then the earlier runs' sections as they were."""
    section = run_section(results, args, load)
    earlier = REPORT.read_text() if REPORT.exists() else ""
    history = earlier[earlier.index(HISTORY_MARK) :] if HISTORY_MARK in earlier else ""
    lines = [
        "# Overload: one worker at 3x its capacity",
        "",
        "`uv run python -m benchmarks.overload --max-in-flight N --seconds 30` (about 3 "
        "minutes). Newest run first; earlier runs below, as they were written, for history. "
        "The machine (2 cores) is shared with other engineers' builds and tests, so absolute "
        "rates move between runs: each run states the load average at its start, and the CPU "
        "time per request (steadier than rates) is measured from `/proc`. What the figures "
        "mean and the bound chosen for production: docs/operations.md, Overload.",
        "",
        *section,
    ]
    REPORT.write_text("\n".join(lines) + history.rstrip("\n") + "\n")
    print("\n".join(section))


def run_section(
    results: dict[str, Any], args: argparse.Namespace, load: tuple[float, ...]
) -> list[str]:
    over = results["overload"]
    unloaded_p50 = results["unloaded_p50_ms"]
    capacity = results["capacity_per_s"]
    goodput, admitted_p99 = over["goodput_per_s"], over["admitted_p99_ms"]
    refused_p99, refused_max = over["refused_p99_ms"], over["refused_max_ms"]
    others, transport = over["other_statuses"], over["transport_errors"]
    liveness, liveness_failures = over["liveness_p99_ms"], over["liveness_failures"]
    served_ms = results["served_cpu_ms"]
    offered = over["offered_per_s"]
    refusal_ms = over["refusal_cpu_ms"]
    per_cpu_capacity = 1000 / served_ms
    per_cpu_overload = goodput / over["worker_busy"]
    # With its core saturated: goodput x served + (offered - goodput) x refusal <= 1 s/s.
    ceiling = (1000 - offered * refusal_ms) / (served_ms - refusal_ms)
    checks = [
        (
            "goodput >= 90 % of capacity",
            f"{goodput:,.0f} / {capacity:,.0f} = {goodput / capacity:.0%}",
            goodput >= 0.9 * capacity,
        ),
        (
            "admitted p99 <= 5 x unloaded p50",
            f"{admitted_p99:.1f} ms vs 5 x {unloaded_p50:.2f} = {5 * unloaded_p50:.1f} ms",
            admitted_p99 <= 5 * unloaded_p50,
        ),
        (
            "503 answered in <= 50 ms",
            f"p99 {refused_p99:.1f} ms, p99.9 {over['refused_p999_ms']:.1f} ms, "
            f"max {refused_max:.1f} ms",
            refused_max <= 50,
        ),
        (
            "0 other errors",
            f"{others} other statuses, {transport} transport errors",
            others == 0 and transport == 0,
        ),
        (
            "liveness p99 <= 50 ms",
            f"{liveness:.1f} ms, {liveness_failures} failures",
            liveness <= 50 and liveness_failures == 0,
        ),
    ]
    lines = [
        f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"`--max-in-flight {args.max_in_flight}`",
        "",
        f"Load average at the start: {load[0]:.1f} on 2 cores. One worker (access log on, "
        f"admission control outermost) pinned to CPU {args.server_cpu}; the generator, the "
        f"liveness probe (20/s) and PostgreSQL pinned to CPU {1 - args.server_cpu}. "
        "`GET /appointments` (a patient's own list, 5 rows) as one of 64 patients.",
        "",
        f"- unloaded p50 (one connection): {unloaded_p50:.2f} ms",
        f"- capacity (16 connections, closed loop, 10 s, no bound): {capacity:,.0f} req/s, "
        f"p99 {results['capacity_p99_ms']:.1f} ms, {results['capacity_other']} non-200; "
        f"the worker's core {results['capacity_worker_busy']:.0%} busy, "
        f"{served_ms:.2f} ms of its CPU per request; CPU {1 - args.server_cpu}: PostgreSQL "
        f"{results['capacity_postgres_busy']:.0%}, generator "
        f"{results['capacity_generator_busy']:.0%}",
        f"- offered: open loop at 3 x capacity = {offered:,.0f} req/s for "
        f"{args.seconds:g} s, `MEDAI_MAX_IN_FLIGHT={args.max_in_flight}`",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *(f"| {name} | {value} | {'yes' if ok else 'NO'} |" for name, value, ok in checks),
        "",
        "| run | offered req/s | goodput req/s | admitted p50 ms | admitted p99 ms | 503s "
        "| 503 p99 ms | 503 max ms | other statuses | transport errors | liveness p99 ms "
        "| worker core busy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    columns = (
        ("run", "{}"),
        ("offered_per_s", "{:,.0f}"),
        ("goodput_per_s", "{:,.0f}"),
        ("admitted_p50_ms", "{:.1f}"),
        ("admitted_p99_ms", "{:.1f}"),
        ("refused_503", "{:,}"),
        ("refused_p99_ms", "{:.1f}"),
        ("refused_max_ms", "{:.1f}"),
        ("other_statuses", "{}"),
        ("transport_errors", "{}"),
        ("liveness_p99_ms", "{:.1f}"),
        ("worker_busy", "{:.0%}"),
    )
    contrast = results["contrast"]
    for entry in (over, contrast) if contrast else (over,):
        cells = [fmt.format(entry[key]) for key, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"CPU in the overload run: the worker's core {over['worker_busy']:.0%} busy; "
        f"CPU {1 - args.server_cpu}: "
        f"PostgreSQL {over['postgres_busy']:.0%}, generator {over['generator_busy']:.0%}. "
        f"A refusal costs the worker {refusal_ms * 1000:.0f} µs of CPU, "
        f"{refusal_ms / served_ms:.1%} of a served request ({served_ms:.2f} ms), measured "
        f"just before the overload run: {args.max_in_flight} requests held in flight (a "
        "body that never comes), 16 connections refused as fast as they are answered for "
        f"5 s ({over['refusal_rate']:,.0f} refusals/s). At that cost a core that does "
        f"nothing else serves at most {ceiling:,.0f} req/s while refusing the rest of "
        f"{offered:,.0f} req/s: {ceiling / capacity:.0%} of the capacity measured. "
        "Per second of the worker's CPU (which does not depend on the share of its core "
        "that other processes leave it): "
        f"{per_cpu_overload:,.0f} requests answered in the overload against "
        f"{per_cpu_capacity:,.0f} when the capacity was measured, "
        f"{per_cpu_overload / per_cpu_capacity:.0%}.",
        "",
        f"Transport errors by kind: {over['error_kinds'] or 'none'}. The generator's own lag "
        "(a request sent late because its process waited for a CPU; part of every latency "
        f"above) at p99: {over['send_lag_p99_ms']:.1f} ms; the admitted requests' p99 timed "
        f"from the moment each was actually sent: {over['admitted_from_send_p99_ms']:.1f} ms.",
        "",
    ]
    if contrast:
        lines += [
            f'The "no bound" row is the same offered load for {args.contrast_seconds:g} s on '
            "the server the capacity was measured on, `MEDAI_MAX_IN_FLIGHT=0`, run before the "
            "bounded one: every request is accepted and waits its turn, so latency is the "
            f"backlog's length. Its transport errors: {contrast['error_kinds'] or 'none'}; "
            f"the generator's lag p99: {contrast['send_lag_p99_ms']:.1f} ms.",
            "",
        ]
    return lines


if __name__ == "__main__":
    main()
