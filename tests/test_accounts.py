"""Email verification and password reset, end to end: the API writes the mail to the outbox,
the dispatcher delivers it over SMTP to a real server on loopback (aiosmtpd), and the test
reads the code from what arrived."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from adapters.mail import SmtpConfig, SmtpMailer
from domain.model import Role
from domain.outbox import EMAIL, RetryPolicy, dispatch_once
from persistence.outbox import OutboxStore
from tests.conftest import PASSWORD, MakeUser, assert_problem
from tests.mail_receiver import MailReceiver, body

NEW_PASSWORD = "a brand new passphrase"
CODE = re.compile(r"code: (\S+)")


async def deliver(app: Any, receiver: MailReceiver) -> None:
    """Run the outbox dispatcher once, to the test's SMTP server."""
    await dispatch_once(
        OutboxStore(app.runtime.database),
        {EMAIL: SmtpMailer(SmtpConfig.from_url(receiver.url))},
        RetryPolicy(),
    )


def code_in(mail: EmailMessage) -> str:
    found = CODE.search(body(mail, "plain"))
    assert found, body(mail, "plain")
    return found.group(1)


async def sign_up(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    reply = await client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Anna"}
    )
    assert reply.status_code == 201, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


def bearer(reply: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def booking(doctor_id: str, days: int = 30) -> dict[str, str]:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=days)
    return {
        "doctor_id": doctor_id,
        "start_at": start.isoformat(),
        "end_at": (start + timedelta(minutes=30)).isoformat(),
    }


def email() -> str:
    return f"anna-{uuid.uuid4().hex[:8]}@example.org"


async def test_sign_up_mails_a_code_that_verifies_the_address_and_then_booking_works(
    client: httpx.AsyncClient, app: Any, smtp_receiver: MailReceiver, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    address = email()
    profile = await sign_up(client, address)
    assert profile["email_verified"] is False
    # Unverified: signing in works, booking does not.
    signed_in = await sign_in(client, address)
    assert signed_in.status_code == 200
    refused = await client.post("/appointments", json=booking(doctor.id), headers=bearer(signed_in))
    problem = assert_problem(refused, 403)
    assert problem["type"] == "/docs/problems/email-not-verified"
    await deliver(app, smtp_receiver)
    [mail] = smtp_receiver.to(address)
    assert mail["Subject"] == "Confirm your email address"
    verified = await client.post("/auth/email-verification", json={"token": code_in(mail)})
    assert verified.status_code == 204, verified.text
    me = await client.get("/users/me", headers=bearer(signed_in))
    assert me.json()["email_verified"] is True
    booked = await client.post("/appointments", json=booking(doctor.id), headers=bearer(signed_in))
    assert booked.status_code == 201, booked.text
    # The code works once.
    again = await client.post("/auth/email-verification", json={"token": code_in(mail)})
    assert_problem(again, 400)


async def test_a_resent_code_replaces_the_first_and_resends_are_throttled(
    client: httpx.AsyncClient, app: Any, smtp_receiver: MailReceiver
) -> None:
    address = email()
    await sign_up(client, address)
    headers = bearer(await sign_in(client, address))
    statuses = [
        (await client.post("/auth/email-verification/resend", headers=headers)).status_code
        for _ in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
    await deliver(app, smtp_receiver)
    mails = smtp_receiver.to(address)
    assert len(mails) == 4
    codes = [code_in(mail) for mail in mails]
    assert len(set(codes)) == 4
    # Only the newest works (the mails may arrive in any order: try each once, in turn).
    outcomes = [
        (await client.post("/auth/email-verification", json={"token": code})).status_code
        for code in codes
    ]
    assert sorted(outcomes) == [204, 400, 400, 400]
    assert_problem(await client.post("/auth/email-verification/resend", headers=headers), 409)


async def test_forgot_password_mail_reset_ends_old_tokens_and_the_new_password_works(
    client: httpx.AsyncClient, app: Any, smtp_receiver: MailReceiver, make_user: MakeUser
) -> None:
    admin = await make_user(Role.ADMIN)
    user = await make_user(Role.PATIENT)
    old = await sign_in(client, user.email)
    asked = await client.post("/auth/password-reset", json={"email": user.email.upper()})
    assert asked.status_code == 202
    await deliver(app, smtp_receiver)
    [mail] = smtp_receiver.to(user.email)
    assert mail["Subject"] == "Reset your MedAI password"
    code = code_in(mail)
    reset = await client.post(
        "/auth/password-reset/confirmation", json={"token": code, "password": NEW_PASSWORD}
    )
    assert reset.status_code == 204, reset.text
    # Every earlier token ends: access tokens (two sign-ins) and refresh tokens.
    assert_problem(await client.get("/users/me", headers=user.headers), 401)
    assert_problem(await client.get("/users/me", headers=bearer(old)), 401)
    stale = await client.post("/auth/refresh", json={"refresh_token": old.json()["refresh_token"]})
    assert_problem(stale, 401)
    assert_problem(await sign_in(client, user.email), 401)
    fresh = await sign_in(client, user.email, NEW_PASSWORD)
    assert fresh.status_code == 200
    assert (await client.get("/users/me", headers=bearer(fresh))).status_code == 200
    # The link used twice: refused, and nothing changes.
    twice = await client.post(
        "/auth/password-reset/confirmation", json={"token": code, "password": "yet another one!"}
    )
    assert_problem(twice, 400)
    assert (await sign_in(client, user.email, NEW_PASSWORD)).status_code == 200
    # The user is told.
    await deliver(app, smtp_receiver)
    subjects = [mail["Subject"] for mail in smtp_receiver.to(user.email)]
    assert subjects == ["Reset your MedAI password", "Your MedAI password was changed"]
    # Every step is on record.
    actions = {}
    for action in ("auth.password_reset.request", "auth.password_reset.confirm"):
        events = await client.get("/audit-events", params={"action": action}, headers=admin.headers)
        actions[action] = sorted(event["outcome"] for event in events.json()["items"])
    assert actions == {
        "auth.password_reset.request": [202],
        "auth.password_reset.confirm": [204, 400],
    }


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    client: httpx.AsyncClient, app: Any, smtp_receiver: MailReceiver, make_user: MakeUser
) -> None:
    user = await make_user(Role.PATIENT)
    unknown = email()
    known = await client.post("/auth/password-reset", json={"email": user.email})
    stranger = await client.post("/auth/password-reset", json={"email": unknown})
    assert (known.status_code, known.content) == (stranger.status_code, stranger.content)
    await deliver(app, smtp_receiver)
    assert smtp_receiver.to(unknown) == []
    assert len(smtp_receiver.to(user.email)) == 1


@pytest.mark.parametrize("known", [True, False])
async def test_reset_requests_are_throttled_per_address_asked_about(
    client: httpx.AsyncClient, make_user: MakeUser, known: bool
) -> None:
    address = (await make_user(Role.PATIENT)).email if known else email()
    statuses = [
        (await client.post("/auth/password-reset", json={"email": address})).status_code
        for _ in range(4)
    ]
    assert statuses == [202, 202, 202, 429]


async def test_reset_requests_are_throttled_per_client_address(
    client_for: Any, make_user: MakeUser
) -> None:
    strict = await client_for()
    # 20 a window from one client address, whatever the addresses asked about.
    statuses = [
        (await strict.post("/auth/password-reset", json={"email": email()})).status_code
        for _ in range(21)
    ]
    assert statuses == [202] * 20 + [429]


async def test_a_reset_code_ends_with_a_password_change_and_a_refused_password_keeps_it(
    client: httpx.AsyncClient, app: Any, smtp_receiver: MailReceiver, make_user: MakeUser
) -> None:
    user = await make_user(Role.PATIENT)
    await client.post("/auth/password-reset", json={"email": user.email})
    await client.post("/auth/password-reset", json={"email": user.email})
    await deliver(app, smtp_receiver)
    first, second = (code_in(mail) for mail in smtp_receiver.to(user.email))
    codes = {first, second}
    # A password the policy refuses: 400, and the code still works afterwards.
    for code in codes:
        weak = await client.post(
            "/auth/password-reset/confirmation", json={"token": code, "password": "password"}
        )
        assert_problem(weak, 400)
    # A change of password since the mail was sent ends it (bound to the session version).
    changed = await client.put(
        f"/users/{user.id}",
        json={"password": NEW_PASSWORD, "current_password": PASSWORD},
        headers=user.headers,
    )
    assert changed.status_code == 200
    for code in codes:
        late = await client.post(
            "/auth/password-reset/confirmation", json={"token": code, "password": "third one here"}
        )
        assert_problem(late, 400)
    assert (await sign_in(client, user.email, NEW_PASSWORD)).status_code == 200


async def test_changing_the_email_reverifies_it_and_tells_the_old_address(
    client: httpx.AsyncClient, app: Any, smtp_receiver: MailReceiver, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    user = await make_user(Role.PATIENT)
    new = email()
    no_password = await client.put(f"/users/{user.id}", json={"email": new}, headers=user.headers)
    assert_problem(no_password, 400)
    changed = await client.put(
        f"/users/{user.id}",
        json={"email": new, "current_password": PASSWORD},
        headers=user.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == new
    assert changed.json()["email_verified"] is False
    refused = await client.post("/appointments", json=booking(doctor.id), headers=user.headers)
    assert_problem(refused, 403)
    await deliver(app, smtp_receiver)
    [notice] = smtp_receiver.to(user.email)
    assert new in body(notice, "plain")
    [mail] = smtp_receiver.to(new)
    verified = await client.post("/auth/email-verification", json={"token": code_in(mail)})
    assert verified.status_code == 204
    booked = await client.post("/appointments", json=booking(doctor.id), headers=user.headers)
    assert booked.status_code == 201, booked.text
    # The address of another account: 409.
    other = await make_user(Role.PATIENT)
    taken = await client.put(
        f"/users/{user.id}",
        json={"email": other.email, "current_password": PASSWORD},
        headers=user.headers,
    )
    assert_problem(taken, 409)


async def test_a_code_for_an_address_the_account_left_verifies_nothing(
    client: httpx.AsyncClient, app: Any, smtp_receiver: MailReceiver
) -> None:
    address = email()
    profile = await sign_up(client, address)
    headers = bearer(await sign_in(client, address))
    await deliver(app, smtp_receiver)
    [first] = smtp_receiver.to(address)
    moved = await client.put(
        f"/users/{profile['id']}",
        json={"email": email(), "current_password": PASSWORD},
        headers=headers,
    )
    assert moved.status_code == 200
    assert_problem(
        await client.post("/auth/email-verification", json={"token": code_in(first)}), 400
    )
