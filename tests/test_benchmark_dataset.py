"""The benchmark's SQL generator keeps up with the schema: a small dataset loads under every
constraint (the exclusion constraints included) and has the shape the scenarios rely on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from benchmarks import dataset
from service import migrate
from service.embedded_db import EmbeddedPostgres
from tests.contract import live

SHAPE = dataset.Shape("bench_test", appointments=2_000, doctors=20, patients=300, per_patient=10)


@pytest.fixture
def loaded_url(postgres: EmbeddedPostgres) -> Iterator[str]:
    with live.scratch_database(postgres, "medai_bench") as url:
        migrate.upgrade(url)
        dataset.load(url, SHAPE, SHAPE.origin(datetime.now(UTC)))
        yield url


def test_the_generated_appointments_have_the_promised_shape(loaded_url: str) -> None:
    with psycopg.connect(loaded_url) as conn:
        total, patients, per_doctor = conn.execute(
            "SELECT count(*), count(DISTINCT patient_id), "
            "min(n) FROM appointments, LATERAL (SELECT count(*) AS n FROM appointments o "
            "WHERE o.doctor_id = appointments.doctor_id) AS d"
        ).fetchone() or (0, 0, 0)
        per_patient = conn.execute(
            "SELECT DISTINCT count(*) FROM appointments GROUP BY patient_id"
        ).fetchall()
        statuses = {row[0] for row in conn.execute("SELECT DISTINCT status FROM appointments")}

    assert total == SHAPE.appointments
    assert patients == SHAPE.patients_with_appointments
    assert per_doctor == SHAPE.slots
    assert per_patient == [(SHAPE.per_patient,)]
    assert {"booked", "fulfilled"} <= statuses


def test_the_loader_leaves_every_index_and_constraint_it_dropped(
    loaded_url: str, postgres: EmbeddedPostgres
) -> None:
    with live.scratch_database(postgres, "medai_bench_ref") as reference:
        migrate.upgrade(reference)
        expected = _definitions(reference)

    assert _definitions(loaded_url) == expected


def _definitions(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'appointments'::regclass "
            "UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'appointments'::regclass"
        ).fetchall()
    return {row[0] for row in rows}
