"""Idempotency keys for POST: the first request with a key is processed, later ones with the
same key and body get the stored reply. Kept in PostgreSQL so every instance agrees."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert

from persistence.executor import Executor
from persistence.schema import idempotency_keys
from persistence.sql import Sql

if TYPE_CHECKING:
    from psycopg.rows import DictRow


RETENTION_HOURS = 24

_k = idempotency_keys
_MATCH = (_k.c.user_id == bindparam("user_id"), _k.c.key == bindparam("key"))
_EXPIRE = Sql(
    _k.delete().where(
        *_MATCH,
        _k.c.created_at < func.now() - func.make_interval(0, 0, 0, 0, RETENTION_HOURS),
    )
)
# ON CONFLICT DO NOTHING waits for a concurrent transaction holding the same key to finish:
# two identical requests racing are serialised here, and the second one sees the first's reply.
_CLAIM = Sql(
    insert(_k)
    .values(user_id=bindparam("user_id"), key=bindparam("key"), request_hash=bindparam("hash"))
    .on_conflict_do_nothing(index_elements=[_k.c.user_id, _k.c.key])
    .returning(_k.c.key)
)
_STORED = Sql(select(_k.c.request_hash, _k.c.status, _k.c.response).where(*_MATCH))
_RECORD = Sql(
    _k.update()
    .where(*_MATCH)
    .values(
        status=bindparam("status"),
        response=bindparam("response"),
        resource_id=bindparam("resource_id"),
    )
)


class IdempotencyRepository:
    def __init__(self, executor: Executor) -> None:
        self._run = executor

    async def claim(self, user_id: UUID, key: str, request_hash: bytes) -> bool:
        """True if this request owns the key; False if a reply is already stored for it."""
        params = {"user_id": user_id, "key": key}
        await self._run.execute(_EXPIRE, params)
        row = await self._run.fetch_one(_CLAIM, {**params, "hash": request_hash})
        return row is not None

    async def stored(self, user_id: UUID, key: str) -> DictRow | None:
        return await self._run.fetch_one(_STORED, {"user_id": user_id, "key": key})

    async def record(
        self, user_id: UUID, key: str, *, status: int, response: str, resource_id: UUID
    ) -> None:
        await self._run.execute(
            _RECORD,
            {
                "user_id": user_id,
                "key": key,
                "status": status,
                "response": response,
                "resource_id": resource_id,
            },
        )
