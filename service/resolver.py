"""operationIds are camelCase for the TypeScript client (``getUser``); handlers are snake_case
Python (``handlers.users.get_user``). Each operation names its module with
``x-openapi-router-controller``; this resolver only changes the case, so a grep for the
snake_case name of an operationId finds its handler."""

from __future__ import annotations

import re
from typing import Any

from connexion.resolver import Resolver

_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_case(operation_id: str) -> str:
    return _BOUNDARY.sub("_", operation_id).lower()


class SnakeCaseResolver(Resolver):  # type: ignore[misc]
    def resolve_operation_id(self, operation: Any) -> str:
        controller = operation.router_controller
        if controller is None:
            raise ValueError(
                f"operation {operation.operation_id!r} has no x-openapi-router-controller"
            )
        return f"{controller}.{snake_case(operation.operation_id)}"
