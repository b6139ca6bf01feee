"""Operations tagged ``system``: probes and the admin access check."""

from __future__ import annotations

from typing import Any

from domain.errors import ServiceUnavailable
from handlers.context import JSON, caller, runtime
from persistence.db import DatabaseUnavailable

Reply = tuple[dict[str, Any], int, dict[str, str]]


async def check_private_access(token_info: dict[str, Any]) -> Reply:
    """Admins only; Connexion has already refused other roles from the spec."""
    me = caller(token_info)
    return {"message": "Private access granted.", "user_id": str(me.id), "role": me.role}, 200, JSON


async def check_liveness() -> Reply:
    return {"status": "ok"}, 200, JSON


async def check_readiness() -> Reply:
    rt = runtime()
    try:
        revision = await rt.database.schema_revision()
    except DatabaseUnavailable:
        raise ServiceUnavailable("The database is not reachable.", retry_after=2) from None
    if revision != rt.expected_revision:
        raise ServiceUnavailable(
            f"The database schema is at {revision}, this build expects {rt.expected_revision}.",
            retry_after=5,
        )
    return {"status": "ok", "checks": {"database": "ok", "schema": revision}}, 200, JSON
