"""What a handler needs from the running app: the runtime and the caller."""

from __future__ import annotations

from typing import Any

from connexion.context import scope as _scope

from domain.model import Caller
from service.runtime import Runtime, from_scope

JSON = {"Content-Type": "application/json"}


def runtime() -> Runtime:
    return from_scope(_scope)


def caller(token_info: dict[str, Any]) -> Caller:
    return Caller.from_token_info(token_info)
