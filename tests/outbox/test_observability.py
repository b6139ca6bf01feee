"""A stuck outbox shows in readiness (without failing it or liveness); the dispatcher's
outcomes and the outbox's depth and age reach the metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY

from domain.outbox import Email, RetryPolicy
from persistence.db import Database
from persistence.outbox import OutboxStore
from service.metrics import OutboxMetrics
from service.outbox_worker import OutboxWorker
from tests.conftest import truncate_all

pytestmark = pytest.mark.db


def enqueue_overdue(url: str, seconds: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO outbox (kind, payload, available_at) "
            "VALUES ('email', '{}', now() - make_interval(secs => %s))",
            (seconds,),
        )


async def test_readiness_reports_a_stuck_outbox_and_stays_ready(
    client: httpx.AsyncClient, database_url: str
) -> None:
    ready = await client.get("/health/ready")
    assert ready.json()["checks"]["outbox"] == "ok"

    enqueue_overdue(database_url, 3600)  # due an hour ago, nobody delivered it

    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["outbox"].startswith("stuck: a message due for delivery")
    assert (await client.get("/health/live")).status_code == 200


async def test_a_message_due_only_briefly_is_not_stuck(
    client: httpx.AsyncClient, database_url: str
) -> None:
    enqueue_overdue(database_url, 5)
    assert (await client.get("/health/ready")).json()["checks"]["outbox"] == "ok"


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    truncate_all(database_url)
    db = Database(database_url, pool_size=4)
    await db.open()
    yield db
    await db.close()


async def test_the_worker_reports_depth_age_and_outcomes(database: Database) -> None:
    async with database.unit_of_work() as uow:
        for n in range(3):
            await uow.outbox.enqueue(Email(f"p{n}@example.org", "s", "t"))
        await uow.commit()
    before = sample("medai_outbox_deliveries_total", kind="email", outcome="retried")
    store = OutboxStore(database)
    pending, _ = await store.depth()
    assert pending == 3

    # No sender for email here: every attempt fails and is retried later.
    policy = RetryPolicy(base=timedelta(hours=1))
    worker = OutboxWorker(store, {}, policy, poll_interval=0.05, observer=OutboxMetrics())
    worker.start()
    try:
        for _ in range(200):
            if sample("medai_outbox_deliveries_total", kind="email", outcome="retried") >= (
                before + 3
            ):
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()

    assert sample("medai_outbox_deliveries_total", kind="email", outcome="retried") == before + 3
    assert sample("medai_outbox_pending") == 3
    assert sample("medai_outbox_oldest_pending_age_seconds") >= 0
