"""Connection pool and the unit of work: one transaction per request.

Exceptions raised here (see ``DatabaseUnavailable``) are the only database errors the upper
layers know about; psycopg's own exceptions do not leak past the repositories except as
domain errors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import ConnStatus
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from domain.audit import AuditTrail, RequestContext
from domain.errors import DomainError, InvalidRequest
from persistence.sql import Sql

if TYPE_CHECKING:
    from persistence.account_tokens import AccountTokenRepository
    from persistence.appointments import AppointmentRepository
    from persistence.audit import AuditRepository
    from persistence.idempotency import IdempotencyRepository
    from persistence.inference_records import InferenceRecordRepository
    from persistence.login_throttle import LoginThrottleRepository
    from persistence.mfa import MfaRepository
    from persistence.outbox import OutboxRepository
    from persistence.refresh_tokens import RefreshTokenRepository
    from persistence.users import UserRepository

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database could not be reached in time; the request may be retried later."""


class Contention(DatabaseUnavailable):
    """PostgreSQL aborted the transaction to break a deadlock (or a serialization conflict)
    with a concurrent one; run again, it may well succeed. A use case that expects such races
    retries; elsewhere it is answered like an outage (503, retry later)."""


class DatabaseTimeout(DatabaseUnavailable):
    """A statement, commit or rollback got no answer within the operation timeout (a frozen
    or partitioned database server); its connection was cut and will not be reused."""


@dataclass(frozen=True)
class Timeouts:
    """How long database work may take, in seconds (0 turns a server-side one off).

    ``operation`` is the client's own bound on each statement, commit or rollback: the only one
    that holds when the server cannot answer at all (a frozen server runs none of its timers).
    The other three are PostgreSQL's, sent as connection options, and stop slow statements,
    lock waits and abandoned transactions on the server while the connection stays usable.
    ``keepalive_idle`` turns on TCP keepalives, so a connection to a host that vanished is
    noticed by the kernel even when no request is using it.
    """

    operation: float = 4.0
    statement: float = 3.0
    lock: float = 2.0
    idle_in_transaction: float = 15.0
    keepalive_idle: int = 10

    def server_options(self) -> str:
        settings = {
            "statement_timeout": self.statement,
            "lock_timeout": self.lock,
            "idle_in_transaction_session_timeout": self.idle_in_transaction,
        }
        options = " ".join(f"-c {name}={round(value * 1000)}" for name, value in settings.items())
        # A statement whose connection the client cut (below) is stopped by the server at its
        # next check instead of running on for nobody.
        return options + " -c client_connection_check_interval=1000"

    def keepalive_options(self) -> dict[str, int]:
        # Probes every few seconds after the idle time, and the connection declared dead
        # after three unanswered ones. libpq ignores these on a Unix socket.
        return {
            "keepalives": 1,
            "keepalives_idle": self.keepalive_idle,
            "keepalives_interval": max(1, self.keepalive_idle // 2),
            "keepalives_count": 3,
        }


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


def _raise_if_outage(exc: psycopg.Error, conn: AsyncConnection[Any]) -> None:
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


def libpq_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs (``postgresql+psycopg://``) as well as plain libpq ones."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


class Database:
    """The process's connection pool. Opened in the app's lifespan, never at import."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        connect_timeout: float = 2.0,
        timeouts: Timeouts = Timeouts(),
        transaction_pooler: bool = False,
    ) -> None:
        self.url = libpq_url(url)
        self.connect_timeout = connect_timeout
        self.timeouts = timeouts
        connection_options: dict[str, Any] = {
            "row_factory": dict_row,
            "connect_timeout": max(1, round(connect_timeout)),
            "application_name": "medai-backend",
            **timeouts.keepalive_options(),
        }
        if transaction_pooler:
            # Behind PgBouncer in transaction mode consecutive transactions may run on
            # different server connections: a statement prepared on one is unknown on the
            # next, so psycopg must never prepare (None). PgBouncer also refuses the
            # ``options`` startup parameter: the session zone is then the database's (the API
            # converts to UTC) and the server-side timeouts must be set on the role
            # (docs/operations.md, "Timeouts"); the client-side operation bound still holds.
            connection_options["prepare_threshold"] = None
        else:
            # Every column is timestamptz, so the session zone only shapes how values
            # arrive: in UTC they come as datetime.UTC (psycopg maps "UTC" to it), which
            # the API's "...Z" formatting takes without a zone conversion per value.
            # Connection options rather than a SET per checkout: no round trip, and they
            # hold for the session's life.
            connection_options["options"] = "-c TimeZone=UTC " + timeouts.server_options()
        self.pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=connect_timeout,
            kwargs=connection_options,
            connection_class=AsyncConnection[DictRow],
            # No ping before each checkout (a round trip per request): a unit of work whose
            # first statement finds its connection dead moves to a fresh one instead.
            check=None,
            # 0: a failed background connect gives up at once instead of backing off for
            # minutes; the next request that needs a connection tries again, so service
            # resumes as soon as the database is back.
            reconnect_timeout=0,
        )

    async def acquire(self) -> AsyncConnection[DictRow]:
        try:
            return await self.pool.getconn()
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    async def release(self, conn: AsyncConnection[DictRow]) -> None:
        """Hand a connection back; the pool rolls back what is left open, and replaces it if
        it broke."""
        await self.pool.putconn(conn)

    async def open(self) -> None:
        # wait=False: the service starts (and reports not-ready) even if the database is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    def unit_of_work(self, context: RequestContext | None = None) -> UnitOfWork:
        return UnitOfWork(self, context)

    def single_read(self, context: RequestContext | None = None) -> UnitOfWork:
        """A unit of work for a use case that reads with one statement (the per-request
        session check, an appointment read): no transaction around it, since the statement is
        atomic by itself and BEGIN and COMMIT would be two round trips for nothing; its audit
        event, if any, is a statement of its own that commits by itself. Only for one-statement
        reads: two statements here would not share a snapshot. It cannot commit."""
        return UnitOfWork(self, context, autocommit=True)

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first migration)."""
        async with self.unit_of_work() as uow:
            try:
                return await uow.fetch_value_text("SELECT version_num FROM alembic_version")  # type: ignore[no-any-return]
            except psycopg.errors.UndefinedTable:
                return None


class UnitOfWork:
    """One pooled connection and one transaction; rolls back unless ``commit()`` was called.

    Repositories hang off it (``uow.users``…) and never commit themselves, so a use case either
    writes everything it meant to or nothing. ``uow.audit`` collects the request's audit events:
    they are written with the change they describe on commit, and otherwise (reads, refusals)
    when the unit ends, with the outcome of the request.
    """

    def __init__(
        self,
        database: Database,
        context: RequestContext | None = None,
        *,
        autocommit: bool = False,
    ) -> None:
        self._database = database
        self._conn: AsyncConnection[DictRow] | None = None
        self._committed = False
        self._autocommit = autocommit
        self._untouched = True  # no statement has reached the database through this unit yet
        self.audit = AuditTrail(context)

    async def __aenter__(self) -> Self:
        # getconn/putconn rather than the pool's connection() context manager: that one is an
        # async generator, and creating one per request is measurable on a hot path.
        self._conn = await self._database.acquire()
        await self._set_mode(self._conn)
        return self

    async def _set_mode(self, conn: AsyncConnection[DictRow]) -> None:
        # Set from what this unit needs, not from what the previous borrower left behind
        # (every checkout comes through here): a transaction unit on an autocommit connection
        # would take FOR UPDATE locks that end with their statement. An attribute check when
        # nothing needs changing, which is the common case of reads following reads.
        if conn.autocommit != self._autocommit:
            await conn.set_autocommit(self._autocommit)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            if not conn.closed:
                try:
                    if self._autocommit:
                        # Each statement committed itself, the audit event's too. The
                        # connection goes back in autocommit: the next unit sets the mode it
                        # needs on checkout (``_set_mode``), so reads in a row switch nothing.
                        await self._write_audit(exc)
                        return
                    if exc is not None and not self._committed:
                        with self._bounded(conn):
                            await conn.rollback()
                    await self._write_audit(exc)
                    if not self._committed and not conn.closed:
                        with self._bounded(conn):
                            await conn.rollback()
                except psycopg.Error as error:
                    _raise_if_outage(error, conn)
                    raise
        finally:
            self._conn = None
            await self._database.release(conn)

    def _bounded(self, conn: AsyncConnection[DictRow]) -> _Bounded:
        return _Bounded(conn, self._database.timeouts.operation)

    @property
    def connection(self) -> AsyncConnection[DictRow]:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its 'async with' block")
        return self._conn

    async def commit(self) -> None:
        if self._autocommit:
            raise RuntimeError("a single read has no transaction to commit")
        await self.audit_log.append(self.audit.context, self.audit.take())
        try:
            with self._bounded(self.connection):
                await self.connection.commit()
        except psycopg.Error as exc:
            _raise_if_outage(exc, self.connection)
            raise
        self._committed = True

    async def _write_audit(self, exc: BaseException | None) -> None:
        """Write what the unit did not commit: reads (in their own transaction, which then
        commits) and refusals (after the rollback of what was refused)."""
        if exc is None:
            events = self.audit.take()
        elif isinstance(exc, DomainError):
            events = self.audit.take(exc.status, exc.detail)
        else:
            events = self.audit.take(503 if isinstance(exc, DatabaseUnavailable) else 500)
        if not events:
            return
        try:
            await self.audit_log.append(self.audit.context, events)
            with self._bounded(self.connection):
                await self.connection.commit()
            self._committed = True
        except (psycopg.Error, DatabaseTimeout) as error:
            if exc is None:
                # A read that cannot be put on record is not answered: the reply the use case
                # built is dropped and the client gets a 503 (or 500), never unaudited data.
                if isinstance(error, psycopg.Error):
                    _raise_if_outage(error, self.connection)
                raise
            # A refusal keeps its own answer; losing its event is logged, not escalated.
            log.exception("could not write %d audit event(s)", len(events))

    @cached_property
    def users(self) -> UserRepository:
        from persistence.users import UserRepository

        return UserRepository(self)

    @cached_property
    def refresh_tokens(self) -> RefreshTokenRepository:
        from persistence.refresh_tokens import RefreshTokenRepository

        return RefreshTokenRepository(self)

    @cached_property
    def login_throttle(self) -> LoginThrottleRepository:
        from persistence.login_throttle import LoginThrottleRepository

        return LoginThrottleRepository(self)

    @cached_property
    def account_tokens(self) -> AccountTokenRepository:
        from persistence.account_tokens import AccountTokenRepository

        return AccountTokenRepository(self)

    @cached_property
    def mfa(self) -> MfaRepository:
        from persistence.mfa import MfaRepository

        return MfaRepository(self)

    @cached_property
    def audit_log(self) -> AuditRepository:
        from persistence.audit import AuditRepository

        return AuditRepository(self)

    @cached_property
    def appointments(self) -> AppointmentRepository:
        from persistence.appointments import AppointmentRepository

        return AppointmentRepository(self)

    @cached_property
    def idempotency(self) -> IdempotencyRepository:
        from persistence.idempotency import IdempotencyRepository

        return IdempotencyRepository(self)

    @cached_property
    def inference_records(self) -> InferenceRecordRepository:
        from persistence.inference_records import InferenceRecordRepository

        return InferenceRecordRepository(self)

    @cached_property
    def outbox(self) -> OutboxRepository:
        from persistence.outbox import OutboxRepository

        return OutboxRepository(self)

    async def rollback(self) -> None:
        """Abandon what this unit did so far; it can go on with a fresh transaction."""
        try:
            with self._bounded(self.connection):
                await self.connection.rollback()
        except psycopg.Error as exc:
            _raise_if_outage(exc, self.connection)
            raise

    # Small execution helpers shared by every repository.
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
        await self._database.release(dead)
        self._conn = await self._database.acquire()
        await self._set_mode(self._conn)
        return self._conn

    async def _execute(self, text: str, params: dict[str, Any]) -> psycopg.AsyncCursor[DictRow]:
        conn = self.connection
        # After a database restart every pooled connection is dead: up to the pool's size.
        replacements = self._database.pool.max_size
        try:
            while True:
                try:
                    with self._bounded(conn):
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
            _raise_if_outage(exc, conn)
            raise
        finally:
            self._untouched = False
