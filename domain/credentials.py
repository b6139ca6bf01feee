"""Credentials as the domain sees them: the password policy, opaque refresh tokens, and the ports
(``typing.Protocol``) for hashing passwords and for access tokens.

The implementations live in ``adapters/`` (bcrypt in :mod:`adapters.passwords`, PyJWT in
:mod:`adapters.tokens`); the composition root (``service.runtime``) hands them to the use cases.
Nothing here imports a cryptography library: refresh tokens need only the standard library.

Access tokens follow RFC 8725 and RFC 9068 (see :mod:`adapters.tokens`). ``session_version`` is
the user's session version at issue time and ``session_id`` the sign-in the token belongs to; the
security layer checks both against the database, so that signing out, deactivation, a role
change or a password change ends older tokens at once.

Refresh tokens are random strings, never JWTs: the server stores only their SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from uuid import UUID

from domain.errors import InvalidRequest
from domain.mfa import ChallengeClaims, ChallengeKind
from domain.model import Role

MIN_LENGTH = 8
# The hasher (bcrypt) refuses longer inputs; the policy rejects them with a 400 first, so that a
# password is never silently truncated.
MAX_BYTES = 72
REFRESH_TOKEN_PREFIX = "mrt_"  # noqa: S105 - recognisable by secret scanners


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


class PasswordHashing(Protocol):
    """Slow, salted password hashes. Both calls run off the event loop."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Check ``password``; with ``hashed=None`` (no such user) do the same work and return
        False, so that an unknown email costs as long as a wrong password."""
        ...


class InvalidToken(Exception):
    """The token is not an acceptable access token; the message says why (for logs only)."""


class ExpiredToken(InvalidToken):
    """A token this service signed whose lifetime is over: the client should refresh it."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    role: Role
    session_version: int
    session_id: UUID


class AccessTokens(Protocol):
    """Short-lived, signed access tokens."""

    @property
    def ttl_seconds(self) -> int: ...

    def issue_access(
        self,
        user_id: UUID,
        role: Role,
        session_version: int,
        session_id: UUID,
        amr: tuple[str, ...] = ("pwd",),
        *,
        issued_at: int | None = None,
        jti: str | None = None,
    ) -> str:
        """A signed access token; ``issued_at`` and ``jti`` given, the same inputs give the
        same token (a refresh repeated within the reuse grace)."""
        ...

    def successor(self, refresh_token: str) -> tuple[str, str]:
        """The refresh token that replaces ``refresh_token`` on rotation and the ``jti`` of the
        access token issued with it, derived so that a repeated refresh gets the same pair."""
        ...

    def issue_challenge(
        self, user_id: UUID, session_version: int, kind: ChallengeKind, ttl_seconds: int
    ) -> str:
        """The token the password step answers when a second factor is needed."""
        ...

    def decode_challenge(self, token: str) -> ChallengeClaims | None:
        """The claims of a valid, unexpired challenge this service issued; None otherwise."""
        ...

    def decode_access(self, token: str) -> AccessClaims:
        """The claims of a token this service issued, or :class:`InvalidToken` (
        :class:`ExpiredToken` once its lifetime is over)."""
        ...


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
