"""The pure rules of predictions: canonical input, who may see what, and the one mapping from ML
failures to the API's statuses (reading configured models' answers: tests/mlclient/test_models)."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from domain import inference_rules as rules
from domain.errors import DomainError, ServiceUnavailable, UnprocessableRequest
from domain.model import Caller, Role
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
)
from mlclient.errors import MLConfigMismatch, MLModelNotReady, MLUpstreamRejected
from mlclient.gateway import FeatureMismatch, feature_row

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
    assert feature_row(["x", "y", "z"], {"z": 3, "x": 1, "y": 2.5}) == [1.0, 2.5, 3.0]


def test_missing_and_unknown_features_are_both_named() -> None:
    with pytest.raises(FeatureMismatch) as caught:
        feature_row(["x", "y"], {"x": 1, "w": 2, "v": 3})
    assert (caught.value.missing, caught.value.unknown) == (("y",), ("v", "w"))
    assert caught.value.kind == "input_rejected"
    mapped = rules.to_domain_error(caught.value, None)
    assert mapped.status == 422
    assert mapped.extensions["invalid_field"] == "features"
    assert mapped.extensions["missing_features"] == ["y"]
    assert mapped.extensions["unknown_features"] == ["v", "w"]


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(UnprocessableRequest, match="finite"):
        rules.check_values({"x": float("nan")})


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
        (FeatureMismatch(["x"], []), 422, "invalid"),
        # What the ML service refuses or cannot do now is never the doctor's 422.
        (MLUpstreamRejected("only supports 'predict'", upstream_status=400), 502, "error"),
        (MLConfigMismatch("input 'x' is not declared"), 502, "error"),
        (MLModelNotReady("loading", retry_after=5, upstream_status=400), 503, "error"),
    ],
)
def test_each_ml_failure_maps_to_one_status(error: MLError, status: int, outcome: str) -> None:
    record_id = uuid.uuid4()
    mapped: DomainError = rules.to_domain_error(error, record_id)
    assert mapped.status == status
    assert mapped.extensions["error_class"] == error.kind
    assert mapped.extensions["inference_id"] == str(record_id)
    assert error.outcome == outcome
    if status != 422:
        assert "invalid_field" not in mapped.extensions


def test_unavailability_carries_the_ml_clients_retry_hint() -> None:
    mapped = rules.to_domain_error(MLCircuitOpen("open", retry_after=9), None)
    assert isinstance(mapped, ServiceUnavailable)
    assert mapped.retry_after == 9
    assert "inference_id" not in mapped.extensions
    loading = rules.to_domain_error(MLModelNotReady("loading", retry_after=5), None)
    assert isinstance(loading, ServiceUnavailable)
    assert loading.retry_after == 5


def test_a_model_not_on_the_allow_list_is_refused_naming_those_that_are() -> None:
    assert rules.allowed_model("a", {"a", "b"}) == "a"
    with pytest.raises(UnprocessableRequest) as caught:
        rules.allowed_model("c", {"b", "a"})
    assert caught.value.extensions == {"invalid_field": "model", "models": ["a", "b"]}
