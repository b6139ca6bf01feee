"""Webhook endpoints, their deliveries (outbox rows of kind ``webhook``) and the attempt log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import bindparam, func, select

from domain.model import Role, User
from persistence.schema import outbox, users, webhook_attempts, webhook_endpoints
from persistence.sql import Sql
from persistence.users import _COLUMNS, _user

if TYPE_CHECKING:
    from persistence.executor import Executor

_e = webhook_endpoints
_a = webhook_attempts
_o = outbox

_GET = Sql(select(_e).where(_e.c.id == bindparam("id")))
_ALL = Sql(select(_e).order_by(_e.c.created_at, _e.c.id))
_ADD = Sql(
    _e.insert()
    .values(
        url=bindparam("url"),
        event_types=bindparam("event_types"),
        description=bindparam("description"),
        secret=bindparam("secret"),
        created_by=bindparam("created_by"),
    )
    .returning(*_e.c)
)
_REMOVE = Sql(_e.delete().where(_e.c.id == bindparam("id")))
_SUBSCRIBED = Sql(
    select(_e.c.id).where(_e.c.enabled, _e.c.event_types.any_() == bindparam("event_type"))
)
_OF_ENDPOINT = (_o.c.kind == "webhook", _o.c.payload["endpoint_id"].astext == bindparam("endpoint"))
_DELIVERIES = Sql(
    select(_o)
    .where(*_OF_ENDPOINT)
    .order_by(_o.c.created_at.desc(), _o.c.id)
    .limit(bindparam("limit"))
)
_ATTEMPTS = Sql(
    select(_a)
    .where(_a.c.delivery_id == func.any(bindparam("ids")))
    .order_by(_a.c.delivery_id, _a.c.attempt, _a.c.id)
)
_REDELIVER = Sql(
    _o.update()
    .where(_o.c.id == bindparam("id"), *_OF_ENDPOINT)
    .values(status="pending", available_at=func.now(), delivered_at=None)
)
_LOG = Sql(
    _a.insert().values(
        delivery_id=bindparam("delivery_id"),
        endpoint_id=bindparam("endpoint_id"),
        attempt=bindparam("attempt"),
        status_code=bindparam("status_code"),
        error=bindparam("error"),
        duration_ms=bindparam("duration_ms"),
    )
)
_FAILED = Sql(
    _e.update()
    .where(_e.c.id == bindparam("id"))
    .values(consecutive_failures=_e.c.consecutive_failures + 1)
    .returning(_e.c.consecutive_failures)
)
_SUCCEEDED = Sql(
    _e.update()
    .where(_e.c.id == bindparam("id"))
    .values(consecutive_failures=0)
    .returning(_e.c.consecutive_failures)
)
_DISABLE = Sql(
    _e.update()
    .where(_e.c.id == bindparam("id"), _e.c.enabled)
    .values(enabled=False, disabled_reason=bindparam("reason"), updated_at=func.now())
)
_ADMINS = Sql(select(*_COLUMNS).where(users.c.role == Role.ADMIN.value, users.c.active))


class WebhookRepository:
    def __init__(self, executor: Executor) -> None:
        self._uow = executor

    async def add(
        self,
        *,
        url: str,
        event_types: Sequence[str],
        description: str | None,
        secret: str,
        created_by: UUID,
    ) -> Mapping[str, Any]:
        row = await self._uow.fetch_one(
            _ADD,
            {
                "url": url,
                "event_types": list(event_types),
                "description": description,
                "secret": secret,
                "created_by": created_by,
            },
        )
        assert row is not None
        return row

    async def get(self, endpoint_id: UUID) -> Mapping[str, Any] | None:
        return await self._uow.fetch_one(_GET, {"id": endpoint_id})

    async def all(self) -> list[Mapping[str, Any]]:
        return list(await self._uow.fetch_all(_ALL))

    async def update(
        self, endpoint_id: UUID, changes: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        statement = (
            _e.update()
            .where(_e.c.id == endpoint_id)
            .values(**changes, updated_at=func.now())
            .returning(*_e.c)
        )
        return await self._uow.fetch_one(Sql(statement))

    async def remove(self, endpoint_id: UUID) -> bool:
        return await self._uow.execute(_REMOVE, {"id": endpoint_id}) == 1

    async def subscribed(self, event_type: str) -> list[UUID]:
        rows = await self._uow.fetch_all(_SUBSCRIBED, {"event_type": event_type})
        return [row["id"] for row in rows]

    async def deliveries(self, endpoint_id: UUID, limit: int) -> list[Mapping[str, Any]]:
        return list(
            await self._uow.fetch_all(_DELIVERIES, {"endpoint": str(endpoint_id), "limit": limit})
        )

    async def attempts(self, delivery_ids: Sequence[UUID]) -> list[Mapping[str, Any]]:
        if not delivery_ids:
            return []
        return list(await self._uow.fetch_all(_ATTEMPTS, {"ids": list(delivery_ids)}))

    async def redeliver(self, endpoint_id: UUID, delivery_id: UUID) -> bool:
        count = await self._uow.execute(
            _REDELIVER, {"id": delivery_id, "endpoint": str(endpoint_id)}
        )
        return count == 1

    async def record_attempt(
        self,
        *,
        delivery_id: UUID,
        endpoint_id: UUID,
        attempt: int,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        succeeded: bool,
    ) -> int:
        await self._uow.execute(
            _LOG,
            {
                "delivery_id": delivery_id,
                "endpoint_id": endpoint_id,
                "attempt": attempt,
                "status_code": status_code,
                "error": error,
                "duration_ms": duration_ms,
            },
        )
        row = await self._uow.fetch_one(_SUCCEEDED if succeeded else _FAILED, {"id": endpoint_id})
        return 0 if row is None else int(row["consecutive_failures"])

    async def disable(self, endpoint_id: UUID, reason: str) -> bool:
        return await self._uow.execute(_DISABLE, {"id": endpoint_id, "reason": reason}) == 1

    async def admins(self) -> list[User]:
        rows = await self._uow.fetch_all(_ADMINS)
        return [_user(row) for row in rows]
