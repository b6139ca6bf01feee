"""Failed sign-in counters in fixed windows, shared by every instance through PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import text

from persistence.sql import Sql

if TYPE_CHECKING:
    from persistence.db import UnitOfWork

# Seconds until the window of every key at or over its limit ends (0: none is blocked).
_BLOCKED_FOR = Sql(
    text(
        "SELECT coalesce(max(ceil(extract(epoch FROM window_start + make_interval(secs => :window)"
        " - now())))::int, 0) AS retry_after "
        "FROM login_throttle t JOIN unnest(CAST(:keys AS text[]), CAST(:limits AS int[])) "
        "AS l(key, max_failures) ON l.key = t.key "
        "WHERE t.window_start > now() - make_interval(secs => :window) "
        "AND t.failures >= l.max_failures"
    )
)
# A failure opens a window or counts in the open one.
_FAIL = Sql(
    text(
        "INSERT INTO login_throttle AS t (key, window_start, failures) "
        "SELECT k, now(), 1 FROM unnest(CAST(:keys AS text[])) AS k "
        "ON CONFLICT (key) DO UPDATE SET "
        "failures = CASE WHEN t.window_start > now() - make_interval(secs => :window) "
        "THEN t.failures + 1 ELSE 1 END, "
        "window_start = CASE WHEN t.window_start > now() - make_interval(secs => :window) "
        "THEN t.window_start ELSE now() END"
    )
)
_FORGET = Sql(text("DELETE FROM login_throttle WHERE key = :key"))


class LoginThrottleRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def blocked_for(
        self, keys: Sequence[str], limits: Sequence[int], window_seconds: int
    ) -> int:
        row = await self._uow.fetch_one(
            _BLOCKED_FOR, {"keys": list(keys), "limits": list(limits), "window": window_seconds}
        )
        return int(row["retry_after"]) if row else 0

    async def count_failure(self, keys: Sequence[str], window_seconds: int) -> None:
        await self._uow.execute(_FAIL, {"keys": list(keys), "window": window_seconds})

    async def forget(self, key: str) -> None:
        await self._uow.execute(_FORGET, {"key": key})
