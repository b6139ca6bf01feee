"""Password hashing with bcrypt, always off the event loop.

bcrypt at cost 12 takes about a quarter of a second of CPU (measured in ../shared/DESIGN.md):
run inline it would stall every other request on the worker, so hashing and checking go to a
thread. bcrypt 5 refuses inputs over 72 bytes; the policy rejects them earlier with a 400 so a
password is never silently truncated.
"""

from __future__ import annotations

import asyncio
from functools import cached_property, lru_cache

import bcrypt

from domain.errors import InvalidRequest

MIN_LENGTH = 8
MAX_BYTES = 72


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords from real breaches, as zxcvbn ships them."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_policy(password: str, min_length: int = MIN_LENGTH) -> None:
    """ASVS 6.2: a minimum length, a byte maximum, no composition rules, and no password
    that attackers try first."""
    if len(password) < min_length:
        raise InvalidRequest(f"The password must have at least {min_length} characters.")
    if len(password.encode()) > MAX_BYTES:
        raise InvalidRequest(
            f"The password must be at most {MAX_BYTES} bytes in UTF-8; it is never truncated."
        )
    if password.lower() in common_passwords():
        raise InvalidRequest(
            "This password is among the most common ones in breached password lists; "
            "choose another."
        )


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
