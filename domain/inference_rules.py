"""Rules of predictions, free of I/O: the canonical input and its hash, who may reference or
read what, and how a failed prediction reaches the use case (:class:`PredictionFailed`)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from uuid import UUID

import orjson

from domain.errors import DomainError, NotFound, UnprocessableRequest
from domain.model import Caller

NOT_FOUND = "No such inference record."
# A short excerpt of names in a problem: enough to fix the request, never a wall of text.
MAX_NAMES_SHOWN = 10


class PredictionFailed(Exception):
    """The ML side gave no trusted prediction: what a :class:`domain.inference.Predictor` raises.

    ``error`` is the API's answer, chosen by the ML adapter from its one table of ML failures
    (``adapters.ml``); ``error_class`` a short stable name of what went wrong (for the record,
    metrics and the problem); ``reason`` a sentence for the record, never the features;
    ``upstream_status`` the ML service's HTTP status, when it answered at all.
    """

    def __init__(
        self,
        error: DomainError,
        *,
        error_class: str,
        reason: str,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.error = error
        self.error_class = error_class
        self.reason = reason
        self.upstream_status = upstream_status


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


def on_record(error: DomainError, inference_id: UUID) -> DomainError:
    """The answer to a failed prediction that is on record: the problem names the record."""
    error.extensions["inference_id"] = str(inference_id)
    return error


def not_found() -> NotFound:
    return NotFound(NOT_FOUND)
