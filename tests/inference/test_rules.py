"""The pure rules of predictions: canonical input, feature order, reading the answer, and the
one mapping from ML failures to the API's statuses."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from domain import inference_rules as rules
from domain.errors import DomainError, ServiceUnavailable, UnprocessableRequest
from domain.model import Caller, Role
from domain.predictor import outcome_of
from mlclient import (
    InferenceResult,
    MLBadRequest,
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
    Tensor,
)

DOCTOR = Caller(uuid.uuid4(), Role.DOCTOR)
ADMIN = Caller(uuid.uuid4(), Role.ADMIN)


def test_the_canonical_input_is_sorted_compact_json_of_floats() -> None:
    canonical = rules.canonical_input("m", {"b": 2, "a": 1.5})
    assert canonical == b'{"features":{"a":1.5,"b":2.0},"model":"m"}'
    assert rules.input_sha256("m", {"b": 2, "a": 1.5}) == hashlib.sha256(canonical).hexdigest()


def test_the_hash_depends_on_the_model_and_every_value() -> None:
    base = rules.input_sha256("m", {"a": 1.0})
    assert rules.input_sha256("m", {"a": 1}) == base
    assert rules.input_sha256("n", {"a": 1.0}) != base
    assert rules.input_sha256("m", {"a": 1.0000001}) != base


def test_features_are_put_in_the_models_column_order() -> None:
    assert rules.feature_row(["x", "y", "z"], {"z": 3, "x": 1, "y": 2.5}) == [1.0, 2.5, 3.0]


def test_missing_and_unknown_features_are_both_named() -> None:
    with pytest.raises(rules.FeatureMismatch) as caught:
        rules.feature_row(["x", "y"], {"x": 1, "w": 2, "v": 3})
    assert (caught.value.missing, caught.value.unknown) == (("y",), ("v", "w"))
    assert caught.value.kind == "input_rejected"


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(UnprocessableRequest, match="finite"):
        rules.check_values({"x": float("nan")})


def _result(**outputs: tuple[str, tuple[object, ...]]) -> InferenceResult:
    tensors = tuple(
        Tensor(name, datatype, (len(data),), data)  # type: ignore[arg-type]
        for name, (datatype, data) in outputs.items()
    )
    return InferenceResult("m", "1", "r", tensors, 1.0, 200)


def test_a_one_row_classifier_answer_becomes_probability_and_label() -> None:
    result = _result(probability=("FP64", (0.25,)), label=("BYTES", ("benign",)))
    assert rules.classifier_outputs(result) == {"probability": 0.25, "label": "benign"}


@pytest.mark.parametrize(
    "outputs",
    [
        {"label": ("BYTES", ("benign",))},
        {"probability": ("FP64", (1.5,)), "label": ("BYTES", ("benign",))},
        {"probability": ("FP64", (0.1, 0.2)), "label": ("BYTES", ("a", "b"))},
        {"probability": ("BYTES", ("high",)), "label": ("BYTES", ("benign",))},
        {"probability": ("FP64", (0.5,)), "label": ("FP64", (1.0,))},
    ],
)
def test_any_other_answer_breaks_the_contract(
    outputs: dict[str, tuple[str, tuple[object, ...]]],
) -> None:
    with pytest.raises(MLContractViolation):
        rules.classifier_outputs(_result(**outputs))


def test_doctors_reference_and_read_their_own_things_and_admins_anything() -> None:
    someone = uuid.uuid4()
    assert rules.may_reference_appointment(DOCTOR, DOCTOR.id)
    assert not rules.may_reference_appointment(DOCTOR, someone)
    assert rules.may_reference_appointment(ADMIN, someone)
    assert rules.may_reference_patient(DOCTOR, has_appointment_with=True)
    assert not rules.may_reference_patient(DOCTOR, has_appointment_with=False)
    assert rules.may_reference_patient(ADMIN, has_appointment_with=False)
    assert rules.can_see(DOCTOR, DOCTOR.id)
    assert not rules.can_see(DOCTOR, someone)
    assert rules.can_see(ADMIN, someone)


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
        (MLBadRequest("b"), 422, "invalid"),
        (rules.FeatureMismatch(["x"], []), 422, "invalid"),
    ],
)
def test_each_ml_failure_maps_to_one_status(error: MLError, status: int, outcome: str) -> None:
    record_id = uuid.uuid4()
    mapped: DomainError = rules.to_domain_error(error, record_id)
    assert mapped.status == status
    assert mapped.extensions["error_class"] == error.kind
    assert mapped.extensions["inference_id"] == str(record_id)
    assert outcome_of(error) == outcome


def test_unavailability_carries_the_ml_clients_retry_hint() -> None:
    mapped = rules.to_domain_error(MLCircuitOpen("open", retry_after=9), None)
    assert isinstance(mapped, ServiceUnavailable)
    assert mapped.retry_after == 9
    assert "inference_id" not in mapped.extensions


def test_a_model_not_on_the_allow_list_is_refused_naming_those_that_are() -> None:
    assert rules.allowed_model("a", {"a", "b"}) == "a"
    with pytest.raises(UnprocessableRequest) as caught:
        rules.allowed_model("c", {"b", "a"})
    assert caught.value.extensions == {"invalid_field": "model", "models": ["a", "b"]}
