"""API2:2023 Broken Authentication.

Brute force ends in 429s per account and per client address, temporarily, with delays that
grow, and never locks out a correct password of an account that did not fail from that
address (one office behind NAT); sign-ups are throttled per address; a wrong password
and an unknown email cannot be told apart; refresh tokens rotate, expire, and a reused one ends
its sign-in; signing out, a password change and deactivation end tokens at once; passwords
follow ASVS 6.2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import bcrypt
import httpx
import psycopg
import pytest

from domain.model import Role
from tests.conftest import PASSWORD, MakeUser, assert_problem, end_refresh_grace
from tests.security.conftest import SiteFor, bearer, sign_in


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


# --- brute force ---------------------------------------------------------------------------


async def test_fifty_wrong_passwords_for_one_account_from_many_addresses_end_in_429(
    site_for: SiteFor, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    site = await site_for(login_max_failures_per_account=5, login_max_failures_per_address=1000)
    replies = [
        await attempt(site.at(f"198.51.100.{n}"), user.email, "wrong guess!") for n in range(50)
    ]
    statuses = [reply.status_code for reply in replies]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    throttled = assert_problem(replies[-1], 429)
    assert int(replies[-1].headers["retry-after"]) >= 1
    assert "password" not in throttled["detail"].lower()
    right_too_early = await attempt(site.at("203.0.113.1"), user.email, PASSWORD)
    assert right_too_early.status_code == 429


async def test_the_lockout_ends_with_its_window(site_for: SiteFor, make_user: MakeUser) -> None:
    # A short window and few attempts: all of them land inside it even on a slow machine.
    user = await make_user(login=False)
    site = await site_for(login_max_failures_per_account=2, login_throttle_window=2)
    client = site.at("198.51.100.1")
    statuses = [(await attempt(client, user.email, "wrong guess!")).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert (await attempt(client, user.email, PASSWORD)).status_code == 429
    await asyncio.sleep(2.1)
    assert (await attempt(client, user.email, PASSWORD)).status_code == 200


async def test_fifty_wrong_passwords_across_many_accounts_from_one_address_end_in_429(
    site_for: SiteFor,
) -> None:
    site = await site_for(login_max_failures_per_account=1000, login_max_failures_per_address=8)
    attacker = site.at("192.0.2.66")
    statuses = [
        (await attempt(attacker, f"user{i}@example.org", "wrong guess!")).status_code
        for i in range(50)
    ]
    assert statuses[:8] == [401] * 8
    assert set(statuses[8:]) == {429}
    elsewhere = await attempt(site.at("192.0.2.67"), "user0@example.org", "wrong guess!")
    assert elsewhere.status_code == 401


async def test_existing_and_unknown_emails_are_throttled_alike(
    site_for: SiteFor, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    site = await site_for(login_max_failures_per_account=2, login_max_failures_per_address=1000)
    client = site.at("192.0.2.10")
    known = [await attempt(client, user.email, "wrong!!!") for _ in range(3)]
    unknown = [await attempt(client, "nobody@example.org", "wrong!!!") for _ in range(3)]
    assert [reply.status_code for reply in known] == [401, 401, 429]
    for a, b in zip(known, unknown, strict=True):
        assert a.status_code == b.status_code
        assert a.json() == b.json()


def retry_after(reply: httpx.Response) -> int:
    """The reply is a 429 problem with a Retry-After of whole seconds; those seconds."""
    body = assert_problem(reply, 429)
    assert "password" not in body["detail"].lower()
    seconds = int(reply.headers["retry-after"])
    assert seconds >= 1
    return seconds


async def test_thirty_failures_from_an_address_do_not_lock_out_another_account_there(
    site_for: SiteFor, make_user: MakeUser
) -> None:
    # One office behind NAT: someone tries thirty wrong passwords, a colleague signs in.
    colleague, typist = await make_user(login=False), await make_user(login=False)
    site = await site_for(login_max_failures_per_address=10)
    office = site.at("203.0.113.7")
    replies = [await attempt(office, f"guess{n}@example.org", "wrong guess!") for n in range(29)]
    replies.append(await attempt(office, typist.email, "a typo, sorry"))
    assert [reply.status_code for reply in replies[:10]] == [401] * 10
    for reply in replies[10:]:
        assert 1 <= retry_after(reply) <= 900
    # The address is over its limit, yet an account without failures from it gets in...
    assert (await attempt(office, colleague.email, PASSWORD)).status_code == 200
    # ...while one that just failed from there waits, even with the right password,
    retry_after(await attempt(office, typist.email, PASSWORD))
    # ...but only there: elsewhere its one failure is far from the account's allowance.
    assert (await attempt(site.at("198.51.100.20"), typist.email, PASSWORD)).status_code == 200


async def test_an_attacker_at_one_address_cannot_lock_the_owner_out(
    site_for: SiteFor, make_user: MakeUser
) -> None:
    owner = await make_user(login=False)
    site = await site_for(login_max_failures_per_pair=3, login_max_failures_per_account=10)
    attacker = site.at("192.0.2.99")
    statuses = [
        (await attempt(attacker, owner.email, "wrong guess!")).status_code for _ in range(6)
    ]
    assert statuses == [401, 401, 401, 429, 429, 429]
    retry_after(await attempt(attacker, owner.email, PASSWORD))
    assert (await attempt(site.at("198.51.100.5"), owner.email, PASSWORD)).status_code == 200


async def test_throttle_delays_double_with_every_further_failure(
    site_for: SiteFor, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    site = await site_for(login_max_failures_per_account=2, login_first_delay=1)
    waits = []
    for round_ in range(3):
        failures = 2 if round_ == 0 else 1
        for n in range(failures):
            wrong = await attempt(site.at(f"198.51.100.{10 * round_ + n}"), user.email, "wrong!!!")
            assert wrong.status_code == 401
        waits.append(retry_after(await attempt(site.at("203.0.113.50"), user.email, PASSWORD)))
        await asyncio.sleep(waits[-1] + 0.2)
    assert waits == [1, 2, 4]
    assert (await attempt(site.at("203.0.113.50"), user.email, PASSWORD)).status_code == 200


async def test_sign_ups_are_throttled_per_address(site_for: SiteFor, database_url: str) -> None:
    site = await site_for(sign_ups_per_address=3)
    clinic = site.at("203.0.113.80")

    async def sign_up(client: httpx.AsyncClient, email: str) -> httpx.Response:
        body = {"email": email, "password": "a long passphrase", "full_name": "New Patient"}
        return await client.post("/auth/register", json=body)

    statuses = [(await sign_up(clinic, f"new{n}@example.org")).status_code for n in range(2)]
    # A sign-up that fails after its hash counts too: each costs a bcrypt hash.
    statuses.append((await sign_up(clinic, "new0@example.org")).status_code)
    assert statuses == [201, 201, 409]
    refused = await sign_up(clinic, "later@example.org")
    assert 1 <= retry_after(refused) <= 900
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM users WHERE email = 'later@example.org'")
        assert row.fetchone() == (0,)
    assert (await sign_up(site.at("198.51.100.80"), "later@example.org")).status_code == 201


@pytest.fixture
def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The hashes every bcrypt check in the app compares against, in order."""
    seen: list[bytes] = []
    real: Callable[[bytes, bytes], bool] = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        seen.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return seen


async def test_unknown_emails_cost_the_same_bcrypt_work_as_wrong_passwords(
    client: httpx.AsyncClient, make_user: MakeUser, bcrypt_checks: list[bytes]
) -> None:
    user, inactive = await make_user(login=False), await make_user(active=False)
    replies = [
        await attempt(client, user.email, "wrong guess!"),
        await attempt(client, "ghost@example.org", "wrong guess!"),
        await attempt(client, inactive.email, PASSWORD),
    ]
    # One full-cost check each, so response time tells nothing about which emails exist.
    assert len(bcrypt_checks) == 3
    assert len({hashed[:7] for hashed in bcrypt_checks}) == 1  # "$2b$04$": the same cost
    bodies = [assert_problem(reply, 401) for reply in replies]
    assert bodies[0] == bodies[1] == bodies[2]


# --- refresh tokens --------------------------------------------------------------------------


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def test_a_refresh_token_works_once_and_its_reuse_ends_the_whole_sign_in(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    user = await make_user(login=False)
    first = await sign_in(client, user.email)
    second = await refresh(client, first["refresh_token"])
    assert second.status_code == 200
    newest = second.json()
    assert (await client.get("/users/me", headers=bearer(newest))).status_code == 200
    end_refresh_grace(database_url)
    assert_problem(await refresh(client, first["refresh_token"]), 401)
    # Reuse means the token was copied: the thief's and the owner's newest tokens both die.
    assert_problem(await refresh(client, newest["refresh_token"]), 401)
    assert_problem(await client.get("/users/me", headers=bearer(newest)), 401)
    assert_problem(await client.get("/users/me", headers=bearer(first)), 401)


async def test_a_refresh_token_expires_after_a_period_without_use(
    site_for: SiteFor, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    client = (await site_for(refresh_idle_ttl=1, refresh_token_ttl=3600)).at("192.0.2.1")
    pair = await sign_in(client, user.email)
    await asyncio.sleep(1.1)
    assert_problem(await refresh(client, pair["refresh_token"]), 401)


async def test_a_sign_in_ends_at_its_absolute_lifetime(
    site_for: SiteFor, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    client = (await site_for(refresh_idle_ttl=3600, refresh_token_ttl=1)).at("192.0.2.1")
    pair = await sign_in(client, user.email)
    await asyncio.sleep(1.1)
    assert_problem(await refresh(client, pair["refresh_token"]), 401)
    assert_problem(await client.get("/users/me", headers=bearer(pair)), 401)


# --- ending sessions -------------------------------------------------------------------------


async def test_logout_ends_the_refresh_and_the_access_token_of_that_sign_in_only(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    phone, laptop = await sign_in(client, user.email), await sign_in(client, user.email)
    out = await client.post(
        "/auth/logout", json={"refresh_token": phone["refresh_token"]}, headers=bearer(phone)
    )
    assert out.status_code == 204
    assert_problem(await client.get("/users/me", headers=bearer(phone)), 401)
    assert_problem(await refresh(client, phone["refresh_token"]), 401)
    assert (await client.get("/users/me", headers=bearer(laptop))).status_code == 200


async def test_logging_out_with_someone_elses_refresh_token_ends_nothing(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    victim, attacker = await make_user(login=False), await make_user()
    pair = await sign_in(client, victim.email)
    out = await client.post(
        "/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=attacker.headers
    )
    assert out.status_code == 204
    assert (await client.get("/users/me", headers=bearer(pair))).status_code == 200
    assert (await refresh(client, pair["refresh_token"])).status_code == 200


async def test_changing_the_password_ends_every_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    pair = await sign_in(client, user.email)
    changed = await client.put(
        f"/users/{user.id}",
        json={"password": "a brand new passphrase", "current_password": PASSWORD},
        headers=bearer(pair),
    )
    assert changed.status_code == 200, changed.text
    assert_problem(await client.get("/users/me", headers=bearer(pair)), 401)
    assert_problem(await refresh(client, pair["refresh_token"]), 401)
    await sign_in(client, user.email, "a brand new passphrase")


async def test_changing_the_password_needs_the_current_one(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    body = {"password": "a brand new passphrase", "current_password": "not my password"}
    wrong = await client.put(f"/users/{user.id}", json=body, headers=user.headers)
    assert_problem(wrong, 403)
    await sign_in(client, user.email)


async def test_deactivation_by_an_admin_ends_every_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, admin = await make_user(login=False), await make_user(Role.ADMIN)
    pair = await sign_in(client, user.email)
    off = await client.put(f"/users/{user.id}", json={"active": False}, headers=admin.headers)
    assert off.status_code == 200
    assert_problem(await client.get("/users/me", headers=bearer(pair)), 401)
    assert_problem(await refresh(client, pair["refresh_token"]), 401)
    assert_problem(await attempt(client, user.email, PASSWORD), 401)


async def test_an_account_deactivated_in_the_database_is_refused_at_once(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    # An operator may switch an account off with SQL, without the API's session bookkeeping.
    user = await make_user()
    assert (await client.get("/users/me", headers=user.headers)).status_code == 200
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE users SET active = false WHERE id = %s", (user.id,))
    assert_problem(await client.get("/users/me", headers=user.headers), 401)


# --- password policy -------------------------------------------------------------------------


async def register(client: httpx.AsyncClient, password: str, **extra: Any) -> httpx.Response:
    body = {"email": "p@example.org", "password": password, "full_name": "P", **extra}
    return await client.post("/auth/register", json=body)


async def test_a_common_password_is_refused_at_sign_up(client: httpx.AsyncClient) -> None:
    reply = await register(client, "password123")
    assert "common" in assert_problem(reply, 400)["detail"]


async def test_a_password_over_72_bytes_is_refused_never_truncated(
    client: httpx.AsyncClient,
) -> None:
    # 40 characters pass the spec's length bound; 80 bytes of UTF-8 do not fit bcrypt.
    assert "72 bytes" in assert_problem(await register(client, "é" * 40), 400)["detail"]
    exactly = "correct horse battery staple, then some more words to fill 72 bytes!!!!!"
    assert len(exactly.encode()) == 72
    assert (await register(client, exactly)).status_code == 201
    assert_problem(await attempt(client, "p@example.org", exactly + " and more"), 401)
    assert (await attempt(client, "p@example.org", exactly)).status_code == 200
