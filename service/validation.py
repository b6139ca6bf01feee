"""Connexion's request validation, planned once per operation, answering by ``service.inputs``.

Connexion 3.3 builds, on every request, a URI parser and a ``ParameterValidator`` from the
operation's parameters, and for every parameter present a deep copy of its schema and a fresh
JSON Schema validator; for a list request that carries no parameters at all this was about 7 %
of its CPU (benchmarks/profiles.md). Both depend on the operation only, so here they are built
when the app starts, as are the body validators, with Connexion's validator classes
(``Draft4RequestValidator``, the same strictness).

What differs from Connexion is what reaches those validators and how a refusal reads
(``service.inputs`` decides both):

- every offending parameter and body member is reported, in ``errors``, not the first one
  as a multi-line dump of the schema;
- a body is read in full before anything else, whether it came with a ``Content-Length`` or
  chunked (the size limit counts either: ``service.hardening``), and handed on with its length;
- its media type is checked first: none, or one the operation does not take, is a 415; the
  handler then sees the operation's own spelling of it (``Application/JSON; charset=x`` is
  read as the ``application/json`` it was validated as);
- JSON is parsed by one strict parser with a nesting limit (``service.inputs.parse_json``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.json_schema import Draft4RequestValidator
from connexion.lifecycle import ConnexionRequest
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.operations import AbstractOperation
from connexion.utils import is_null, is_nullable
from connexion.validators import (
    AbstractRequestBodyValidator,
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

_CONTENT_TYPE = b"content-type"
PRECONDITION_REQUIRED = "Send If-Match with the ETag of the version you read (GET it first)."


class PlannedParameterValidator(ParameterValidator):  # type: ignore[misc]
    """``ParameterValidator`` keeping one JSON Schema validator per parameter (it lives as
    long as its operation here, not for one request) and reporting every offending one."""

    def __init__(self, parameters: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__(parameters, *args, **kwargs)
        # By identity: the parameter dicts are the operation's own, held by this validator.
        self._validators = {
            id(param): Draft4Validator(
                param.get("schema", param), format_checker=Draft4Validator.FORMAT_CHECKER
            )
            for param in parameters
        }

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
                errors += self._check(location, value, param)
        if errors:
            raise InvalidInput(errors)
        if precondition_missing:
            # RFC 6585: a change without its precondition is a 428 that says what to send,
            # not a validation 400 among others.
            raise PreconditionRequired(PRECONDITION_REQUIRED)

    def _check(self, location: str, value: Any, param: dict[str, Any]) -> list[InputError]:
        name = param["name"]
        if value is None:
            return [parameter_error(name, location, "is required")] if param.get("required") else []
        if is_nullable(param) and is_null(value):
            return []
        return [
            parameter_error(name, location, describe(error))
            for error in self._validators[id(param)].iter_errors(value)
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


class StrictJSONBody(JSONRequestBodyValidator):  # type: ignore[misc]
    """A JSON body parsed by ``parse_json`` (UTF-8 whatever the charset says: RFC 8259) and
    validated by one validator built at start-up, every error reported."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._planned = _request_validator(self._schema)

    async def _parse(self, stream: Any, scope: Scope) -> Any:
        body = b"".join([chunk async for chunk in stream])
        return parse_json(body) if body else None

    def _validate(self, body: Any) -> None:
        if body is None and not self._nullable:
            raise InvalidInput([body_error("", "must not be null")])
        _raise_errors(self._planned.iter_errors(body))


class FormBody(FormDataValidator):  # type: ignore[misc]
    """A form body, validated as Connexion does but reported as the JSON ones are (and
    without logging the refused values: a form carries passwords)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._planned = _request_validator(self._schema)

    def _validate(self, body: Any) -> None:
        errors: list[InputError] = []
        if self._strict_validation:
            known = self._schema.get("properties", {})
            errors += [
                body_error(pointer([name]), "is not allowed here (unknown member)")
                for name in body
                if name not in known
            ]
        errors += body_errors(self._planned.iter_errors(body))
        if errors:
            raise InvalidInput(errors)


def _request_validator(schema: dict[str, Any]) -> Draft4Validator:
    """Connexion's request validator class (readOnly, nullable), with the app's formats."""
    validator: Draft4Validator = Draft4RequestValidator(
        schema, format_checker=Draft4Validator.FORMAT_CHECKER
    )
    return validator


def _raise_errors(errors: Iterable[ValidationError]) -> None:
    found = body_errors(errors)
    if found:
        raise InvalidInput(found)


BODY_VALIDATORS = MediaTypeDict(
    {"*/*json": StrictJSONBody, "application/x-www-form-urlencoded": FormBody}
)


class PlannedValidationOperation(RequestValidationOperation):  # type: ignore[misc]
    def __init__(self, next_app: ASGIApp, *, operation: AbstractOperation, **kwargs: Any) -> None:
        super().__init__(next_app, operation=operation, **kwargs)
        self._bodiless = not operation.request_body
        uri_parser = operation._uri_parser_class(operation.parameters, operation.body_definition())
        self._parameters = PlannedParameterValidator(
            operation.parameters,
            uri_parser=uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )
        self._accepted: list[str] = list(operation.consumes) if not self._bodiless else []
        self._required = bool((operation.request_body or {}).get("required", False))
        self._bodies: MediaTypeDict = MediaTypeDict(
            [(media.lower(), self._body_validator(operation, media)) for media in self._accepted]
        )

    def _body_validator(
        self, operation: AbstractOperation, media: str
    ) -> tuple[str, AbstractRequestBodyValidator | None]:
        schema = operation.body_schema(media)
        validator_class = BODY_VALIDATORS.get(media.lower())
        if not schema or validator_class is None:
            return media, None
        validator: AbstractRequestBodyValidator = validator_class(
            schema=schema,
            required=self._required,
            nullable=is_nullable(operation.body_definition(media)),
            encoding="utf-8",
            strict_validation=self.strict_validation,
            uri_parser=operation.uri_parser_class(
                operation.parameters, operation.body_definition()
            ),
        )
        return media, validator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._parameters.validate(scope)
        if self._bodiless:
            await self.next_app(scope, receive, send)
            return
        body = await _read(receive)
        if not body:
            if self._required:
                raise InvalidInput([body_error("", "is required")])
            # No body, so no media type: whatever the client named (perhaps not a media type
            # at all) must not reach Connexion's binding, which parses it to read a body.
            await self.next_app(_without_body_headers(scope), _replay(body, receive), send)
            return
        given = _content_type(scope)
        media_type = given.split(";", 1)[0].strip().lower() if given else None
        if media_type is None or media_type not in self._bodies:
            raise UnsupportedMediaType(given, self._accepted)
        declared, validator = self._bodies[media_type]
        scope = _with_body_headers(scope, declared, len(body))
        receive = _replay(body, receive)
        if validator is not None:
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


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


def _with_body_headers(scope: Scope, media_type: str, length: int) -> Scope:
    """The scope as the handler should see it: the body's length, and the media type it was
    validated as (its charset and case are the client's; it was read as UTF-8 JSON or a form).
    A multipart body keeps the client's header: its boundary is needed to read it."""
    if media_type.startswith("multipart/"):
        media_type = _content_type(scope) or media_type
    headers = [
        (key, value)
        for key, value in scope["headers"]
        if key.lower() not in (_CONTENT_TYPE, b"content-length", b"transfer-encoding")
    ]
    headers += [(_CONTENT_TYPE, media_type.encode()), (b"content-length", str(length).encode())]
    changed = copy.copy(scope)
    changed["headers"] = headers
    return changed


class PlannedValidationAPI(RequestValidationAPI):  # type: ignore[misc]
    def make_operation(self, operation: AbstractOperation) -> RequestValidationOperation:
        return PlannedValidationOperation(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class PlannedRequestValidation(RequestValidationMiddleware):  # type: ignore[misc]
    """Stands in for Connexion's ``RequestValidationMiddleware`` in the middleware list."""

    api_cls = PlannedValidationAPI
