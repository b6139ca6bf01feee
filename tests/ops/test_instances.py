"""Several instances on one database share everything that matters, and a crash loses nothing
that a client was told had succeeded."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from service import embedded_db, migrate
from tests.conftest import _HASH, PASSWORD, ROOT, end_refresh_grace
from tests.contract import people
from tests.ops.conftest import Served, start_service

DATABASE = "medai_instances"
SLOT_BASE = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


def slot(index: int) -> dict[str, str]:
    start = SLOT_BASE + timedelta(minutes=30 * index)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "start_at": start.strftime(fmt),
        "end_at": (start + timedelta(minutes=30)).strftime(fmt),
    }


@pytest.fixture(scope="module")
def shared_url(postgres: embedded_db.EmbeddedPostgres) -> str:
    with psycopg.connect(postgres.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    url = postgres.libpq_url(DATABASE)
    migrate.upgrade(url)
    return url


def add_user(url: str, role: str) -> tuple[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO users "
            "(email, password_hash, full_name, role, specialty, email_verified_at) "
            "VALUES (%s, %s, %s, %s, %s, now()) RETURNING id",
            (email, _HASH, f"Instance {role}", role, "GP" if role == "doctor" else None),
        ).fetchone()
        assert row is not None
        if role == "doctor":
            people.open_around_the_clock(conn, str(row[0]))
    return str(row[0]), email


def start(url: str, name: str) -> Served:
    return start_service(ROOT / "var" / f"{name}-{uuid.uuid4().hex[:8]}", {"DATABASE_URL": url})


def stop(service: Served) -> None:
    service.terminate()
    shutil.rmtree(service.data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pair(shared_url: str) -> Iterator[tuple[Served, Served]]:
    first, second = start(shared_url, "instance-a"), start(shared_url, "instance-b")
    try:
        yield first, second
    finally:
        stop(first)
        stop(second)


def sign_in(base_url: str, email: str) -> dict[str, str]:
    reply = httpx.post(f"{base_url}/auth/login", json={"email": email, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    tokens: dict[str, str] = reply.json()
    return tokens


def test_a_refresh_token_spent_on_one_instance_is_spent_on_the_other(
    pair: tuple[Served, Served], shared_url: str
) -> None:
    a, b = pair
    _, email = add_user(shared_url, "patient")
    first = sign_in(a.base_url, email)
    rotated = httpx.post(
        f"{b.base_url}/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200
    # Within the reuse grace the other instance gives the same pair: the exchange is shared.
    again = httpx.post(f"{a.base_url}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 200
    assert again.json()["refresh_token"] == rotated.json()["refresh_token"]
    end_refresh_grace(shared_url)
    again = httpx.post(f"{a.base_url}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 401
    newest = rotated.json()["refresh_token"]
    assert (
        httpx.post(f"{b.base_url}/auth/refresh", json={"refresh_token": newest}).status_code == 401
    )


async def test_one_slot_booked_through_two_instances_at_once_is_booked_once(
    pair: tuple[Served, Served], shared_url: str
) -> None:
    a, b = pair
    doctor_id, _ = add_user(shared_url, "doctor")
    tokens = [sign_in(served.base_url, add_user(shared_url, "patient")[1]) for served in pair]
    body = {"doctor_id": doctor_id, **slot(0)}
    async with httpx.AsyncClient() as client:
        replies = await asyncio.gather(
            *(
                client.post(
                    f"{served.base_url}/appointments",
                    json=body,
                    headers={"Authorization": f"Bearer {token['access_token']}"},
                )
                for served, token in zip((a, b), tokens, strict=True)
            )
        )
    assert sorted(reply.status_code for reply in replies) == [201, 409]


async def test_kill_9_during_a_burst_of_bookings_loses_no_acknowledged_booking(
    shared_url: str, tmp_path: Path
) -> None:
    service = start(shared_url, "instance-crash")
    doctor_id, _ = add_user(shared_url, "doctor")
    patients = [add_user(shared_url, "patient") for _ in range(120)]
    tokens = [sign_in(service.base_url, email)["access_token"] for _, email in patients]
    outcomes: dict[int, int | None] = {}
    acknowledged: dict[int, str] = {}
    thirty_answered = asyncio.Event()

    async def book(index: int, client: httpx.AsyncClient) -> None:
        try:
            reply = await client.post(
                f"{service.base_url}/appointments",
                json={"doctor_id": doctor_id, **slot(100 + index)},
                headers={"Authorization": f"Bearer {tokens[index]}"},
            )
        except httpx.TransportError:
            outcomes[index] = None  # no answer: the client was told nothing
            return
        outcomes[index] = reply.status_code
        if reply.status_code == 201:
            acknowledged[index] = reply.json()["id"]
        if len(outcomes) >= 30:
            thirty_answered.set()

    async def killer() -> None:
        await thirty_answered.wait()
        service.process.kill()

    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        await asyncio.gather(killer(), *(book(i, client) for i in range(len(patients))))
    service.process.wait()
    service._log_file.close()

    restarted = start(shared_url, "instance-restarted")
    try:
        with psycopg.connect(shared_url) as conn:
            stored = {
                str(row[0]): row[1]
                for row in conn.execute(
                    "SELECT id, start_at FROM appointments WHERE doctor_id = %s", (doctor_id,)
                )
            }
    finally:
        stop(restarted)
        shutil.rmtree(service.data_dir, ignore_errors=True)
    refused = [i for i, status in outcomes.items() if status is not None and status != 201]
    unanswered = [i for i, status in outcomes.items() if status is None]
    print(  # figures for the closing note
        f"\nkill -9 burst: {len(acknowledged)} acknowledged, {len(refused)} refused, "
        f"{len(unanswered)} unanswered, {len(stored)} stored"
    )
    assert acknowledged, "the kill came before any booking was acknowledged"
    assert unanswered, "the kill came after the burst: nothing was in flight"
    assert set(acknowledged.values()) <= set(stored)
    refused_starts = {datetime.fromisoformat(slot(100 + i)["start_at"]) for i in refused}
    assert not refused_starts & set(stored.values())
    assert len(stored) <= len(acknowledged) + len(unanswered)
