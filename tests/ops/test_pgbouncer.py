"""The service behind PgBouncer in transaction mode: two instances of two workers share a
few server connections, the API works through it, migrations take the direct URL.

What breaks without ``MEDAI_DATABASE_POOLER=transaction`` is shown first: PgBouncer refuses
the ``options`` startup parameter, and statements psycopg prepares on one server connection
collide on (or are missing from) the next client's.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from benchmarks import pgbouncer
from persistence.db import Database, DatabaseUnavailable
from service import embedded_db
from tests.conftest import _HASH, ROOT
from tests.contract import people
from tests.ops.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Served, start_service

DATABASE = "medai_pgbouncer"
# One server connection for this alias (to another database, so that the counts of DATABASE
# stay PgBouncer's pool for it alone): two clients then certainly share it.
SHARED_ONE = "medai_pgbouncer_one"
POOL_SIZE = 3


@pytest.fixture(scope="module")
def direct_url(postgres: embedded_db.EmbeddedPostgres) -> str:
    with psycopg.connect(postgres.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return postgres.libpq_url(DATABASE)


@pytest.fixture(scope="module")
def bouncer(direct_url: str) -> Iterator[pgbouncer.PgBouncer]:
    running = pgbouncer.start(
        direct_url, pool_size=POOL_SIZE, aliases={SHARED_ONE: ("postgres", 1)}
    )
    yield running
    running.stop()


def test_prepared_statements_collide_on_a_shared_server_connection_unless_disabled(
    bouncer: pgbouncer.PgBouncer,
) -> None:
    url = bouncer.url(SHARED_ONE)
    with (
        psycopg.connect(url, autocommit=True, prepare_threshold=0) as first,
        psycopg.connect(url, autocommit=True, prepare_threshold=0) as second,
    ):
        first.execute("SELECT 1")
        # The second client's first prepared statement has the same name as the first's, on
        # the same server connection.
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            second.execute("SELECT 1")
    with (
        psycopg.connect(url, autocommit=True, prepare_threshold=None) as first,
        psycopg.connect(url, autocommit=True, prepare_threshold=None) as second,
    ):
        for _ in range(10):
            assert first.execute("SELECT 1").fetchone() == (1,)
            assert second.execute("SELECT 2").fetchone() == (2,)


async def test_the_pool_connects_through_pgbouncer_only_in_pooler_mode(
    bouncer: pgbouncer.PgBouncer,
) -> None:
    async def first_answer(transaction_pooler: bool) -> object:
        database = Database(
            bouncer.url(DATABASE),
            pool_size=2,
            connect_timeout=1.0,
            transaction_pooler=transaction_pooler,
        )
        await database.open()
        try:
            async with database.unit_of_work() as uow:
                return await uow.fetch_value_text("SELECT 41 + 1")
        finally:
            await database.close()

    # Without the setting the pool sends ``options``, which PgBouncer refuses.
    with pytest.raises(DatabaseUnavailable):
        await first_answer(False)
    assert await first_answer(True) == 42


def start(bouncer: pgbouncer.PgBouncer, direct_url: str, name: str) -> Served:
    return start_service(
        ROOT / "var" / f"{name}-{uuid.uuid4().hex[:8]}",
        {
            "DATABASE_URL": bouncer.url(DATABASE),
            "MEDAI_DATABASE_POOLER": "transaction",
            "MEDAI_MIGRATION_DATABASE_URL": direct_url,
            "MEDAI_WORKERS": "2",
            "MEDAI_ADMIN_EMAIL": ADMIN_EMAIL,
            "MEDAI_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
    )


@pytest.fixture(scope="module")
def pair(bouncer: pgbouncer.PgBouncer, direct_url: str) -> Iterator[tuple[Served, Served]]:
    first = start(bouncer, direct_url, "pooled-a")
    try:
        second = start(bouncer, direct_url, "pooled-b")
    except BaseException:
        first.terminate()
        raise
    try:
        yield first, second
    finally:
        for served in (first, second):
            served.terminate()
            shutil.rmtree(served.data_dir, ignore_errors=True)


def add_doctor(direct_url: str) -> str:
    with psycopg.connect(direct_url) as conn:
        row = conn.execute(
            "INSERT INTO users "
            "(email, password_hash, full_name, role, specialty, email_verified_at) "
            "VALUES (%s, %s, 'Pooled Doctor', 'doctor', 'GP', now()) RETURNING id",
            (f"doctor-{uuid.uuid4().hex[:10]}@example.org", _HASH),
        ).fetchone()
        assert row is not None
        people.open_around_the_clock(conn, str(row[0]))
    return str(row[0])


def bearer(reply: httpx.Response) -> dict[str, str]:
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def test_migrations_ran_on_the_direct_url(pair: tuple[Served, Served], direct_url: str) -> None:
    with psycopg.connect(direct_url) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    from service.migrate import head_revision

    assert row[0] == head_revision()


def test_the_api_works_through_pgbouncer_across_two_instances(
    pair: tuple[Served, Served], direct_url: str
) -> None:
    a, b = pair
    doctor_id = add_doctor(direct_url)
    email = f"pooled-{uuid.uuid4().hex[:10]}@example.org"
    password = "pooled patient password"
    with a.client() as on_a, b.client() as on_b:
        signed_up = on_a.post(
            "/auth/register",
            json={"email": email, "password": password, "full_name": "Pooled Patient"},
        )
        assert signed_up.status_code == 201, signed_up.text
        # A patient books once their address is verified: the code from the mail (written by
        # whichever instance's outbox dispatcher took it).
        code = people.verification_code(email, a.data_dir / "mail", b.data_dir / "mail")
        verified = on_b.post("/auth/email-verification", json={"token": code})
        assert verified.status_code == 204, verified.text
        signed_in = on_b.post("/auth/login", json={"email": email, "password": password})
        refreshed = on_a.post(
            "/auth/refresh", json={"refresh_token": signed_in.json()["refresh_token"]}
        )
        patient = bearer(refreshed)
        start_at = (datetime.now(UTC) + timedelta(days=5)).replace(
            minute=0, second=0, microsecond=0
        )
        booked = on_b.post(
            "/appointments",
            headers=patient,
            json={
                "doctor_id": doctor_id,
                "start_at": start_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end_at": (start_at + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
        assert booked.status_code == 201, booked.text
        url, appointment_id = booked.headers["location"], booked.json()["id"]
        listed = on_a.get("/appointments", headers=patient)
        assert listed.status_code == 200
        assert [item["id"] for item in listed.json()["items"]] == [appointment_id]
        changed = on_b.put(
            url, headers={**patient, "If-Match": booked.headers["etag"]}, json={"reason": "x"}
        )
        assert changed.status_code == 200, changed.text
        stale = on_a.put(
            url, headers={**patient, "If-Match": booked.headers["etag"]}, json={"reason": "y"}
        )
        assert stale.status_code == 412
        assert on_a.delete(url, headers=patient).status_code == 204
        assert on_b.get(url, headers=patient).status_code == 404
        admin = bearer(
            on_b.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        )
        audit = on_a.get("/audit-events", headers=admin, params={"resource_id": appointment_id})
        assert audit.status_code == 200, audit.text
    actions = {event["action"] for event in audit.json()["items"]}
    assert {"appointment.create", "appointment.update", "appointment.delete"} <= actions


def pooled_connections(served: Served) -> float:
    text = httpx.get(f"{served.base_url}/metrics").text
    match = re.search(r"^medai_db_pool_connections(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE)
    assert match, text[:2000]
    return float(match.group(1))


async def test_many_client_connections_share_a_few_server_connections(
    pair: tuple[Served, Served], direct_url: str
) -> None:
    a, b = pair
    with a.client() as client:
        headers = bearer(
            client.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        )
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(
                peak, await asyncio.to_thread(pgbouncer.server_connections, direct_url, DATABASE)
            )
            await asyncio.sleep(0.05)

    async def load(base_url: str) -> list[int]:
        limits = httpx.Limits(max_connections=24)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
            replies = await asyncio.gather(
                *(client.get("/users", headers=headers) for _ in range(300))
            )
        return [reply.status_code for reply in replies]

    watcher = asyncio.create_task(watch())
    try:
        statuses = await asyncio.gather(load(a.base_url), load(b.base_url))
    finally:
        done.set()
        await watcher
    assert {status for replies in statuses for status in replies} == {200}
    # The instances' pools opened more client connections than PgBouncer has server ones.
    clients = pooled_connections(a) + pooled_connections(b)
    assert clients > POOL_SIZE
    assert 1 <= peak <= POOL_SIZE
