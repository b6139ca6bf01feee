"""The transactional outbox against the real database and a real SMTP server on loopback:
written with the change or not at all, delivered after commit, retried with backoff, given up
after its maximum age, shared safely by concurrent dispatchers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from adapters.mail import FileMailer, SmtpConfig, SmtpMailer
from domain.outbox import EMAIL, Email, RetryPolicy, Sender, dispatch_once
from persistence.db import Database
from persistence.outbox import OutboxStore
from service.outbox_worker import OutboxWorker
from service.settings import ConfigError, Settings
from tests.conftest import truncate_all
from tests.mail_receiver import MailReceiver, body

pytestmark = pytest.mark.db

FAST = RetryPolicy(
    base=timedelta(seconds=0.2),
    cap=timedelta(seconds=1),
    max_age=timedelta(hours=1),
    lease=timedelta(seconds=30),
)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    truncate_all(database_url)
    db = Database(database_url, pool_size=8)
    await db.open()
    yield db
    await db.close()


def mailer(receiver: MailReceiver) -> dict[str, Sender]:
    return {EMAIL: SmtpMailer(SmtpConfig.from_url(receiver.url, timeout=5))}


def rows(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM outbox ORDER BY created_at").fetchall()


async def enqueue(database: Database, *emails: Email, commit: bool = True) -> list[UUID]:
    ids = []
    async with database.unit_of_work() as uow:
        for email in emails:
            message_id = await uow.outbox.enqueue(email)
            assert message_id is not None
            ids.append(message_id)
        if commit:
            await uow.commit()
    return ids


def an_email(n: int = 0) -> Email:
    return Email(
        to=f"patient{n}@example.org",
        subject=f"Your appointment {n}",
        text=f"See you at {n}.",
        html=f"<p>See you at {n}.</p>",
    )


async def test_a_message_of_a_rolled_back_change_is_never_written(
    database: Database, database_url: str
) -> None:
    await enqueue(database, an_email(), commit=False)
    assert rows(database_url) == []


async def test_a_committed_email_arrives_over_smtp_with_its_outbox_id_as_message_id(
    database: Database, database_url: str, smtp_receiver: MailReceiver
) -> None:
    (message_id,) = await enqueue(database, an_email(7))

    result = await dispatch_once(OutboxStore(database), mailer(smtp_receiver), FAST)

    assert result.delivered == 1
    (mail,) = smtp_receiver.to("patient7@example.org")
    assert mail["Message-ID"] == f"<{message_id}@medai.invalid>"
    assert mail["Subject"] == "Your appointment 7"
    assert body(mail, "plain").strip() == "See you at 7."
    assert body(mail, "html").strip() == "<p>See you at 7.</p>"
    (row,) = rows(database_url)
    assert row["status"] == "delivered"
    assert row["delivered_at"] is not None
    assert row["attempts"] == 1
    # Nothing left to do: a second round sends nothing again.
    again = await dispatch_once(OutboxStore(database), mailer(smtp_receiver), FAST)
    assert again.claimed == 0
    assert len(smtp_receiver.messages) == 1


async def test_a_message_waits_for_its_not_before_time(
    database: Database, database_url: str, smtp_receiver: MailReceiver
) -> None:
    store = OutboxStore(database)
    async with database.unit_of_work() as uow:
        await uow.outbox.enqueue(an_email(), not_before=await store.now() + timedelta(hours=1))
        await uow.commit()

    result = await dispatch_once(store, mailer(smtp_receiver), FAST)

    assert result.claimed == 0
    assert smtp_receiver.messages == []


async def test_a_dedup_key_used_twice_keeps_the_first_message_only(
    database: Database, database_url: str
) -> None:
    async with database.unit_of_work() as uow:
        first = await uow.outbox.enqueue(an_email(1), dedup_key="reminder:x")
        second = await uow.outbox.enqueue(an_email(2), dedup_key="reminder:x")
        await uow.commit()
    assert first is not None
    assert second is None
    assert [row["payload"]["to"] for row in rows(database_url)] == ["patient1@example.org"]


async def test_a_receiver_down_gets_the_message_with_backoff_once_it_is_back(
    database: Database, database_url: str, smtp_receiver: MailReceiver
) -> None:
    await enqueue(database, an_email(3))
    store = OutboxStore(database)
    smtp_receiver.stop()

    failed = await dispatch_once(store, mailer(smtp_receiver), FAST)

    assert failed.retried == 1
    (row,) = rows(database_url)
    assert row["status"] == "pending"
    assert row["attempts"] == 1
    assert row["last_error"]
    # The first retry waits between half and all of the base delay.
    wait = (row["available_at"] - await store.now()).total_seconds()
    assert 0 < wait <= FAST.base.total_seconds()
    # Not due yet: a round right away leaves it alone.
    assert (await dispatch_once(store, mailer(smtp_receiver), FAST)).claimed == 0

    smtp_receiver.start()
    await asyncio.sleep(FAST.base.total_seconds())
    delivered = await dispatch_once(store, mailer(smtp_receiver), FAST)

    assert delivered.delivered == 1
    assert len(smtp_receiver.to("patient3@example.org")) == 1
    (row,) = rows(database_url)
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 2, None)


async def test_delays_grow_exponentially_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=60))
    assert [policy.delay(n, rand=lambda: 1.0).total_seconds() for n in (1, 2, 3, 4, 5)] == [
        10,
        20,
        40,
        60,
        60,
    ]
    assert policy.delay(2, rand=lambda: 0.0).total_seconds() == 10  # half of 20


async def test_a_message_older_than_its_maximum_age_is_dead_not_retried(
    database: Database, database_url: str, smtp_receiver: MailReceiver
) -> None:
    await enqueue(database, an_email(4))
    smtp_receiver.stop()
    short_lived = RetryPolicy(base=timedelta(seconds=1), max_age=timedelta(milliseconds=1))

    result = await dispatch_once(OutboxStore(database), mailer(smtp_receiver), short_lived)

    assert result.dead == 1
    (row,) = rows(database_url)
    assert row["status"] == "dead"
    assert row["last_error"]


async def test_a_recipient_the_server_refuses_for_good_is_dead_at_once(
    database: Database, database_url: str, smtp_receiver: MailReceiver
) -> None:
    smtp_receiver.refused.add("patient5@example.org")
    await enqueue(database, an_email(5), an_email(6))

    result = await dispatch_once(OutboxStore(database), mailer(smtp_receiver), FAST)

    assert (result.delivered, result.dead) == (1, 1)
    by_recipient = {row["payload"]["to"]: row for row in rows(database_url)}
    assert by_recipient["patient5@example.org"]["status"] == "dead"
    assert "550" in by_recipient["patient5@example.org"]["last_error"]
    assert by_recipient["patient6@example.org"]["status"] == "delivered"


async def test_a_dispatcher_that_dies_mid_delivery_leaves_the_message_to_another(
    database: Database, database_url: str, smtp_receiver: MailReceiver
) -> None:
    (message_id,) = await enqueue(database, an_email(8))
    short_lease = RetryPolicy(base=timedelta(seconds=1), lease=timedelta(seconds=0.5))
    store = OutboxStore(database)
    # The first dispatcher claims it and is never heard of again (killed before any outcome).
    (claimed,) = await store.claim(10, short_lease.lease)
    assert await store.claim(10, short_lease.lease) == []  # held: no one else takes it

    await asyncio.sleep(0.6)
    result = await dispatch_once(store, mailer(smtp_receiver), short_lease)

    assert result.delivered == 1
    assert smtp_receiver.message_ids() == [f"<{message_id}@medai.invalid>"]
    # The late one reporting a failure now changes nothing: the row is another attempt's.
    await store.retry_at(claimed, await store.now() + timedelta(hours=1), "late")
    await store.dead(claimed, "late")
    (row,) = rows(database_url)
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 2, None)


async def test_concurrent_dispatchers_deliver_every_message_once(
    database: Database, database_url: str, smtp_receiver: MailReceiver
) -> None:
    count = 200
    ids = await enqueue(database, *(an_email(n) for n in range(count)))
    stores = [OutboxStore(database) for _ in range(4)]

    async def drain(store: OutboxStore) -> int:
        delivered = 0
        while (result := await dispatch_once(store, mailer(smtp_receiver), FAST, batch=7)).claimed:
            delivered += result.delivered
        return delivered

    delivered = await asyncio.gather(*(drain(store) for store in stores))

    assert sum(delivered) == count
    assert sorted(smtp_receiver.message_ids()) == sorted(f"<{i}@medai.invalid>" for i in ids)
    assert {row["status"] for row in rows(database_url)} == {"delivered"}


async def test_the_worker_delivers_in_the_background_and_stops_cleanly(
    database: Database, smtp_receiver: MailReceiver
) -> None:
    worker = OutboxWorker(OutboxStore(database), mailer(smtp_receiver), FAST, poll_interval=0.1)
    worker.start()
    try:
        await enqueue(database, an_email(9))
        for _ in range(100):
            if smtp_receiver.messages:
                break
            await asyncio.sleep(0.1)
    finally:
        await worker.stop()
    assert len(smtp_receiver.to("patient9@example.org")) == 1


async def test_without_smtp_mail_goes_to_files_a_developer_can_open(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    (message_id,) = await enqueue(database, an_email(10))

    result = await dispatch_once(OutboxStore(database), {EMAIL: FileMailer(tmp_path)}, FAST)

    assert result.delivered == 1
    written = (tmp_path / f"{message_id}.eml").read_text()
    assert "Subject: Your appointment 10" in written
    assert f"Message-ID: <{message_id}@medai.invalid>" in written


async def test_a_message_of_an_unknown_kind_is_retried_not_lost(
    database: Database, database_url: str
) -> None:
    await enqueue(database, an_email())

    result = await dispatch_once(OutboxStore(database), {}, FAST)

    assert result.retried == 1
    (row,) = rows(database_url)
    assert row["status"] == "pending"
    assert "no sender" in row["last_error"]


def test_smtp_urls_are_read_and_a_bad_one_is_refused_without_echoing_it() -> None:
    config = SmtpConfig.from_url("smtp://mailer%40clinic:p%40ss@mail.example:587?starttls=required")
    assert (config.hostname, config.port, config.username, config.password) == (
        "mail.example",
        587,
        "mailer@clinic",
        "p@ss",
    )
    assert (config.use_tls, config.start_tls) == (False, True)
    implicit = SmtpConfig.from_url("smtps://mail.example")
    assert (implicit.port, implicit.use_tls) == (465, True)
    assert "p@ss" not in repr(config)

    with pytest.raises(ConfigError, match="MEDAI_SMTP_URL") as refused:
        Settings.from_env({"MEDAI_SMTP_URL": "http://user:hunter2secret@mail.example"})
    assert "hunter2secret" not in str(refused.value)
    with pytest.raises(ConfigError, match="MEDAI_MAIL_FROM"):
        Settings.from_env({"MEDAI_MAIL_FROM": "nobody"})
