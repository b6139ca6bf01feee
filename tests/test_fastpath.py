"""The fast path (service/fastpath.py) against stock Connexion: the same arguments bound, the
same replies built, the same answers over HTTP for every operation without a body, every
documented middleware position, and operations it does not plan left to Connexion."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from connexion import AsyncApp
from connexion import context as connexion_context
from connexion.datastructures import NoContent
from connexion.decorators.parameter import prep_kwargs, sanitized
from connexion.decorators.response import AsyncResponseDecorator
from connexion.frameworks.starlette import Starlette as StarletteFramework
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware import MiddlewarePosition
from connexion.middleware.routing import RoutingMiddleware, RoutingOperation
from connexion.operations import OpenAPIOperation
from connexion.resolver import Resolver
from connexion.spec import Specification
from connexion.utils import inspect_function_arguments
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service import fastpath
from service.app import SPEC_DIR, SPEC_FILE, create_app
from service.fastpath import Plan, PlannedApp, PlannedReply, UnsupportedOperation
from service.jsonifier import OrjsonJsonifier
from service.resolver import SnakeCaseResolver
from tests.appointments.conftest import book
from tests.conftest import MakeUser
from tests.conftest import test_settings as settings_for_tests

SPEC = Specification.load(SPEC_DIR / SPEC_FILE)
CONTEXT = {"token_info": {"sub": "u-1", "role": "doctor", "scope": ["doctor"]}, "user": "u-1"}
METHODS = ("get", "put", "post", "delete")


def _bodiless() -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, item in SPEC.raw["paths"].items()
        for method in METHODS
        if method in item and "requestBody" not in item[method]
    ]


BODILESS = _bodiless()


def _operation(path: str, method: str) -> OpenAPIOperation:
    return OpenAPIOperation.from_spec(
        SPEC, path=path, method=method, resolver=SnakeCaseResolver(SPEC.raw)
    )


def _scope(query: str = "", path_params: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": query.encode(),
        "headers": [],
        "path_params": path_params or {},
        "extensions": {"connexion_context": dict(CONTEXT)},
    }


def _connexion_binds(operation: OpenAPIOperation, scope: dict[str, Any]) -> Any:
    """What Connexion 3.3's parameter decorator passes the handler (or the error it raises)."""
    arguments, has_kwargs = inspect_function_arguments(operation.function)
    request = ConnexionRequest(
        scope, uri_parser=operation._uri_parser_class(operation.parameters, {})
    )
    operation_token = connexion_context._operation.set(operation)
    context_token = connexion_context._context.set(dict(CONTEXT))
    try:
        return prep_kwargs(
            request,
            request_body=None,
            files={},
            arguments=arguments,
            has_kwargs=has_kwargs,
            sanitize=sanitized,
        )
    except Exception as exc:
        return type(exc)
    finally:
        connexion_context._operation.reset(operation_token)
        connexion_context._context.reset(context_token)


def _planned_binds(plan: Plan, scope: dict[str, Any]) -> Any:
    try:
        return plan.arguments(scope)
    except Exception as exc:
        return type(exc)


VALUES = ["", "5", "x", "booked", "-start_at", str(uuid.uuid4()), "2026-01-01T00:00:00Z", "a,b"]


def _query_shapes(operation: OpenAPIOperation) -> Iterator[str]:
    names = [p["name"] for p in operation.parameters if p["in"] == "query"]
    yield ""
    yield "unknown=1"
    for name in names:
        for value in VALUES:
            yield f"{name}={value}"
        yield f"{name}=5&{name}=7"  # a repeated scalar: the last one
        yield f"{name}=&{name}=7"  # an earlier one that would not convert
        yield f"{name}=booked,completed&{name}=cancelled"
    for first, second in itertools.combinations(names, 2):
        yield f"{first}=5&{second}=booked"


@pytest.mark.parametrize(("path", "method"), BODILESS, ids=[f"{m} {p}" for p, m in BODILESS])
def test_every_bodiless_operation_is_bound_as_connexion_binds_it(path: str, method: str) -> None:
    operation = _operation(path, method)
    plan = Plan.of(operation)
    path_params = {p["name"]: str(uuid.uuid4()) for p in operation.parameters if p["in"] == "path"}
    shapes = list(_query_shapes(operation))
    for query in shapes:
        scope = _scope(query, path_params)
        assert _planned_binds(plan, scope) == _connexion_binds(operation, scope), query
    assert len(shapes) >= 2


def test_the_named_context_only_is_bound() -> None:
    operation = _operation("/appointments/{appointment_id}", "get")
    bound = Plan.of(operation).arguments(_scope(path_params={"appointment_id": "a-1"}))
    assert set(bound) == {"appointment_id", "token_info"}


def _fake(parameters: list[dict[str, Any]], function: Any = None) -> Any:
    async def handler(**_: Any) -> None:
        return None

    return SimpleNamespace(
        function=function or handler,
        parameters=parameters,
        method="get",
        path="/things",
        operation_id="listThings",
        request_body={},
    )


UNPLANNED = [
    {"name": "filter", "in": "query", "schema": {"type": "object"}},
    {
        "name": "ids",
        "in": "query",
        "style": "spaceDelimited",
        "schema": {"type": "array", "items": {"type": "string"}},
    },
    {"name": "after", "in": "query", "schema": {"type": "string", "nullable": True}},
]


@pytest.mark.parametrize("parameter", UNPLANNED, ids=["object", "space-delimited", "nullable"])
def test_a_parameter_shape_it_does_not_plan_for_is_left_to_connexion(
    parameter: dict[str, Any],
) -> None:
    with pytest.raises(UnsupportedOperation, match=parameter["name"]):
        Plan.of(_fake([parameter]))


# ---- replies: every return shape a handler may use, as Connexion builds it -----------------

SHAPES: list[Any] = [
    {"a": 1},
    ({"a": 1},),
    ({"a": 1}, 201),
    ({"a": 1}, HTTPStatus.ACCEPTED),
    ({"a": 1}, {"ETag": '"3"'}),
    ({"a": 1}, 200, {"ETag": '"3"'}),
    ({"a": 1}, 200, {"Content-Type": "application/json"}),
    ([1, 2], 200, {}),
    (None, 204, {}),
    (None, 204),
    None,
    NoContent,
    (NoContent, 204),
    ("<p>", 200, {"Content-Type": "text/html"}),  # not declared: refused
    ("text", 200),
    (b"bytes", 200, {}),
    ConnexionResponse(status_code=202, body=b'{"b":2}', content_type="application/json"),
]


def _response_parts(build: Any) -> Any:
    try:
        response = build()
    except Exception as exc:
        return type(exc)
    return response.status_code, bytes(response.body), sorted(response.headers.items())


@pytest.mark.parametrize("produces", [["application/json"], ["application/json", "text/csv"], []])
@pytest.mark.parametrize("shape", SHAPES, ids=[repr(s)[:40] for s in SHAPES])
def test_a_reply_is_built_as_connexions_response_decorator_builds_it(
    shape: Any, produces: list[str]
) -> None:
    operation = SimpleNamespace(produces=produces, operation_id="thing")
    planned = PlannedReply(operation, OrjsonJsonifier())
    stock = AsyncResponseDecorator(framework=StarletteFramework, jsonifier=OrjsonJsonifier())
    token = connexion_context._operation.set(operation)
    try:
        expected = _response_parts(lambda: stock.build_framework_response(shape))
        if isinstance(shape, ConnexionResponse):
            expected = _response_parts(
                lambda: StarletteFramework.connexion_to_framework_response(shape)
            )
    finally:
        connexion_context._operation.reset(token)
    assert _response_parts(lambda: planned(shape)) == expected


def test_a_ready_response_is_sent_as_it_is() -> None:
    ready = Response(b"x", 202)
    operation = SimpleNamespace(produces=["application/json"], operation_id="thing")
    assert PlannedReply(operation, OrjsonJsonifier())(ready) is ready


# ---- routing: a concrete path entered as Starlette's routers would enter it -------------------


def _thing(operation_id: str, *parameters: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in parameters
        ],
        "responses": {"200": {"description": "ok"}},
    }


# A templated path before a concrete one it also matches: Starlette takes the first.
ROUTED = {
    "openapi": "3.0.3",
    "info": {"title": "things", "version": "1"},
    "paths": {
        "/things/{thing_id}": {"get": _thing("getThing", "thing_id")},
        "/things/mine": {"get": _thing("myThings"), "put": _thing("putMine")},
        "/things": {"get": _thing("listThings"), "delete": _thing("dropThings")},
        "/stuff": {"get": _thing("listStuff")},
    },
}
ROUTED_REQUESTS = [
    (method, path, root)
    for method in ("GET", "HEAD", "PUT", "DELETE", "POST")
    for path in ("/things/mine", "/things", "/things/7", "/stuff", "/stuff/", "/nothing")
    for root in ("", "/api")
]


async def _routed(routing: Any, method: str, path: str, root: str) -> Any:
    seen: dict[str, Any] = {}

    async def next_app(scope: Scope, _receive: Receive, _send: Send) -> None:
        seen["routing"] = dict(scope.get("extensions", {}).get("connexion_routing", {}))
        seen["path_params"] = dict(scope.get("path_params", {}))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        seen.setdefault("sent", []).append(message)

    middleware = routing(next_app)
    middleware.add_api(
        Specification.from_dict(ROUTED), resolver=Resolver(function_resolver=lambda _: things)
    )
    scope = {
        "type": "http",
        "method": method,
        "path": root + path,
        "root_path": root,
        "query_string": b"",
        "headers": [],
    }
    await middleware(scope, receive, send)
    # What the routers leave in the caller's scope, besides what they hand on.
    seen["scope"] = {
        key: value for key, value in scope.items() if key not in ("router", "endpoint")
    }
    endpoint = scope.get("endpoint")
    seen["endpoint"] = getattr(endpoint, "operation_id", type(endpoint).__name__)
    return seen


@pytest.mark.parametrize(
    ("method", "path", "root"), ROUTED_REQUESTS, ids=[" ".join(r) for r in ROUTED_REQUESTS]
)
async def test_a_request_is_routed_as_connexions_router_routes_it(
    method: str, path: str, root: str
) -> None:
    stock = await _routed(RoutingMiddleware, method, path, root)
    planned = await _routed(fastpath.PlannedRouting, method, path, root)
    assert planned == stock


def test_a_concrete_path_behind_a_templated_one_is_planned_to_the_templated_one() -> None:
    routing = fastpath.PlannedRouting(Response())
    routing.add_api(
        Specification.from_dict(ROUTED), resolver=Resolver(function_resolver=lambda _: things)
    )
    chosen = {}
    for key, plan in routing._plans.items():
        route = plan[-1][1]
        assert isinstance(route, Route)
        assert isinstance(route.endpoint, RoutingOperation)
        chosen[key] = route.endpoint.operation_id
    assert chosen[("/things/mine", "GET")] == "getThing"
    assert chosen[("/things/mine", "PUT")] == "putMine"
    assert chosen[("/things", "HEAD")] == "listThings"
    assert ("/things/7", "GET") not in chosen


# ---- the version gate and the switch ---------------------------------------------------------


def test_the_fast_path_is_taken_only_on_the_release_it_was_proven_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(fastpath.SWITCH, "on")
    assert fastpath.enabled() == (fastpath.connexion_version() == fastpath.PROVEN_ON)
    monkeypatch.setattr(fastpath, "connexion_version", lambda: "3.4.0")
    assert not fastpath.enabled()


def test_the_switch_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastpath.SWITCH, "off")
    assert not fastpath.enabled()


# ---- middleware positions and unplanned operations, in both modes ----------------------------

MODES = ["on", "off"]


class Marker:
    def __init__(self, app: ASGIApp, seen: list[str], name: str) -> None:
        self.app = app
        self.seen = seen
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(self.name)
        await self.app(scope, receive, send)


async def _started(monkeypatch: pytest.MonkeyPatch, mode: str, database_url: str) -> Any:
    monkeypatch.setenv(fastpath.SWITCH, mode)
    application = create_app(settings_for_tests(), database_url)
    await application.runtime.start()
    return application


@pytest.mark.parametrize("mode", MODES)
async def test_every_documented_middleware_position_works(
    mode: str, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    application = await _started(monkeypatch, mode, database_url)
    seen: list[str] = []
    try:
        for position in MiddlewarePosition:
            application.add_middleware(Marker, position=position, seen=seen, name=position.name)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://medai.test") as c:
            reply = await c.get("/health/live")
    finally:
        await application.runtime.stop()
    assert reply.status_code == 200
    assert seen == [position.name for position in MiddlewarePosition]
    assert isinstance(application, PlannedApp) == (mode == "on" and fastpath.enabled())


UNPLANNED_SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "unplanned", "version": "1"},
    "paths": {
        "/things": {
            "get": {
                "operationId": "things",
                "parameters": [*UNPLANNED[:1], UNPLANNED[2]],
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


async def things(**kwargs: Any) -> Any:
    return {key: kwargs.get(key) for key in ("filter", "after")}


async def test_object_and_nullable_parameters_do_not_stop_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replies = []
    for mode in MODES:
        monkeypatch.setenv(fastpath.SWITCH, mode)
        app_class = PlannedApp if fastpath.enabled() else AsyncApp
        application = app_class(__name__)
        application.add_api(UNPLANNED_SPEC, resolver=Resolver(function_resolver=lambda _: things))
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            reply = await c.get("/things", params={"after": "null"})
        assert reply.status_code == 200, reply.text
        replies.append(orjson.loads(reply.content))
    # Bound by Connexion in both modes: a nullable parameter's "null" is None.
    assert replies[0] == replies[1] == {"filter": {}, "after": None}


# ---- over HTTP: every bodiless operation, many shapes, fast against stock --------------------

_VOLATILE = {"x-request-id", "date"}


_GROWING = "/audit-events"
"""Reads are audited: this list grows between the two apps' requests, so its pages are
compared by shape (the members of each entry), not by content."""


_FRESH = "/users/me/mfa"
"""Each enrolment gets a new random secret: its replies are compared by their members."""


def _comparable(reply: httpx.Response, url: str) -> tuple[int, Any, list[tuple[str, str]]]:
    by_shape = url.startswith((_GROWING, _FRESH))
    volatile = _VOLATILE | ({"etag", "content-length"} if by_shape else set())
    headers = sorted((k, v) for k, v in reply.headers.items() if k not in volatile)
    try:
        body: Any = reply.json()
    except ValueError:
        body = reply.content
    if url.startswith(_GROWING) and reply.status_code == 200:
        body = (sorted(body), sorted({key for item in body["items"] for key in item}))
    elif url.startswith(_FRESH) and isinstance(body, dict) and reply.status_code < 300:
        body = sorted(body)
    return reply.status_code, body, headers


def _requests(ids: dict[str, str]) -> Iterator[tuple[str, str]]:
    for path, method in BODILESS:
        operation = _operation(path, method)
        names = [p["name"] for p in operation.parameters if p["in"] == "path"]
        targets = [path]
        real = None
        if names:
            name = names[0]
            real = ids.get(name, str(uuid.uuid4()))
            targets = [
                path.replace("{" + name + "}", value)
                for value in (real, str(uuid.uuid4()), "not-an-id")
            ]
        for target in targets:
            for query in _query_shapes(operation):
                if method == "delete" and real is not None and real in target:
                    continue  # deleting it would change what the other app sees
                yield method.upper(), f"{target}?{query}" if query else target


@pytest.mark.slow
async def test_every_bodiless_operation_answers_as_stock_connexion(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    patient = await make_user("patient")
    doctor = await make_user("doctor")
    admin = await make_user("admin")
    booked = await book(client, patient, start=1, doctor=doctor)
    assert booked.status_code == 201, booked.text
    ids = {"appointment_id": booked.json()["id"], "user_id": doctor.id}
    fast = await _started(monkeypatch, "on", database_url)
    stock = await _started(monkeypatch, "off", database_url)
    assert isinstance(fast, PlannedApp) == (fastpath.connexion_version() == fastpath.PROVEN_ON)
    assert not isinstance(stock, PlannedApp)
    compared = 0
    try:
        fast_client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=fast), base_url="http://medai.test"
        )
        stock_client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=stock), base_url="http://medai.test"
        )
        async with fast_client, stock_client:
            for method, url in _requests(ids):
                for who in (None, patient, doctor, admin):
                    headers = who.headers if who else {}
                    one = await fast_client.request(method, url, headers=headers)
                    other = await stock_client.request(method, url, headers=headers)
                    assert _comparable(one, url) == _comparable(other, url), (method, url, who)
                    compared += 1
    finally:
        await fast.runtime.stop()
        await stock.runtime.stop()
    assert compared > 1000
