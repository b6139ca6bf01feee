"""Operations tagged ``audit``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain import audit_search
from domain.appointments import parse_time
from domain.queries import AuditQuery
from handlers.context import JSON, caller, cursors, transactions


async def list_audit_events(
    token_info: dict[str, Any], limit: int, **query: Any
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Search the audit trail (admins)."""
    filters = AuditQuery(
        actor_id=UUID(query["actor_id"]) if query.get("actor_id") else None,
        patient_id=UUID(query["patient_id"]) if query.get("patient_id") else None,
        action=query.get("action"),
        resource_type=query.get("resource_type"),
        resource_id=query.get("resource_id"),
        since=parse_time(query["from"]) if query.get("from") else None,
        until=parse_time(query["to"]) if query.get("to") else None,
        limit=limit,
    )
    page = await audit_search.search(
        transactions(token_info), caller(token_info), filters, query.get("cursor"), cursors()
    )
    return page, 200, JSON
