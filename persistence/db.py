"""Connection pool and the unit of work: one transaction per request.

The errors the upper layers know about (``DatabaseUnavailable``, ``Contention``) are the
domain's (``domain.errors``); psycopg's own exceptions do not leak past the executor and the
repositories except as those or as domain errors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Any, Protocol, Self

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from domain.audit import AuditTrail, RequestContext
from domain.errors import Contention as Contention
from domain.errors import DatabaseUnavailable as DatabaseUnavailable
from persistence.account_tokens import AccountTokenRepository
from persistence.appointments import AppointmentRepository
from persistence.audit import AuditRepository
from persistence.availability import AvailabilityRepository
from persistence.executor import DatabaseTimeout as DatabaseTimeout
from persistence.executor import Executor, Pool, raise_if_outage
from persistence.idempotency import IdempotencyRepository
from persistence.inference_records import InferenceRecordRepository
from persistence.login_throttle import LoginThrottleRepository
from persistence.mfa import MfaRepository
from persistence.outbox import OutboxRepository
from persistence.refresh_tokens import RefreshTokenRepository
from persistence.sql import Sql
from persistence.users import UserRepository
from persistence.webhooks import WebhookRepository

log = logging.getLogger(__name__)


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

    @property
    def operation_timeout(self) -> float:
        return self.timeouts.operation

    @property
    def max_connections(self) -> int:
        return self.pool.max_size

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
        """A unit of work for one-statement reads (``domain.ports.Transactions.single_read``
        says when): autocommit, no transaction around it. It cannot commit."""
        return UnitOfWork(self, context, autocommit=True)

    def transactions(self, context: RequestContext | None = None) -> RequestTransactions:
        """The units of work of one request, for its use cases."""
        return RequestTransactions(self, context)

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None before the first migration)."""
        async with self.unit_of_work() as uow:
            try:
                return await uow.fetch_value_text("SELECT version_num FROM alembic_version")  # type: ignore[no-any-return]
            except psycopg.errors.UndefinedTable:
                return None


class UnitOfWork:
    """One pooled connection and one transaction; rolls back unless ``commit()`` was called.
    Implements ``domain.ports.UnitOfWork``.

    Repositories hang off it (``uow.users``…), run their statements through its executor and
    never commit themselves, so a use case either writes everything it meant to or nothing.
    ``uow.audit`` collects the request's audit events: they are written with the change they
    describe on commit, and otherwise (reads, refusals) when the unit ends, settled by the
    domain from how it ended (``AuditTrail.settle``).
    """

    def __init__(
        self,
        database: Database,
        context: RequestContext | None = None,
        *,
        autocommit: bool = False,
        pool: Pool | None = None,
    ) -> None:
        # ``pool``: where the connection comes from when not ``database`` itself (a stale read
        # routed between a replica and the primary: persistence.replica).
        self._executor = Executor(pool or database, autocommit=autocommit)
        self._committed = False
        self._autocommit = autocommit
        self.audit = AuditTrail(context)

    async def __aenter__(self) -> Self:
        await self._executor.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._executor.opened:
            return
        conn = self._executor.connection
        try:
            if not conn.closed:
                try:
                    if self._autocommit:
                        # Each statement committed itself, the audit event's too. The
                        # connection goes back in autocommit: the next unit sets the mode it
                        # needs on checkout, so reads in a row switch nothing.
                        await self._write_audit(exc)
                        return
                    if exc is not None and not self._committed:
                        with self._executor.bounded(conn):
                            await conn.rollback()
                    await self._write_audit(exc)
                    conn = self._executor.connection
                    if not self._committed and not conn.closed:
                        with self._executor.bounded(conn):
                            await conn.rollback()
                except psycopg.Error as error:
                    raise_if_outage(error, conn)
                    raise
        finally:
            await self._executor.close()

    @property
    def connection(self) -> AsyncConnection[DictRow]:
        return self._executor.connection

    # For stores that run their own short units over the pool (persistence.outbox.OutboxStore).
    async def fetch_one(self, sql: Sql, params: Mapping[str, Any] | None = None) -> DictRow | None:
        return await self._executor.fetch_one(sql, params)

    async def fetch_all(self, sql: Sql, params: Mapping[str, Any] | None = None) -> list[DictRow]:
        return await self._executor.fetch_all(sql, params)

    async def execute(self, sql: Sql, params: Mapping[str, Any] | None = None) -> int:
        return await self._executor.execute(sql, params)

    async def fetch_value_text(self, text: str, params: Mapping[str, Any] | None = None) -> Any:
        """One value of a statement written as text (operations, tests)."""
        return await self._executor.fetch_value_text(text, params)

    async def commit(self) -> None:
        if self._autocommit:
            raise RuntimeError("a single read has no transaction to commit")
        await self.audit_log.append(self.audit.context, self.audit.take())
        await self._executor.commit()
        self._committed = True

    async def _write_audit(self, exc: BaseException | None) -> None:
        """Write what the unit did not commit: reads (in their own transaction, which then
        commits) and refusals (after the rollback of what was refused)."""
        events = self.audit.settle(exc)
        if not events:
            return
        try:
            await self.audit_log.append(self.audit.context, events)
            with self._executor.bounded():
                await self.connection.commit()
            self._committed = True
        except (psycopg.Error, DatabaseTimeout) as error:
            if exc is None:
                # A read that cannot be put on record is not answered: the reply the use case
                # built is dropped and the client gets a 503 (or 500), never unaudited data.
                if isinstance(error, psycopg.Error):
                    raise_if_outage(error, self.connection)
                raise
            # A refusal keeps its own answer; losing its event is logged, not escalated.
            log.exception("could not write %d audit event(s)", len(events))

    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self._executor)

    @cached_property
    def refresh_tokens(self) -> RefreshTokenRepository:
        return RefreshTokenRepository(self._executor)

    @cached_property
    def login_throttle(self) -> LoginThrottleRepository:
        return LoginThrottleRepository(self._executor)

    @cached_property
    def account_tokens(self) -> AccountTokenRepository:
        return AccountTokenRepository(self._executor)

    @cached_property
    def mfa(self) -> MfaRepository:
        return MfaRepository(self._executor)

    @cached_property
    def audit_log(self) -> AuditRepository:
        return AuditRepository(self._executor)

    @cached_property
    def appointments(self) -> AppointmentRepository:
        return AppointmentRepository(self._executor)

    @cached_property
    def availability(self) -> AvailabilityRepository:
        return AvailabilityRepository(self._executor)

    @cached_property
    def idempotency(self) -> IdempotencyRepository:
        return IdempotencyRepository(self._executor)

    @cached_property
    def inference_records(self) -> InferenceRecordRepository:
        return InferenceRecordRepository(self._executor)

    @cached_property
    def outbox(self) -> OutboxRepository:
        return OutboxRepository(self._executor)

    @cached_property
    def webhooks(self) -> WebhookRepository:
        return WebhookRepository(self._executor)

    async def rollback(self) -> None:
        """Abandon what this unit did so far; it can go on with a fresh transaction."""
        await self._executor.rollback()


class StaleReads(Protocol):
    """Where ``stale_read`` units come from when a read replica is configured
    (``persistence.replica.ReadReplica``)."""

    def stale_read(self, context: RequestContext | None) -> UnitOfWork: ...


class RequestTransactions:
    """``domain.ports.Transactions`` for one request: units of work on ``database`` whose
    audit events carry ``context``. ``replica``, when set, serves its stale reads, unless
    ``primary_only`` (the caller wrote recently: its own writes must show)."""

    __slots__ = ("_context", "_database", "_replica")

    def __init__(
        self,
        database: Database,
        context: RequestContext | None = None,
        *,
        replica: StaleReads | None = None,
        primary_only: bool = False,
    ) -> None:
        self._database = database
        self._context = context
        self._replica = None if primary_only else replica

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._database, self._context)

    def single_read(self) -> UnitOfWork:
        return UnitOfWork(self._database, self._context, autocommit=True)

    def stale_read(self) -> UnitOfWork:
        if self._replica is None:
            return self.single_read()
        return self._replica.stale_read(self._context)
