"""The ML service as the domain sees it: the ML client's gateway behind the domain's ``Predictor``
port, and the one table from what went wrong with the ML service to the API's answer.

The ML client (``mlclient``) imports nothing of the backend and names each failure with a
``kind`` (its exception tree, :mod:`mlclient.errors`). :data:`ANSWERS` is the only place where a
kind becomes a domain error: the problem a prediction answers (:func:`answer`) and the readiness
report's detail (:func:`readiness_detail`) both read it.

Only the doctor's own input is a 422: the backend checks the features against the model's
configuration before calling, so anything the ML service refuses or cannot do is a 502 (it will
not work until someone fixes a deployment), a 503 (it may work on retry) or a 504.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import (
    BadGateway,
    DomainError,
    GatewayTimeout,
    ServiceUnavailable,
    UnprocessableRequest,
)
from domain.inference_rules import PredictionFailed
from mlclient.errors import MLError, MLUnavailable
from mlclient.gateway import FeatureMismatch, Prediction, Predictor


@dataclass(frozen=True, slots=True)
class Answer:
    error: type[DomainError]
    # What the API says. For the doctor's own mistakes (``invalid_field`` set) the problem gives
    # the ML client's sentence instead, which names the model or the features at fault.
    detail: str
    invalid_field: str | None = None


_UNAVAILABLE = "The ML service is unavailable; retry later."
_UNUSABLE = "The ML service answered with something unusable."

ANSWERS: Mapping[str, Answer] = {
    "timeout": Answer(GatewayTimeout, "The ML service did not answer in time."),
    "upstream_error": Answer(BadGateway, "The ML service failed to answer."),
    "contract_violation": Answer(BadGateway, _UNUSABLE),
    "response_too_large": Answer(BadGateway, _UNUSABLE),
    "upstream_rejected": Answer(
        BadGateway,
        "The ML service refused the request made for this model: the model's configuration "
        "here does not fit the model it serves.",
    ),
    "config_mismatch": Answer(
        BadGateway,
        "The model's configuration here does not fit what the ML service declares for it.",
    ),
    "circuit_open": Answer(ServiceUnavailable, _UNAVAILABLE),
    "not_configured": Answer(ServiceUnavailable, _UNAVAILABLE),
    "saturated": Answer(ServiceUnavailable, _UNAVAILABLE),
    "unreachable": Answer(ServiceUnavailable, _UNAVAILABLE),
    "model_not_ready": Answer(
        ServiceUnavailable, "The model is not loaded or not ready on the ML service; retry later."
    ),
    "model_not_found": Answer(UnprocessableRequest, "The model is not offered here.", "model"),
    "input_rejected": Answer(
        UnprocessableRequest, "The features do not match the model's.", "features"
    ),
}
# A kind the table does not know yet (a new error of the ML client): the ML side's fault.
UNKNOWN = Answer(BadGateway, "The call to the ML service failed.")


def answer(exc: MLError) -> DomainError:
    """The API's answer to an ML failure, from :data:`ANSWERS`."""
    row = ANSWERS.get(exc.kind, UNKNOWN)
    ext: dict[str, Any] = {"error_class": exc.kind}
    if row.invalid_field is not None:
        if isinstance(exc, FeatureMismatch):
            ext |= {"missing_features": list(exc.missing), "unknown_features": list(exc.unknown)}
        return row.error(exc.message, invalid_field=row.invalid_field, **ext)
    if row.error is ServiceUnavailable:
        retry_after = exc.retry_after if isinstance(exc, MLUnavailable) else 1
        return ServiceUnavailable(row.detail, retry_after=retry_after, **ext)
    return row.error(row.detail, **ext)


def failure(exc: MLError) -> PredictionFailed:
    return PredictionFailed(
        answer(exc),
        error_class=exc.kind,
        reason=exc.message,
        upstream_status=exc.upstream_status,
    )


def readiness_detail(exc: MLError) -> str:
    """Why a model is not available, as the readiness report says it: the same words as the
    problem a prediction would get, then the ML client's reason."""
    return f"{ANSWERS.get(exc.kind, UNKNOWN).detail} ({exc.message})"


class MLPredictor:
    """:class:`domain.inference.Predictor` over the ML client's gateway."""

    def __init__(self, gateway: Predictor) -> None:
        self.gateway = gateway

    @property
    def models(self) -> frozenset[str]:
        return self.gateway.models

    async def predict(
        self, model: str, features: Mapping[str, float], request_id: str | None
    ) -> Prediction:
        try:
            return await self.gateway.predict(model, features, request_id)
        except MLError as exc:
            raise failure(exc) from exc

    async def health(self, request_id: str | None) -> dict[str, Any]:
        """The ML side's readiness report (``InferenceHealth`` in the contract)."""
        return await self.gateway.health(request_id, describe=readiness_detail)
