"""Rules of predictions, free of I/O: the canonical input and its hash, turning named features
into the model's tensor row, reading a classifier's answer, who may reference or read what, and
the one mapping from ML failures to domain errors."""

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
from mlclient import (
    InferenceResult,
    MLBadGateway,
    MLBadRequest,
    MLContractViolation,
    MLError,
    MLModelNotFound,
    MLTimeout,
    MLUnavailable,
)

OUTPUTS = ("probability", "label")
NOT_FOUND = "No such inference record."
# A short excerpt of names in a problem: enough to fix the request, never a wall of text.
MAX_NAMES_SHOWN = 10


class FeatureMismatch(MLBadRequest):
    """The named features are not exactly the ones the model takes (checked against its own
    metadata before any call, so this is the model refusing the input, like its 400)."""

    def __init__(self, missing: Sequence[str], unknown: Sequence[str]) -> None:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} feature(s): {_names(missing)}")
        if unknown:
            parts.append(f"unknown feature(s): {_names(unknown)}")
        super().__init__("The features do not match the model's: " + "; ".join(parts) + ".")
        self.missing = tuple(missing[:MAX_NAMES_SHOWN])
        self.unknown = tuple(unknown[:MAX_NAMES_SHOWN])


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


def feature_row(feature_names: Sequence[str], features: Mapping[str, float]) -> list[float]:
    """The values in the model's column order; the names must match the model's exactly."""
    missing = [name for name in feature_names if name not in features]
    expected = set(feature_names)
    unknown = sorted(name for name in features if name not in expected)
    if missing or unknown:
        raise FeatureMismatch(missing, unknown)
    return [float(features[name]) for name in feature_names]


def classifier_outputs(result: InferenceResult) -> dict[str, Any]:
    """``{"probability": p, "label": l}`` from a one-row answer; anything else breaks the
    contract between the backend and the model (a 502, never a record of nonsense)."""
    probability = _single(result, "probability")
    label = _single(result, "label")
    if isinstance(probability, bool) or not isinstance(probability, int | float):
        raise MLContractViolation("output 'probability' is not a number", upstream_status=200)
    if not 0.0 <= probability <= 1.0:
        raise MLContractViolation("output 'probability' is outside [0, 1]", upstream_status=200)
    if not isinstance(label, str) or not 0 < len(label) <= 100:
        raise MLContractViolation("output 'label' is not a short string", upstream_status=200)
    return {"probability": float(probability), "label": label}


def _single(result: InferenceResult, name: str) -> object:
    try:
        tensor = result.output(name)
    except KeyError:
        raise MLContractViolation(f"output {name!r} is missing", upstream_status=200) from None
    if len(tensor.data) != 1:
        raise MLContractViolation(f"output {name!r} is not one value", upstream_status=200)
    return tensor.data[0]


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
    """The one mapping from what went wrong with the ML service to the API's answer."""
    ext: dict[str, Any] = {"error_class": exc.kind}
    if inference_id is not None:
        ext["inference_id"] = str(inference_id)
    if isinstance(exc, MLTimeout):
        return GatewayTimeout("The ML service did not answer in time.", **ext)
    if isinstance(exc, MLUnavailable):
        return ServiceUnavailable(
            "The ML service is unavailable; retry later.", retry_after=exc.retry_after, **ext
        )
    if isinstance(exc, MLModelNotFound):
        return UnprocessableRequest(
            "The ML service does not serve this model.", invalid_field="model", **ext
        )
    if isinstance(exc, FeatureMismatch):
        return UnprocessableRequest(
            exc.message,
            invalid_field="features",
            missing_features=list(exc.missing),
            unknown_features=list(exc.unknown),
            **ext,
        )
    if isinstance(exc, MLBadRequest):
        # The model's own reason helps fix the input; it is short and quoted by the client.
        return UnprocessableRequest(exc.message, invalid_field="features", **ext)
    if isinstance(exc, MLBadGateway):
        return BadGateway("The ML service answered with something unusable.", **ext)
    return BadGateway("The call to the ML service failed.", **ext)


def not_found() -> NotFound:
    return NotFound(NOT_FOUND)
