"""Keyset (cursor) paging shared by every list: opaque cursors and the one-extra-row trick."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from domain.errors import InvalidRequest

T = TypeVar("T")


def encode_cursor(*values: Any) -> str:
    """An opaque, URL-safe cursor carrying the sort key of the last row of a page."""
    raw = orjson.dumps(values, default=str)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parse: Callable[[list[Any]], T]) -> T:
    """Decode a cursor and let ``parse`` rebuild the key; anything malformed is a 400."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return parse(values)
    except (ValueError, TypeError, KeyError, IndexError, orjson.JSONDecodeError):
        raise InvalidRequest("The cursor is not one this API issued.") from None


def page(
    rows: Sequence[T], limit: int, cursor_of: Callable[[T], str]
) -> tuple[Sequence[T], str | None]:
    """Rows were fetched with ``limit + 1``: the extra one only says a next page exists."""
    items = rows[:limit]
    more = len(rows) > limit and bool(items)
    return items, cursor_of(items[-1]) if more else None
