"""Operations tagged ``users``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain import users
from domain.model import Role
from handlers.context import JSON, caller, client_address, services, transactions

Reply = tuple[dict[str, Any], int, dict[str, str]]


async def get_current_user(token_info: dict[str, Any]) -> Reply:
    """The signed-in user's own profile."""
    me = caller(token_info)
    visible = await users.get(transactions(token_info), me, me.id)
    return visible.to_json(), 200, JSON


async def list_users(
    token_info: dict[str, Any],
    limit: int,
    offset: int,
    role: str | None = None,
    q: str | None = None,
) -> Reply:
    """Find doctors (everyone) or list all users (admins)."""
    found, total = await users.search(
        transactions(token_info),
        caller(token_info),
        role=Role(role) if role else None,
        query=q,
        limit=limit,
        offset=offset,
    )
    page = {"items": [v.to_json() for v in found], "total": total, "limit": limit, "offset": offset}
    return page, 200, JSON


async def get_user(user_id: str, token_info: dict[str, Any]) -> Reply:
    """A user's profile, full or public."""
    visible = await users.get(transactions(token_info), caller(token_info), UUID(user_id))
    return visible.to_json(), 200, JSON


async def update_user(user_id: str, body: dict[str, Any], token_info: dict[str, Any]) -> Reply:
    """Change a profile or an account."""
    visible = await users.update(
        transactions(token_info), services().auth, caller(token_info), UUID(user_id), body
    )
    return visible.to_json(), 200, JSON


NO_STORE = {**JSON, "Cache-Control": "no-store"}


async def enrol_mfa(token_info: dict[str, Any]) -> Reply:
    """Start enrolling an authenticator app."""
    enrolment = await services().mfa.enrol(transactions(token_info), caller(token_info).id)
    return enrolment.to_json(), 201, NO_STORE


async def confirm_mfa(body: dict[str, Any], token_info: dict[str, Any]) -> Reply:
    """Confirm the pending authenticator with its first code."""
    codes = await services().mfa.confirm(
        transactions(token_info), caller(token_info).id, body["code"], client_address()
    )
    return {"recovery_codes": codes}, 200, NO_STORE


async def reset_mfa(user_id: str, token_info: dict[str, Any]) -> tuple[None, int, dict[str, str]]:
    """Remove a user's authenticator and recovery codes (admins)."""
    await services().mfa.reset(transactions(token_info), UUID(user_id))
    return None, 204, {}
