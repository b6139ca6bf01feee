"""From an operation of the contract to its handler, with nothing in the contract but the
contract: ``handlers.<first tag>.<operationId in snake_case>``.

operationIds are camelCase for the TypeScript client (``getUser``); handlers are snake_case
Python, one module per tag (``tags: [users]`` → ``handlers.users.get_user``). The rule is
fixed, so a grep for the snake_case name of an operationId finds its handler, and the
published document carries no routing hints (no ``x-openapi-router-controller``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connexion.resolver import Resolver

_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
HANDLERS_PACKAGE = "handlers"


def snake_case(operation_id: str) -> str:
    return _BOUNDARY.sub("_", operation_id).lower()


def handler_name(operation: Mapping[str, Any]) -> str:
    """The dotted name of the function that serves ``operation`` (an operation object)."""
    tags = operation.get("tags") or []
    if not tags:
        raise ValueError(f"operation {operation.get('operationId')!r} has no tag")
    return f"{HANDLERS_PACKAGE}.{tags[0]}.{snake_case(operation['operationId'])}"


def handler_names(spec: Mapping[str, Any]) -> dict[str, str]:
    """operationId → dotted handler name, for every operation of ``spec``."""
    return {
        operation["operationId"]: handler_name(operation)
        for item in spec.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


class SnakeCaseResolver(Resolver):  # type: ignore[misc]
    """Connexion's resolver by the rule above; the names are worked out once from the spec."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        self.names = handler_names(spec)

    def resolve_operation_id(self, operation: Any) -> str:
        return self.names[operation.operation_id]
