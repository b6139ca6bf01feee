"""The planned binding (service/binding.py) binds what Connexion's own decorator binds, and
refuses at start-up the parameter shapes it does not plan for."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from connexion import context as connexion_context
from connexion.decorators.parameter import prep_kwargs, sanitized
from connexion.exceptions import NonConformingResponseHeaders
from connexion.lifecycle import ConnexionRequest
from connexion.operations import OpenAPIOperation
from connexion.spec import Specification
from connexion.utils import inspect_function_arguments
from starlette.responses import Response

from service.app import SPEC_DIR, SPEC_FILE
from service.binding import Plan, Reply, UnsupportedOperation
from service.jsonifier import OrjsonJsonifier
from service.resolver import SnakeCaseResolver

SPEC = Specification.load(SPEC_DIR / SPEC_FILE)
CONTEXT = {"token_info": {"sub": "u-1", "role": "doctor", "scope": ["doctor"]}, "user": "u-1"}


def _spec_operation(path: str, method: str = "get") -> OpenAPIOperation:
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


def _connexion_binds(operation: OpenAPIOperation, scope: dict[str, Any]) -> dict[str, Any]:
    """What Connexion 3.3's parameter decorator would pass the handler."""
    arguments, has_kwargs = inspect_function_arguments(operation.function)
    request = ConnexionRequest(
        scope, uri_parser=operation._uri_parser_class(operation.parameters, {})
    )
    operation_token = connexion_context._operation.set(operation)
    context_token = connexion_context._context.set(dict(CONTEXT))
    try:
        kwargs: dict[str, Any] = prep_kwargs(
            request,
            request_body=None,
            files={},
            arguments=arguments,
            has_kwargs=has_kwargs,
            sanitize=sanitized,
        )
    finally:
        connexion_context._operation.reset(operation_token)
        connexion_context._context.reset(context_token)
    return kwargs


@pytest.mark.parametrize(
    "query",
    [
        "",
        "limit=5",
        "limit=5&limit=7",  # a repeated scalar: the last one
        "limit=&limit=7",  # ...even when an earlier one would not convert (it was a 500)
        "limit=x&limit=7&limit=1",
        "status=booked&status=cancelled",
        "status=booked,completed&status=cancelled",  # form arrays split on commas too
        "from=2026-01-01T00:00:00Z&to=2026-01-08T00:00:00Z&sort=-start_at",
        "doctor_id=6f1c2b1e-8e55-4d3a-9a59-8c2a8a0f0f0f&cursor=abc&limit=100",
        "sort=",  # an empty value stays an empty string
        "q=unknown",  # not a parameter of this operation: not bound
    ],
)
def test_a_list_is_bound_as_connexion_binds_it(query: str) -> None:
    operation = _spec_operation("/appointments")
    scope = _scope(query)
    assert Plan.of(operation).arguments(scope) == _connexion_binds(operation, scope)


def test_path_parameters_and_the_named_context_are_bound_as_connexion_binds_them() -> None:
    operation = _spec_operation("/appointments/{appointment_id}")
    scope = _scope(path_params={"appointment_id": "6f1c2b1e-8e55-4d3a-9a59-8c2a8a0f0f0f"})
    bound = Plan.of(operation).arguments(scope)
    assert bound == _connexion_binds(operation, scope)
    # The handler names token_info, not user: only what it names.
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
    )


@pytest.mark.parametrize(
    "parameter",
    [
        {"name": "filter", "in": "query", "schema": {"type": "object"}},
        {
            "name": "ids",
            "in": "query",
            "style": "spaceDelimited",
            "schema": {"type": "array", "items": {"type": "string"}},
        },
        {"name": "after", "in": "query", "schema": {"type": "string", "nullable": True}},
    ],
    ids=["object", "space-delimited array", "nullable"],
)
def test_a_parameter_shape_it_does_not_plan_for_stops_the_app_at_start_up(
    parameter: dict[str, Any],
) -> None:
    with pytest.raises(UnsupportedOperation, match=parameter["name"]):
        Plan.of(_fake([parameter]))


def test_a_synchronous_handler_stops_the_app_at_start_up() -> None:
    def handler() -> None:
        return None

    with pytest.raises(UnsupportedOperation, match="coroutine"):
        Plan.of(_fake([], handler))


def _reply(produces: list[str]) -> Reply:
    return Reply(
        SimpleNamespace(produces=produces, operation_id="listThings"),
        OrjsonJsonifier(),
    )


def test_a_reply_writes_json_in_the_media_type_its_headers_name() -> None:
    response = _reply(["application/json", "application/problem+json"])(
        ({"items": [1]}, 200, {"Content-Type": "application/json", "ETag": '"3"'})
    )
    assert response.status_code == 200
    assert orjson.loads(response.body) == {"items": [1]}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["etag"] == '"3"'


def test_a_reply_without_a_media_type_takes_the_operations_only_one() -> None:
    response = _reply(["application/json"])(({"ok": True}, 200, {}))
    assert response.headers["content-type"] == "application/json"


def test_a_reply_in_a_media_type_the_operation_does_not_declare_is_refused() -> None:
    with pytest.raises(NonConformingResponseHeaders):
        _reply(["application/json"])(("<p>", 200, {"Content-Type": "text/html"}))
    with pytest.raises(NonConformingResponseHeaders):
        _reply(["application/json", "text/csv"])(({"a": 1}, 200, {}))


def test_no_body_is_an_empty_reply_without_a_media_type() -> None:
    response = _reply(["application/problem+json"])((None, 204, {}))
    assert (response.status_code, response.body) == (204, b"")
    assert "content-type" not in response.headers


def test_a_ready_response_and_anything_but_a_triple() -> None:
    ready = Response(b"x", 202)
    assert _reply(["application/json"])(ready) is ready
    with pytest.raises(TypeError, match="3-tuple"):
        _reply(["application/json"])(({"a": 1}, 200))
