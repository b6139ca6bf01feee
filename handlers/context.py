"""What a handler needs from the request and the running app, and nothing more.

The composition root (``service``) depends on this module, not the other way round: it puts
the request's ASGI scope in ``REQUEST_SCOPE`` and, under ``SERVICES_KEY``, an object that
provides ``Services`` (``service.runtime.Runtime``). Handlers reach the domain's use cases with
what this module hands them; they never import ``service`` or ``persistence``.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import Scope

from domain.accounts import Accounts
from domain.audit import RequestContext
from domain.auth import AuthService
from domain.inference import Predictor
from domain.mfa import MfaService
from domain.model import Caller
from domain.paging import Cursors
from domain.ports import Transactions
from domain.webhooks import Resolver, UrlPolicy

JSON = {"Content-Type": "application/json"}

REQUEST_SCOPE: ContextVar[Scope] = ContextVar("medai.request_scope")
"""The scope of the request being handled (set by the app's runtime middleware): handlers read
headers, the client address and the services from it."""

SERVICES_KEY = "medai.runtime"
"""Where the scope holds the app's ``Services``."""

REQUEST_ID_KEY = "medai.request_id"
"""Where the scope holds the request id the edge layer (``service.edge``) gave the request."""


class Services(Protocol):
    """What the running app provides to handlers."""

    @property
    def auth(self) -> AuthService: ...
    @property
    def mfa(self) -> MfaService: ...
    @property
    def accounts(self) -> Accounts: ...
    @property
    def predictor(self) -> Predictor: ...
    @property
    def cursors(self) -> Cursors:
        """Signs and checks the cursors of every list."""
        ...

    @property
    def inference_rate_per_minute(self) -> int: ...
    @property
    def webhook_policy(self) -> UrlPolicy:
        """Which webhook URLs may be registered (https only in production, private ranges)."""
        ...

    @property
    def webhook_resolver(self) -> Resolver: ...
    @property
    def trusted_origins(self) -> tuple[str, ...]:
        """Origins whose pages may use the refresh-token cookie besides this server's own."""
        ...

    def transactions(self, context: RequestContext) -> Transactions:
        """Units of work whose audit events carry ``context``."""
        ...

    async def readiness(self) -> dict[str, str]:
        """The checks that passed; ``ServiceUnavailable`` when one fails."""
        ...

    async def ml_health(self, request_id: str | None) -> dict[str, Any]:
        """The ML service's readiness, models and breaker."""
        ...


def _scope() -> Scope:
    return REQUEST_SCOPE.get()


def services() -> Services:
    found: Services = _scope()[SERVICES_KEY]
    return found


def cursors() -> Cursors:
    """Signs and checks the cursors of every list."""
    return services().cursors


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
    """The id the edge layer gave this request (sent on to the ML service)."""
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


def transactions(token_info: dict[str, Any] | None = None) -> Transactions:
    """The units of work of this request, its audit events attributed to the caller; the use
    case decides which kind it opens."""
    return services().transactions(request_context(token_info))
