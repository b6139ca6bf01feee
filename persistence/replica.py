"""Optional read replica: list and search reads (``Transactions.stale_read``) go to a streaming
standby while it is known to be at most ``max_lag`` seconds behind the primary, else to the
primary.

How "at most ``max_lag`` behind" is known, without trusting clocks or replay timestamps (which
age on an idle primary): a monitor task reads the primary's WAL position, then the standby's
replay position. When the standby has replayed up to a position the primary reported at time
``t``, every commit acknowledged before ``t`` is visible on the standby, so its staleness is at
most ``now - t``. The bound is checked when a read is routed, against the newest such ``t``:
a standby that stops replaying, or a monitor that cannot reach it, ages out by itself within
``max_lag``, without waiting for the next sample to notice.

A read that cannot get a standby connection goes to the primary (and the standby is treated as
down until the monitor sees it caught up again): lists keep answering when the replica fails.
The audit event of a read is a write, so it goes to the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import PoolTimeout

from domain.audit import RequestContext
from domain.errors import DatabaseUnavailable
from persistence.db import Database, UnitOfWork

log = logging.getLogger(__name__)

Clock = Callable[[], float]
NOT_CHECKED = "not checked yet"


def lsn(text: str) -> int:
    """A WAL position as PostgreSQL spells it (``16/B374D848``), as a number."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """What readiness reports: ``ok``, or why reads go to the primary."""

    usable: bool
    detail: str


class Freshness:
    """How far behind the standby may be, from the monitor's samples; pure (clock injected), so
    its arithmetic is unit-tested without servers."""

    def __init__(self, max_lag: float, clock: Clock = time.monotonic) -> None:
        self.max_lag = max_lag
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque(maxlen=256)
        self.caught_up_at = -math.inf  # the newest primary sample the standby has replayed
        self.problem: str | None = NOT_CHECKED

    def primary_at(self, taken_at: float, position: int) -> None:
        """The primary's WAL position, read by a query sent at ``taken_at``."""
        self._samples.append((taken_at, position))

    def standby_at(self, replayed: int) -> None:
        """The standby's replay position, read after every ``primary_at`` so far."""
        self.problem = None
        while self._samples and self._samples[0][1] <= replayed:
            taken_at, _ = self._samples.popleft()
            self.caught_up_at = max(self.caught_up_at, taken_at)

    def down(self, reason: str) -> None:
        """The standby failed: unusable until it is seen caught up again."""
        self.caught_up_at = -math.inf
        self._samples.clear()
        self.problem = reason

    def staleness(self) -> float:
        """An upper bound on how far behind the primary the standby is now, in seconds."""
        return max(0.0, self._clock() - self.caught_up_at)

    def fresh(self) -> bool:
        return self.problem is None and self.staleness() <= self.max_lag

    def state(self) -> ReplicaState:
        if self.problem is not None:
            known = "unknown" if self.problem == NOT_CHECKED else "down"
            return ReplicaState(False, f"{known}: {self.problem}; lists are read on the primary")
        behind = self.staleness()
        if behind > self.max_lag:
            caught = "never" if math.isinf(behind) else f"{behind:.1f} s"
            return ReplicaState(
                False,
                f"lagging: not caught up for {caught} (bound {self.max_lag:g} s); "
                "lists are read on the primary",
            )
        return ReplicaState(True, "ok")


class ReadReplica:
    """The standby's pool, its monitor and the routing of stale reads between it and the
    primary. Implements ``persistence.executor.Pool`` for the units of ``stale_read``."""

    def __init__(
        self,
        primary: Database,
        standby: Database,
        *,
        max_lag: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self.primary = primary
        self.standby = standby
        self.freshness = Freshness(max_lag, clock)
        self._clock = clock
        self._lent: set[int] = set()  # ids of standby connections lent out now
        self._task: asyncio.Task[None] | None = None
        self.reads = {"replica": 0, "primary": 0}

    # --- executor.Pool ------------------------------------------------------------------------

    @property
    def operation_timeout(self) -> float:
        return self.primary.operation_timeout

    @property
    def max_connections(self) -> int:
        return self.primary.max_connections + self.standby.max_connections

    async def acquire(self) -> AsyncConnection[DictRow]:
        if self.freshness.fresh():
            try:
                # A short wait: a standby that cannot lend a connection at once is not worth
                # queueing for when the primary can answer.
                conn = await self.standby.pool.getconn(timeout=self.standby.connect_timeout)
            except (PoolTimeout, psycopg.OperationalError) as exc:
                self.freshness.down(f"no connection: {exc}")
                log.warning("read replica unavailable, reading on the primary: %s", exc)
            else:
                self._lent.add(id(conn))
                self.reads["replica"] += 1
                return conn
        self.reads["primary"] += 1
        return await self.primary.acquire()

    async def release(self, conn: AsyncConnection[DictRow]) -> None:
        if id(conn) in self._lent:
            self._lent.discard(id(conn))
            if conn.broken:
                # Dead under a read: the standby went away. The executor moves the read to
                # another connection, which this makes the primary's.
                self.freshness.down("a connection broke")
            await self.standby.release(conn)
        else:
            await self.primary.release(conn)

    def on_standby(self, conn: AsyncConnection[DictRow]) -> bool:
        return id(conn) in self._lent

    def stale_read(self, context: RequestContext | None) -> StaleRead:
        """``persistence.db.StaleReads``: a single read on the standby if it is fresh."""
        return StaleRead(self, context)

    # --- life and monitoring --------------------------------------------------------------------

    async def open(self, interval: float) -> None:
        await self.standby.open()
        self._task = asyncio.create_task(self._watch(interval), name="medai-replica-monitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.standby.close()

    def state(self) -> ReplicaState:
        return self.freshness.state()

    async def _watch(self, interval: float) -> None:
        """Sample both servers every ``interval`` on connections of the monitor's own (not the
        pools': a busy primary pool must not make the standby look stale)."""
        primary: AsyncConnection[DictRow] | None = None
        standby: AsyncConnection[DictRow] | None = None
        bound = max(1.0, 2 * interval)
        try:
            while True:
                try:
                    async with asyncio.timeout(bound):
                        primary = primary or await self._connect(self.primary)
                        taken_at = self._clock()
                        row = await (
                            await primary.execute("SELECT pg_current_wal_lsn()::text AS at")
                        ).fetchone()
                        assert row is not None
                        self.freshness.primary_at(taken_at, lsn(row["at"]))
                except (psycopg.Error, TimeoutError, OSError) as exc:
                    # Without the primary's position nothing new is known: the standby ages.
                    log.debug("replica monitor: primary not sampled: %s", exc)
                    await _discard(primary)
                    primary = None
                try:
                    async with asyncio.timeout(bound):
                        standby = standby or await self._connect(self.standby)
                        row = await (
                            await standby.execute(
                                "SELECT pg_is_in_recovery() AS standby, "
                                "pg_last_wal_replay_lsn()::text AS replayed"
                            )
                        ).fetchone()
                        assert row is not None
                    if not row["standby"] or row["replayed"] is None:
                        self.freshness.down("the replica URL is not a streaming standby")
                    else:
                        self.freshness.standby_at(lsn(row["replayed"]))
                except TimeoutError:
                    # Slow, not known to be down (a busy host): nothing new is known, so the
                    # replica ages out of use by itself if this goes on.
                    log.debug("replica monitor: standby not sampled in time")
                    await _discard(standby)
                    standby = None
                except (psycopg.Error, OSError) as exc:
                    self.freshness.down(f"not answering ({type(exc).__name__})")
                    await _discard(standby)
                    standby = None
                await asyncio.sleep(interval)
        finally:
            await _discard(primary)
            await _discard(standby)

    async def _connect(self, database: Database) -> AsyncConnection[DictRow]:
        return await AsyncConnection[DictRow].connect(
            database.url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=max(1, round(database.connect_timeout)),
            application_name="medai-replica-monitor",
        )


async def _discard(conn: AsyncConnection[DictRow] | None) -> None:
    """Close a monitor connection that failed (its replacement is opened on the next tick)."""
    if conn is not None:
        with contextlib.suppress(psycopg.Error, OSError):
            await conn.close()


class StaleRead(UnitOfWork):
    """A single read routed by ``ReadReplica``; its audit events go to the primary."""

    def __init__(self, replica: ReadReplica, context: RequestContext | None) -> None:
        super().__init__(replica.primary, context, autocommit=True, pool=replica)
        self._replica = replica

    async def _write_audit(self, exc: BaseException | None) -> None:
        if not self._replica.on_standby(self.connection):
            await super()._write_audit(exc)
            return
        events = self.audit.settle(exc)
        if not events:
            return
        try:
            async with self._replica.primary.single_read(self.audit.context) as writer:
                await writer.audit_log.append(self.audit.context, events)
        except (psycopg.Error, DatabaseUnavailable):
            if exc is None:
                # As on the primary: a read that cannot be put on record is not answered.
                raise
            log.exception("could not write %d audit event(s)", len(events))
