"""Operations tagged ``system``: probes and the admin access check.

Replies are typed with the TypedDicts generated from the spec (``handlers/contract_types.py``),
so mypy refuses a reply with a field the contract lacks or without one it requires.
"""

from __future__ import annotations

from typing import Any

from domain.errors import ServiceUnavailable
from domain.model import Role
from handlers import contract_types as api
from handlers.context import JSON, caller, runtime
from persistence.db import DatabaseUnavailable

# The contract's spelling of each role, checked by mypy against the spec's enum.
ROLES: dict[Role, api.Role] = {Role.PATIENT: "patient", Role.DOCTOR: "doctor", Role.ADMIN: "admin"}


async def check_private_access(
    token_info: dict[str, Any],
) -> tuple[api.PrivateAccess, int, dict[str, str]]:
    """Admins only; Connexion has already refused other roles from the spec."""
    me = caller(token_info)
    reply: api.PrivateAccess = {
        "message": "Private access granted.",
        "user_id": str(me.id),
        "role": ROLES[me.role],
    }
    return reply, 200, JSON


async def check_liveness() -> tuple[api.Health, int, dict[str, str]]:
    return {"status": "ok"}, 200, JSON


async def check_readiness() -> tuple[api.Health, int, dict[str, str]]:
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
    checks = {"database": "ok", "schema": revision, "outbox": await _outbox()}
    return {"status": "ok", "checks": checks}, 200, JSON


async def _outbox() -> str:
    """``ok``, or how long a due message has waited when that is past the limit: no dispatcher
    is delivering (reported, not a 503: this instance can still serve requests)."""
    rt = runtime()
    try:
        overdue = await rt.outbox.overdue()
    except DatabaseUnavailable:
        return "unknown: the database did not answer"
    if overdue > rt.settings.outbox_stuck_after:
        return f"stuck: a message due for delivery has waited {overdue:.0f} s"
    return "ok"
