"""Who may see and change which user: the pure rules, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import user_rules
from domain.errors import Forbidden, InvalidRequest
from domain.model import Caller, Role, User


def user(role: Role = Role.PATIENT, *, active: bool = True) -> User:
    now = datetime.now(UTC)
    return User(
        id=uuid.uuid4(),
        email=f"{uuid.uuid4().hex[:8]}@example.org",
        full_name="Someone",
        role=role,
        specialty="Cardiology" if role is Role.DOCTOR else None,
        active=active,
        session_version=1,
        created_at=now,
        updated_at=now,
    )


def caller(of: User) -> Caller:
    return Caller(id=of.id, role=of.role)


def test_users_see_their_own_full_profile_and_admins_everyones() -> None:
    patient, other, admin = user(), user(), user(Role.ADMIN)
    assert user_rules.sees_full_profile(caller(patient), patient.id)
    assert user_rules.sees_full_profile(caller(admin), patient.id)
    assert not user_rules.sees_full_profile(caller(patient), other.id)


def test_anyone_sees_an_active_doctors_public_profile_but_not_an_inactive_one() -> None:
    patient = user()
    assert user_rules.sees_public_profile(
        caller(patient), user(Role.DOCTOR), is_their_patient=False
    )
    inactive = user(Role.DOCTOR, active=False)
    assert not user_rules.sees_public_profile(caller(patient), inactive, is_their_patient=False)


def test_a_doctor_sees_a_patient_only_once_they_have_met() -> None:
    doctor, patient = user(Role.DOCTOR), user()
    assert user_rules.sees_public_profile(caller(doctor), patient, is_their_patient=True)
    assert not user_rules.sees_public_profile(caller(doctor), patient, is_their_patient=False)


def test_a_patient_never_sees_another_patient_even_if_told_they_met() -> None:
    assert not user_rules.sees_public_profile(caller(user()), user(), is_their_patient=True)


@pytest.mark.parametrize("role", [None, Role.DOCTOR])
def test_non_admins_list_doctors_only(role: Role | None) -> None:
    assert user_rules.may_list(caller(user()), role) is Role.DOCTOR


@pytest.mark.parametrize("role", [Role.PATIENT, Role.ADMIN])
def test_non_admins_may_not_list_patients_or_admins(role: Role) -> None:
    with pytest.raises(Forbidden):
        user_rules.may_list(caller(user(Role.DOCTOR)), role)


@pytest.mark.parametrize("role", [None, Role.PATIENT, Role.DOCTOR, Role.ADMIN])
def test_admins_list_any_role_or_everyone(role: Role | None) -> None:
    assert user_rules.may_list(caller(user(Role.ADMIN)), role) is role


@pytest.mark.parametrize(
    "changes",
    [{"full_name": "New Name"}, {"password": "a new passphrase", "current_password": "old"}],
)
def test_patients_change_their_own_name_and_password(changes: dict[str, Any]) -> None:
    patient = user()
    user_rules.check_update(caller(patient), patient, changes)


def test_doctors_also_change_their_own_specialty() -> None:
    doctor = user(Role.DOCTOR)
    user_rules.check_update(caller(doctor), doctor, {"specialty": "Neurology"})


@pytest.mark.parametrize(
    ("role", "changes"),
    [
        (Role.PATIENT, {"role": "admin"}),
        (Role.PATIENT, {"active": False}),
        (Role.PATIENT, {"specialty": "Cardiology"}),
        (Role.DOCTOR, {"role": "admin"}),
        (Role.ADMIN, {"role": "patient"}),
        (Role.ADMIN, {"active": False}),
    ],
)
def test_nobody_changes_their_own_role_or_active_flag(role: Role, changes: dict[str, Any]) -> None:
    me = user(role)
    with pytest.raises(Forbidden) as refused:
        user_rules.check_update(caller(me), me, changes)
    assert refused.value.extensions["refused_fields"] == sorted(changes)


def test_the_refusal_lists_every_field_refused_and_only_those() -> None:
    patient = user()
    changes = {"full_name": "Fine", "role": "admin", "active": True}
    with pytest.raises(Forbidden) as refused:
        user_rules.check_update(caller(patient), patient, changes)
    assert refused.value.extensions["refused_fields"] == ["active", "role"]


def test_non_admins_change_nothing_of_anyone_else() -> None:
    with pytest.raises(Forbidden):
        user_rules.check_update(caller(user(Role.DOCTOR)), user(), {"full_name": "Renamed"})


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "doctor", "specialty": "Cardiology"},
        {"active": False},
        {"full_name": "Renamed"},
        {"role": "admin"},
    ],
)
def test_admins_appoint_deactivate_and_rename_other_users(changes: dict[str, Any]) -> None:
    user_rules.check_update(caller(user(Role.ADMIN)), user(), changes)


def test_admins_never_set_another_users_password() -> None:
    with pytest.raises(Forbidden):
        user_rules.check_update(caller(user(Role.ADMIN)), user(), {"password": "a new passphrase"})


def test_a_new_password_needs_the_current_one() -> None:
    patient = user()
    with pytest.raises(InvalidRequest):
        user_rules.check_update(caller(patient), patient, {"password": "a new passphrase"})


def test_only_doctors_have_a_specialty() -> None:
    admin = user(Role.ADMIN)
    with pytest.raises(InvalidRequest):
        user_rules.check_update(caller(admin), user(), {"specialty": "Cardiology"})
    with pytest.raises(InvalidRequest):
        user_rules.check_update(
            caller(admin), user(Role.DOCTOR), {"role": "patient", "specialty": "X"}
        )


def test_a_specialty_may_be_cleared_whatever_the_role() -> None:
    user_rules.check_update(caller(user(Role.ADMIN)), user(), {"specialty": None})


@pytest.mark.parametrize(
    ("changes", "ends"),
    [
        ({"password": "x", "current_password": "y"}, True),
        ({"role": "doctor"}, True),
        ({"active": False}, True),
        ({"full_name": "Renamed"}, False),
        ({"specialty": "Neurology"}, False),
    ],
)
def test_a_new_password_role_or_active_flag_ends_earlier_sessions(
    changes: dict[str, Any], ends: bool
) -> None:
    assert user_rules.ends_sessions(changes) is ends
