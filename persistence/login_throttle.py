"""Throttle counters in fixed windows, shared by every instance through PostgreSQL.

One row per key (an account, an account at an address, an address, sign-ups from an
address): the failures (or attempts) counted in the window that began at ``window_start``,
and ``blocked_until``, the end of the growing delay a key earned (domain.auth.LoginThrottle
decides the policy; these statements only count and remember).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text

from domain.ports import KeyState
from persistence.executor import Executor
from persistence.sql import Sql

# A window over is a count of 0; a delay is honoured to its end even past its window.
_STATE = Sql(
    text(
        "SELECT key, "
        "CASE WHEN window_start > now() - make_interval(secs => :window) "
        "THEN failures ELSE 0 END AS failures, "
        "coalesce(ceil(extract(epoch FROM blocked_until - now())), 0)::int AS blocked_for, "
        "ceil(extract(epoch FROM window_start + make_interval(secs => :window) - now()))::int "
        "AS window_left "
        "FROM login_throttle WHERE key = ANY(CAST(:keys AS text[]))"
    )
)
# A failure opens a window or counts in the open one. The row lock taken here makes
# concurrent failures of one key count one after the other, on any instance.
_FAIL = Sql(
    text(
        "INSERT INTO login_throttle AS t (key, window_start, failures) "
        "SELECT k, now(), 1 FROM unnest(CAST(:keys AS text[])) AS k "
        "ON CONFLICT (key) DO UPDATE SET "
        "failures = CASE WHEN t.window_start > now() - make_interval(secs => :window) "
        "THEN t.failures + 1 ELSE 1 END, "
        "blocked_until = CASE WHEN t.window_start > now() - make_interval(secs => :window) "
        "THEN t.blocked_until END, "
        "window_start = CASE WHEN t.window_start > now() - make_interval(secs => :window) "
        "THEN t.window_start ELSE now() END "
        "RETURNING key, failures, 0 AS blocked_for, "
        "ceil(extract(epoch FROM window_start + make_interval(secs => :window) - now()))::int "
        "AS window_left"
    )
)
# The delay a key's count earned: from its allowance on, the first delay doubling with every
# further failure, never longer than the window.
_DELAY = Sql(
    text(
        "UPDATE login_throttle AS t SET blocked_until = now() + make_interval(secs => "
        "least(CAST(:window AS double precision), "
        ":first_delay * power(2, least(t.failures - l.allowed, 30)))) "
        "FROM unnest(CAST(:keys AS text[]), CAST(:allowed AS int[])) AS l(key, allowed) "
        "WHERE t.key = l.key AND t.failures >= l.allowed"
    )
)
_FORGET = Sql(text("DELETE FROM login_throttle WHERE key = ANY(CAST(:keys AS text[]))"))


def _state(row: Mapping[str, Any]) -> KeyState:
    return KeyState(
        failures=int(row["failures"]),
        blocked_for=max(0, int(row["blocked_for"])),
        window_left=max(1, int(row["window_left"])),
    )


class LoginThrottleRepository:
    def __init__(self, executor: Executor) -> None:
        self._run = executor

    async def state(self, keys: Sequence[str], window_seconds: int) -> dict[str, KeyState]:
        """The counters of those keys that have one."""
        rows = await self._run.fetch_all(_STATE, {"keys": list(keys), "window": window_seconds})
        return {str(row["key"]): _state(row) for row in rows}

    async def count_failure(
        self,
        keys: Sequence[str],
        window_seconds: int,
        *,
        delayed: Sequence[tuple[str, int]] = (),
        first_delay: int = 0,
    ) -> dict[str, KeyState]:
        """Count one failure for every key; for each ``(key, allowed)`` in ``delayed`` whose
        count reached ``allowed``, start its next delay. The counts after this one."""
        rows = await self._run.fetch_all(_FAIL, {"keys": list(keys), "window": window_seconds})
        if delayed:
            await self._run.execute(
                _DELAY,
                {
                    "keys": [key for key, _ in delayed],
                    "allowed": [allowed for _, allowed in delayed],
                    "window": window_seconds,
                    "first_delay": first_delay,
                },
            )
        return {str(row["key"]): _state(row) for row in rows}

    async def forget(self, keys: Sequence[str]) -> None:
        await self._run.execute(_FORGET, {"keys": list(keys)})
