"""Connexion's request validation, with each operation's parameter validator built once.

Connexion 3.3 builds, on every request, a URI parser and a ``ParameterValidator`` from the
operation's parameters, and for every parameter present a deep copy of its schema and a fresh
JSON Schema validator; for a list request that carries no parameters at all this was about 7 %
of its CPU (benchmarks/profiles.md). Both depend on the operation only, so here they are built
when the app starts, and the checks themselves are Connexion's: the same validator classes
(``validator_map``), the same strictness, the same error messages.

Operations with a request body take Connexion's own path unchanged (media type, body
validation); for the others that path does nothing beyond the parameters: their ``consumes``
is empty, so no media type is checked and there is no body schema.
"""

from __future__ import annotations

from typing import Any

from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.operations import AbstractOperation
from connexion.utils import is_null, is_nullable
from connexion.validators import ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send


class PlannedParameterValidator(ParameterValidator):  # type: ignore[misc]
    """``ParameterValidator`` keeping one JSON Schema validator per parameter: it lives as
    long as its operation here, not for one request."""

    def __init__(self, parameters: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__(parameters, *args, **kwargs)
        # By identity: the parameter dicts are the operation's own, held by this validator.
        self._validators = {
            id(param): Draft4Validator(
                param.get("schema", param), format_checker=Draft4Validator.FORMAT_CHECKER
            )
            for param in parameters
        }

    def validate_parameter(
        self,
        parameter_type: str,
        value: Any,
        param: dict[str, Any],
        param_name: str | None = None,
    ) -> str | None:
        if value is None or (is_nullable(param) and is_null(value)):
            # Absent, or null where null is allowed: Connexion's own answer (required or not).
            message: str | None = ParameterValidator.validate_parameter(
                parameter_type, value, param, param_name
            )
            return message
        try:
            self._validators[id(param)].validate(value)
        except ValidationError as exception:
            return str(exception)
        return None


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._bodiless:
            await super().__call__(scope, receive, send)
            return
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
    """Stands in for Connexion's ``RequestValidationMiddleware`` in the middleware list."""

    api_cls = PlannedValidationAPI
