"""Password hashing with bcrypt, always off the event loop (implements
:class:`domain.credentials.PasswordHashing`).

bcrypt at a production cost is deliberately slow (the sign-in benchmark in benchmarks/report.md
gives its CPU): run inline it would stall every other request on the worker, so hashing and
checking go to a thread. bcrypt 5 refuses inputs over 72 bytes; the policy
(:func:`domain.credentials.check_policy`) rejects them earlier with a 400 so a password is never
silently truncated.
"""

from __future__ import annotations

import asyncio
from functools import cached_property

import bcrypt

from domain.credentials import MAX_BYTES


class PasswordHasher:
    def __init__(self, cost: int) -> None:
        self.cost = cost

    @cached_property
    def _dummy_hash(self) -> bytes:
        # Checked against when the email is unknown, so that both paths cost one bcrypt check.
        return bcrypt.hashpw(b"no such user: constant work", bcrypt.gensalt(self.cost))

    async def warm_up(self) -> None:
        """Compute the dummy hash before the first sign-in, so no request pays for it."""
        await asyncio.to_thread(lambda: self._dummy_hash)

    async def hash(self, password: str) -> str:
        def work() -> str:
            return bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.cost)).decode()

        return await asyncio.to_thread(work)

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Check ``password``; with ``hashed=None`` do the same work and return False."""
        candidate = password.encode()
        if len(candidate) > MAX_BYTES:
            candidate = candidate[:0]  # cannot match; still spend the same time below

        def work() -> bool:
            target = self._dummy_hash if hashed is None else hashed.encode()
            return bcrypt.checkpw(candidate, target) and hashed is not None

        return await asyncio.to_thread(work)
