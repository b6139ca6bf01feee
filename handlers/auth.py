"""Operations tagged ``auth``."""

from __future__ import annotations

from typing import Any

from handlers.context import JSON, caller, client_address, services, transactions

NO_STORE = {**JSON, "Cache-Control": "no-store", "Pragma": "no-cache"}


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
    pair = await services().auth.login(
        transactions(), email=email, password=body["password"], address=client_address()
    )
    return pair.to_json(), 200, NO_STORE


async def refresh_tokens(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Exchange a refresh token for a new pair."""
    pair = await services().auth.refresh(transactions(), refresh_token=body["refresh_token"])
    return pair.to_json(), 200, NO_STORE


async def log_out(
    body: dict[str, Any], token_info: dict[str, Any]
) -> tuple[None, int, dict[str, str]]:
    """End this sign-in: its refresh token and its access tokens stop working."""
    await services().auth.log_out(
        transactions(token_info),
        refresh_token=body["refresh_token"],
        user_id=caller(token_info).id,
    )
    return None, 204, {}
