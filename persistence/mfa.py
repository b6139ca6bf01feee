"""TOTP authenticators and recovery codes (the domain's ``MfaStore``)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text

from domain.mfa import TotpRecord
from persistence.executor import Executor
from persistence.sql import Sql

_GET = Sql(
    text(
        "SELECT secret, confirmed_at IS NOT NULL AS confirmed, last_step "
        "FROM mfa_totp WHERE user_id = :user_id"
    )
)
# A new pending secret replaces a pending one, never a confirmed one.
_BEGIN = Sql(
    text(
        "INSERT INTO mfa_totp (user_id, secret) VALUES (:user_id, :secret) "
        "ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = now() "
        "WHERE mfa_totp.confirmed_at IS NULL"
    )
)
_CONFIRM = Sql(
    text(
        "UPDATE mfa_totp SET confirmed_at = now(), last_step = :step "
        "WHERE user_id = :user_id AND confirmed_at IS NULL"
    )
)
_ADD_CODES = Sql(
    text(
        "INSERT INTO mfa_recovery_codes (user_id, code_hash) "
        "SELECT :user_id, h FROM unnest(CAST(:hashes AS bytea[])) AS h"
    )
)
_DELETE_CODES = Sql(text("DELETE FROM mfa_recovery_codes WHERE user_id = :user_id"))
# One statement, so two uses of one code at once cannot both pass: the second finds the row
# updated and its condition false.
_CLAIM_STEP = Sql(
    text(
        "UPDATE mfa_totp SET last_step = :step WHERE user_id = :user_id "
        "AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < :step)"
    )
)
_USE_CODE = Sql(
    text(
        "UPDATE mfa_recovery_codes AS c SET used_at = now() FROM mfa_totp AS t "
        "WHERE c.user_id = :user_id AND c.code_hash = :code_hash AND c.used_at IS NULL "
        "AND t.user_id = c.user_id AND t.confirmed_at IS NOT NULL"
    )
)
_RESET = Sql(text("DELETE FROM mfa_totp WHERE user_id = :user_id"))


class MfaRepository:
    def __init__(self, executor: Executor) -> None:
        self._run = executor

    async def get(self, user_id: UUID) -> TotpRecord | None:
        row = await self._run.fetch_one(_GET, {"user_id": user_id})
        if row is None:
            return None
        return TotpRecord(
            secret=row["secret"], confirmed=bool(row["confirmed"]), last_step=row["last_step"]
        )

    async def begin(self, user_id: UUID, secret: str) -> bool:
        return await self._run.execute(_BEGIN, {"user_id": user_id, "secret": secret}) == 1

    async def confirm(self, user_id: UUID, step: int, recovery_hashes: Sequence[bytes]) -> bool:
        if await self._run.execute(_CONFIRM, {"user_id": user_id, "step": step}) != 1:
            return False
        await self._run.execute(_DELETE_CODES, {"user_id": user_id})
        await self._run.execute(_ADD_CODES, {"user_id": user_id, "hashes": list(recovery_hashes)})
        return True

    async def claim_step(self, user_id: UUID, step: int) -> bool:
        return await self._run.execute(_CLAIM_STEP, {"user_id": user_id, "step": step}) == 1

    async def use_recovery_code(self, user_id: UUID, code_hash: bytes) -> bool:
        changed = await self._run.execute(_USE_CODE, {"user_id": user_id, "code_hash": code_hash})
        return changed == 1

    async def reset(self, user_id: UUID) -> None:
        await self._run.execute(_RESET, {"user_id": user_id})
        await self._run.execute(_DELETE_CODES, {"user_id": user_id})
