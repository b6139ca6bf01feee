"""Access tokens (JWT) and opaque refresh tokens.

Access tokens follow RFC 8725 and RFC 9068: HS256 only (the algorithm is pinned, never read
from the token), header ``typ: at+jwt`` so that no other JWT we might ever issue passes as an
access token, and ``iss``/``aud``/``exp``/``iat``/``sub``/``jti`` all required. ``ver`` is the
user's session version at issue time and ``sid`` the sign-in it belongs to; the security layer
checks both against the database, so that signing out, deactivation, a role change or a
password change ends older tokens at once.

Refresh tokens are random strings, never JWTs: the server stores only their SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt

from domain.mfa import ChallengeClaims, ChallengeKind
from domain.model import Role

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a type name, not a secret
# The second sign-in step's challenge: its own type, so it never passes as an access token.
CHALLENGE_TOKEN_TYPE = "mfa-challenge+jwt"  # noqa: S105 - a type name, not a secret
REFRESH_TOKEN_PREFIX = "mrt_"  # noqa: S105 - recognisable by secret scanners
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


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


class TokenService:
    def __init__(self, *, secret: str, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue_access(
        self,
        user_id: UUID,
        role: Role,
        session_version: int,
        session_id: UUID,
        amr: tuple[str, ...] = ("pwd",),
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
            "role": role.value,
            "ver": session_version,
            "sid": str(session_id),
            # RFC 8176 authentication methods of the sign-in: ["pwd"] or ["pwd", "otp"].
            "amr": list(amr),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM, headers={"typ": "at+jwt"})

    def issue_challenge(
        self, user_id: UUID, session_version: int, kind: ChallengeKind, ttl_seconds: int
    ) -> str:
        """The token the password step answers when a second factor is needed."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
            "ver": session_version,
            "mfa": kind.value,
        }
        return jwt.encode(
            claims, self._secret, algorithm=ALGORITHM, headers={"typ": CHALLENGE_TOKEN_TYPE}
        )

    def decode_challenge(self, token: str) -> ChallengeClaims | None:
        try:
            decoded: dict[str, Any] = jwt.decode_complete(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=5,
            )
        except jwt.PyJWTError:
            return None
        if decoded["header"].get("typ") != CHALLENGE_TOKEN_TYPE:
            return None
        payload = decoded["payload"]
        try:
            return ChallengeClaims(
                user_id=UUID(payload["sub"]),
                session_version=int(payload["ver"]),
                kind=ChallengeKind(payload["mfa"]),
            )
        except (KeyError, ValueError, TypeError):
            return None

    def decode_access(self, token: str) -> AccessClaims:
        try:
            decoded: dict[str, Any] = jwt.decode_complete(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            # PyJWT checks the signature before the claims: only our own tokens get here.
            raise ExpiredToken(str(exc)) from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        if decoded["header"].get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("not an access token")
        payload = decoded["payload"]
        try:
            return AccessClaims(
                user_id=UUID(payload["sub"]),
                role=Role(payload["role"]),
                session_version=int(payload["ver"]),
                session_id=UUID(payload["sid"]),
            )
        except (KeyError, ValueError, TypeError):
            raise InvalidToken("malformed claims") from None


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
