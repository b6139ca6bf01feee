"""The pure rules of predictions: canonical input, who may see what, and a failure on record (the
mapping from ML failures to the API's answers: test_ml_answers; reading configured models'
answers: tests/mlclient/test_models)."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from domain import inference_rules as rules
from domain.errors import BadGateway, UnprocessableRequest
from domain.model import Caller, Role

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


def test_a_failure_on_record_names_the_record_and_keeps_the_rest_of_its_answer() -> None:
    record_id = uuid.uuid4()
    answer = BadGateway("The ML service failed to answer.", error_class="upstream_error")
    recorded = rules.on_record(answer, record_id)
    assert (recorded.status, recorded.detail) == (502, "The ML service failed to answer.")
    assert recorded.extensions == {"error_class": "upstream_error", "inference_id": str(record_id)}


def test_a_model_not_on_the_allow_list_is_refused_naming_those_that_are() -> None:
    assert rules.allowed_model("a", {"a", "b"}) == "a"
    with pytest.raises(UnprocessableRequest) as caught:
        rules.allowed_model("c", {"b", "a"})
    assert caught.value.extensions == {"invalid_field": "model", "models": ["a", "b"]}
