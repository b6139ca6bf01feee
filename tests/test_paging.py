"""Signed cursors (domain/paging.py): a cursor reads back only in the list, for the caller and
under the key it was issued with."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.errors import InvalidRequest
from domain.paging import Cursors, Keyset

ANNA, BORIS = uuid.uuid4(), uuid.uuid4()
CURSORS = Cursors.derived_from("secret-" + "s" * 40)
KEY = (datetime(2030, 3, 4, 9, tzinfo=UTC), uuid.uuid4())
LIST = Keyset(
    "things",
    lambda row: (row["at"], row["id"]),
    lambda values: (datetime.fromisoformat(values[0]), uuid.UUID(values[1])),
)


def test_a_cursor_reads_back_as_the_key_it_was_issued_for() -> None:
    cursor = CURSORS.issue("things", ANNA, *KEY)
    assert CURSORS.after(LIST, ANNA, cursor) == KEY
    assert len(cursor) <= 200  # the spec's bound on `cursor`


@pytest.mark.parametrize(
    ("cursors", "listing", "caller"),
    [
        (CURSORS, "other things", ANNA),
        (CURSORS, "things", BORIS),
        (Cursors.derived_from("another-" + "s" * 40), "things", ANNA),
    ],
    ids=["another list", "another caller", "another key"],
)
def test_a_cursor_does_not_read_back_anywhere_else(
    cursors: Cursors, listing: str, caller: uuid.UUID
) -> None:
    cursor = CURSORS.issue("things", ANNA, *KEY)
    with pytest.raises(InvalidRequest) as refused:
        cursors.read(cursor, listing, caller, LIST.parse)
    assert refused.value.extensions["errors"][0]["parameter"] == "cursor"


@pytest.mark.parametrize("cursor", ["", "A", "AAAA", "!!!!", "bm9wZQ", "a" * 200])
def test_junk_is_refused_before_it_is_parsed(cursor: str) -> None:
    def parse(values: list[Any]) -> None:
        raise AssertionError(f"parsed {values!r}")

    with pytest.raises(InvalidRequest):
        CURSORS.read(cursor, "things", ANNA, parse)


def test_the_cursor_key_is_not_the_secret_it_is_derived_from() -> None:
    secret = "secret-" + "s" * 40
    assert Cursors(secret.encode()).issue("things", ANNA, 1) != CURSORS.issue("things", ANNA, 1)


def test_a_page_has_a_next_cursor_only_when_a_row_is_left() -> None:
    rows = [{"at": KEY[0], "id": uuid.uuid4()} for _ in range(3)]
    items, cursor = CURSORS.page(LIST, ANNA, rows, 2)
    assert list(items) == rows[:2]
    assert cursor is not None
    assert CURSORS.after(LIST, ANNA, cursor) == (rows[1]["at"], rows[1]["id"])
    assert CURSORS.page(LIST, ANNA, rows, 3) == (rows, None)
