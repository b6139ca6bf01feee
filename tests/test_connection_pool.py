"""The pool as units of work see it: lookups without a transaction, and connections that died
while idle replaced before a request's first statement, never in the middle of its work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from persistence.db import Contention, Database, DatabaseUnavailable


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=1)
    await database.open()
    await database.pool.wait()
    yield database
    await database.close()


async def _backend_pid(database: Database) -> int:
    async with database.single_read() as uow:
        pid: int = await uow.fetch_value_text("SELECT pg_backend_pid()")
    return pid


def _terminate(database_url: str, pid: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_a_lookup_runs_outside_a_transaction_and_cannot_commit(database: Database) -> None:
    async with database.single_read() as uow:
        assert uow.connection.autocommit
        with pytest.raises(RuntimeError, match="no transaction"):
            await uow.commit()


async def test_the_connection_a_lookup_used_runs_transactions_again(database: Database) -> None:
    async with database.single_read() as uow:
        await uow.fetch_value_text("SELECT 1")

    async with database.unit_of_work() as uow:
        await uow.fetch_value_text("SELECT 1")
        assert not uow.connection.autocommit
        assert uow.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


async def test_sessions_see_timestamps_in_utc(database: Database) -> None:
    async with database.single_read() as uow:
        assert await uow.fetch_value_text("SHOW TimeZone") == "UTC"


async def test_a_connection_that_died_in_the_pool_is_replaced_before_the_first_statement(
    database: Database, database_url: str
) -> None:
    dead = await _backend_pid(database)
    _terminate(database_url, dead)

    assert await _backend_pid(database) not in (dead, 0)


async def test_every_pooled_connection_that_died_with_it_is_replaced_too(
    database_url: str,
) -> None:
    database = Database(database_url, pool_size=3)
    await database.open()
    try:
        held = [await database.acquire() for _ in range(3)]
        pids = [conn.info.backend_pid for conn in held]
        for conn in held:
            await database.release(conn)
        for pid in pids:
            _terminate(database_url, pid)

        for _ in range(3):
            async with database.unit_of_work() as uow:
                assert await uow.fetch_value_text("SELECT pg_backend_pid()") not in pids
    finally:
        await database.close()


async def test_a_connection_that_dies_after_work_began_fails_the_unit_of_work(
    database: Database, database_url: str
) -> None:
    async def work_interrupted_by_a_restart() -> int:
        async with database.unit_of_work() as uow:
            pid: int = await uow.fetch_value_text("SELECT pg_backend_pid()")
            _terminate(database_url, pid)
            await uow.fetch_value_text("SELECT 1")
        return pid

    with pytest.raises(DatabaseUnavailable):
        await work_interrupted_by_a_restart()
    assert await _backend_pid(database) > 0


async def test_a_deadlock_is_contention_to_retry_not_an_outage(database_url: str) -> None:
    """The real thing, not a stand-in exception: PostgreSQL's deadlock error (40P01) is what
    a booking retries on. psycopg files it under OperationalError, where outages live too."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS deadlock_probe")
        admin.execute("CREATE TABLE deadlock_probe (id int PRIMARY KEY, n int NOT NULL)")
        admin.execute("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)")
    one = "UPDATE deadlock_probe SET n = n + 1 WHERE id = 1 RETURNING n"
    two = "UPDATE deadlock_probe SET n = n + 1 WHERE id = 2 RETURNING n"
    database = Database(database_url, pool_size=2)
    await database.open()
    try:
        async with database.unit_of_work() as first, database.unit_of_work() as second:
            # The second one checks for the deadlock first, so it is the one aborted.
            await second.fetch_value_text("SELECT set_config('deadlock_timeout', '20ms', true)")
            await first.fetch_value_text(one)
            await second.fetch_value_text(two)
            waiting = asyncio.create_task(first.fetch_value_text(two))
            await asyncio.sleep(0.1)
            with pytest.raises(Contention, match="deadlock"):
                await second.fetch_value_text(one)
            await second.rollback()
            await waiting  # the survivor goes on once the other let go
    finally:
        await database.close()
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("DROP TABLE deadlock_probe")
