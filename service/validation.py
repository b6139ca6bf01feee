"""Request validation through Connexion's public surfaces, answering by ``service.inputs``.

Two pieces, in both of the app's modes (``service.fastpath`` on or off):

- ``BodyGate``, an ASGI middleware at ``MiddlewarePosition.BEFORE_VALIDATION`` (after routing
  and security, before Connexion's validation): a body is read in full before anything else,
  whether it came with a ``Content-Length`` or chunked (the size limit counts either:
  ``service.hardening``), and handed on with its length; its media type is checked first: none,
  or one the operation does not take, is a 415; the validators and the handler then see the
  operation's own spelling of it (``Application/JSON; charset=x`` is read as the
  ``application/json`` it is validated as). It finds the operation by the id Connexion's
  routing puts in the scope (``service.resolver``'s name for it) and reads what it needs
  from the contract once, at start-up.
- ``VALIDATOR_MAP``, for ``add_api(validator_map=...)``: Connexion's validator classes
  (``Draft4RequestValidator``, the same strictness) reporting every offending parameter and body
  member in ``errors`` instead of the first one as a multi-line dump of the schema, with JSON
  parsed by one strict parser with a nesting limit (``service.inputs.parse_json``). Connexion
  builds these validators per request; the JSON Schema validators inside them depend only on
  the schema, so they are built once per schema and kept (``_validator_for``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.json_schema import Draft4RequestValidator
from connexion.lifecycle import ConnexionRequest
from connexion.utils import is_null, is_nullable
from connexion.validators import (
    FormDataValidator,
    JSONRequestBodyValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import PreconditionRequired
from service.inputs import (
    InputError,
    InvalidInput,
    UnsupportedMediaType,
    body_error,
    body_errors,
    describe,
    parameter_error,
    parse_json,
    pointer,
)
from service.resolver import handler_name

_CONTENT_TYPE = b"content-type"
_ROUTING = "connexion_routing"
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Schema objects live as long as the app's operations; each is kept here beside its validator,
# so that an id is never reused while its entry exists.
_VALIDATORS: dict[tuple[int, type[Draft4Validator]], tuple[object, Draft4Validator]] = {}
PRECONDITION_REQUIRED = "Send If-Match with the ETag of the version you read (GET it first)."


def _validator_for(schema: dict[str, Any], kind: type[Draft4Validator]) -> Draft4Validator:
    key = (id(schema), kind)
    found = _VALIDATORS.get(key)
    if found is None or found[0] is not schema:
        found = (schema, kind(schema, format_checker=Draft4Validator.FORMAT_CHECKER))
        _VALIDATORS[key] = found
    return found[1]


class ErrorsParameterValidator(ParameterValidator):  # type: ignore[misc]
    """``ParameterValidator`` reporting every offending parameter, each checked by a JSON
    Schema validator built once per parameter schema."""

    def validate_request(self, request: ConnexionRequest) -> None:
        errors: list[InputError] = []
        if self.strict_validation:
            extra = self.validate_query_parameter_list(request, self.security_query_params)
            errors += [
                parameter_error(name, "query", "is not a parameter of this operation")
                for name in sorted(extra)
            ]
        precondition_missing = False
        for location in ("query", "path", "header", "cookie"):
            for param in self.parameters.get(location, []):
                value = _value(request, location, param["name"])
                if value is None and location == "header" and _is_precondition(param):
                    precondition_missing = True
                    continue
                errors += _check(location, value, param)
        if errors:
            raise InvalidInput(errors)
        if precondition_missing:
            # RFC 6585: a change without its precondition is a 428 that says what to send,
            # not a validation 400 among others.
            raise PreconditionRequired(PRECONDITION_REQUIRED)


def _check(location: str, value: Any, param: dict[str, Any]) -> list[InputError]:
    name = param["name"]
    if value is None:
        return [parameter_error(name, location, "is required")] if param.get("required") else []
    if is_nullable(param) and is_null(value):
        return []
    validator = _validator_for(param.get("schema", param), Draft4Validator)
    return [
        parameter_error(name, location, describe(error)) for error in validator.iter_errors(value)
    ]


def _is_precondition(param: dict[str, Any]) -> bool:
    return bool(param.get("required")) and str(param["name"]).lower() == "if-match"


def _value(request: ConnexionRequest, location: str, name: str) -> Any:
    """As Connexion reads each kind of parameter (path names with dashes are bound with
    underscores)."""
    if location == "query":
        return request.query_params.get(name)
    if location == "path":
        return request.path_params.get(name.replace("-", "_"))
    if location == "header":
        return request.headers.get(name)
    return request.cookies.get(name)


_ABSENT = object()


class StrictJSONBody(JSONRequestBodyValidator):  # type: ignore[misc]
    """A JSON body parsed by ``parse_json`` (UTF-8 whatever the charset says: RFC 8259) and
    validated with Connexion's request validator class, every error reported."""

    async def _parse(self, stream: Any, scope: Scope) -> Any:
        body = b"".join([chunk async for chunk in stream])
        return parse_json(body) if body else _ABSENT

    def _validate(self, body: Any) -> None:
        if body is _ABSENT:
            return  # an optional body left out (``BodyGate`` refuses a required one)
        if body is None and not self._nullable:
            raise InvalidInput([body_error("", "must not be null")])
        _raise_errors(_validator_for(self._schema, Draft4RequestValidator).iter_errors(body))


class FormBody(FormDataValidator):  # type: ignore[misc]
    """A form body, validated as Connexion does but reported as the JSON ones are (and
    without logging the refused values: a form carries passwords)."""

    def _validate(self, body: Any) -> None:
        errors: list[InputError] = []
        if self._strict_validation:
            known = self._schema.get("properties", {})
            errors += [
                body_error(pointer([name]), "is not allowed here (unknown member)")
                for name in body
                if name not in known
            ]
        validator = _validator_for(self._schema, Draft4RequestValidator)
        errors += body_errors(validator.iter_errors(body))
        if errors:
            raise InvalidInput(errors)


def _raise_errors(errors: Iterable[ValidationError]) -> None:
    found = body_errors(errors)
    if found:
        raise InvalidInput(found)


VALIDATOR_MAP: dict[str, Any] = {
    "parameter": ErrorsParameterValidator,
    "body": MediaTypeDict(
        {"*/*json": StrictJSONBody, "application/x-www-form-urlencoded": FormBody}
    ),
}
"""For ``add_api(validator_map=...)``: Connexion's documented way to replace its validators."""


class BodyRule:
    """What ``BodyGate`` needs of one operation that takes a body."""

    def __init__(self, request_body: Mapping[str, Any]) -> None:
        self.accepted: list[str] = list(request_body.get("content", {}))
        self.required = bool(request_body.get("required", False))
        self.declared = MediaTypeDict([(media.lower(), media) for media in self.accepted])


def body_rules(spec: Mapping[str, Any]) -> dict[str, BodyRule]:
    """The id Connexion routes an operation by (what the app's resolver resolved it to: the
    handler's dotted name) → its body rule, for the operations of ``spec`` that take a body."""
    return {
        handler_name(operation): BodyRule(operation["requestBody"])
        for item in spec.get("paths", {}).values()
        for method, operation in item.items()
        if method in _HTTP_METHODS and "requestBody" in operation
    }


class BodyGate:
    """Reads, measures and checks the media type of a body before Connexion validates it."""

    def __init__(self, app: ASGIApp, spec: Mapping[str, Any]) -> None:
        self.app = app
        self.rules = body_rules(spec)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = None
        if scope["type"] == "http":
            routing = scope.get("extensions", {}).get(_ROUTING, {})
            rule = self.rules.get(routing.get("operation_id"))
        if rule is None:
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        if not body:
            if rule.required:
                raise InvalidInput([body_error("", "is required")])
            # No body, so no media type: whatever the client named (perhaps not a media type
            # at all) must not reach Connexion's binding, which parses it to read a body.
            await self.app(_without_body_headers(scope), _replay(body, receive), send)
            return
        given = _content_type(scope)
        media_type = given.split(";", 1)[0].strip().lower() if given else None
        if media_type is None or media_type not in rule.declared:
            raise UnsupportedMediaType(given, rule.accepted)
        declared: str = rule.declared[media_type]
        scope = _with_body_headers(scope, declared, len(body))
        await self.app(scope, _replay(body, receive), send)


async def _read(receive: Receive) -> bytes:
    """The whole body, however it was framed (the size limit applies while reading)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def _content_type(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == _CONTENT_TYPE:
            text: str = value.decode("latin-1")
            return text
    return None


def _without_body_headers(scope: Scope) -> Scope:
    changed = copy.copy(scope)
    changed["headers"] = [
        (key, value)
        for key, value in scope["headers"]
        if key.lower() not in (_CONTENT_TYPE, b"content-length", b"transfer-encoding")
    ]
    return changed


def _with_length(scope: Scope, length: int) -> Scope:
    headers = [
        (key, value)
        for key, value in scope["headers"]
        if key.lower() not in (b"content-length", b"transfer-encoding")
    ]
    headers.append((b"content-length", str(length).encode()))
    changed = copy.copy(scope)
    changed["headers"] = headers
    return changed


def _with_body_headers(scope: Scope, media_type: str, length: int) -> Scope:
    """The scope as the validators and the handler should see it: the body's length, and the
    media type it is validated as (its charset and case are the client's; it is read as UTF-8
    JSON or a form). A multipart body keeps the client's header: its boundary is needed to read
    it."""
    if media_type.startswith("multipart/"):
        media_type = _content_type(scope) or media_type
    changed = _with_length(scope, length)
    changed["headers"] = [
        (key, value) for key, value in changed["headers"] if key.lower() != _CONTENT_TYPE
    ] + [(_CONTENT_TYPE, media_type.encode())]
    return changed
