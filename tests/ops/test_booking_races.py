"""Bookings and changes of time racing across two instances on one database.

Each shape sends 20 concurrent requests per round, spread over both instances, for one
contested time, 50 rounds: every reply must be a real answer (201/200 when the slot was won,
409 when it was taken), never a 5xx; the database must hold no overlapping slot-holding
appointments, and exactly the bookings that were acknowledged. Before bookings took their
parties' locks in one order, PostgreSQL broke deadlocks between the exclusion checks of such
requests by aborting one, and after two reruns that was a 503.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from service import embedded_db, migrate
from tests.ops.conftest import Served
from tests.ops.test_instances import add_user, sign_in, start, stop

pytestmark = pytest.mark.slow

DATABASE = "medai_booking_races"
ROUNDS = 50
PER_ROUND = 20
# Far enough ahead that no round's time is in the past while the test runs; each round has
# its own hour, and seeded appointments (for reschedules) a day of their own.
BASE = (datetime.now(UTC) + timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
FMT = "%Y-%m-%dT%H:%M:%SZ"
ALLOWED = {201, 200, 409}

NO_OVERLAPS = """
SELECT count(*) FROM appointments a JOIN appointments b
  ON a.id < b.id
 AND (a.doctor_id = b.doctor_id OR a.patient_id = b.patient_id)
 AND tstzrange(a.start_at, a.end_at, '[)') && tstzrange(b.start_at, b.end_at, '[)')
WHERE a.deleted_at IS NULL AND b.deleted_at IS NULL
  AND a.status IN ('booked', 'arrived', 'fulfilled')
  AND b.status IN ('booked', 'arrived', 'fulfilled')
"""


def times(start: datetime, minutes: int = 30) -> dict[str, str]:
    return {
        "start_at": start.strftime(FMT),
        "end_at": (start + timedelta(minutes=minutes)).strftime(FMT),
    }


def round_time(shape: int, index: int) -> datetime:
    return BASE + timedelta(days=shape * 3, hours=index)


@dataclass(frozen=True)
class Party:
    id: str
    email: str


@dataclass(frozen=True)
class Races:
    url: str
    instances: tuple[Served, Served]
    tokens: dict[str, str]  # email -> access token
    patients: list[Party]
    doctors: list[Party]
    admin: Party

    def auth(self, party: Party) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[party.email]}"}

    def instance(self, index: int) -> str:
        return self.instances[index % 2].base_url


@pytest.fixture(scope="module")
def races(postgres: embedded_db.EmbeddedPostgres) -> Iterator[Races]:
    with psycopg.connect(postgres.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    url = postgres.libpq_url(DATABASE)
    migrate.upgrade(url)
    patients = [Party(*add_user(url, "patient")) for _ in range(PER_ROUND)]
    doctors = [Party(*add_user(url, "doctor")) for _ in range(PER_ROUND)]
    admin = Party(*add_user(url, "admin"))
    first, second = start(url, "races-a"), start(url, "races-b")
    try:
        tokens = {
            party.email: sign_in((first, second)[i % 2].base_url, party.email)["access_token"]
            for i, party in enumerate([*patients, *doctors, admin])
        }
        yield Races(url, (first, second), tokens, patients, doctors, admin)
    finally:
        stop(first)
        stop(second)
    # The retry would hide a deadlock from the replies; PostgreSQL counts each one it broke.
    # Its backends report their counts when they exit, as the instances' connections now have.
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    print(f"\ndeadlocks broken by PostgreSQL: {row[0]}")
    assert row[0] == 0


async def _send(
    client: httpx.AsyncClient, requests: list[tuple[str, str, dict[str, Any], dict[str, str]]]
) -> list[httpx.Response]:
    """All requests of a round at once (method, url, body, headers)."""
    return await asyncio.gather(
        *(
            client.request(method, url, json=body, headers=headers)
            for method, url, body, headers in requests
        )
    )


def _client() -> httpx.AsyncClient:
    # A connection per request: a kept-alive one can be closed by the server's idle timeout
    # (uvicorn: 5 s, longer than a round on a loaded machine can leave it) just as the next
    # request goes out on it, which fails with no reply at all. Not what is tested here.
    limits = httpx.Limits(max_connections=2 * PER_ROUND, max_keepalive_connections=0)
    return httpx.AsyncClient(timeout=60, limits=limits)


def _stored(url: str, start: datetime) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id FROM appointments WHERE start_at = %s AND deleted_at IS NULL "
            "AND status = 'booked'",
            (start,),
        ).fetchall()
    return {str(row[0]) for row in rows}


def _overlaps(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(NO_OVERLAPS).fetchone()
    assert row is not None
    return int(row[0])


def _report(name: str, statuses: Counter[int], failures: list[str]) -> None:
    print(f"\n{name}: {dict(sorted(statuses.items()))}")  # the counts, for the note
    assert not failures, failures[:5]
    assert set(statuses) <= ALLOWED, statuses


async def _booking_rounds(
    races: Races,
    shape: int,
    name: str,
    pairs: list[tuple[Party, Party]],
    winners: tuple[int, int],
) -> None:
    """Rounds of ``PER_ROUND`` bookings of (patient, doctor) ``pairs`` for one time each; a
    round must end with between ``winners`` bookings stored, exactly the ones answered 201."""
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    async with _client() as client:
        for index in range(ROUNDS):
            start = round_time(shape, index)
            requests = []
            for i, (patient, doctor) in enumerate(pairs):
                headers = races.auth(patient)
                if i % 2:  # half of them through the Idempotency-Key path
                    headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
                body = {"doctor_id": doctor.id, **times(start)}
                requests.append(("POST", f"{races.instance(i)}/appointments", body, headers))
            replies = await _send(client, requests)
            statuses.update(reply.status_code for reply in replies)
            failures += [
                f"{r.status_code} {r.text[:200]}" for r in replies if r.status_code not in ALLOWED
            ]
            won = {r.json()["id"] for r in replies if r.status_code == 201}
            stored = _stored(races.url, start)
            if won != stored or not winners[0] <= len(won) <= winners[1]:
                failures.append(f"round {index}: acknowledged {len(won)}, stored {len(stored)}")
    assert _overlaps(races.url) == 0
    _report(name, statuses, failures)


async def test_one_doctor_one_time_many_patients(races: Races) -> None:
    doctor = races.doctors[0]
    pairs = [(patient, doctor) for patient in races.patients]
    await _booking_rounds(races, 0, "one doctor, many patients", pairs, (1, 1))


async def test_one_patient_one_time_many_doctors(races: Races) -> None:
    patient = races.patients[0]
    pairs = [(patient, doctor) for doctor in races.doctors]
    await _booking_rounds(races, 1, "one patient, many doctors", pairs, (1, 1))


async def test_crossed_pairs(races: Races) -> None:
    """p0/p1 x dA/dB, five requests for each pair: up to two bookings can both be won."""
    p0, p1 = races.patients[:2]
    d_a, d_b = races.doctors[:2]
    crossed = [(p0, d_a), (p1, d_b), (p0, d_b), (p1, d_a)]
    pairs = [crossed[i % 4] for i in range(PER_ROUND)]
    await _booking_rounds(races, 2, "crossed pairs", pairs, (1, 2))


def _seed(url: str, admin: Party, pairs: list[tuple[Party, Party]], day: datetime) -> list[str]:
    """Appointments of ``pairs`` at separate times of ``day``, written directly."""
    with psycopg.connect(url) as conn:
        ids = []
        for i, (patient, doctor) in enumerate(pairs):
            start = day + timedelta(minutes=30 * i)
            row = conn.execute(
                "INSERT INTO appointments (patient_id, doctor_id, booked_by, start_at, end_at) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (patient.id, doctor.id, admin.id, start, start + timedelta(minutes=30)),
            ).fetchone()
            assert row is not None
            ids.append(str(row[0]))
    return ids


async def test_reschedules_into_overlapping_times(races: Races) -> None:
    """Twenty appointments of p0/p1 x dA/dB, each moved at once to one of two overlapping
    times: a patient or doctor can hold only one of them, so up to two moves win."""
    p0, p1 = races.patients[:2]
    d_a, d_b = races.doctors[:2]
    crossed = [(p0, d_a), (p1, d_b), (p0, d_b), (p1, d_a)]
    pairs = [crossed[i % 4] for i in range(PER_ROUND)]
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    async with _client() as client:
        for index in range(ROUNDS):
            target = round_time(3, index)
            # Seeded on a day of their own, away from every round's target.
            ids = _seed(races.url, races.admin, pairs, BASE + timedelta(days=20 + index))
            headers = {**races.auth(races.admin), "If-Match": '"v1"'}
            requests = [
                (
                    "PUT",
                    f"{races.instance(i)}/appointments/{appointment_id}",
                    times(target + timedelta(minutes=15 * (i % 2))),
                    headers,
                )
                for i, appointment_id in enumerate(ids)
            ]
            replies = await _send(client, requests)
            statuses.update(reply.status_code for reply in replies)
            failures += [
                f"{r.status_code} {r.text[:200]}" for r in replies if r.status_code not in ALLOWED
            ]
            moved = sum(reply.status_code == 200 for reply in replies)
            if not 1 <= moved <= 2:
                failures.append(f"round {index}: {moved} moves won")
    assert _overlaps(races.url) == 0
    _report("reschedules into overlapping times", statuses, failures)
