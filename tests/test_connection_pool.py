"""The pool as units of work see it: lookups without a transaction, and connections that
broke while idle replaced before a request gets them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest

from persistence import db
from persistence.db import Database, DatabaseUnavailable


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=1)
    await database.open()
    await database.pool.wait()
    yield database
    await database.close()


async def _backend_pid(database: Database) -> int:
    async with database.lookup() as uow:
        pid: int = await uow.fetch_value_text("SELECT pg_backend_pid()")
    return pid


def _terminate(database_url: str, pid: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_a_lookup_runs_outside_a_transaction_and_cannot_commit(database: Database) -> None:
    async with database.lookup() as uow:
        assert uow.connection.autocommit
        with pytest.raises(RuntimeError, match="no transaction"):
            await uow.commit()


async def test_the_connection_a_lookup_used_runs_transactions_again(database: Database) -> None:
    async with database.lookup() as uow:
        await uow.fetch_value_text("SELECT 1")

    async with database.unit_of_work() as uow:
        await uow.fetch_value_text("SELECT 1")
        assert not uow.connection.autocommit
        assert uow.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


async def test_sessions_see_timestamps_in_utc(database: Database) -> None:
    async with database.lookup() as uow:
        assert await uow.fetch_value_text("SHOW TimeZone") == "UTC"


async def test_a_connection_that_broke_while_idle_is_replaced_before_use(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _terminate(database_url, await _backend_pid(database))
    monkeypatch.setattr(db, "IDLE_BEFORE_CHECK", 0.0)

    assert await _backend_pid(database) > 0


async def test_a_connection_that_broke_in_a_busy_pool_fails_one_request_then_is_replaced(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _terminate(database_url, await _backend_pid(database))
    monkeypatch.setattr(db, "IDLE_BEFORE_CHECK", 3600.0)  # never idle long enough to ping

    with pytest.raises(DatabaseUnavailable):
        await _backend_pid(database)
    assert await _backend_pid(database) > 0
