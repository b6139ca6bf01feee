"""Single-use account tokens (email verification, password reset), stored as SHA-256."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text

from domain.accounts import AccountTokenStore, SpentToken
from persistence.executor import Executor
from persistence.sql import Sql

# A new token of a purpose ends the user's earlier unused ones: only the latest mail works.
_END_EARLIER = Sql(
    text(
        "UPDATE account_tokens SET used_at = now() "
        "WHERE user_id = :user_id AND purpose = :purpose AND used_at IS NULL"
    )
)
_ISSUE = Sql(
    text(
        "INSERT INTO account_tokens "
        "(token_hash, user_id, purpose, email, session_version, expires_at) "
        "VALUES (:token_hash, :user_id, :purpose, :email, :session_version, "
        "now() + make_interval(secs => :ttl))"
    )
)
# One statement: of two uses at once, the second finds the token used.
_SPEND = Sql(
    text(
        "UPDATE account_tokens SET used_at = now() "
        "WHERE token_hash = :token_hash AND purpose = :purpose AND used_at IS NULL "
        "AND expires_at > now() "
        "RETURNING user_id, email, session_version"
    )
)


class AccountTokenRepository(AccountTokenStore):
    def __init__(self, executor: Executor) -> None:
        self._run = executor

    async def issue(
        self,
        *,
        user_id: UUID,
        purpose: str,
        token_hash: bytes,
        email: str,
        session_version: int,
        ttl_seconds: int,
    ) -> None:
        await self._run.execute(_END_EARLIER, {"user_id": user_id, "purpose": purpose})
        await self._run.execute(
            _ISSUE,
            {
                "token_hash": token_hash,
                "user_id": user_id,
                "purpose": purpose,
                "email": email,
                "session_version": session_version,
                "ttl": ttl_seconds,
            },
        )

    async def spend(self, purpose: str, token_hash: bytes) -> SpentToken | None:
        row = await self._run.fetch_one(_SPEND, {"token_hash": token_hash, "purpose": purpose})
        if row is None:
            return None
        return SpentToken(
            user_id=row["user_id"], email=row["email"], session_version=row["session_version"]
        )
