"""Connections at the database: 4 instances x 2 workers, straight to PostgreSQL and through
PgBouncer in transaction mode (docs/operations.md, "Beyond one machine").

    uv run python -m benchmarks.connections      # about 2 minutes; writes benchmarks/connections.md

Each instance is ``medai serve`` with two workers and the default pool (10 per worker). wrk
drives ``GET /health/ready`` (one query each) on all four at once, 32 connections each, for
``--seconds``; meanwhile ``pg_stat_activity`` is sampled every 100 ms. The figures are the
peak of client backends on the service's database, and the pools' own count of open
connections (``medai_db_pool_connections``) summed over the instances after the load.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psycopg

from benchmarks import pgbouncer
from benchmarks.loadgen import wrk_path
from benchmarks.processes import ROOT, Server, start_service
from service import embedded_db, migrate

INSTANCES = 4
WORKERS = 2
BOUNCER_POOL = 10
DATABASE = "medai_connections"
SECRET = "connections-benchmark-secret-" + "z" * 40
REPORT = Path(__file__).with_name("connections.md")


def pool_connections(server: Server) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=5).text
    match = re.search(r"^medai_db_pool_connections(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def measure(
    direct_url: str, service_url: str, extra: dict[str, str], seconds: int
) -> dict[str, float]:
    work = ROOT / "var" / "bench-connections"
    servers: list[Server] = []
    try:
        # One after the other: four at once on two shared cores take minutes to start.
        for n in range(INSTANCES):
            server = start_service(
                database_url=service_url,
                data_dir=work / f"instance-{n}",
                secret=SECRET,
                cpu="0,1",
                log_dir=ROOT / "var" / "bench-connections-logs",
                extra_env={
                    "MEDAI_WORKERS": str(WORKERS),
                    "MEDAI_LOG_LEVEL": "warning",
                    # Not used here; set so that no instance starts a reference model server.
                    "MEDAI_ML_URL": "http://127.0.0.1:9",
                    **extra,
                },
                name=f"instance-{n}",
            )
            servers.append(server)
            server.wait_until("/health/ready", deadline=180)
        idle_before = pgbouncer.server_connections(direct_url, DATABASE)
        peak = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, pgbouncer.server_connections(direct_url, DATABASE))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        loads = [
            subprocess.Popen(
                [wrk_path(), "-t1", "-c32", f"-d{seconds}s", f"{server.base_url}/health/ready"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for server in servers
        ]
        outputs = [load.communicate()[0].decode() for load in loads]
        stop.set()
        sampler.join()
        rates = [
            float(m.group(1)) for out in outputs if (m := re.search(r"Requests/sec:\s+(\S+)", out))
        ]
        non_2xx = sum(
            int(m.group(1)) for out in outputs if (m := re.search(r"Non-2xx.*?:\s+(\d+)", out))
        )
        return {
            "idle_before": idle_before,
            "peak_at_database": peak,
            "pools_open_after": sum(pool_connections(server) for server in servers),
            "requests_per_second": sum(rates),
            "non_2xx": non_2xx,
        }
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    postgres = embedded_db.start(ROOT / "var" / "bench-connections-pg")
    with psycopg.connect(postgres.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    direct_url = postgres.libpq_url(DATABASE)
    migrate.upgrade(direct_url)
    results = {"direct": measure(direct_url, direct_url, {}, args.seconds)}
    bouncer = pgbouncer.start(direct_url, pool_size=BOUNCER_POOL)
    try:
        results["pgbouncer"] = measure(
            direct_url,
            bouncer.url(DATABASE),
            {"MEDAI_DATABASE_POOLER": "transaction", "MEDAI_MIGRATION_DATABASE_URL": direct_url},
            args.seconds,
        )
    finally:
        bouncer.stop()
    lines = [
        "# Connections at the database: 4 instances x 2 workers",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; `uv run python -m "
        "benchmarks.connections`. Each instance: `medai serve`, 2 workers, pool of 10 per "
        f"worker. Load: wrk, 32 connections per instance on `GET /health/ready`, "
        f"{args.seconds} s, all four at once. PgBouncer 1.18 (Debian), transaction mode, "
        f"`default_pool_size = {BOUNCER_POOL}`. The 2-core machine is shared with other "
        "work: throughput is indicative only; the connection counts are the point.",
        "",
        "| path | database connections, idle | peak under load | the pools' own connections "
        "after the load | req/s (all four) | non-2xx |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in results.items():
        lines.append(
            f"| {name} | {row['idle_before']:.0f} | {row['peak_at_database']:.0f} | "
            f"{row['pools_open_after']:.0f} | {row['requests_per_second']:,.0f} | "
            f"{row['non_2xx']:.0f} |"
        )
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    postgres.stop()


if __name__ == "__main__":
    main()
