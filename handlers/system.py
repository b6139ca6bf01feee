"""Operations tagged ``system``: probes and the admin access check.

Replies are typed with the TypedDicts generated from the spec (``handlers/contract_types.py``),
so mypy refuses a reply with a field the contract lacks or without one it requires.
"""

from __future__ import annotations

from typing import Any

from domain.model import Role
from handlers import contract_types as api
from handlers.context import JSON, caller, services

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
    """200 once every dependency the service cannot answer without is there; else 503."""
    return {"status": "ok", "checks": await services().readiness()}, 200, JSON
