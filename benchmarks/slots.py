"""Free-slot search in-process, and the plans of its queries.

The targets (server CPU per request over HTTP) are measured by the main benchmark,
``uv run python -m benchmarks.run``: scenarios ``doctor_slots_week`` and ``specialty_slots_day``
in benchmarks/report.md, beside the patient list and a bare baseline. This adds the in-process
view and the query plans: ``uv run python -m benchmarks.slots`` (10,000 appointments) or
``--large`` (1,000,000; the dataset takes minutes to build the first time). Like
``benchmarks.layers`` it builds the app as ``medai serve`` does in production and calls it
in-process as an ASGI application (no uvicorn, no sockets), the scenarios alternating within
each round. The requests are the main benchmark's (``Fixtures.write_slots``):

- ``doctor_7_days``: ``GET /doctors/{id}/slots`` over 7 days, for one of 64 doctors, one of
  the next eight weeks (ten 30-minute appointments a day on weekdays);
- ``specialty_1_day``: ``GET /slots?specialty=…`` over one of the next five days for a
  specialty of 20 doctors (the dataset's doctors 0-19).

Doctors have the dataset's availability: around the clock every day, 30 minutes, no notice, two
years ahead (``benchmarks/dataset.sql``), the worst case for a search: 48 candidate slots a
day, less the appointments. Writes ``benchmarks/slots.md`` with the figures and EXPLAIN
(ANALYZE, BUFFERS) of the statements.
"""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import uvloop

from benchmarks import dataset
from benchmarks.explain import _explain_custom
from benchmarks.fixtures import SLOTS_SPECIALTY, Fixtures, _uuid
from benchmarks.layers import WORK_DIR, _measure, _requests
from domain import scheduling
from domain.model import Role
from persistence import availability as availability_sql
from service import embedded_db

REPORT = Path(__file__).resolve().parent / "slots.md"


def _scenarios(
    data: dataset.Dataset, secret: str, folder: Path
) -> dict[str, list[tuple[str, str]]]:
    """The main benchmark's slot searches (``Fixtures.write_slots``, which also gives the
    specialty its 20 doctors), and the patient list alongside as a yardstick: the machine is
    shared, and the ratio to a figure benchmarks/report.md has is steadier than either."""
    fixtures = Fixtures(data, secret, folder)
    files = fixtures.write_slots()
    with psycopg.connect(data.url) as conn:
        tokens = fixtures._mint(conn, [_uuid("patient", 1)], Role.PATIENT)
        conn.commit()
    return {
        "doctor_7_days": _requests(files["doctor_slots_week"]),
        "specialty_1_day": _requests(files["specialty_slots_day"]),
        "patient_list": [(tokens[0], "/appointments")],
    }


def _explain(data: dataset.Dataset) -> str:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today + timedelta(days=7 - today.weekday())
    margin = timedelta(minutes=scheduling.MAX_BUFFER + scheduling.MAX_LENGTH)

    def window(days: int) -> dict[str, Any]:
        start, end = monday - margin, monday + timedelta(days=days) + margin
        return {"start": start, "end": end, "earliest_start": start - timedelta(hours=8)}

    statements: dict[str, tuple[Any, dict[str, Any]]] = {
        "one doctor, 7 days (GET /doctors/{id}/slots)": (
            availability_sql._CALENDAR_OF_DOCTOR,
            {**window(7), "id": UUID(_uuid("doctor", 0))},
        ),
        "a specialty of 20 doctors, 1 day (GET /slots)": (
            availability_sql._CALENDARS_OF_SPECIALTY,
            {**window(1), "specialty": SLOTS_SPECIALTY, "limit": 100},
        ),
    }
    parts = []
    with psycopg.connect(data.url, autocommit=True) as conn:
        conn.execute("ANALYZE users")
        for title, (sql, params) in statements.items():
            plan = _explain_custom(conn, sql.text, sql.bind(params))
            parts.append(f"### {title}\n\n```sql\n{sql.text}\n```\n\n```\n{plan}\n```\n")
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slots", description=__doc__)
    parser.add_argument("--large", action="store_true", help="1,000,000 appointments")
    parser.add_argument("--count", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from service import logs
    from service.app import create_app
    from service.settings import Settings

    logs.configure("info")
    postgres = embedded_db.start(WORK_DIR)
    shape = dataset.LARGE if args.large else dataset.SMALL
    data = dataset.prepare(postgres.libpq_url("postgres"), postgres.libpq_url(shape.name), shape)
    secret = secrets.token_urlsafe(48)
    scenarios = _scenarios(data, secret, WORK_DIR / "slots" / str(os.getpid()))
    settings = Settings.from_env(
        {
            "MEDAI_ENV": "production",
            "MEDAI_JWT_SECRET": secret,
            "DATABASE_URL": data.url,
            "MEDAI_ML_URL": "http://127.0.0.1:9",
        }
    )
    lines = [
        "# Free-slot search: CPU per request and query plans\n",
        f"Dataset `{shape.name}`: {shape.appointments:,} appointments, {shape.doctors} doctors. "
        f"Generated by `uv run python -m benchmarks.slots{' --large' if args.large else ''}` "
        f"on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (shared 2-core machine; medians of "
        f"{args.rounds} x {args.count} requests, in-process ASGI calls, the scenarios alternating "
        "within each round).\n",
        "| scenario | app CPU ms/request, in-process | target (server CPU over HTTP: report.md) |",
        "|---|---|---|",
    ]
    targets = {"doctor_7_days": "≤ 2", "specialty_1_day": "≤ 5", "patient_list": "yardstick"}
    # Rounds interleave the scenarios, so that a noisy minute of the shared machine hits all
    # of them, the yardstick included.
    app_cpu: dict[str, list[float]] = {name: [] for name in scenarios}
    for _ in range(args.rounds):
        for name, requests in scenarios.items():
            gc.collect()
            app_cpu[name].append(
                uvloop.run(_measure(lambda: create_app(settings, data.url), requests, args.count))
            )
    for name in scenarios:
        lines.append(f"| {name} | {statistics.median(app_cpu[name]):.3f} | {targets[name]} |")
        print(lines[-1], "rounds:", [round(v, 3) for v in app_cpu[name]], flush=True)
    lines.append("\n## EXPLAIN (ANALYZE, BUFFERS), warm cache, custom plans\n")
    lines.append(_explain(data))
    output = REPORT if args.large else WORK_DIR / "slots-small.md"
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
