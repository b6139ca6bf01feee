"""SQLAlchemy Core statements compiled once, executed by psycopg.

Repositories build their queries with SQLAlchemy Core against ``persistence.schema`` (so a
renamed column breaks at import, not in production) and run them through a pooled psycopg
connection. Compiling once and skipping SQLAlchemy's execution layer keeps a hot read at one
psycopg call; psycopg then prepares the statement server-side after a few executions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.sql import ClauseElement

_DIALECT = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]


class Sql:
    """One compiled statement: its SQL text and the values SQLAlchemy bound as literals."""

    __slots__ = ("defaults", "text")

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        self.text: str = str(compiled)
        # Values SQLAlchemy bound itself (literals in the statement, even None); names declared
        # with a bare bindparam("x") are required and must come with each call.
        self.defaults: dict[str, Any] = {
            name: value
            for name, value in compiled.params.items()
            if not compiled.binds[name].required  # type: ignore[attr-defined]
        }

    def bind(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if not self.defaults:
            return dict(params or {})
        merged = dict(self.defaults)
        merged.update(params or {})
        return merged

    def __repr__(self) -> str:
        return f"Sql({self.text!r})"
