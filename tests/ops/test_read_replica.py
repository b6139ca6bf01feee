"""Lists and searches read from a real streaming replica (``MEDAI_DATABASE_REPLICA_URL``).

A primary of its own (an embedded PostgreSQL in a scratch folder) and its standby made with
``pg_basebackup`` (tests/ops/standby.py). Pausing the standby's replay
(``pg_wal_replay_pause()``) makes what it serves visibly old: a list then misses a booking the
primary has, which shows the list was read on the replica, while a get by id and the writer's
own list (it brings back the read-your-writes cookie) see it. A replica further behind than the
bound, or down, leaves lists answering from the primary.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from benchmarks import standby as standbys
from service import embedded_db, migrate
from service.app import create_app
from service.read_your_writes import COOKIE
from tests.conftest import _HASH, PASSWORD, ROOT
from tests.conftest import test_settings as settings_for_tests
from tests.contract.people import ALWAYS_OPEN

pytestmark = [pytest.mark.slow, pytest.mark.db]

# Generous: the lag the first test shows must outlast its own steps on a busy machine.
LONG_BOUND = 60.0
SHORT_BOUND = 0.5
WAIT = 60.0


@pytest.fixture(scope="module")
def primary() -> Iterator[embedded_db.EmbeddedPostgres]:
    server = embedded_db.start(ROOT / "var" / f"replica-primary-{uuid.uuid4().hex[:8]}")
    migrate.upgrade(server.libpq_url())
    yield server
    server.stop()
    shutil.rmtree(server.pgdata.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def standby(primary: embedded_db.EmbeddedPostgres) -> Iterator[standbys.Standby]:
    made = standbys.create(primary)
    yield made
    made.remove()


Client = Callable[[float], Awaitable[httpx.AsyncClient]]


@dataclass
class Pair:
    """A patient's browser (the writer) and a doctor's elsewhere (the reader), each signed in
    on an app of its own, both apps having seen the replica caught up."""

    writer: httpx.AsyncClient
    reader: httpx.AsyncClient
    patient: dict[str, str]
    doctor: dict[str, str]
    doctor_id: str


async def pair(app_client: Client, url: str, bound: float) -> Pair:
    (doctor_id, doctor_email), (_, patient_email) = (
        add_user(url, "doctor"),
        add_user(url, "patient"),
    )
    writer, reader = await app_client(bound), await app_client(bound)
    patient, doctor = await sign_in(writer, patient_email), await sign_in(reader, doctor_email)
    await caught_up(writer, reader)
    return Pair(writer, reader, patient, doctor, doctor_id)


@pytest.fixture
async def app_client(
    primary: embedded_db.EmbeddedPostgres, standby: standbys.Standby
) -> AsyncIterator[Client]:
    """A client of an in-process app on the primary with the standby as its replica and a
    staleness bound of ``max_lag`` seconds."""
    started: list[tuple[Any, httpx.AsyncClient]] = []

    async def build(max_lag: float) -> httpx.AsyncClient:
        settings = settings_for_tests(
            database_replica_url=standby.url(), replica_max_lag=max_lag, outbox_dispatch=False
        )
        app = create_app(settings, primary.libpq_url())
        await app.runtime.start()
        # https: the cookie is Secure, and httpx's jar keeps to that as a browser does.
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://medai.test"
        )
        started.append((app, client))
        return client

    yield build
    for app, client in started:
        await client.aclose()
        await app.runtime.stop()


def add_user(url: str, role: str) -> tuple[str, str]:
    """A verified user (a doctor open around the clock): (id, email)."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO users (email, password_hash, full_name, role, specialty, "
            "email_verified_at) VALUES (%s, %s, %s, %s, %s, now()) RETURNING id",
            (
                email,
                _HASH,
                f"Replica {role.title()}",
                role,
                "General practice" if role == "doctor" else None,
            ),
        ).fetchone()
        assert row is not None
        if role == "doctor":
            schedule = {k: v for k, v in ALWAYS_OPEN.items() if k != "time_zone"}
            conn.execute(
                "INSERT INTO doctor_availability (doctor_id, time_zone, schedule) "
                "VALUES (%s, %s, %s)",
                (row[0], ALWAYS_OPEN["time_zone"], Jsonb(schedule)),
            )
    return str(row[0]), email


async def sign_in(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    reply = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    client.cookies.clear()  # signing in is a POST: start without the cookie it brought
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def book(client: httpx.AsyncClient, patient: dict[str, str], doctor_id: str, day: int) -> str:
    start_at = (datetime.now(UTC) + timedelta(days=day)).replace(minute=0, second=0, microsecond=0)
    reply = await client.post(
        "/appointments",
        headers=patient,
        json={
            "doctor_id": doctor_id,
            "start_at": start_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_at": (start_at + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


async def listed(client: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    reply = await client.get("/appointments", headers=headers, params={"limit": 100})
    assert reply.status_code == 200, reply.text
    return {item["id"] for item in reply.json()["items"]}


async def replica_check(client: httpx.AsyncClient) -> str:
    reply = await client.get("/health/ready")
    assert reply.status_code == 200, reply.text
    return str(reply.json()["checks"]["replica"])


async def caught_up(*clients: httpx.AsyncClient) -> None:
    """Each app (each has its own monitor) has seen the replica caught up."""
    for client in clients:
        await until(partial(_reports_ok, client), "the replica to be caught up")


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_a_list_is_read_on_the_replica_but_the_writer_and_a_get_see_the_primary(
    app_client: Client, primary: embedded_db.EmbeddedPostgres, standby: standbys.Standby
) -> None:
    url = primary.libpq_url()
    both = await pair(app_client, url, LONG_BOUND)
    writer, reader, patient, doctor = both.writer, both.reader, both.patient, both.doctor
    await asyncio.to_thread(standby.sql, "SELECT pg_wal_replay_pause()")
    try:
        booked = await book(writer, patient, both.doctor_id, day=3)
        # The writer's reply set the cookie; its next reads go to the primary.
        assert COOKIE in writer.cookies
        assert booked in await listed(writer, patient)
        # The doctor's list comes from the paused replica: the booking is not there yet...
        assert booked not in await listed(reader, doctor)
        # ...while a get by id is a read on the primary.
        got = await reader.get(f"/appointments/{booked}", headers=doctor)
        assert got.status_code == 200, got.text
        # The same patient without the cookie (it expired, or another device) reads the replica.
        writer.cookies.clear()
        assert booked not in await listed(writer, patient)
        # The doctor's list was audited on the primary (the replica takes no writes).
        with psycopg.connect(url) as conn:
            searches = conn.execute(
                "SELECT count(*) FROM audit_events WHERE action = 'appointment.search' "
                "AND actor_id = %s",
                (both.doctor_id,),
            ).fetchone()
        assert searches is not None
        assert searches[0] >= 1
    finally:
        await asyncio.to_thread(standby.sql, "SELECT pg_wal_replay_resume()")
    await until(lambda: _has(listed(reader, doctor), booked), "the replica to replay the booking")


async def test_a_replica_further_behind_than_the_bound_is_not_read(
    app_client: Client, primary: embedded_db.EmbeddedPostgres, standby: standbys.Standby
) -> None:
    both = await pair(app_client, primary.libpq_url(), SHORT_BOUND)
    await asyncio.to_thread(standby.sql, "SELECT pg_wal_replay_pause()")
    try:
        booked = await book(both.writer, both.patient, both.doctor_id, day=4)
        await until(
            lambda: _starts(replica_check(both.reader), "lagging"), "readiness to report the lag"
        )
        # Lists still answer, from the primary: the booking shows without the cookie.
        assert booked in await listed(both.reader, both.doctor)
    finally:
        await asyncio.to_thread(standby.sql, "SELECT pg_wal_replay_resume()")
    await until(lambda: _is(replica_check(both.reader), "ok"), "the replica to catch up again")


async def test_lists_answer_from_the_primary_while_the_replica_is_down(
    app_client: Client, primary: embedded_db.EmbeddedPostgres, standby: standbys.Standby
) -> None:
    both = await pair(app_client, primary.libpq_url(), LONG_BOUND)
    writer, reader, patient, doctor = both.writer, both.reader, both.patient, both.doctor
    doctor_id = both.doctor_id
    assert await listed(reader, doctor) == set()  # the pool holds a replica connection now
    await asyncio.to_thread(standby.stop)
    try:
        booked = await book(writer, patient, doctor_id, day=5)
        # The first list meets the replica's dead connection and moves to the primary.
        assert booked in await listed(reader, doctor)
        slots = await reader.get(
            f"/doctors/{doctor_id}/slots",
            headers=doctor,
            params={"from": _at(days=6), "to": _at(days=7)},
        )
        assert slots.status_code == 200, slots.text
        assert (await replica_check(reader)).startswith("down")
    finally:
        await asyncio.to_thread(standby.start)
    await until(lambda: _is(replica_check(reader), "ok"), "the replica to be back")


def _at(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT00:00:00Z")


async def _reports_ok(client: httpx.AsyncClient) -> bool:
    return await replica_check(client) == "ok"


async def _is(value: Awaitable[str], expected: str) -> bool:
    return await value == expected


async def _starts(value: Awaitable[str], prefix: str) -> bool:
    return (await value).startswith(prefix)


async def _has(found: Awaitable[set[str]], item: str) -> bool:
    return item in await found
