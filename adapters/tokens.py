"""Access tokens as JWTs with PyJWT (implements :class:`domain.credentials.AccessTokens`).

Access tokens follow RFC 8725 and RFC 9068: HS256 only (the algorithm is pinned, never read
from the token), header ``typ: at+jwt`` so that no other JWT we might ever issue passes as an
access token, and ``iss``/``aud``/``exp``/``iat``/``sub``/``jti`` all required. ``ver`` is the
user's session version at issue time and ``sid`` the sign-in it belongs to (see
:mod:`domain.credentials`). Refresh tokens are opaque, not JWTs: :mod:`domain.credentials`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from uuid import UUID

import jwt

from domain.credentials import AccessClaims, ExpiredToken, InvalidToken
from domain.model import Role

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a type name, not a secret
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


class TokenService:
    def __init__(self, *, secret: str, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue_access(
        self, user_id: UUID, role: Role, session_version: int, session_id: UUID
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
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM, headers={"typ": "at+jwt"})

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
