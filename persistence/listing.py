"""The lists' SQL, built from the domain's query objects (``domain.queries``) by field name.

Each list declares one condition per filter field, under the field's name; the statement for a
combination of set fields is compiled once and cached. Values are bound under the field's name
too, unless the field declares how it binds (a keyset, a derived bound). A field with no
condition is refused when its statement is built, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from functools import lru_cache
from typing import Any

from sqlalchemy.sql import ColumnElement

from domain.queries import PAGE_FIELDS
from persistence.sql import Sql

Conditions = Callable[[], Sequence[ColumnElement[bool]]]
Binder = Callable[[Any], Mapping[str, Any]]


class Listing:
    """One list: its filter conditions by field name, how the page is ordered and cut, and how
    unusual fields bind their values."""

    def __init__(
        self,
        query_type: type,
        conditions: Mapping[str, Conditions],
        statement: Callable[[list[ColumnElement[bool]], frozenset[str]], Any],
        *,
        binders: Mapping[str, Binder] | None = None,
        cache_size: int = 256,
    ) -> None:
        names = tuple(field.name for field in fields(query_type))
        unknown = set(conditions) - set(names)
        if unknown:
            raise LookupError(f"conditions for no field of {query_type.__name__}: {unknown}")
        self._names = tuple(name for name in names if name != "limit")
        self.filters = tuple(name for name in names if name not in PAGE_FIELDS)
        self._conditions = dict(conditions)
        self._statement = statement
        self._binders = dict(binders or {})
        self.sql = lru_cache(maxsize=cache_size)(self._build)

    def shape(self, query: Any) -> tuple[str, ...]:
        """The names of the fields ``query`` sets, in declaration order."""
        return tuple([name for name in self._names if _is_set(getattr(query, name))])

    def params(self, query: Any, shape: Sequence[str]) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": query.limit}
        for name in shape:
            value = getattr(query, name)
            binder = self._binders.get(name)
            if binder is not None:
                params.update(binder(value))
            else:
                params[name] = list(value) if isinstance(value, tuple) else value
        return params

    def statement(self, query: Any) -> tuple[Sql, dict[str, Any]]:
        """The compiled statement for ``query`` and its parameters."""
        shape = self.shape(query)
        return self.sql(shape), self.params(query, shape)

    def _build(self, shape: tuple[str, ...]) -> Sql:
        where: list[ColumnElement[bool]] = []
        for name in shape:
            if name in PAGE_FIELDS:
                continue
            if name not in self._conditions:
                raise LookupError(f"the list has no condition for the filter {name!r}")
            where.extend(self._conditions[name]())
        return Sql(self._statement(where, frozenset(shape)))


def _is_set(value: Any) -> bool:
    """A field filters (or shapes the page) unless left at its default: None, an empty tuple,
    False. Zero and the empty string are values."""
    # Compared by identity and type only: ``==`` on a UUID runs Python code, per field, per list.
    if value is None or value is False:
        return False
    return value.__class__ is not tuple or len(value) > 0
