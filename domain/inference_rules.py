"""Rules of predictions, free of I/O: the canonical input and its hash, who may reference or
read what, and the one mapping from ML failures to domain errors."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from uuid import UUID

import orjson

from domain.errors import (
    BadGateway,
    DomainError,
    GatewayTimeout,
    NotFound,
    ServiceUnavailable,
    UnprocessableRequest,
)
from domain.model import Caller
from mlclient import MLError

NOT_FOUND = "No such inference record."
# A short excerpt of names in a problem: enough to fix the request, never a wall of text.
MAX_NAMES_SHOWN = 10

# The one table from what went wrong with the ML service (the error's ``kind``) to the API's
# answer. Only the doctor's own input is a 422: the backend checks the features against the
# model's configuration before calling, so anything the ML service refuses or cannot do is a
# 502 (it will not work until someone fixes a deployment), a 503 (it may work on retry) or a 504.
_ANSWERS: dict[str, tuple[type[DomainError], str]] = {
    "timeout": (GatewayTimeout, "The ML service did not answer in time."),
    "upstream_error": (BadGateway, "The ML service failed to answer."),
    "contract_violation": (BadGateway, "The ML service answered with something unusable."),
    "response_too_large": (BadGateway, "The ML service answered with something unusable."),
    "upstream_rejected": (
        BadGateway,
        "The ML service refused the request made for this model: the model's configuration "
        "here does not fit the model it serves.",
    ),
    "config_mismatch": (
        BadGateway,
        "The model's configuration here does not fit what the ML service declares for it.",
    ),
    "circuit_open": (ServiceUnavailable, "The ML service is unavailable; retry later."),
    "not_configured": (ServiceUnavailable, "The ML service is unavailable; retry later."),
    "saturated": (ServiceUnavailable, "The ML service is unavailable; retry later."),
    "unreachable": (ServiceUnavailable, "The ML service is unavailable; retry later."),
    "model_not_ready": (
        ServiceUnavailable,
        "The model is not loaded or not ready on the ML service; retry later.",
    ),
    "model_not_found": (UnprocessableRequest, "The model is not offered here."),
    "input_rejected": (UnprocessableRequest, "The features do not match the model's."),
}
_INVALID_FIELD = {"model_not_found": "model", "input_rejected": "features"}


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES_SHOWN])
    return shown + (", …" if len(names) > MAX_NAMES_SHOWN else "")


def canonical_input(model: str, features: Mapping[str, float]) -> bytes:
    """The input as one byte string: model and features, keys sorted, every value a float, so
    that ``{"a": 1}`` and ``{"a": 1.0}`` are the same input."""
    document: dict[str, Any] = {
        "model": model,
        "features": {name: float(value) for name, value in features.items()},
    }
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def input_sha256(model: str, features: Mapping[str, float]) -> str:
    return hashlib.sha256(canonical_input(model, features)).hexdigest()


def check_values(features: Mapping[str, float]) -> None:
    """JSON has no NaN or infinity, but Python's parser accepts the tokens; refuse them here
    rather than let them reach a model."""
    bad = sorted(name for name, value in features.items() if not math.isfinite(value))
    if bad:
        raise UnprocessableRequest(
            f"Features must be finite numbers: {_names(bad)}.", invalid_field="features"
        )


def allowed_model(model: str, allowed: Collection[str]) -> str:
    if model not in allowed:
        raise UnprocessableRequest(
            f"Model {model!r} is not offered here.",
            invalid_field="model",
            models=sorted(allowed),
        )
    return model


def may_reference_appointment(caller: Caller, doctor_id: UUID) -> bool:
    """A doctor references only appointments where they are the doctor; an admin any."""
    return caller.is_admin or doctor_id == caller.id


def may_reference_patient(caller: Caller, has_appointment_with: bool) -> bool:
    """A doctor references only patients they have an appointment with; an admin any."""
    return caller.is_admin or has_appointment_with


def can_see(caller: Caller, requested_by: UUID) -> bool:
    """Doctors see the records they asked for; admins all (patients never reach here)."""
    return caller.is_admin or requested_by == caller.id


def to_domain_error(exc: MLError, inference_id: UUID | None) -> DomainError:
    """The API's answer to an ML failure, from :data:`_ANSWERS`; an unknown kind is a 502."""
    ext: dict[str, Any] = {"error_class": exc.kind}
    if inference_id is not None:
        ext["inference_id"] = str(inference_id)
    error, message = _ANSWERS.get(exc.kind, (BadGateway, "The call to the ML service failed."))
    if error is ServiceUnavailable:
        return ServiceUnavailable(message, retry_after=getattr(exc, "retry_after", 1), **ext)
    if error is UnprocessableRequest:
        missing, unknown = getattr(exc, "missing", None), getattr(exc, "unknown", None)
        if missing is not None and unknown is not None:
            ext |= {"missing_features": list(missing), "unknown_features": list(unknown)}
        return UnprocessableRequest(
            exc.message, invalid_field=_INVALID_FIELD.get(exc.kind, "features"), **ext
        )
    return error(message, **ext)


def not_found() -> NotFound:
    return NotFound(NOT_FOUND)
