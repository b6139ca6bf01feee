"""What a handler needs from the running app: the runtime, the caller, a unit of work that
knows who is asking and from where (for the audit trail)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import Scope

from domain.audit import RequestContext
from domain.model import Caller
from domain.paging import Cursors
from persistence.db import UnitOfWork
from service.observability import REQUEST_ID_KEY
from service.runtime import REQUEST_SCOPE, Runtime, from_scope

JSON = {"Content-Type": "application/json"}


def _scope() -> Scope:
    return REQUEST_SCOPE.get()


def runtime() -> Runtime:
    return from_scope(_scope())


def cursors() -> Cursors:
    """Signs and checks the cursors of every list."""
    return runtime().cursors


def header(name: str) -> str | None:
    """A request header, read from the scope: Connexion's ``request`` proxy builds two request
    objects for every attribute read."""
    value: str | None = Headers(scope=_scope()).get(name)
    return value


def cookie(name: str) -> str | None:
    """A request cookie (the last one of that name, as Starlette reads them)."""
    raw = header("cookie")
    return cookie_parser(raw).get(name) if raw else None


def caller(token_info: dict[str, Any]) -> Caller:
    return Caller.from_token_info(token_info)


def client_address() -> str | None:
    client = _scope().get("client")
    return str(client[0]) if client else None


def request_id() -> str | None:
    """The id the observability middleware gave this request (sent on to the ML service)."""
    value = _scope().get(REQUEST_ID_KEY)
    return str(value) if value else None


def request_context(token_info: dict[str, Any] | None = None) -> RequestContext:
    me = caller(token_info) if token_info else None
    return RequestContext(
        actor_id=me.id if me else None,
        actor_role=me.role.value if me else None,
        client_address=client_address(),
        user_agent=header("user-agent"),
        request_id=request_id() or header("x-request-id"),
    )


def unit_of_work(token_info: dict[str, Any] | None = None) -> UnitOfWork:
    """A unit of work for this request, its audit events attributed to the caller."""
    return runtime().database.unit_of_work(request_context(token_info))


def single_read(token_info: dict[str, Any]) -> UnitOfWork:
    """The same for a use case that reads with one statement (``Database.single_read``)."""
    return runtime().database.single_read(request_context(token_info))
