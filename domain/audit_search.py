"""Admins read the audit trail: who did what to whose records, and when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from domain import paging
from domain.model import Caller
from domain.ports import Transactions
from domain.queries import AuditQuery


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "at": row["at"],
        "actor_id": row["actor_id"],
        "actor_role": row["actor_role"],
        "client_address": row["client_address"],
        "user_agent": row["user_agent"],
        "request_id": row["request_id"],
        "action": row["action"],
        "resource_type": row["resource_type"],
        "resource_id": row["resource_id"],
        "patient_ids": row["patient_ids"],
        "outcome": row["outcome"],
        "reason": row["reason"],
    }


KEYSET = paging.Keyset(
    "audit events",
    lambda row: (row["at"], row["id"]),
    lambda values: (datetime.fromisoformat(values[0]), int(values[1])),
)


async def search(
    tx: Transactions,
    caller: Caller,
    query: AuditQuery,
    cursor: str | None,
    cursors: paging.Cursors,
) -> dict[str, Any]:
    """Newest first, narrowed by the filters of ``query``. Reading the trail is itself
    audited. A list, so it may be a second behind (one statement)."""
    async with tx.stale_read() as uow:
        uow.audit.record("audit.search", "audit_event")
        page = replace(query, after=cursors.after(KEYSET, caller.id, cursor), limit=query.limit + 1)
        rows = await uow.audit_log.find(page)
        _, reply = cursors.reply(KEYSET, caller.id, rows, query.limit, to_json)
        return reply
