"""How a request becomes a handler call, planned once per operation at start-up.

Connexion 3.3 binds arguments anew on every request: ``AsyncOperation.fn`` builds a
``StarletteDecorator``, which builds a URI parser from the operation's parameters, a
``ConnexionRequest``, reads the (empty) form of a GET for file arguments, deep-copies and merges
the query defaults, and only then calls the handler. On the appointment list that was about
0.1 ms of a 0.66 ms request, the largest single cost left (benchmarks/profiles.md).

Here the plan is made once, from the same resolved operation: which path and query parameters
the handler takes, their defaults and converters, which context entries it wants. At request
time what is left is splitting the query string and a dictionary per request. The rules are
Connexion's (``decorators/parameter.py``, ``uri_parsing.OpenAPIURIParser``), so the values bound
are the ones its request validation has just checked: the last value of a repeated scalar, form
arrays joined and split on commas, defaults from the spec, parameters the spec does not declare
ignored, the security context (``token_info``, ``user``) to handlers that name it.

Only operations without a request body are planned; bodies (JSON, the login form) keep
Connexion's decorator, whose rules for them are broader and whose cost is small beside those
operations' database work. A parameter shape the plan does not know (an object, a deepObject or
non-form array, a nullable parameter, a synchronous handler) stops the app at start-up instead
of being bound differently from what was validated. The reply is shaped by ``Reply``, with the
operation's media types looked up once.
"""

from __future__ import annotations

import copy
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from connexion.apps.abstract import AbstractApp
from connexion.apps.asynchronous import AsyncApi, AsyncApp, AsyncASGIApp, AsyncOperation
from connexion.decorators.parameter import sanitized
from connexion.exceptions import NonConformingResponseHeaders
from connexion.jsonifier import Jsonifier
from connexion.operations import AbstractOperation
from connexion.utils import TYPE_MAP, extract_content_type, is_json_mimetype
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

_CONVERTIBLE = frozenset({"string", "integer", "number", "boolean"})
_ARRAY_DELIMITER = ","
_CONTEXT_KEY = "connexion_context"


class UnsupportedOperation(ValueError):
    """An operation the plan cannot bind exactly as Connexion would."""


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
        if not inspect.iscoroutinefunction(function):
            raise UnsupportedOperation(f"{where}: handlers are coroutine functions")
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
                or (array and (location != "query" or parameter.get("style", "form") != "form"))
            ):
                raise UnsupportedOperation(f"{where}: parameter {name!r} has an unplanned shape")
            argument = sanitized(name)
            if not wanted(argument):
                continue
            convert = _converter(element)
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


def _converter(schema: Mapping[str, Any]) -> Callable[[str], Any]:
    convert: Callable[[str], Any] = TYPE_MAP[schema["type"]]
    return convert


class Reply:
    """Turns what a planned handler returns into the response, by rules fixed per operation.

    Handlers here return ``(body, status, headers)`` (or a ready Starlette ``Response``). A
    body goes out in the media type its headers name, which must be one the operation
    declares (else Connexion's ``NonConformingResponseHeaders``, a 500), or in the operation's
    only media type when they name none; JSON media types are written by the app's jsonifier.
    ``None`` is no body, and no Content-Type (Connexion named one on a 204). Connexion's
    response decorator applies the same rules but looks the operation's media types up
    through a context proxy on every request: 3.5 % of a list's CPU (benchmarks/profiles.md).
    """

    def __init__(self, operation: AbstractOperation, jsonifier: Jsonifier) -> None:
        self.produces = frozenset(operation.produces)
        self.default = next(iter(self.produces)) if len(self.produces) == 1 else None
        self.where = operation.operation_id
        self.jsonifier = jsonifier

    def __call__(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        if not (isinstance(result, tuple) and len(result) == 3):
            raise TypeError(f"{self.where} returned {type(result).__name__}, not a 3-tuple")
        body, status, headers = result
        if body is None:
            return Response(status_code=status, headers=headers)
        media_type = extract_content_type(headers) or self.default
        if media_type is None or media_type not in self.produces:
            log.error("%s replied in %r, not in %s", self.where, media_type, sorted(self.produces))
            raise NonConformingResponseHeaders()
        content = self.jsonifier.dumps(body) if is_json_mimetype(media_type) else body
        return Response(content, status_code=status, headers=headers, media_type=media_type)


class PlannedOperation:
    """An operation whose handler is called through its ``Plan`` and answered by its
    ``Reply``."""

    def __init__(self, plan: Plan, reply: Reply) -> None:
        self.plan = plan
        self.reply = reply
        # As Connexion's AsyncOperation: introspection (``inspect.unwrap``) finds the handler.
        functools.update_wrapper(self, plan.function)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        result = await self.plan.function(**self.plan.arguments(scope))
        await self.reply(result)(scope, receive, send)


class PlannedApi(AsyncApi):  # type: ignore[misc]
    def make_operation(self, operation: AbstractOperation) -> AsyncOperation | PlannedOperation:
        if operation.request_body:
            return super().make_operation(operation)
        return PlannedOperation(Plan.of(operation), Reply(operation, self.jsonifier))


class PlannedASGIApp(AsyncASGIApp):  # type: ignore[misc]
    api_cls = PlannedApi


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
