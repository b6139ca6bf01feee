"""Operations tagged ``users``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain import users
from domain.model import Role
from handlers.context import JSON, caller, services, transactions

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
