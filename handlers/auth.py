"""Operations tagged ``auth``."""

from __future__ import annotations

from typing import Any

from domain.auth import CSRF_HEADER, check_cookie_request
from domain.model import TokenPair
from handlers.context import JSON, caller, client_address, cookie, header, services, transactions

NO_STORE = {**JSON, "Cache-Control": "no-store", "Pragma": "no-cache"}
# The refresh token of a browser sign-in (README, Decisions): never readable by scripts, sent
# only to the /auth operations, only over HTTPS and only by pages of this site.
REFRESH_COOKIE = "medai_refresh"
_COOKIE_ATTRIBUTES = "Path=/auth; HttpOnly; Secure; SameSite=Strict"


def _check_cookie_request() -> None:
    check_cookie_request(
        csrf_header=header(CSRF_HEADER),
        origin=header("origin"),
        fetch_site=header("sec-fetch-site"),
        host=header("host"),
        trusted_origins=services().trusted_origins,
    )


def _token_reply(pair: TokenPair, *, in_cookie: bool) -> tuple[dict[str, Any], int, dict[str, str]]:
    if not in_cookie:
        return pair.to_json(), 200, NO_STORE
    set_cookie = (
        f"{REFRESH_COOKIE}={pair.refresh_token}; Max-Age={pair.refresh_expires_in}; "
        + _COOKIE_ATTRIBUTES
    )
    return pair.to_json(with_refresh_token=False), 200, {**NO_STORE, "Set-Cookie": set_cookie}


def _presented_refresh_token(body: dict[str, Any] | None) -> tuple[str | None, bool]:
    """The refresh token of the request and whether it came in the cookie (checked for CSRF)."""
    if body and "refresh_token" in body:
        return str(body["refresh_token"]), False
    from_cookie = cookie(REFRESH_COOKIE)
    if from_cookie:
        _check_cookie_request()
    return from_cookie, True


async def register_patient(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Sign up as a patient."""
    auth, tx = services().auth, transactions()
    # Counted in a transaction of its own: an attempt counts whatever the sign-up then does.
    await auth.admit_sign_up(tx, client_address())
    user = await auth.register(
        tx, email=body["email"], password=body["password"], full_name=body["full_name"]
    )
    return user.to_json(), 201, {**JSON, "Location": f"/users/{user.id}"}


async def log_in(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Sign in with email and password (JSON, or the OAuth 2.0 password grant form)."""
    email = body["email"] if "email" in body else body["username"]
    in_cookie = body.get("refresh_token_in") == "cookie"
    if in_cookie:
        _check_cookie_request()
    pair = await services().auth.login(
        transactions(), email=email, password=body["password"], address=client_address()
    )
    return _token_reply(pair, in_cookie=in_cookie)


async def refresh_tokens(
    body: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Exchange a refresh token (in the body, or in the cookie) for a new pair."""
    refresh_token, in_cookie = _presented_refresh_token(body)
    # No token at all is the same answer as a spent one: there is nothing to exchange.
    pair = await services().auth.refresh(transactions(), refresh_token=refresh_token or "")
    return _token_reply(pair, in_cookie=in_cookie)


async def log_out(
    token_info: dict[str, Any], body: dict[str, Any] | None = None
) -> tuple[None, int, dict[str, str]]:
    """End this sign-in: its refresh token and its access tokens stop working."""
    refresh_token, in_cookie = _presented_refresh_token(body)
    if refresh_token:
        await services().auth.log_out(
            transactions(token_info), refresh_token=refresh_token, user_id=caller(token_info).id
        )
    if in_cookie:
        return None, 204, {"Set-Cookie": f"{REFRESH_COOKIE}=; Max-Age=0; {_COOKIE_ATTRIBUTES}"}
    return None, 204, {}


async def log_in_second_step(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Complete a sign-in with a TOTP code or a recovery code."""
    pair, recovery_codes = await services().auth.login_second_step(
        transactions(),
        challenge_token=body["challenge_token"],
        code=body.get("code"),
        recovery_code=body.get("recovery_code"),
        address=client_address(),
    )
    reply = pair.to_json()
    if recovery_codes is not None:
        reply["recovery_codes"] = recovery_codes
    return reply, 200, NO_STORE


async def enrol_at_log_in(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Enrol an authenticator during a sign-in that requires one."""
    enrolment = await services().mfa.enrol_with_challenge(transactions(), body["challenge_token"])
    return enrolment.to_json(), 201, NO_STORE


async def verify_email(body: dict[str, Any]) -> tuple[None, int, dict[str, str]]:
    """Confirm an email address with the code from its verification mail."""
    await services().accounts.verify_email(transactions(), body["token"])
    return None, 204, {}


async def resend_verification(token_info: dict[str, Any]) -> tuple[None, int, dict[str, str]]:
    """Send the verification mail again."""
    await services().accounts.resend_verification(transactions(token_info), caller(token_info).id)
    return None, 202, {}


async def request_password_reset(body: dict[str, Any]) -> tuple[None, int, dict[str, str]]:
    """Ask for a password reset mail (the same answer for any address)."""
    await services().accounts.request_reset(transactions(), body["email"], client_address())
    return None, 202, {}


async def reset_password(body: dict[str, Any]) -> tuple[None, int, dict[str, str]]:
    """Choose a new password with the code from a reset mail."""
    await services().accounts.reset_password(transactions(), body["token"], body["password"])
    return None, 204, {}
