"""Sign-in as a browser app does it (README, Decisions: refresh reuse grace, refresh cookie):
a client with a cookie jar on an HTTPS origin, like a page of the SPA's own site."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, MakeUser, assert_problem, end_refresh_grace, truncate_all

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]
SITE = "https://medai.test"
APP_ORIGIN = "https://app.medai.test"
# What the SPA's fetch wrapper adds to every /auth call (CSRF protection).
XHR = {"X-Requested-With": "fetch"}


@pytest.fixture
async def browser(app: Any, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """One browser profile: every tab shares its cookie jar. HTTPS, so that the jar sends the
    Secure cookie back, as a browser does."""
    truncate_all(database_url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as tabs:
        yield tabs


async def sign_in(browser: httpx.AsyncClient, email: str) -> dict[str, Any]:
    reply = await browser.post(
        "/auth/login",
        json={"email": email, "password": PASSWORD, "refresh_token_in": "cookie"},
        headers=XHR,
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def refresh_cookie(reply: httpx.Response) -> str:
    """The refresh token a reply set in the cookie, checking the cookie's attributes."""
    set_cookie = reply.headers["set-cookie"]
    name_value, *attributes = [part.strip() for part in set_cookie.split(";")]
    assert {"Path=/auth", "HttpOnly", "Secure", "SameSite=Strict"} <= set(attributes)
    name, _, value = name_value.partition("=")
    assert name == "medai_refresh"
    assert value.startswith("mrt_")
    return value


async def test_a_cookie_sign_in_keeps_the_refresh_token_out_of_the_body(
    browser: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    reply = await browser.post(
        "/auth/login",
        json={"email": user.email, "password": PASSWORD, "refresh_token_in": "cookie"},
        headers=XHR,
    )
    assert reply.status_code == 200
    body = reply.json()
    assert "refresh_token" not in body
    assert refresh_cookie(reply) not in reply.text
    assert (body["user_id"], body["role"]) == (user.id, "patient")
    me = await browser.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    # Scoped to /auth: the jar does not send it anywhere else.
    assert "medai_refresh" not in me.request.headers.get("cookie", "")


async def test_two_tabs_refreshing_at_once_both_get_the_same_pair(
    browser: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    user = await make_user(login=False)
    await sign_in(browser, user.email)
    spent = browser.cookies["medai_refresh"]
    tab_a, tab_b = await asyncio.gather(
        browser.post("/auth/refresh", headers=XHR), browser.post("/auth/refresh", headers=XHR)
    )
    assert (tab_a.status_code, tab_b.status_code) == (200, 200), (tab_a.text, tab_b.text)
    assert tab_a.json() == tab_b.json()
    assert refresh_cookie(tab_a) == refresh_cookie(tab_b) != spent
    newest = tab_a.json()
    me = await browser.get(
        "/users/me", headers={"Authorization": f"Bearer {newest['access_token']}"}
    )
    assert me.status_code == 200

    # Later, the spent token again is theft: 401, and the whole sign-in ends with it.
    end_refresh_grace(database_url)
    stolen = await browser.post(
        "/auth/refresh", headers={**XHR, "Cookie": f"medai_refresh={spent}"}
    )
    assert_problem(stolen, 401)
    browser.cookies.clear()
    assert_problem(
        await browser.post(
            "/auth/refresh", headers={**XHR, "Cookie": f"medai_refresh={refresh_cookie(tab_a)}"}
        ),
        401,
    )
    assert_problem(
        await browser.get(
            "/users/me", headers={"Authorization": f"Bearer {newest['access_token']}"}
        ),
        401,
    )


async def test_the_grace_ends_once_the_new_pair_is_refreshed_in_turn(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    login = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    first = login.json()["refresh_token"]
    second = (await client.post("/auth/refresh", json={"refresh_token": first})).json()
    third = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200
    # The first token's pair is no longer the newest: this is not a concurrent refresh.
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": first}), 401)
    newest = third.json()["refresh_token"]
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": newest}), 401)


async def test_cookie_sign_in_refresh_and_sign_out(
    browser: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    signed_in = await sign_in(browser, user.email)
    refreshed = await browser.post("/auth/refresh", headers=XHR)
    assert refreshed.status_code == 200
    assert "refresh_token" not in refreshed.json()
    token = refresh_cookie(refreshed)
    assert browser.cookies["medai_refresh"] == token
    assert refreshed.json()["user_id"] == signed_in["user_id"]

    access = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    out = await browser.post("/auth/logout", headers={**XHR, **access})
    assert out.status_code == 204
    assert "Max-Age=0" in out.headers["set-cookie"]
    assert "medai_refresh" not in browser.cookies
    # The sign-in is over: its access token and its refresh token (replayed by hand) both die.
    assert_problem(await browser.get("/users/me", headers=access), 401)
    replay = await browser.post(
        "/auth/refresh", headers={**XHR, "Cookie": f"medai_refresh={token}"}
    )
    assert_problem(replay, 401)
    assert_problem(await browser.post("/auth/refresh", headers=XHR), 401)  # no cookie at all


async def test_a_cookie_request_without_the_csrf_header_is_refused_and_changes_nothing(
    browser: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    signed_in = await sign_in(browser, user.email)
    token = browser.cookies["medai_refresh"]
    # What a cross-site form post would be: the cookie, but no custom header.
    problem = assert_problem(await browser.post("/auth/refresh"), 403)
    assert problem["type"] == "/docs/problems/forbidden"
    assert "X-Requested-With" in problem["detail"]
    access = {"Authorization": f"Bearer {signed_in['access_token']}"}
    assert_problem(await browser.post("/auth/logout", headers=access), 403)
    assert_problem(
        await browser.post(
            "/auth/login",
            json={"email": user.email, "password": PASSWORD, "refresh_token_in": "cookie"},
        ),
        403,
    )
    # Nothing was spent or ended: the same cookie still refreshes, once.
    assert browser.cookies["medai_refresh"] == token
    assert (await browser.post("/auth/refresh", headers=XHR)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "https://medai.test.evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
async def test_a_cookie_request_from_a_foreign_origin_is_refused(
    browser: httpx.AsyncClient, make_user: MakeUser, headers: dict[str, str]
) -> None:
    user = await make_user(login=False)
    await sign_in(browser, user.email)
    problem = assert_problem(await browser.post("/auth/refresh", headers={**XHR, **headers}), 403)
    assert "origin" in problem["detail"]
    same_site = {"Origin": SITE, "Sec-Fetch-Site": "same-origin"}
    assert (await browser.post("/auth/refresh", headers={**XHR, **same_site})).status_code == 200


async def test_a_configured_origin_may_use_the_cookie(
    client_for: ClientFor, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    spa = await client_for(cors_origins=(APP_ORIGIN,))
    spa.base_url = httpx.URL(SITE)
    from_app = {**XHR, "Origin": APP_ORIGIN, "Sec-Fetch-Site": "same-site"}
    login = await spa.post(
        "/auth/login",
        json={"email": user.email, "password": PASSWORD, "refresh_token_in": "cookie"},
        headers=from_app,
    )
    assert login.status_code == 200
    assert login.headers["access-control-allow-credentials"] == "true"
    refreshed = await spa.post("/auth/refresh", headers=from_app)
    assert refreshed.status_code == 200, refreshed.text


async def test_a_token_in_the_body_needs_no_csrf_header(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Bearer-style clients (mobile, server) are unchanged: a token a script sends itself
    cannot be forged across sites, and such replies set no cookie."""
    user = await make_user(login=False)
    login = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert "set-cookie" not in login.headers
    token = login.json()["refresh_token"]
    reply = await client.post(
        "/auth/refresh", json={"refresh_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert reply.status_code == 200
    assert "set-cookie" not in reply.headers


@pytest.mark.parametrize("content_type", ["foo", "a/b/c", "application/json", ""])
async def test_an_empty_refresh_or_sign_out_with_any_content_type_is_a_4xx(
    browser: httpx.AsyncClient, make_user: MakeUser, content_type: str
) -> None:
    """The body is optional now (the cookie may carry the token): an empty one is no body,
    whatever media type the client named (found by tests/test_fuzz_inputs.py: it was a 500)."""
    user = await make_user()
    for path, headers in [("/auth/refresh", {}), ("/auth/logout", user.headers)]:
        reply = await browser.post(
            path, content=b"", headers={**headers, "Content-Type": content_type}
        )
        assert reply.status_code in (204, 401), (path, reply.text)
