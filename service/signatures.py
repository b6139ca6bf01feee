"""Handlers' signatures computed once instead of on every request.

Connexion 3.3 rebuilds an operation's decorators for each request (``AsyncOperation.fn``) and
calls ``inspect.signature`` on the handler there, and twice more on the security function;
together that was about 5 % of a list request's CPU. ``inspect.signature`` returns a
function's ``__signature__`` when one is set (documented behaviour), so setting it once at
start makes those calls an attribute lookup. The signature set is the function's own, so
nothing Connexion decides changes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from service.resolver import SnakeCaseResolver

F = TypeVar("F", bound=Callable[..., Any])


def freeze(function: F) -> F:
    if getattr(function, "__signature__", None) is None:
        function.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
    return function


class SignatureCachingResolver(SnakeCaseResolver):
    """``SnakeCaseResolver`` whose handlers carry their signature."""

    def resolve_function_from_operation_id(self, operation_id: str) -> Callable[..., Any]:
        function: Callable[..., Any] = super().resolve_function_from_operation_id(operation_id)
        return freeze(function)
