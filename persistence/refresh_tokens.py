"""Sign-ins (sessions) and their refresh tokens, stored as SHA-256 hashes.

A session's refresh tokens form one family: ``refresh_tokens.family_id`` is the session id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, func, select

from domain.ports import StoredRefreshToken
from persistence.executor import Executor
from persistence.schema import refresh_tokens, sessions
from persistence.sql import Sql

_t = refresh_tokens

# FOR UPDATE serialises two refreshes racing with the same token: the second one sees it spent,
# and gets the same pair back within the reuse grace (domain.auth) or is treated as reuse after
# it, as RFC 9700 §4.14.2 prescribes.
_LOCK_BY_HASH = Sql(
    select(
        _t.c.id,
        _t.c.user_id,
        _t.c.family_id,
        _t.c.expires_at,
        _t.c.family_expires_at,
        _t.c.spent_at.is_not(None).label("spent"),
        _t.c.spent_at,
        _t.c.revoked_at.is_not(None).label("revoked"),
        func.now().label("now"),
    )
    .where(_t.c.token_hash == bindparam("token_hash"))
    .with_for_update()
)
_INSERT = Sql(
    _t.insert().values(
        user_id=bindparam("user_id"),
        family_id=bindparam("family_id"),
        token_hash=bindparam("token_hash"),
        expires_at=func.least(
            func.now() + func.make_interval(0, 0, 0, 0, 0, 0, bindparam("idle_seconds")),
            bindparam("family_expires_at"),
        ),
        family_expires_at=bindparam("family_expires_at"),
    )
)
_MARK_SPENT = Sql(_t.update().where(_t.c.id == bindparam("id")).values(spent_at=func.now()))
_REVOKE_FAMILY = Sql(
    _t.update()
    .where(_t.c.family_id == bindparam("family_id"), _t.c.revoked_at.is_(None))
    .values(revoked_at=func.now())
)
_REVOKE_USER = Sql(
    _t.update()
    .where(_t.c.user_id == bindparam("user_id"), _t.c.revoked_at.is_(None))
    .values(revoked_at=func.now())
)
_START_SESSION = Sql(
    sessions.insert()
    .values(
        id=func.gen_random_uuid(),
        user_id=bindparam("user_id"),
        expires_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, bindparam("seconds")),
        amr=bindparam("amr"),
    )
    .returning(sessions.c.id, sessions.c.expires_at)
)
_SESSION_AMR = Sql(select(sessions.c.amr).where(sessions.c.id == bindparam("family_id")))
_END_SESSION = Sql(
    sessions.update()
    .where(sessions.c.id == bindparam("family_id"), sessions.c.revoked_at.is_(None))
    .values(revoked_at=func.now())
)
_END_USER_SESSIONS = Sql(
    sessions.update()
    .where(sessions.c.user_id == bindparam("user_id"), sessions.c.revoked_at.is_(None))
    .values(revoked_at=func.now())
)


class RefreshTokenRepository:
    def __init__(self, executor: Executor) -> None:
        self._run = executor

    async def start_session(
        self, user_id: UUID, lifetime_seconds: int, amr: Sequence[str] = ("pwd",)
    ) -> tuple[UUID, datetime]:
        """A new sign-in: its id (the refresh-token family) and its absolute expiry. ``amr``:
        how the user authenticated (RFC 8176 values)."""
        row = await self._run.fetch_one(
            _START_SESSION, {"user_id": user_id, "seconds": lifetime_seconds, "amr": list(amr)}
        )
        assert row is not None
        return row["id"], row["expires_at"]

    async def session_amr(self, family_id: UUID) -> tuple[str, ...]:
        """How the user authenticated for this sign-in."""
        row = await self._run.fetch_one(_SESSION_AMR, {"family_id": family_id})
        return ("pwd",) if row is None else tuple(row["amr"])

    async def add(
        self,
        *,
        user_id: UUID,
        family_id: UUID,
        token_hash: bytes,
        family_expires_at: datetime,
        idle_seconds: int,
    ) -> None:
        await self._run.execute(
            _INSERT,
            {
                "user_id": user_id,
                "family_id": family_id,
                "token_hash": token_hash,
                "family_expires_at": family_expires_at,
                "idle_seconds": idle_seconds,
            },
        )

    async def lock(self, token_hash: bytes) -> StoredRefreshToken | None:
        row = await self._run.fetch_one(_LOCK_BY_HASH, {"token_hash": token_hash})
        return None if row is None else StoredRefreshToken(**row)

    async def mark_spent(self, token_id: UUID) -> None:
        await self._run.execute(_MARK_SPENT, {"id": token_id})

    async def revoke_family(self, family_id: UUID) -> int:
        """End one sign-in: its refresh tokens and the access tokens naming it."""
        await self._run.execute(_END_SESSION, {"family_id": family_id})
        return await self._run.execute(_REVOKE_FAMILY, {"family_id": family_id})

    async def revoke_all_for_user(self, user_id: UUID) -> int:
        await self._run.execute(_END_USER_SESSIONS, {"user_id": user_id})
        return await self._run.execute(_REVOKE_USER, {"user_id": user_id})
