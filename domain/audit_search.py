"""Admins read the audit trail: who did what to whose records, and when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import paging
from domain.model import Caller, utc_iso
from domain.ports import Transactions
from domain.queries import AuditQuery


@dataclass(frozen=True, slots=True)
class AuditFilters:
    actor_id: UUID | None = None
    patient_id: UUID | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    limit: int = 50


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "at": utc_iso(row["at"]),
        "actor_id": str(row["actor_id"]) if row["actor_id"] else None,
        "actor_role": row["actor_role"],
        "client_address": row["client_address"],
        "user_agent": row["user_agent"],
        "request_id": row["request_id"],
        "action": row["action"],
        "resource_type": row["resource_type"],
        "resource_id": row["resource_id"],
        "patient_ids": [str(p) for p in row["patient_ids"]],
        "outcome": row["outcome"],
        "reason": row["reason"],
    }


KEYSET = paging.Keyset(
    "audit events",
    lambda row: (row["at"], row["id"]),
    lambda values: (datetime.fromisoformat(values[0]), int(values[1])),
)


async def search(
    tx: Transactions, caller: Caller, filters: AuditFilters, cursors: paging.Cursors
) -> dict[str, Any]:
    """Newest first. Reading the trail is itself audited."""
    async with tx.unit_of_work() as uow:
        uow.audit.record("audit.search", "audit_event")
        query = AuditQuery(
            actor_id=filters.actor_id,
            patient_id=filters.patient_id,
            action=filters.action,
            resource_type=filters.resource_type,
            resource_id=filters.resource_id,
            since=filters.since,
            until=filters.until,
            after=cursors.after(KEYSET, caller.id, filters.cursor),
            limit=filters.limit + 1,
        )
        rows = await uow.audit_log.find(query)
        _, page = cursors.reply(KEYSET, caller.id, rows, filters.limit, to_json)
        return page
