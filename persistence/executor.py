"""Runs the statements of one unit of work on its pooled connection.

Repositories take an ``Executor``, not the unit of work: they depend on this module only, and
the unit of work (``persistence.db``) builds them. The executor owns the unit's connection,
bounds every operation in time, replaces a connection found dead before the unit used it, and
turns psycopg's failures into the errors the domain knows (``domain.ports``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol, Self

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import ConnStatus
from psycopg.rows import DictRow

from domain.errors import InvalidRequest
from domain.ports import Contention, DatabaseUnavailable
from persistence.sql import Sql

log = logging.getLogger(__name__)


class DatabaseTimeout(DatabaseUnavailable):
    """A statement, commit or rollback got no answer within the operation timeout (a frozen
    or partitioned database server); its connection was cut and will not be reused."""


class Pool(Protocol):
    """Where an executor borrows its connection (``persistence.db.Database``)."""

    @property
    def operation_timeout(self) -> float: ...
    @property
    def max_connections(self) -> int: ...
    async def acquire(self) -> AsyncConnection[DictRow]: ...
    async def release(self, conn: AsyncConnection[DictRow]) -> None: ...


class _Bounded:
    """Bounds one operation on ``conn`` by ``seconds``: when the time is up, the connection's
    socket is shut down. psycopg then fails the operation as it fails on a network error and
    marks the connection broken, so the pool throws it away.

    Not task cancellation (``asyncio.timeout``): psycopg answers a cancelled operation by
    asking the server to cancel it and waiting for that, which a frozen server never answers.
    Shutting the socket down rather than closing it keeps its descriptor number in use until
    psycopg lets go of it, so no new connection can be confused with this one.
    """

    __slots__ = ("_conn", "_handle", "_seconds", "expired")

    def __init__(self, conn: AsyncConnection[Any], seconds: float) -> None:
        self._conn = conn
        self._seconds = seconds
        self.expired = False

    def __enter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._seconds, self._expire)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._handle.cancel()
        if self.expired and isinstance(exc, psycopg.Error):
            raise DatabaseTimeout(
                f"no answer from the database within {self._seconds:g} s"
            ) from exc

    def _expire(self) -> None:
        self.expired = True
        try:
            sock = socket.socket(fileno=os.dup(self._conn.pgconn.socket))
        except (OSError, psycopg.Error):
            return  # already closed: the operation fails by itself
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            sock.close()
        log.warning("database operation cut after %g s without an answer", self._seconds)


def raise_if_outage(exc: psycopg.Error, conn: AsyncConnection[Any]) -> None:
    """OperationalError is psycopg's "the server or the link failed" (AdminShutdown, a closed
    connection, a timeout); any other error on a connection that is no longer usable is the
    same outage seen from another side. Both are a 503, never a 500."""
    if isinstance(exc, psycopg.OperationalError) or conn.pgconn.status != ConnStatus.OK:
        raise DatabaseUnavailable(str(exc)) from exc


def _rolled_back(exc: psycopg.Error) -> bool:
    """SQLSTATE class 40, "transaction rollback": a serialization failure (40001) or a
    deadlock (40P01). By the code, not the class: psycopg files ``DeadlockDetected`` under
    ``OperationalError``, not ``TransactionRollback``."""
    return (exc.sqlstate or "").startswith("40")


NUL_REFUSED = "Text may not contain the NUL character (U+0000)."


def _holds_nul(params: Mapping[str, Any]) -> bool:
    """PostgreSQL text cannot store U+0000, so psycopg refuses such a value before sending it."""
    for value in params.values():
        values = value if isinstance(value, list | tuple) else (value,)
        if any(isinstance(item, str) and "\x00" in item for item in values):
            return True
    return False


class Executor:
    """One borrowed connection in one mode (a transaction, or autocommit for single reads)."""

    __slots__ = ("_autocommit", "_conn", "_pool", "_untouched")

    def __init__(self, pool: Pool, *, autocommit: bool) -> None:
        self._pool = pool
        self._autocommit = autocommit
        self._conn: AsyncConnection[DictRow] | None = None
        self._untouched = True  # no statement has reached the database through this unit yet

    async def open(self) -> None:
        # getconn/putconn rather than the pool's connection() context manager: that one is an
        # async generator, and creating one per request is measurable on a hot path.
        self._conn = await self._pool.acquire()
        await self._set_mode(self._conn)

    async def close(self) -> AsyncConnection[DictRow] | None:
        """Hand the connection back to the pool."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._pool.release(conn)
        return conn

    async def _set_mode(self, conn: AsyncConnection[DictRow]) -> None:
        # Set from what this unit needs, not from what the previous borrower left behind
        # (every checkout comes through here): a transaction unit on an autocommit connection
        # would take FOR UPDATE locks that end with their statement. An attribute check when
        # nothing needs changing, which is the common case of reads following reads.
        if conn.autocommit != self._autocommit:
            await conn.set_autocommit(self._autocommit)

    @property
    def opened(self) -> bool:
        return self._conn is not None

    @property
    def connection(self) -> AsyncConnection[DictRow]:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its 'async with' block")
        return self._conn

    def bounded(self, conn: AsyncConnection[DictRow] | None = None) -> _Bounded:
        return _Bounded(conn or self.connection, self._pool.operation_timeout)

    async def commit(self) -> None:
        try:
            with self.bounded():
                await self.connection.commit()
        except psycopg.Error as exc:
            raise_if_outage(exc, self.connection)
            raise

    async def rollback(self) -> None:
        try:
            with self.bounded():
                await self.connection.rollback()
        except psycopg.Error as exc:
            raise_if_outage(exc, self.connection)
            raise

    async def fetch_one(self, sql: Sql, params: Mapping[str, Any] | None = None) -> DictRow | None:
        cur = await self._execute(sql.text, sql.bind(params))
        return await cur.fetchone()

    async def fetch_all(self, sql: Sql, params: Mapping[str, Any] | None = None) -> list[DictRow]:
        cur = await self._execute(sql.text, sql.bind(params))
        return await cur.fetchall()

    async def execute(self, sql: Sql, params: Mapping[str, Any] | None = None) -> int:
        cur = await self._execute(sql.text, sql.bind(params))
        return cur.rowcount

    async def fetch_value_text(self, text: str, params: Mapping[str, Any] | None = None) -> Any:
        cur = await self._execute(text, dict(params or {}))
        row = await cur.fetchone()
        return None if row is None else next(iter(row.values()))

    async def _replace_dead(self, dead: AsyncConnection[DictRow]) -> AsyncConnection[DictRow]:
        """Another connection instead of one found dead; the pool discards the dead one and
        opens a new one in its place."""
        self._conn = None
        await self._pool.release(dead)
        self._conn = await self._pool.acquire()
        await self._set_mode(self._conn)
        return self._conn

    async def _execute(self, text: str, params: dict[str, Any]) -> psycopg.AsyncCursor[DictRow]:
        conn = self.connection
        # After a database restart every pooled connection is dead: up to the pool's size.
        replacements = self._pool.max_connections
        try:
            while True:
                try:
                    with self.bounded(conn):
                        return await conn.execute(text, params)
                except psycopg.OperationalError:
                    if not (self._untouched and conn.broken) or replacements == 0:
                        raise
                # Dead before this unit did anything on it (it died idle in the pool):
                # nothing was done, nothing to lose, so the statement goes to another one.
                replacements -= 1
                conn = await self._replace_dead(conn)
        except psycopg.Error as exc:
            # Any text field of any request can carry it: one answer (400) for all of them.
            if isinstance(exc, psycopg.DataError) and _holds_nul(params):
                raise InvalidRequest(NUL_REFUSED) from None
            if _rolled_back(exc) and not conn.broken:
                raise Contention(str(exc)) from exc
            raise_if_outage(exc, conn)
            raise
        finally:
            self._untouched = False
