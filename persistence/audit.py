"""Writing and searching the append-only audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import Uuid

from domain.audit import AuditEvent, RequestContext
from persistence.schema import audit_events
from persistence.sql import Sql

if TYPE_CHECKING:
    from psycopg.rows import DictRow

    from persistence.db import UnitOfWork

_e = audit_events
_COLUMNS = (
    _e.c.id,
    _e.c.at,
    _e.c.actor_id,
    _e.c.actor_role,
    _e.c.client_address,
    _e.c.user_agent,
    _e.c.request_id,
    _e.c.action,
    _e.c.resource_type,
    _e.c.resource_id,
    _e.c.patient_ids,
    _e.c.outcome,
    _e.c.reason,
)
# inline(): no implicit "RETURNING id"; nothing reads it, and reads pay for this INSERT.
_INSERT = Sql(
    _e.insert()
    .inline()
    .values(
        actor_id=bindparam("actor_id"),
        actor_role=bindparam("actor_role"),
        client_address=bindparam("client_address"),
        user_agent=bindparam("user_agent"),
        request_id=bindparam("request_id"),
        action=bindparam("action"),
        resource_type=bindparam("resource_type"),
        resource_id=bindparam("resource_id"),
        patient_ids=bindparam("patient_ids", type_=ARRAY(Uuid)),
        outcome=bindparam("outcome"),
        reason=bindparam("reason"),
    )
)
MAX_REASON = 300
MAX_USER_AGENT = 300


def _storable(text: str | None) -> str | None:
    """A refusal is recorded even when what was refused holds U+0000, which text cannot store."""
    return None if text is None else text.replace("\x00", "\ufffd")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor_id: UUID | None = None
    patient_id: UUID | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: tuple[datetime, int] | None = None
    limit: int = 50

    def shape(self) -> tuple[bool, ...]:
        return tuple(
            getattr(self, name) is not None
            for name in (
                "actor_id",
                "patient_id",
                "action",
                "resource_type",
                "resource_id",
                "since",
                "until",
                "before",
            )
        )

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": self.limit}
        for name in ("actor_id", "action", "resource_type", "resource_id", "since", "until"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        if self.patient_id is not None:
            params["patient_ids"] = [self.patient_id]
        if self.before is not None:
            params["before_at"], params["before_id"] = self.before
        return params


@lru_cache(maxsize=256)
def _find_sql(shape: tuple[bool, ...]) -> Sql:
    actor, patient, action, resource_type, resource_id, since, until, before = shape
    where: list[ColumnElement[bool]] = []
    if actor:
        where.append(_e.c.actor_id == bindparam("actor_id"))
    if patient:
        where.append(_e.c.patient_ids.contains(bindparam("patient_ids", type_=ARRAY(Uuid))))
    if action:
        where.append(_e.c.action == bindparam("action"))
    if resource_type:
        where.append(_e.c.resource_type == bindparam("resource_type"))
    if resource_id:
        where.append(_e.c.resource_id == bindparam("resource_id"))
    if since:
        where.append(_e.c.at >= bindparam("since"))
    if until:
        where.append(_e.c.at < bindparam("until"))
    if before:
        where.append(
            tuple_(_e.c.at, _e.c.id) < tuple_(bindparam("before_at"), bindparam("before_id"))
        )
    statement = (
        select(*_COLUMNS)
        .where(*where)
        .order_by(_e.c.at.desc(), _e.c.id.desc())
        .limit(bindparam("limit"))
    )
    return Sql(statement)


def _row(context: RequestContext, event: AuditEvent) -> dict[str, Any]:
    return {
        "actor_id": event.actor_id or context.actor_id,
        "actor_role": event.actor_role or context.actor_role,
        "client_address": context.client_address,
        "user_agent": (context.user_agent or "")[:MAX_USER_AGENT] or None,
        "request_id": context.request_id,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": _storable(event.resource_id),
        "patient_ids": sorted(event.patient_ids),
        "outcome": event.outcome,
        "reason": _storable((event.reason or "")[:MAX_REASON] or None),
    }


class AuditRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def append(self, context: RequestContext, events: Sequence[AuditEvent]) -> None:
        for event in events:
            await self._uow.execute(_INSERT, _row(context, event))

    async def find(self, query: AuditQuery) -> list[DictRow]:
        return await self._uow.fetch_all(_find_sql(query.shape()), query.params())

    async def count(self) -> int:
        row = await self._uow.fetch_one(Sql(select(func.count().label("n")).select_from(_e)))
        return int(row["n"]) if row else 0
