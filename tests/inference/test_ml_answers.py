"""The one table from ML failures to the API's answers (adapters.ml): each kind of the ML
client's error tree gets one status, the problem the doctor sees and the readiness detail both
come from it, and the domain only ever sees a PredictionFailed."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from adapters import ml
from domain.errors import DomainError, ServiceUnavailable
from domain.inference_rules import PredictionFailed
from mlclient import (
    MLCircuitOpen,
    MLContractViolation,
    MLError,
    MLModelNotFound,
    MLNotConfigured,
    MLResponseTooLarge,
    MLSaturated,
    MLTimeout,
    MLUnreachable,
    MLUpstreamError,
    errors,
)
from mlclient.errors import MLConfigMismatch, MLModelNotReady, MLUpstreamRejected
from mlclient.gateway import FeatureMismatch, Prediction, feature_row


def test_features_are_put_in_the_models_column_order() -> None:
    assert feature_row(["x", "y", "z"], {"z": 3, "x": 1, "y": 2.5}) == [1.0, 2.5, 3.0]


def test_missing_and_unknown_features_are_both_named() -> None:
    with pytest.raises(FeatureMismatch) as caught:
        feature_row(["x", "y"], {"x": 1, "w": 2, "v": 3})
    assert (caught.value.missing, caught.value.unknown) == (("y",), ("v", "w"))
    assert caught.value.kind == "input_rejected"
    mapped = ml.answer(caught.value)
    assert mapped.status == 422
    assert mapped.detail == caught.value.message
    assert mapped.extensions == {
        "invalid_field": "features",
        "error_class": "input_rejected",
        "missing_features": ["y"],
        "unknown_features": ["v", "w"],
    }


@pytest.mark.parametrize(
    ("error", "status", "outcome"),
    [
        (MLTimeout("t"), 504, "timeout"),
        (MLUpstreamError("u", upstream_status=500), 502, "error"),
        (MLContractViolation("c"), 502, "error"),
        (MLResponseTooLarge("l"), 502, "error"),
        (MLUnreachable("r", retry_after=3), 503, "error"),
        (MLCircuitOpen("o", retry_after=9), 503, "rejected"),
        (MLSaturated("s"), 503, "rejected"),
        (MLNotConfigured("n", retry_after=60), 503, "rejected"),
        (MLModelNotFound("m"), 422, "invalid"),
        (FeatureMismatch(["x"], []), 422, "invalid"),
        # What the ML service refuses or cannot do now is never the doctor's 422.
        (MLUpstreamRejected("only supports 'predict'", upstream_status=400), 502, "error"),
        (MLConfigMismatch("input 'x' is not declared"), 502, "error"),
        (MLModelNotReady("loading", retry_after=5, upstream_status=400), 503, "error"),
    ],
)
def test_each_ml_failure_maps_to_one_status(error: MLError, status: int, outcome: str) -> None:
    mapped: DomainError = ml.answer(error)
    assert mapped.status == status
    assert mapped.extensions["error_class"] == error.kind
    assert error.outcome == outcome
    if status != 422:
        assert "invalid_field" not in mapped.extensions
        # The ML client's words (which may quote the upstream) never reach the doctor.
        assert mapped.detail == ml.ANSWERS[error.kind].detail


def test_every_kind_the_ml_client_raises_is_in_the_table() -> None:
    def tree(cls: type[MLError]) -> list[type[MLError]]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in tree(child))]

    raised = {cls.kind for cls in tree(errors.MLError) if cls.__module__ != __name__}
    # The three branch classes group kinds; the ML client never raises them itself.
    assert raised - set(ml.ANSWERS) == {"ml_error", "bad_gateway", "unavailable"}
    assert set(ml.ANSWERS) <= raised


def test_an_unknown_kind_is_the_ml_sides_fault() -> None:
    class MLSomethingNew(MLError):
        kind = "something_new"

    mapped = ml.answer(MLSomethingNew("new"))
    assert (mapped.status, mapped.detail) == (502, "The call to the ML service failed.")


def test_unavailability_carries_the_ml_clients_retry_hint() -> None:
    mapped = ml.answer(MLCircuitOpen("open", retry_after=9))
    assert isinstance(mapped, ServiceUnavailable)
    assert mapped.retry_after == 9
    assert "inference_id" not in mapped.extensions
    loading = ml.answer(MLModelNotReady("loading", retry_after=5))
    assert isinstance(loading, ServiceUnavailable)
    assert loading.retry_after == 5


def test_the_readiness_detail_gives_the_tables_words_then_the_ml_clients_reason() -> None:
    detail = ml.readiness_detail(MLModelNotReady("ML service answered 404", upstream_status=404))
    assert detail == (
        "The model is not loaded or not ready on the ML service; retry later. "
        "(ML service answered 404)"
    )


class _Gateway:
    """Stands in for mlclient.gateway.Predictor: raises what it is given."""

    models = frozenset({"m"})

    def __init__(self, raises: MLError) -> None:
        self.raises = raises

    async def predict(
        self, model: str, features: Mapping[str, float], request_id: str | None
    ) -> Prediction:
        raise self.raises


async def test_the_predictor_hands_the_domain_a_prediction_failed_never_an_ml_error() -> None:
    error = MLUpstreamError("ML service answered 500: 'boom'", upstream_status=500)
    predictor = ml.MLPredictor(_Gateway(error))  # type: ignore[arg-type]
    assert predictor.models == frozenset({"m"})
    with pytest.raises(PredictionFailed) as caught:
        await predictor.predict("m", {"x": 1.0}, None)
    failed = caught.value
    assert (failed.error_class, failed.upstream_status) == ("upstream_error", 500)
    assert failed.reason == "ML service answered 500: 'boom'"
    assert (failed.error.status, failed.error.detail) == (502, "The ML service failed to answer.")
