"""The outbox table: written by use cases through their unit of work (``uow.outbox``), read and
updated by the dispatcher (``OutboxStore``), each of its calls a short transaction of its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from psycopg.types.json import Jsonb
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert

from domain.outbox import Claimed, Message
from persistence.schema import outbox
from persistence.sql import Sql

if TYPE_CHECKING:
    from persistence.db import Database, UnitOfWork

_o = outbox

_ENQUEUE = Sql(
    insert(_o)
    .values(
        kind=bindparam("kind"),
        payload=bindparam("payload"),
        dedup_key=bindparam("dedup_key"),
        available_at=func.coalesce(bindparam("not_before"), func.now()),
    )
    .on_conflict_do_nothing(index_elements=[_o.c.dedup_key])
    .returning(_o.c.id)
)

# Due pending rows, oldest due first; rows another dispatcher holds are skipped, not waited
# for. The claim pushes ``available_at`` to the end of the lease: the row is invisible to other
# claims until then, and comes back by itself if this dispatcher dies before recording an
# outcome.
_CLAIM = text(
    """
    UPDATE outbox AS o
    SET available_at = now() + make_interval(secs => :lease), attempts = o.attempts + 1
    FROM (
        SELECT id FROM outbox
        WHERE status = 'pending' AND available_at <= now()
        ORDER BY available_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) AS due
    WHERE o.id = due.id
    RETURNING o.id, o.kind, o.payload, o.attempts, o.created_at
    """
)
_CLAIM_SQL = Sql(_CLAIM.bindparams(bindparam("lease"), bindparam("limit")))

# Outcomes are recorded only by the attempt that holds the row: after a lease ran out and
# another dispatcher claimed it again, the late one's failure changes nothing.
_HELD = (_o.c.id == bindparam("id"), _o.c.attempts == bindparam("attempt"))
_DELIVERED = Sql(
    _o.update()
    .where(_o.c.id == bindparam("id"), _o.c.status == "pending")
    .values(status="delivered", delivered_at=func.now(), last_error=None)
)
_RETRY = Sql(
    _o.update()
    .where(*_HELD, _o.c.status == "pending")
    .values(available_at=bindparam("at"), last_error=bindparam("error"))
)
_DEAD = Sql(
    _o.update()
    .where(*_HELD, _o.c.status == "pending")
    .values(status="dead", last_error=bindparam("error"))
)
_NOW = Sql(select(func.now().label("now")))
_DEPTH = Sql(
    select(
        func.count().label("depth"),
        func.min(_o.c.created_at).label("oldest"),
        func.now().label("now"),
    ).where(_o.c.status == "pending")
)
_PURGE = Sql(
    _o.delete().where(
        _o.c.status == "delivered",
        _o.c.delivered_at < func.now() - func.make_interval(0, 0, 0, bindparam("days")),
    )
)


class OutboxRepository:
    """``uow.outbox``: the domain's ``Outbox`` port, inside the use case's transaction."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def enqueue(
        self,
        message: Message,
        *,
        not_before: datetime | None = None,
        dedup_key: str | None = None,
    ) -> UUID | None:
        row = await self._uow.fetch_one(
            _ENQUEUE,
            {
                "kind": message.kind,
                "payload": Jsonb(message.payload()),
                "dedup_key": dedup_key,
                "not_before": not_before,
            },
        )
        return None if row is None else UUID(str(row["id"]))


class OutboxStore:
    """The dispatcher's ``OutboxStore`` port over the pool."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def claim(self, limit: int, lease: timedelta) -> list[Claimed]:
        async with self._database.unit_of_work() as uow:
            rows = await uow.fetch_all(_CLAIM_SQL, {"lease": lease.total_seconds(), "limit": limit})
            await uow.commit()
        return [
            Claimed(
                id=row["id"],
                kind=row["kind"],
                payload=row["payload"],
                attempt=row["attempts"],
                created_at=row["created_at"],
            )
            for row in rows
        ]

    async def _write(self, sql: Sql, params: dict[str, Any]) -> None:
        async with self._database.unit_of_work() as uow:
            await uow.execute(sql, params)
            await uow.commit()

    async def delivered(self, message: Claimed) -> None:
        await self._write(_DELIVERED, {"id": message.id})

    async def retry_at(self, message: Claimed, at: datetime, error: str) -> None:
        await self._write(
            _RETRY, {"id": message.id, "attempt": message.attempt, "at": at, "error": error}
        )

    async def dead(self, message: Claimed, error: str) -> None:
        await self._write(_DEAD, {"id": message.id, "attempt": message.attempt, "error": error})

    async def now(self) -> datetime:
        async with self._database.single_read() as uow:
            row = await uow.fetch_one(_NOW)
        assert row is not None
        now: datetime = row["now"]
        return now

    async def depth(self) -> tuple[int, float]:
        """How many messages wait, and the age in seconds of the oldest (0 when none)."""
        async with self._database.single_read() as uow:
            row = await uow.fetch_one(_DEPTH)
        assert row is not None
        oldest = row["oldest"]
        age = (row["now"] - oldest).total_seconds() if oldest is not None else 0.0
        return int(row["depth"]), max(age, 0.0)

    async def purge_delivered(self, days: int) -> int:
        """Forget delivered messages older than ``days`` (the table would only grow)."""
        async with self._database.unit_of_work() as uow:
            count = await uow.execute(_PURGE, {"days": days})
            await uow.commit()
        return count
