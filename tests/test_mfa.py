"""TOTP multi-factor authentication through the HTTP API: enrolment, the two-step sign-in,
replay refusal, recovery codes, the "required" policy for doctors and admins, throttling and
the admin's reset."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import pyotp
import pytest

from domain.model import Role
from tests.conftest import PASSWORD, Account, MakeUser, assert_problem

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]
STEP = 30


def code_at(secret: str, offset_steps: int = 0) -> str:
    """The code an authenticator app shows ``offset_steps`` steps from now."""
    return pyotp.TOTP(secret).at(time.time() + offset_steps * STEP)


def amr(reply: httpx.Response) -> list[str]:
    claims: dict[str, Any] = jwt.decode(
        reply.json()["access_token"], options={"verify_signature": False}
    )
    return list(claims["amr"])


async def log_in(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    return await client.post(
        "/auth/login", json={"email": account.email, "password": account.password}
    )


async def challenge(client: httpx.AsyncClient, account: Account, kind: str) -> str:
    """Sign in with the password; the reply must be the challenge of ``kind``."""
    reply = await log_in(client, account)
    body = assert_problem(reply, 401)
    assert body["type"] == "/docs/problems/mfa-required"
    assert body["challenge"] == kind
    assert "access_token" not in body
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["www-authenticate"].startswith("Bearer")
    return str(body["challenge_token"])


async def second_step(client: httpx.AsyncClient, token: str, **factor: str) -> httpx.Response:
    return await client.post("/auth/login/mfa", json={"challenge_token": token, **factor})


async def enrol(client: httpx.AsyncClient, account: Account) -> tuple[str, list[str]]:
    """Enrol an authenticator for a signed-in account: its secret and recovery codes."""
    started = await client.post("/users/me/mfa", headers=account.headers)
    assert started.status_code == 201, started.text
    secret = str(started.json()["secret"])
    confirmed = await client.post(
        "/users/me/mfa/confirmation", json={"code": code_at(secret)}, headers=account.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret, list(confirmed.json()["recovery_codes"])


async def test_a_patient_enrols_with_a_provisioning_uri_confirmed_by_a_first_code(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user(Role.PATIENT)
    started = await client.post("/users/me/mfa", headers=patient.headers)
    assert started.status_code == 201
    assert started.headers["cache-control"] == "no-store"
    secret = started.json()["secret"]
    uri = started.json()["provisioning_uri"]
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret
    assert uri.startswith("otpauth://totp/MedAI:")
    assert "issuer=MedAI" in uri
    # Pending: signing in still needs the password only.
    assert (await log_in(client, patient)).status_code == 200
    wrong = str((int(code_at(secret)) + 1) % 1_000_000).zfill(6)
    assert_problem(
        await client.post(
            "/users/me/mfa/confirmation", json={"code": wrong}, headers=patient.headers
        ),
        401,
    )
    confirmed = await client.post(
        "/users/me/mfa/confirmation", json={"code": code_at(secret)}, headers=patient.headers
    )
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    # Enrolled: a second enrolment is refused, and sign-in now takes two steps.
    assert_problem(await client.post("/users/me/mfa", headers=patient.headers), 409)
    await challenge(client, patient, "otp")


async def test_a_doctor_with_mfa_gets_no_token_without_a_valid_code_and_a_code_works_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    secret, _ = await enrol(client, doctor)
    token = await challenge(client, doctor, "otp")
    # The challenge is no access token.
    assert_problem(await client.get("/users/me", headers={"Authorization": f"Bearer {token}"}), 401)
    wrong = str((int(code_at(secret, 1)) + 7) % 1_000_000).zfill(6)
    assert_problem(await second_step(client, token, code=wrong), 401)
    # The enrolment's confirmation used the current step; the next step's code is accepted.
    signed_in = await second_step(client, token, code=code_at(secret, 1))
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.headers["cache-control"] == "no-store"
    assert amr(signed_in) == ["pwd", "otp"]
    assert "recovery_codes" not in signed_in.json()
    me = await client.get(
        "/users/me", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    )
    assert me.status_code == 200
    # The same code again, within its window: refused, as is an older one.
    replayed = await second_step(
        client, await challenge(client, doctor, "otp"), code=code_at(secret, 1)
    )
    assert_problem(replayed, 401)
    assert_problem(await second_step(client, token, code=code_at(secret)), 401)
    # A refresh keeps how the sign-in was authenticated.
    refreshed = await client.post(
        "/auth/refresh", json={"refresh_token": signed_in.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert amr(refreshed) == ["pwd", "otp"]


async def test_a_password_sign_in_says_pwd_only(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user(Role.PATIENT, login=False)
    reply = await log_in(client, patient)
    assert reply.status_code == 200
    assert amr(reply) == ["pwd"]
    refreshed = await client.post(
        "/auth/refresh", json={"refresh_token": reply.json()["refresh_token"]}
    )
    assert amr(refreshed) == ["pwd"]


async def test_a_recovery_code_works_once(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    doctor = await make_user(Role.DOCTOR)
    _, codes = await enrol(client, doctor)
    token = await challenge(client, doctor, "otp")
    # Case, hyphens and spaces do not matter.
    typed = codes[0].lower().replace("-", " ")
    first = await second_step(client, token, recovery_code=typed)
    assert first.status_code == 200, first.text
    assert amr(first) == ["pwd", "otp"]
    assert_problem(await second_step(client, token, recovery_code=codes[0]), 401)
    assert (await second_step(client, token, recovery_code=codes[1])).status_code == 200


async def test_a_code_used_by_two_sign_ins_at_once_lets_exactly_one_in(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    secret, _ = await enrol(client, doctor)
    tokens = [await challenge(client, doctor, "otp") for _ in range(4)]
    code = code_at(secret, 1)
    replies = await asyncio.gather(*(second_step(client, token, code=code) for token in tokens))
    assert sorted(reply.status_code for reply in replies) == [200, 401, 401, 401]


async def test_exactly_one_factor_and_well_formed_codes(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    secret, codes = await enrol(client, doctor)
    token = await challenge(client, doctor, "otp")
    both = await second_step(client, token, code=code_at(secret, 1), recovery_code=codes[0])
    assert_problem(both, 400)
    assert_problem(await second_step(client, token), 400)
    assert_problem(await second_step(client, token, code="12345a"), 400)
    assert_problem(await second_step(client, "not-a-challenge", code="123456"), 401)
    # Nothing was spent by the refused requests.
    assert (await second_step(client, token, recovery_code=codes[0])).status_code == 200


async def test_required_policy_makes_an_unenrolled_doctor_enrol_at_sign_in(
    client: httpx.AsyncClient, make_user: MakeUser, client_for: ClientFor
) -> None:
    strict = await client_for(mfa_policy="required")
    doctor = await make_user(Role.DOCTOR, login=False)
    token = await challenge(strict, doctor, "enrol")
    # No code exists yet: the second step first needs an enrolment.
    assert_problem(await second_step(strict, token, code="123456"), 409)
    enrolment = await strict.post("/auth/login/mfa/enrolment", json={"challenge_token": token})
    assert enrolment.status_code == 201, enrolment.text
    secret = enrolment.json()["secret"]
    signed_in = await second_step(strict, token, code=code_at(secret))
    assert signed_in.status_code == 200, signed_in.text
    assert amr(signed_in) == ["pwd", "otp"]
    assert len(signed_in.json()["recovery_codes"]) == 10
    # From now on the ordinary challenge; the enrolment step is refused.
    otp_token = await challenge(strict, doctor, "otp")
    assert_problem(
        await strict.post("/auth/login/mfa/enrolment", json={"challenge_token": otp_token}), 409
    )


async def test_required_policy_leaves_patients_free_and_covers_admins(
    client: httpx.AsyncClient, make_user: MakeUser, client_for: ClientFor
) -> None:
    strict = await client_for(mfa_policy="required")
    patient = await make_user(Role.PATIENT, login=False)
    admin = await make_user(Role.ADMIN, login=False)
    reply = await log_in(strict, patient)
    assert reply.status_code == 200
    assert amr(reply) == ["pwd"]
    await challenge(strict, admin, "enrol")
    # The optional policy lets the same admin in with a password.
    assert (await log_in(client, admin)).status_code == 200


async def test_a_password_change_ends_a_pending_challenge(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    secret, _ = await enrol(client, doctor)
    token = await challenge(client, doctor, "otp")
    changed = await client.put(
        f"/users/{doctor.id}",
        json={"password": "a brand new passphrase", "current_password": PASSWORD},
        headers=doctor.headers,
    )
    assert changed.status_code == 200, changed.text
    assert_problem(await second_step(client, token, code=code_at(secret, 1)), 401)


async def test_wrong_codes_are_throttled(make_user: MakeUser, client_for: ClientFor) -> None:
    limited = await client_for(login_max_failures_per_pair=3, login_first_delay=60)
    doctor = await make_user(Role.DOCTOR)
    secret, _ = await enrol(limited, doctor)
    token = await challenge(limited, doctor, "otp")
    wrong = str((int(code_at(secret, 1)) + 3) % 1_000_000).zfill(6)
    statuses = [(await second_step(limited, token, code=wrong)).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    refused = await second_step(limited, token, code=code_at(secret, 1))
    body = assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) > 0
    assert body["type"] == "/docs/problems/too-many-requests"
    # The password step is not throttled by the codes: the account's own counters are apart.
    assert (await log_in(limited, doctor)).status_code == 401


async def test_an_admin_resets_a_users_mfa_and_it_is_audited(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.ADMIN)
    doctor = await make_user(Role.DOCTOR)
    patient = await make_user(Role.PATIENT)
    await enrol(client, doctor)
    await challenge(client, doctor, "otp")
    assert_problem(await client.delete(f"/users/{doctor.id}/mfa", headers=patient.headers), 403)
    assert_problem(await client.delete(f"/users/{patient.id}/mfa", headers=doctor.headers), 403)
    reset = await client.delete(f"/users/{doctor.id}/mfa", headers=admin.headers)
    assert reset.status_code == 204
    assert (await log_in(client, doctor)).status_code == 200
    events = await client.get(
        "/audit-events", params={"action": "users.mfa.reset"}, headers=admin.headers
    )
    assert events.status_code == 200
    [event] = events.json()["items"]
    assert event["actor_id"] == admin.id
    assert event["resource_id"] == doctor.id
    assert event["outcome"] == 204
    missing = await client.delete(
        "/users/00000000-0000-4000-8000-000000000000/mfa", headers=admin.headers
    )
    assert_problem(missing, 404)


@pytest.mark.parametrize("action", ["auth.login.mfa", "users.mfa.confirm"])
async def test_second_factor_steps_are_audited(
    client: httpx.AsyncClient, make_user: MakeUser, action: str
) -> None:
    admin = await make_user(Role.ADMIN)
    doctor = await make_user(Role.DOCTOR)
    secret, _ = await enrol(client, doctor)
    token = await challenge(client, doctor, "otp")
    wrong = str((int(code_at(secret, 1)) + 5) % 1_000_000).zfill(6)
    await second_step(client, token, code=wrong)
    await second_step(client, token, code=code_at(secret, 1))
    events = await client.get("/audit-events", params={"action": action}, headers=admin.headers)
    items = events.json()["items"]
    assert sorted(event["outcome"] for event in items) == (
        [200] if action == "users.mfa.confirm" else [200, 401]
    )
    assert {event["actor_id"] for event in items} == {doctor.id}
