"""Bounds on database work: PostgreSQL's own timeouts for slow statements and lock waits, and
the client's bound on every operation for a server that does not answer at all."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg
import pytest

from persistence.db import Database, DatabaseTimeout, DatabaseUnavailable, Timeouts
from service.settings import ConfigError, Settings

MakeDatabase = Callable[[Timeouts], Awaitable[Database]]


@pytest.fixture
async def make_database(database_url: str) -> AsyncIterator[MakeDatabase]:
    opened: list[Database] = []

    async def make(timeouts: Timeouts) -> Database:
        database = Database(database_url, pool_size=2, timeouts=timeouts)
        await database.open()
        await database.pool.wait()
        opened.append(database)
        return database

    yield make
    for database in opened:
        await database.close()


async def _backend_pid(database: Database) -> int:
    async with database.single_read() as uow:
        pid: int = await uow.fetch_value_text("SELECT pg_backend_pid()")
    return pid


async def test_the_server_side_timeouts_reach_every_session(make_database: MakeDatabase) -> None:
    database = await make_database(
        Timeouts(operation=9, statement=4, lock=1.5, idle_in_transaction=20, keepalive_idle=7)
    )
    async with database.single_read() as uow:
        shown = [
            await uow.fetch_value_text(f"SHOW {name}")
            for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
        ]
        assert await uow.fetch_value_text("SHOW TimeZone") == "UTC"
    assert shown == ["4s", "1500ms", "20s"]
    async with database.single_read() as uow:
        # libpq's view of the connection: keepalives asked for (ignored on a Unix socket).
        assert "keepalives_idle=7" in uow.connection.info.dsn


async def test_a_statement_that_outlasts_the_operation_timeout_is_cut_and_its_connection_dropped(
    make_database: MakeDatabase,
) -> None:
    # No server-side statement timeout: only the client's bound can end this statement.
    database = await make_database(Timeouts(operation=0.5, statement=0))
    before = await _backend_pid(database)

    started = time.monotonic()
    with pytest.raises(DatabaseTimeout):
        async with database.unit_of_work() as uow:
            await uow.fetch_value_text("SELECT pg_backend_pid(), pg_sleep(5)")
    waited = time.monotonic() - started

    # The connection it was cut from is not lent out again; the next unit works as usual.
    after = await _backend_pid(database)
    assert after not in (before, 0)
    assert waited < 5, f"the statement ran its course ({waited:.1f} s) instead of being cut"


async def test_a_statement_cut_at_the_operation_timeout_is_not_retried_on_another_connection(
    make_database: MakeDatabase,
) -> None:
    database = await make_database(Timeouts(operation=0.3, statement=0))
    stats_before = database.pool.get_stats()
    with pytest.raises(DatabaseTimeout):
        async with database.single_read() as uow:
            await uow.fetch_value_text("SELECT pg_sleep(3)")
    lost = database.pool.get_stats().get("returns_bad", 0) - stats_before.get("returns_bad", 0)
    assert lost == 1


async def test_a_slow_statement_is_stopped_by_the_server_and_its_connection_kept(
    make_database: MakeDatabase,
) -> None:
    database = await make_database(Timeouts(operation=5, statement=0.2))
    async with database.single_read() as uow:
        pid = await uow.fetch_value_text("SELECT pg_backend_pid()")
    with pytest.raises(DatabaseUnavailable) as caught:
        async with database.unit_of_work() as uow:
            await uow.fetch_value_text("SELECT pg_sleep(3)")
    assert not isinstance(caught.value, DatabaseTimeout)
    assert isinstance(caught.value.__cause__, psycopg.errors.QueryCanceled)
    assert await _backend_pid(database) == pid


async def test_a_lock_wait_past_the_lock_timeout_answers_unavailable(
    make_database: MakeDatabase, database_url: str
) -> None:
    database = await make_database(Timeouts(operation=5, statement=4, lock=0.2))
    key = 0x6D6564  # an advisory lock no other test takes
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        with pytest.raises(DatabaseUnavailable) as caught:
            async with database.unit_of_work() as uow:
                await uow.fetch_value_text("SELECT pg_advisory_xact_lock(%(key)s)", {"key": key})
        holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
    assert isinstance(caught.value.__cause__, psycopg.errors.LockNotAvailable)


def test_the_timeouts_are_read_from_their_variables() -> None:
    settings = Settings.from_env(
        {
            "MEDAI_DB_OPERATION_TIMEOUT": "6",
            "MEDAI_DB_STATEMENT_TIMEOUT": "5",
            "MEDAI_DB_LOCK_TIMEOUT": "0",
            "MEDAI_DB_IDLE_IN_TRANSACTION_TIMEOUT": "30",
            "MEDAI_DB_KEEPALIVE_IDLE": "20",
        }
    )
    assert (
        settings.db_operation_timeout,
        settings.db_statement_timeout,
        settings.db_lock_timeout,
        settings.db_idle_in_transaction_timeout,
        settings.db_keepalive_idle,
    ) == (6, 5, 0, 30, 20)


def test_a_statement_timeout_not_below_the_operation_timeout_is_refused() -> None:
    with pytest.raises(ConfigError, match="MEDAI_DB_STATEMENT_TIMEOUT"):
        Settings.from_env({"MEDAI_DB_OPERATION_TIMEOUT": "3", "MEDAI_DB_STATEMENT_TIMEOUT": "3"})
