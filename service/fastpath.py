"""The fast path: work Connexion 3.3.0 repeats on every request, done once per operation.

Everything in this module depends on Connexion internals; nothing else in the service does.
It is switched on only for the exact Connexion release it was proven on (``PROVEN_ON``), and
can be switched off with ``MEDAI_CONNEXION_FAST_PATH=off``; otherwise the app is stock
Connexion (``connexion.AsyncApp`` and its default middlewares), with the same behaviour. CI
runs the whole suite in both modes, and ``tests/test_fastpath.py`` compares them reply by reply
over every operation without a body. docs/connexion-upstream.md describes what Connexion would
have to build once per operation for this module to be deleted.

What Connexion 3.3 rebuilds per request and this module builds at start-up:

- the handler call (``AsyncOperation.fn``): a ``StarletteDecorator``, a URI parser, a
  ``ConnexionRequest``, an empty form read for file arguments, deep-copied query defaults.
  ``Plan`` binds the same arguments by the same rules (``decorators/parameter.py``,
  ``uri_parsing.OpenAPIURIParser``: the last of a repeated scalar, form arrays joined and split on
  commas, defaults from the spec, the security context to handlers that name it), for operations
  without a body whose parameters it knows; any other operation keeps Connexion's own binding.
  The reply is Connexion's response decorator with the operation's media types looked up once
  instead of through a context proxy (``PlannedReply``): the same return shapes, the same rules.
- the request validation's URI parser and ``ParameterValidator`` (``PlannedValidation``), for
  operations without a body; bodies keep Connexion's path.
- Swagger UI's two routers and scope copy, entered here only for the documentation's own paths
  (``DocsOnlySwaggerUI``).
- the security handler's signature inspection of the token function (``CachedRoleBearer``).
- the routing of a concrete path (no parameters): Starlette tries the routes one by one, in the
  spec's order, so a path near the end pays a regular-expression match for every route before
  it. ``PlannedRouting`` finds, at start-up, the route Starlette would take for each concrete
  path and method (the first full match, the same one whatever else is in the request), and
  enters it directly; any other request is routed by Connexion's router as before.
- the parameter validation of an operation that declares no parameter, asked with no query
  string: there is nothing it could refuse (``PlannedValidationOperation``).

The stand-in middlewares take the places of Connexion's in the stack, and ``PlannedApp``
translates every ``MiddlewarePosition`` to the stand-in, so each documented position works.
"""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from connexion.apps.abstract import AbstractApp
from connexion.apps.asynchronous import AsyncApi, AsyncApp, AsyncASGIApp, AsyncOperation
from connexion.decorators.parameter import sanitized
from connexion.decorators.response import BaseResponseDecorator
from connexion.exceptions import NonConformingResponseHeaders
from connexion.frameworks.starlette import Starlette as StarletteFramework
from connexion.jsonifier import Jsonifier
from connexion.lifecycle import ConnexionResponse
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.routing import RoutingMiddleware, RoutingOperation
from connexion.middleware.routing import _scope as routing_scope
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.operations import AbstractOperation
from connexion.utils import TYPE_MAP
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from service.reference import page_path
from service.security import RoleBearer

log = logging.getLogger(__name__)

PROVEN_ON = "3.3.0"
"""The Connexion release this module was proven on: any other runs stock Connexion."""
SWITCH = "MEDAI_CONNEXION_FAST_PATH"
_OFF = frozenset({"off", "0", "false", "no"})

_CONVERTIBLE = frozenset({"string", "integer", "number", "boolean"})
_ARRAY_DELIMITER = ","
_CONTEXT_KEY = "connexion_context"


def connexion_version() -> str:
    return importlib.metadata.version("connexion")


def enabled() -> bool:
    """Whether apps built now take the fast path: not switched off, and the installed Connexion
    is the release it was proven on (else stock Connexion, logged once at start)."""
    if os.environ.get(SWITCH, "on").strip().lower() in _OFF:
        return False
    installed = connexion_version()
    if installed != PROVEN_ON:
        log.warning(
            "Connexion %s is installed; the fast path was proven on %s only: stock Connexion",
            installed,
            PROVEN_ON,
        )
        return False
    return True


class UnsupportedOperation(ValueError):
    """An operation the plan cannot bind exactly as Connexion would: it keeps Connexion's."""


@dataclass(frozen=True, slots=True)
class QueryParameter:
    argument: str
    convert: Callable[[str], Any]
    array: bool


@dataclass(frozen=True, slots=True)
class Plan:
    function: Callable[..., Awaitable[Any]]
    path: Mapping[str, tuple[str, Callable[[str], Any]]]
    query: Mapping[str, QueryParameter]
    defaults: dict[str, Any]
    mutable_defaults: bool
    context: frozenset[str] | None
    """Context entries the handler takes by name; ``None``: all (it takes ``**kwargs``)."""

    @classmethod
    def of(cls, operation: AbstractOperation) -> Plan:
        function = operation.function
        where = f"{operation.method.upper()} {operation.path} ({operation.operation_id})"
        if operation.request_body:
            raise UnsupportedOperation(f"{where}: takes a body")
        if not inspect.iscoroutinefunction(function):
            raise UnsupportedOperation(f"{where}: not a coroutine function")
        parameters = inspect.signature(function).parameters.values()
        arguments = {p.name for p in parameters if p.kind is not p.VAR_KEYWORD}
        takes_all = any(p.kind is p.VAR_KEYWORD for p in parameters)

        def wanted(name: str) -> bool:
            return takes_all or name in arguments

        path: dict[str, tuple[str, Callable[[str], Any]]] = {}
        query: dict[str, QueryParameter] = {}
        defaults: dict[str, Any] = {}
        for parameter in operation.parameters:
            location, name = parameter["in"], parameter["name"]
            if location not in ("path", "query"):
                continue  # headers and cookies: Connexion does not bind them either
            schema = parameter.get("schema", {})
            array = schema.get("type") == "array"
            element = schema.get("items", {}) if array else schema
            if (
                element.get("type") not in _CONVERTIBLE
                or schema.get("nullable")
                or element.get("nullable")
                or parameter.get("explode") is False
                or (array and (location != "query" or parameter.get("style", "form") != "form"))
            ):
                raise UnsupportedOperation(f"{where}: parameter {name!r} has an unplanned shape")
            argument = sanitized(name)
            if not wanted(argument):
                continue
            convert: Callable[[str], Any] = TYPE_MAP[element["type"]]
            if location == "path":
                path[name] = (argument, convert)
                continue
            query[name] = QueryParameter(argument, convert, array)
            default = parameter.get("default", schema.get("default"))
            if default is not None:
                defaults[argument] = (
                    [convert(item) for item in default] if array else convert(default)
                )
        return cls(
            function=function,
            path=path,
            query=query,
            defaults=defaults,
            mutable_defaults=any(isinstance(v, list) for v in defaults.values()),
            context=None if takes_all else frozenset(arguments),
        )

    def arguments(self, scope: Scope) -> dict[str, Any]:
        """The handler's keyword arguments for this request."""
        kwargs = copy.deepcopy(self.defaults) if self.mutable_defaults else dict(self.defaults)
        if self.path:
            for name, value in scope.get("path_params", {}).items():
                planned = self.path.get(name)
                if planned is not None:
                    kwargs[planned[0]] = planned[1](value)
        if self.query and scope["query_string"]:
            arrays: dict[str, list[str]] = {}
            scalars: dict[str, str] = {}
            for name, value in parse_qsl(
                scope["query_string"].decode("latin-1"), keep_blank_values=True
            ):
                parameter = self.query.get(name)
                if parameter is None:
                    continue
                if parameter.array:
                    arrays.setdefault(name, []).append(value)
                else:
                    scalars[name] = value
            # Only the last of repeated values was validated: an earlier one may not convert.
            for name, value in scalars.items():
                parameter = self.query[name]
                kwargs[parameter.argument] = parameter.convert(value)
            for name, values in arrays.items():
                parameter = self.query[name]
                # As Connexion's URI parser: repeated values joined, then split on commas.
                items = _ARRAY_DELIMITER.join(values).split(_ARRAY_DELIMITER)
                kwargs[parameter.argument] = [parameter.convert(item) for item in items]
        context = scope.get("extensions", {}).get(_CONTEXT_KEY)
        if context:
            for key, value in context.items():
                if self.context is None or key in self.context:
                    kwargs[key] = value
        return kwargs


class PlannedReply(BaseResponseDecorator):  # type: ignore[misc]
    """Connexion's response rules (every return shape a handler may use: a response, a
    ``ConnexionResponse``, a body, ``(body,)``, ``(body, status)``, ``(body, headers)``,
    ``(body, status, headers)``), with the operation's media types read once."""

    def __init__(self, operation: AbstractOperation, jsonifier: Jsonifier) -> None:
        super().__init__(framework=StarletteFramework, jsonifier=jsonifier)
        self.declared = list(operation.produces)
        self.produces = list(set(self.declared))
        self.where = operation.operation_id

    def __call__(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        if isinstance(result, ConnexionResponse):
            response: Response = StarletteFramework.connexion_to_framework_response(result)
            return response
        built: Response = self.build_framework_response(result)
        return built

    def _infer_content_type(self, data: Any, headers: dict[str, Any]) -> str | None:
        """The media type the handler's headers name, which must be one the operation declares;
        else the operation's only one; else, among several, text for a string and octets for
        bytes or a stream, as Connexion decides."""
        named: str | None = next(
            (str(v) for k, v in headers.items() if k.lower() == "content-type"), None
        )
        produces = self.produces or (["application/json"] if data is not None else [])
        if named:
            if named not in produces:
                raise NonConformingResponseHeaders(
                    f"{self.where} replied in {named!r}, not one of {self.declared}"
                )
            return named
        if len(produces) <= 1:
            return str(produces[0]) if produces else None
        wanted = (
            "text/plain"
            if isinstance(data, str)
            else "application/octet-stream"
            if isinstance(data, bytes | Iterator)
            else None
        )
        chosen: str | None = None
        for media_type in produces:
            if wanted is not None and wanted in media_type:
                chosen = media_type
        if chosen is None:
            raise NonConformingResponseHeaders(
                f"{self.where} declares several media types and its reply named none"
            )
        return chosen


class PlannedOperation:
    """An operation whose handler is called through its ``Plan`` and answered by its
    ``PlannedReply``."""

    def __init__(self, plan: Plan, reply: PlannedReply) -> None:
        self.plan = plan
        self.reply = reply
        # As Connexion's AsyncOperation: introspection (``inspect.unwrap``) finds the handler.
        functools.update_wrapper(self, plan.function)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        result = await self.plan.function(**self.plan.arguments(scope))
        await self.reply(result)(scope, receive, send)


class PlannedApi(AsyncApi):  # type: ignore[misc]
    def make_operation(self, operation: AbstractOperation) -> AsyncOperation | PlannedOperation:
        try:
            plan = Plan.of(operation)
        except UnsupportedOperation as exc:
            log.debug("Connexion's own binding for %s", exc)
            return super().make_operation(operation)
        return PlannedOperation(plan, PlannedReply(operation, self.jsonifier))


class PlannedASGIApp(AsyncASGIApp):  # type: ignore[misc]
    api_cls = PlannedApi


class PlannedValidationOperation(RequestValidationOperation):  # type: ignore[misc]
    """For an operation without a body, its parameter validator built once (the validator
    class from the app's ``validator_map``); with a body, Connexion's own steps."""

    def __init__(self, next_app: ASGIApp, *, operation: AbstractOperation, **kwargs: Any) -> None:
        super().__init__(next_app, operation=operation, **kwargs)
        self._bodiless = not operation.request_body
        # No parameter to check and, without a query string, no unknown one to refuse.
        self._nothing_to_check = self._bodiless and not operation.parameters
        uri_parser = operation._uri_parser_class(operation.parameters, operation.body_definition())
        self._parameters = self._validator_map["parameter"](
            operation.parameters,
            uri_parser=uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._bodiless:
            await super().__call__(scope, receive, send)
            return
        if not (self._nothing_to_check and not scope["query_string"]):
            self._parameters.validate(scope)
        await self.next_app(scope, receive, send)


class PlannedValidationAPI(RequestValidationAPI):  # type: ignore[misc]
    def make_operation(self, operation: AbstractOperation) -> RequestValidationOperation:
        return PlannedValidationOperation(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class PlannedRequestValidation(RequestValidationMiddleware):  # type: ignore[misc]
    api_cls = PlannedValidationAPI


class DocsOnlySwaggerUI(SwaggerUIMiddleware):  # type: ignore[misc]
    """Connexion's Swagger UI, entered only by requests for its own pages: every other
    request goes straight on instead of through two routers and a copy of the scope."""

    prefixes: tuple[str, ...] = ("/docs", "/openapi.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not page_path(scope).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


Hop = tuple[Router, BaseRoute]


class PlannedRouting(RoutingMiddleware):  # type: ignore[misc]
    """Connexion's routing, with the route of each concrete path and method found once.

    For such a request (and no ``root_path``, under which the plan was made) it does what
    Starlette's routers would do on their first full match, one router after the other (the
    ``router`` key, the matched route's child scope), without trying the routes before it;
    everything else goes through Connexion's router."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self._plans: dict[tuple[str, str], tuple[Hop, ...]] = {}

    def add_api(self, *args: Any, **kwargs: Any) -> None:
        super().add_api(*args, **kwargs)
        self._plans = _route_plans(self.router)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("root_path"):
            await super().__call__(scope, receive, send)
            return
        plan = self._plans.get((scope["path"], scope["method"]))
        if plan is None:
            await super().__call__(scope, receive, send)
            return
        routing_scope.set(dict(scope))
        for router, route in plan:
            if "router" not in scope:
                scope["router"] = router
            scope.update(route.matches(scope)[1])
        await plan[-1][1].handle(scope, receive, send)


def _route_plans(router: Router) -> dict[tuple[str, str], tuple[Hop, ...]]:
    """For every concrete path and method of ``router``'s operations, the routers and routes
    Starlette would go through; a path it would send elsewhere gets no plan."""
    plans: dict[tuple[str, str], tuple[Hop, ...]] = {}
    for path, methods in _concrete_routes(router, ""):
        for method in methods:
            scope = {"type": "http", "path": path, "root_path": "", "method": method}
            plan = _first_full_matches(router, scope)
            if plan is not None:
                plans[(path, method)] = plan
    return plans


def _concrete_routes(router: Router, prefix: str) -> Iterator[tuple[str, set[str]]]:
    for route in router.routes:
        if isinstance(route, Mount) and isinstance(route.app, Router):
            yield from _concrete_routes(route.app, prefix + route.path)
        elif isinstance(route, Route) and not route.param_convertors and route.methods:
            yield prefix + route.path, route.methods


def _first_full_matches(router: Router, scope: dict[str, Any]) -> tuple[Hop, ...] | None:
    # Only a plain router (its middleware stack is itself) is entered in its place.
    if router.middleware_stack != router.app:
        return None
    for route in router.routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue
        if isinstance(route, Mount) and isinstance(route.app, Router):
            rest = _first_full_matches(route.app, {**scope, **child})
            return None if rest is None else ((router, route), *rest)
        if isinstance(route, Route) and isinstance(route.app, RoutingOperation):
            return ((router, route),)
        return None
    return None


class CachedRoleBearer(RoleBearer):
    """``RoleBearer`` without Connexion 3.3's two signature inspections per request."""

    @staticmethod
    @functools.cache
    def _accepts_kwarg(func: Callable[..., Any], keyword: str) -> bool:
        accepts: bool = RoleBearer._accepts_kwarg(func, keyword)
        return accepts


STAND_INS: dict[type, type] = {
    SwaggerUIMiddleware: DocsOnlySwaggerUI,
    RequestValidationMiddleware: PlannedRequestValidation,
    RoutingMiddleware: PlannedRouting,
}
"""Connexion's default middlewares this module stands in for, by the ones standing in."""


@dataclass(frozen=True)
class _Position:
    """A ``MiddlewarePosition`` pointing at the middleware standing in for its own."""

    name: str
    value: type


class PlannedApp(AsyncApp):  # type: ignore[misc]
    """Connexion's ``AsyncApp`` whose operations without a body are called through a plan.

    ``AbstractApp`` declares ``_middleware_app`` as the application the Connexion middleware
    wraps, which each app class sets before building the middleware; this one sets Connexion's
    own ASGI app, with the planned API class.
    """

    def __init__(self, import_name: str, **kwargs: Any) -> None:
        self._middleware_app = PlannedASGIApp()
        # AsyncApp.__init__ would set its own; all it does besides is this call.
        AbstractApp.__init__(self, import_name, **kwargs)

    def add_middleware(
        self,
        middleware_class: type[ASGIApp],
        position: MiddlewarePosition = MiddlewarePosition.BEFORE_CONTEXT,
        **options: Any,
    ) -> None:
        stand_in = STAND_INS.get(position.value)
        where = position if stand_in is None else _Position(position.name, stand_in)
        self.middleware.add_middleware(middleware_class, position=where, **options)


def middlewares(replaced: Mapping[type, type]) -> list[Any]:
    """Connexion's default middlewares with the app's own ``replaced`` ones and this module's
    stand-ins. A new list per app: Connexion inserts the app's own middlewares into it."""
    chosen = {**STAND_INS, **replaced}
    return [chosen.get(m, m) for m in ConnexionMiddleware.default_middlewares]


SECURITY_MAP = {"bearer": CachedRoleBearer}
