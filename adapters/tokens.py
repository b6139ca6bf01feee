"""Access tokens as JWTs with PyJWT (implements :class:`domain.credentials.AccessTokens`).

Access tokens follow RFC 8725 and RFC 9068: HS256 only (the algorithm is pinned, never read
from the token), header ``typ: at+jwt`` so that no other JWT we might ever issue passes as an
access token, and ``iss``/``aud``/``exp``/``iat``/``sub``/``jti`` all required. ``ver`` is the
user's session version at issue time and ``sid`` the sign-in it belongs to; the security layer
checks both against the database, so that signing out, deactivation, a role change or a
password change ends older tokens at once.

Refresh tokens are random strings, never JWTs: the server stores only their SHA-256
(:mod:`domain.credentials`). The one issued by a refresh is derived from the token presented
(HMAC under a key of its own), and so is the access token's ``jti`` beside it: a concurrent
refresh with the same token within the reuse grace gets the very same pair back without the
server ever storing a token (README, Decisions).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Any
from uuid import UUID

import jwt

from domain.credentials import REFRESH_TOKEN_PREFIX, AccessClaims, ExpiredToken, InvalidToken
from domain.mfa import ChallengeClaims, ChallengeKind
from domain.model import Role

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a type name, not a secret
# The second sign-in step's challenge: its own type, so it never passes as an access token.
CHALLENGE_TOKEN_TYPE = "mfa-challenge+jwt"  # noqa: S105 - a type name, not a secret
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
_ROTATION_LABEL = b"medai refresh-token rotation v1"


class TokenService:
    def __init__(self, *, secret: str, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._secret = secret
        # A key of its own (HMAC as a key derivation function): a derived refresh token can
        # never pass for anything signed with the JWT secret, nor the reverse.
        self._rotation_key = hmac.new(secret.encode(), _ROTATION_LABEL, hashlib.sha256).digest()
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
        *,
        issued_at: int | None = None,
        jti: str | None = None,
    ) -> str:
        """A signed access token; ``issued_at`` and ``jti`` given, the same inputs give the
        same token (a refresh repeated within the reuse grace)."""
        now = int(time.time()) if issued_at is None else issued_at
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_seconds,
            "jti": uuid.uuid4().hex if jti is None else jti,
            "role": role.value,
            "ver": session_version,
            "sid": str(session_id),
            # RFC 8176 authentication methods of the sign-in: ["pwd"] or ["pwd", "otp"].
            "amr": list(amr),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM, headers={"typ": "at+jwt"})

    def successor(self, refresh_token: str) -> tuple[str, str]:
        """The refresh token that replaces ``refresh_token`` on rotation, and the ``jti`` of the
        access token issued with it: only the holder of the presented token and the server can
        compute them."""
        digest = hmac.new(self._rotation_key, refresh_token.encode(), hashlib.sha256).digest()
        successor = REFRESH_TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        jti = hmac.new(self._rotation_key, b"jti " + digest, hashlib.sha256).hexdigest()[:32]
        return successor, jti

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

    def _decoded(self, token: str) -> dict[str, Any]:
        """Header and claims of one of our tokens, signature and registered claims checked
        (PyJWT's errors raised); its ``typ`` is for the caller to check."""
        decoded: dict[str, Any] = jwt.decode_complete(
            token,
            self._secret,
            algorithms=[ALGORITHM],
            audience=self.audience,
            issuer=self.issuer,
            options={"require": REQUIRED_CLAIMS},
            leeway=5,
        )
        return decoded

    def decode_challenge(self, token: str) -> ChallengeClaims | None:
        try:
            decoded = self._decoded(token)
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
            decoded = self._decoded(token)
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
