"""The benchmark's databases: generated once by ``dataset.sql``, reused while unchanged.

Each size gets its own database on the benchmark's embedded server, tagged (``COMMENT ON
DATABASE``) with a fingerprint of the generator and its parameters; a later run reuses a
database whose tag matches and only clears what earlier runs added. Loading drops the
appointments table's secondary indexes and constraints, inserts, and rebuilds them from their own
definitions (so whatever the migrations declare is what gets rebuilt): building an index once
is several times cheaper than maintaining it row by row (the report shows both timings).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import psycopg

from service import migrate

SQL_FILE = Path(__file__).with_name("dataset.sql")
PASSWORD = "bench-password-7f3c-medai"  # noqa: S105 - the generated accounts' shared password
BCRYPT_COST = 12  # the production default: logins cost what they cost in production
SLOTS_PER_DAY = 10
DAYS_PER_WEEK = 5


@dataclass(frozen=True)
class Shape:
    name: str
    appointments: int
    doctors: int = 200
    patients: int = 20_000
    per_patient: int = 50

    @property
    def slots(self) -> int:
        return self.appointments // self.doctors

    @property
    def patients_with_appointments(self) -> int:
        return self.doctors * (self.slots // self.per_patient)

    @property
    def weeks(self) -> int:
        return max(1, self.slots // (SLOTS_PER_DAY * DAYS_PER_WEEK))

    def check(self) -> None:
        groups = self.slots // self.per_patient
        if self.slots * self.doctors != self.appointments or groups * self.per_patient != (
            self.slots
        ):
            raise ValueError(f"{self}: appointments must split evenly into doctors and patients")
        if groups < 1 or self.patients_with_appointments > self.patients:
            raise ValueError(f"{self}: not enough patients for {self.appointments} appointments")

    def origin(self, now: datetime) -> datetime:
        """A Monday such that the appointments straddle ``now``: half past, half to come."""
        middle = now - timedelta(weeks=self.weeks / 2)
        monday = middle - timedelta(days=middle.weekday())
        return monday.replace(hour=0, minute=0, second=0, microsecond=0)


SMALL = Shape("bench_10k", 10_000)
LARGE = Shape("bench_1m", 1_000_000)


@dataclass(frozen=True)
class Dataset:
    shape: Shape
    url: str
    origin: datetime
    load_seconds: float | None  # None when an earlier run's database was reused

    @property
    def end(self) -> datetime:
        return self.origin + timedelta(weeks=self.shape.weeks)


def fingerprint(shape: Shape) -> str:
    digest = hashlib.sha256(SQL_FILE.read_bytes())
    digest.update(repr(shape).encode())
    return "medai-bench " + digest.hexdigest()[:16]


def prepare(admin_url: str, url: str, shape: Shape, *, fresh: bool = False) -> Dataset:
    """The database for ``shape`` at the schema's head, loaded, with earlier runs' traces gone."""
    shape.check()
    tag = fingerprint(shape)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (shape.name,),
        ).fetchone()
        reusable = row is not None and row[0] is not None and row[0].startswith(tag) and not fresh
        if not reusable:
            admin.execute(f'DROP DATABASE IF EXISTS "{shape.name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{shape.name}"')
    migrate.upgrade(url)
    if reusable:
        assert row is not None
        origin = datetime.fromisoformat(row[0].split(" origin=")[1])
        clear_traces(url, origin + timedelta(weeks=shape.weeks))
        return Dataset(shape, url, origin, None)
    origin = shape.origin(datetime.now(UTC))
    started = time.perf_counter()
    load(url, shape, origin)
    seconds = time.perf_counter() - started
    with psycopg.connect(admin_url, autocommit=True) as admin:
        comment = f"{tag} origin={origin.isoformat()}"
        admin.execute(f"COMMENT ON DATABASE \"{shape.name}\" IS '{comment}'")
    return Dataset(shape, url, origin, seconds)


def load(url: str, shape: Shape, origin: datetime, *, rebuild_indexes: bool = True) -> None:
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
    settings = {
        "bench.doctors": shape.doctors,
        "bench.patients": shape.patients,
        "bench.appointments": shape.appointments,
        "bench.per_patient": shape.per_patient,
        "bench.origin": origin.isoformat(),
        "bench.password_hash": password_hash,
    }
    with psycopg.connect(url) as conn:
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, str(value)))
        conn.execute("SET maintenance_work_mem = '256MB'")
        rebuild = _drop_appointment_indexes(conn) if rebuild_indexes else []
        conn.execute(SQL_FILE.read_text())  # a trusted file
        for statement in rebuild:
            conn.execute(statement)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) users, appointments")


def _drop_appointment_indexes(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """Drop the appointments table's indexes and constraints but its CHECKs and its primary
    key (other tables' foreign keys hang on it); return the statements that recreate them as
    the migrations defined them."""
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'appointments'::regclass AND contype IN ('f', 'x') "
        "ORDER BY contype = 'f', conname"
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = 'appointments'::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    for name, _ in reversed(constraints):
        conn.execute(f'ALTER TABLE appointments DROP CONSTRAINT "{name}"')
    return [f'ALTER TABLE appointments ADD CONSTRAINT "{n}" {d}' for n, d in constraints] + [
        str(definition) for _, definition in indexes
    ]


def clear_traces(url: str, dataset_end: datetime) -> None:
    """Remove what earlier runs added: bookings after the dataset, sign-ins, audit rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM appointments WHERE start_at >= %s", (dataset_end,))
        conn.execute(
            "TRUNCATE sessions, refresh_tokens, audit_events, login_throttle, idempotency_keys"
        )
        conn.execute("VACUUM (ANALYZE) appointments")
