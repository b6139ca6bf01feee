"""A memo of access-token verification: the signature and claims of a token string are
checked once, then trusted until the token's ``exp``.

Verifying an HS256 JWT (base64, HMAC, claim checks) is a pure function of the token string
and the clock, and the clock only moves one way: a token that passed once passes again until
it expires. Revocation does not depend on this check — the session lookup that follows it
runs on every request — so the memo changes no answer, it only skips repeating the work.
Entries are keyed by the exact token string, so only tokens that verified can hit; at expiry
an entry is dropped and the token goes through the full check again (which then refuses it).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import orjson

from domain.credentials import AccessClaims, InvalidToken

MAX_ENTRIES = 4096


def _expiry(token: str) -> float:
    """The ``exp`` claim of a token whose signature was just verified."""
    payload = token.split(".")[1]
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return float(claims["exp"])


class VerifiedTokens:
    def __init__(
        self, verify: Callable[[str], AccessClaims], max_entries: int = MAX_ENTRIES
    ) -> None:
        self._verify = verify
        self._max_entries = max_entries
        self._entries: dict[str, tuple[AccessClaims, float]] = {}

    def claims(self, token: str) -> AccessClaims:
        """The token's claims; ``InvalidToken`` if it is not a valid access token now."""
        entry = self._entries.get(token)
        if entry is not None:
            if time.time() < entry[1]:
                return entry[0]
            del self._entries[token]
        claims = self._verify(token)
        try:
            expires = _expiry(token)
        except (ValueError, KeyError, TypeError, IndexError):  # pragma: no cover - verified
            raise InvalidToken("malformed claims") from None
        if len(self._entries) >= self._max_entries:
            # Oldest first: dicts keep insertion order.
            del self._entries[next(iter(self._entries))]
        self._entries[token] = (claims, expires)
        return claims
