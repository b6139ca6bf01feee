"""The outbox of real ``medai serve`` processes: two instances dispatching together, one
killed with SIGKILL while deliveries are in flight, and every booking's emails and webhook
arriving at real receivers on loopback, each event once after dedup, none lost.

The number of bookings is ``MEDAI_TEST_OUTBOX_BOOKINGS`` (default 300, to keep CI short on a
shared two-core machine; the figures for 1,000 are in docs/notifications.md).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from standardwebhooks import Webhook

from service import embedded_db, migrate
from tests.conftest import _HASH, PASSWORD, ROOT
from tests.contract import people
from tests.mail_receiver import MailReceiver
from tests.ops.conftest import Served, start_service
from tests.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.db, pytest.mark.slow]

# One per test process: several runs may share the embedded server.
DATABASE = f"medai_outbox_live_{os.getpid()}"
BOOKINGS = int(os.environ.get("MEDAI_TEST_OUTBOX_BOOKINGS", "300"))
LEASE_SECONDS = 8
DRAIN_DEADLINE = 600.0
BASE = (datetime.now(UTC) + timedelta(days=5)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def shared_url(postgres: embedded_db.EmbeddedPostgres) -> Iterator[str]:
    admin = postgres.libpq_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    url = postgres.libpq_url(DATABASE)
    migrate.upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


@pytest.fixture
def receivers() -> Iterator[tuple[MailReceiver, WebhookReceiver]]:
    mail, hooks = MailReceiver(), WebhookReceiver()
    mail.start()
    hooks.start()
    yield mail, hooks
    hooks.stop()
    mail.stop()


def add_user(url: str, role: str) -> tuple[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    with psycopg.connect(url) as conn:
        row = conn.execute(
            # Verified, as the fixtures' users are: an unverified patient cannot book.
            "INSERT INTO users "
            "(email, password_hash, full_name, role, specialty, email_verified_at) "
            "VALUES (%s, %s, %s, %s, %s, now()) RETURNING id",
            (email, _HASH, f"Live {role}", role, "GP" if role == "doctor" else None),
        ).fetchone()
        assert row is not None
        if role == "doctor":
            # Bookings at any hour: availability is not what this test is about.
            people.open_around_the_clock(conn, str(row[0]))
    return str(row[0]), email


def bearer(base_url: str, email: str) -> dict[str, str]:
    reply = httpx.post(f"{base_url}/auth/login", json={"email": email, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def start(url: str, name: str, mail: MailReceiver) -> Served:
    return start_service(
        ROOT / "var" / f"{name}-{uuid.uuid4().hex[:8]}",
        {
            "DATABASE_URL": url,
            # A configured (unreachable) ML service: no reference model server child process
            # left behind by the instance killed below.
            "MEDAI_ML_URL": "http://127.0.0.1:9",
            "MEDAI_SMTP_URL": mail.url,
            "MEDAI_SMTP_TIMEOUT": "5",
            "MEDAI_WEBHOOK_TIMEOUT": "5",
            "MEDAI_WEBHOOK_ALLOW_PRIVATE": "true",
            "MEDAI_OUTBOX_POLL_INTERVAL": "0.2",
            "MEDAI_OUTBOX_RETRY_BASE": "0.5",
            "MEDAI_OUTBOX_RETRY_CAP": "2",
            "MEDAI_OUTBOX_LEASE": str(LEASE_SECONDS),
            "MEDAI_OUTBOX_BATCH": "20",
        },
    )


def outstanding(url: str) -> int:
    """Messages still to deliver, the reminders (due days later) aside."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM outbox WHERE status = 'pending' "
            "AND kind <> 'appointment_reminder'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def slot(index: int) -> dict[str, str]:
    start_at = BASE + timedelta(minutes=30 * index)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "start_at": start_at.strftime(fmt),
        "end_at": (start_at + timedelta(minutes=30)).strftime(fmt),
    }


async def book_many(
    base_url: str, headers: dict[str, str], doctor_id: str, indexes: range
) -> list[str]:
    """Book the slots; the ids of the bookings acknowledged (201)."""
    booked: list[str] = []
    limit = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:

        async def one(index: int) -> None:
            async with limit:
                try:
                    reply = await client.post(
                        "/appointments", json={"doctor_id": doctor_id, **slot(index)}
                    )
                except httpx.TransportError:
                    return  # the instance died with the request: never acknowledged
                if reply.status_code == 201:
                    booked.append(reply.json()["id"])

        await asyncio.gather(*(one(index) for index in indexes))
    return booked


def test_two_instances_and_a_kill_9_lose_no_event_and_deliver_each_once_after_dedup(
    shared_url: str, receivers: tuple[MailReceiver, WebhookReceiver]
) -> None:
    mail, hooks = receivers
    hooks.delay = 0.02  # deliveries in flight when the kill comes
    first, second = start(shared_url, "outbox-a", mail), start(shared_url, "outbox-b", mail)
    try:
        doctor_id, doctor_email = add_user(shared_url, "doctor")
        _, patient_email = add_user(shared_url, "patient")
        _, admin_email = add_user(shared_url, "admin")
        endpoint = httpx.post(
            f"{first.base_url}/webhooks",
            json={"url": hooks.url, "event_types": ["appointment.booked"]},
            headers=bearer(first.base_url, admin_email),
        )
        assert endpoint.status_code == 201, endpoint.text
        secret = endpoint.json()["secret"]
        half = BOOKINGS // 2
        started = time.monotonic()

        booked = asyncio.run(
            book_many(first.base_url, bearer(first.base_url, patient_email), doctor_id, range(half))
        )
        # Kill the first instance while its dispatcher is busy with the first half.
        deadline = time.monotonic() + 60
        while len(hooks.received) < max(1, half // 10) and time.monotonic() < deadline:
            time.sleep(0.05)
        first.process.kill()
        first.process.wait(30)
        in_flight_at_kill = outstanding(shared_url)
        booked += asyncio.run(
            book_many(
                second.base_url,
                bearer(second.base_url, patient_email),
                doctor_id,
                range(half, BOOKINGS),
            )
        )
        deadline = time.monotonic() + DRAIN_DEADLINE
        while outstanding(shared_url) and time.monotonic() < deadline:
            time.sleep(0.5)
        drained_after = time.monotonic() - started
        assert outstanding(shared_url) == 0, "the outbox did not drain in time"
    finally:
        for served in (first, second):
            served.terminate()
            shutil.rmtree(served.data_dir, ignore_errors=True)

    assert len(booked) == BOOKINGS
    # Webhooks: each signature valid; each booking's event seen, once after dedup by id.
    events = {}
    copies: Counter[str] = Counter()
    for delivery in hooks.received:
        event = Webhook(secret).verify(delivery.body, delivery.headers)
        assert delivery.headers["webhook-id"] == event["id"]
        copies[event["id"]] += 1
        events[event["id"]] = event
    appointments = Counter(event["data"]["appointment_id"] for event in events.values())
    assert set(appointments) == set(booked)
    assert set(appointments.values()) == {1}
    # Emails: one to the patient and one to the doctor per booking, by Message-ID.
    with mail.lock:
        received = [(m["To"], str(m["Message-ID"])) for m in mail.messages]
    unique = dict((message_id, to) for to, message_id in received)
    assert Counter(unique.values()) == {patient_email: BOOKINGS, doctor_email: BOOKINGS}
    with psycopg.connect(shared_url) as conn:
        dead = conn.execute("SELECT count(*) FROM outbox WHERE status = 'dead'").fetchone()
    assert dead == (0,)
    print(
        f"\noutbox live: {BOOKINGS} bookings through 2 instances, one killed (-9) with "
        f"{in_flight_at_kill} messages outstanding; drained in {drained_after:.1f} s; "
        f"webhooks {len(hooks.received)} received for {len(events)} events "
        f"({sum(c - 1 for c in copies.values())} repeats dropped by id); "
        f"emails {len(received)} received, {len(unique)} distinct Message-IDs; 0 lost, 0 dead"
    )
