"""Operations tagged ``auth``."""

from __future__ import annotations

from typing import Any

from handlers.context import JSON, caller, client_address, runtime, unit_of_work

NO_STORE = {**JSON, "Cache-Control": "no-store", "Pragma": "no-cache"}


async def register_patient(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Sign up as a patient."""
    rt = runtime()
    # Counted in a transaction of its own: an attempt counts whatever the sign-up then does.
    async with unit_of_work() as uow:
        await rt.auth.admit_sign_up(uow, client_address())
    async with unit_of_work() as uow:
        user = await rt.auth.register(
            uow, email=body["email"], password=body["password"], full_name=body["full_name"]
        )
    return user.to_json(), 201, {**JSON, "Location": f"/users/{user.id}"}


async def log_in(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Sign in with email and password (JSON, or the OAuth 2.0 password grant form)."""
    email = body["email"] if "email" in body else body["username"]
    rt = runtime()
    async with unit_of_work() as uow:
        pair = await rt.auth.login(
            uow, email=email, password=body["password"], address=client_address()
        )
    return pair.to_json(), 200, NO_STORE


async def refresh_tokens(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Exchange a refresh token for a new pair."""
    rt = runtime()
    async with unit_of_work() as uow:
        pair = await rt.auth.refresh(uow, refresh_token=body["refresh_token"])
    return pair.to_json(), 200, NO_STORE


async def log_out(
    body: dict[str, Any], token_info: dict[str, Any]
) -> tuple[None, int, dict[str, str]]:
    """End this sign-in: its refresh token and its access tokens stop working."""
    async with unit_of_work(token_info) as uow:
        await runtime().auth.log_out(
            uow, refresh_token=body["refresh_token"], user_id=caller(token_info).id
        )
    return None, 204, {}


async def log_in_second_step(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Complete a sign-in with a TOTP code or a recovery code."""
    async with unit_of_work() as uow:
        pair, recovery_codes = await runtime().auth.login_second_step(
            uow,
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
    async with unit_of_work() as uow:
        enrolment = await runtime().mfa.enrol_with_challenge(uow, body["challenge_token"])
    return enrolment.to_json(), 201, NO_STORE


async def verify_email(body: dict[str, Any]) -> tuple[None, int, dict[str, str]]:
    """Confirm an email address with the code from its verification mail."""
    async with unit_of_work() as uow:
        await runtime().accounts.verify_email(uow, body["token"])
    return None, 204, {}


async def resend_verification(token_info: dict[str, Any]) -> tuple[None, int, dict[str, str]]:
    """Send the verification mail again."""
    async with unit_of_work(token_info) as uow:
        await runtime().accounts.resend_verification(uow, caller(token_info).id)
    return None, 202, {}


async def request_password_reset(body: dict[str, Any]) -> tuple[None, int, dict[str, str]]:
    """Ask for a password reset mail (the same answer for any address)."""
    async with unit_of_work() as uow:
        await runtime().accounts.request_reset(uow, body["email"], client_address())
    return None, 202, {}


async def reset_password(body: dict[str, Any]) -> tuple[None, int, dict[str, str]]:
    """Choose a new password with the code from a reset mail."""
    async with unit_of_work() as uow:
        await runtime().accounts.reset_password(uow, body["token"], body["password"])
    return None, 204, {}
