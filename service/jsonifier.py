"""orjson for every JSON body Connexion writes or reads: several times faster than ``json``."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import orjson
from connexion.jsonifier import Jsonifier


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime.date):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class OrjsonJsonifier(Jsonifier):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()

    def dumps(self, data: Any, **kwargs: Any) -> str:
        return orjson.dumps(data, default=_default).decode()

    def loads(self, data: str | bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            # Connexion's contract: an unparsable body is handed on as text, so the body
            # validator answers 400 "not of type object" instead of a crash.
            return data.decode() if isinstance(data, bytes) else data
