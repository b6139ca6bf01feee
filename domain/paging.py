"""Keyset (cursor) paging shared by every list: signed cursors and the one-extra-row trick.

A cursor carries the sort key of the last row of a page, and a tag: HMAC-SHA256 over the
list's name, the caller it was issued to and that key. A cursor that was forged, altered,
issued by another list or to another caller is refused (400) before any of its values is
parsed, let alone reaches a query; so the values a list reads back are exactly the ones it
wrote, and a client cannot page from a sort key it made up. Cursors stay opaque and short
(within the spec's 200 characters) and need no storage; they last as long as the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

import orjson

from domain.errors import InvalidRequest

T = TypeVar("T")
K = TypeVar("K")
Row = Mapping[str, Any]

TAG_BYTES = 16
"""128 bits of HMAC-SHA256: forging one is a 2**-128 guess per request."""

_KEY_LABEL = b"medai/cursor/v1"


@dataclass(frozen=True, slots=True)
class Keyset(Generic[K]):
    """One list in one order: its name (what a cursor is bound to), the sort key of a row,
    and how that key is rebuilt from what a cursor carries."""

    listing: str
    key_of: Callable[[Row], tuple[Any, ...]]
    parse: Callable[[list[Any]], K]


class Cursors:
    """Issues and reads back the cursors of every list, with one secret key."""

    __slots__ = ("_mac",)

    def __init__(self, key: bytes) -> None:
        # Keyed once; each tag starts from a copy (the key schedule is most of an HMAC's cost).
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    @classmethod
    def derived_from(cls, secret: str) -> Cursors:
        """A key of its own, derived from another secret (HMAC as a key derivation function),
        so that a cursor tag can never serve as anything signed with that secret."""
        return cls(hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest())

    def after(self, keyset: Keyset[K], caller: UUID, cursor: str | None) -> K | None:
        """The sort key a page starts after: ``None`` for the first page."""
        if cursor is None:
            return None
        return self.read(cursor, keyset.listing, caller, keyset.parse)

    def page(
        self, keyset: Keyset[Any], caller: UUID, rows: Sequence[Row], limit: int
    ) -> tuple[Sequence[Row], str | None]:
        """A page of ``rows`` fetched with ``limit + 1`` (the extra one only says a next page
        exists), and the cursor of the next page, if any."""
        items = rows[:limit]
        if len(rows) <= limit or not items:
            return items, None
        return items, self.issue(keyset.listing, caller, *keyset.key_of(items[-1]))

    def reply(
        self,
        keyset: Keyset[Any],
        caller: UUID,
        rows: Sequence[Row],
        limit: int,
        render: Callable[[Row], Any],
    ) -> tuple[Sequence[Row], dict[str, Any]]:
        """``page``, and the reply every list gives: its items as ``render`` shows them, the
        next page's cursor and the limit. The rows of the page come too (for the audit)."""
        items, next_cursor = self.page(keyset, caller, rows, limit)
        return items, {
            "items": [render(row) for row in items],
            "next_cursor": next_cursor,
            "limit": limit,
        }

    def issue(self, listing: str, caller: UUID, *values: Any) -> str:
        """A cursor for ``listing`` and ``caller`` carrying ``values`` (the sort key)."""
        payload = orjson.dumps(values)
        token = self._tag(listing, caller, payload) + payload
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def read(self, cursor: str, listing: str, caller: UUID, parse: Callable[[list[Any]], T]) -> T:
        """The sort key of a cursor this list issued to this caller, rebuilt by ``parse``;
        any other cursor is a 400."""
        try:
            token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise _refused() from None
        tag, payload = token[:TAG_BYTES], token[TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(listing, caller, payload)):
            raise _refused()
        try:
            return parse(orjson.loads(payload))
        except (ValueError, TypeError, KeyError, IndexError):
            # Signed by this key for this list, yet not readable: a key shared with an older
            # version that wrote cursors differently. Still the client's cursor, not a crash.
            raise _refused() from None

    def _tag(self, listing: str, caller: UUID, payload: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(b"\0".join((listing.encode(), caller.bytes, payload)))
        return mac.digest()[:TAG_BYTES]


def _refused() -> InvalidRequest:
    message = "is not a cursor this list gave you (pass next_cursor back unchanged)"
    return InvalidRequest(
        f"Query parameter 'cursor' {message}.",
        errors=[{"parameter": "cursor", "in": "query", "message": message}],
    )
