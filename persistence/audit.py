"""Writing and searching the append-only audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import Uuid

from domain.audit import AuditEvent, RequestContext
from domain.queries import AuditQuery
from persistence.executor import Executor
from persistence.listing import Listing
from persistence.schema import audit_events
from persistence.sql import Sql

if TYPE_CHECKING:
    from psycopg.rows import DictRow


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


def _newest_first(where: list[ColumnElement[bool]], shape: frozenset[str]) -> Any:
    if "after" in shape:
        where.append(
            tuple_(_e.c.at, _e.c.id) < tuple_(bindparam("before_at"), bindparam("before_id"))
        )
    return (
        select(*_COLUMNS)
        .where(*where)
        .order_by(_e.c.at.desc(), _e.c.id.desc())
        .limit(bindparam("limit"))
    )


LISTING = Listing(
    AuditQuery,
    {
        "actor_id": lambda: [_e.c.actor_id == bindparam("actor_id")],
        "patient_id": lambda: [
            _e.c.patient_ids.contains(bindparam("patient_ids", type_=ARRAY(Uuid)))
        ],
        "action": lambda: [_e.c.action == bindparam("action")],
        "resource_type": lambda: [_e.c.resource_type == bindparam("resource_type")],
        "resource_id": lambda: [_e.c.resource_id == bindparam("resource_id")],
        "since": lambda: [_e.c.at >= bindparam("since")],
        "until": lambda: [_e.c.at < bindparam("until")],
    },
    _newest_first,
    binders={
        "patient_id": lambda patient_id: {"patient_ids": [patient_id]},
        "after": lambda after: {"before_at": after[0], "before_id": after[1]},
    },
)


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
    def __init__(self, executor: Executor) -> None:
        self._run = executor

    async def append(self, context: RequestContext, events: Sequence[AuditEvent]) -> None:
        for event in events:
            await self._run.execute(_INSERT, _row(context, event))

    async def find(self, query: AuditQuery) -> list[DictRow]:
        return await self._run.fetch_all(*LISTING.statement(query))

    async def count(self) -> int:
        row = await self._run.fetch_one(Sql(select(func.count().label("n")).select_from(_e)))
        return int(row["n"]) if row else 0
