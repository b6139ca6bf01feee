"""Attacks on the access token, over HTTP (RFC 8725; OWASP API2).

Each attack starts from a real token of a signed-in patient and changes one thing. Where the
attack needs a valid signature (wrong issuer, expired…) the test signs with the test secret, so
the one changed claim is the only reason for the refusal; the first test shows that an
unchanged re-signed copy is accepted, so the forging itself is sound.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from domain.model import Role
from tests import conftest as harness
from tests.conftest import Account, MakeUser, assert_problem
from tests.security.conftest import bearer, sign_in

SECRET = harness.test_settings().jwt_secret


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def segment(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def forge(claims: dict[str, Any], *, key: str | bytes = SECRET, typ: str | None = "at+jwt") -> str:
    headers = {} if typ is None else {"typ": typ}
    token: str = jwt.encode(claims, key, algorithm="HS256", headers=headers)
    if typ is None:  # PyJWT adds "typ": "JWT" by itself; drop it
        _, payload, _ = token.split(".")
        signing_input = f"{segment({'alg': 'HS256'})}.{payload}"
        mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64(mac)}"
    return token


async def status_with(client: httpx.AsyncClient, token: str, path: str = "/users/me") -> int:
    return (await client.get(path, headers=bearer(token))).status_code


async def assert_refused(client: httpx.AsyncClient, token: str, path: str = "/users/me") -> None:
    assert_problem(await client.get(path, headers=bearer(token)), 401)


@pytest.fixture
async def patient(make_user: MakeUser) -> Account:
    return await make_user(Role.PATIENT)


def with_claims(patient: Account, **changes: Any) -> dict[str, Any]:
    claims = claims_of(patient.token)
    for name, value in changes.items():
        if value is None:
            del claims[name]
        else:
            claims[name] = value
    return claims


async def test_an_unchanged_re_signed_copy_is_accepted(
    client: httpx.AsyncClient, patient: Account
) -> None:
    assert await status_with(client, forge(with_claims(patient))) == 200


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_an_unsigned_token_is_refused(
    client: httpx.AsyncClient, patient: Account, alg: str
) -> None:
    header, payload = segment({"alg": alg, "typ": "at+jwt"}), segment(with_claims(patient))
    await assert_refused(client, f"{header}.{payload}.")
    original_signature = patient.token.rsplit(".", 1)[1]
    await assert_refused(client, f"{header}.{payload}.{original_signature}")


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def test_a_token_signed_rs256_by_the_attacker_with_the_key_attached_is_refused(
    client: httpx.AsyncClient, patient: Account, attacker_key: rsa.RSAPrivateKey
) -> None:
    # CVE-2018-0114 style: the token names its own verification key in a jwk header.
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker_key.public_key()))
    token = jwt.encode(
        with_claims(patient, role="admin"),
        attacker_key,
        algorithm="RS256",
        headers={"typ": "at+jwt", "jwk": public_jwk},
    )
    await assert_refused(client, token)
    await assert_refused(client, token, "/private")


async def test_a_token_signed_hs256_with_a_public_key_as_the_secret_is_refused(
    client: httpx.AsyncClient, patient: Account, attacker_key: rsa.RSAPrivateKey
) -> None:
    # HS/RS confusion: a verifier that takes the key for the token's own alg would check
    # this HMAC with a public key anyone can read. PyJWT refuses to make it, so do it by hand.
    public_pem = attacker_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'at+jwt'})}.{segment(with_claims(patient))}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    await assert_refused(client, f"{signing_input}.{b64(mac)}")


async def test_a_token_signed_with_another_secret_is_refused(
    client: httpx.AsyncClient, patient: Account
) -> None:
    await assert_refused(client, forge(with_claims(patient), key="attacker-" + "k" * 40))


async def test_a_tampered_payload_is_refused(client: httpx.AsyncClient, patient: Account) -> None:
    header, _, signature = patient.token.split(".")
    promoted = f"{header}.{segment(with_claims(patient, role='admin'))}.{signature}"
    await assert_refused(client, promoted)
    await assert_refused(client, promoted, "/private")


async def test_a_validly_signed_role_claim_does_not_make_an_admin(
    client: httpx.AsyncClient, patient: Account
) -> None:
    # Even with the signing key, the role comes from the database, not the token.
    token = forge(with_claims(patient, role="admin"))
    assert_problem(await client.get("/private", headers=bearer(token)), 403)


@pytest.mark.parametrize(
    ("claim", "value"),
    [("iss", "https://idp.evil.example"), ("aud", "another-api"), ("aud", ["another-api"])],
)
async def test_a_token_for_another_issuer_or_audience_is_refused(
    client: httpx.AsyncClient, patient: Account, claim: str, value: Any
) -> None:
    await assert_refused(client, forge(with_claims(patient, **{claim: value})))


async def test_an_expired_token_is_refused(client: httpx.AsyncClient, patient: Account) -> None:
    past = int(time.time()) - 3600
    token = forge(with_claims(patient, iat=past, nbf=past, exp=past + 900))
    await assert_refused(client, token)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_a_token_not_yet_valid_is_refused(
    client: httpx.AsyncClient, patient: Account, claim: str
) -> None:
    future = int(time.time()) + 600
    await assert_refused(
        client, forge(with_claims(patient, **{claim: future, "exp": future + 900}))
    )


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "jti"])
async def test_a_token_missing_a_required_claim_is_refused(
    client: httpx.AsyncClient, patient: Account, claim: str
) -> None:
    await assert_refused(client, forge(with_claims(patient, **{claim: None})))


@pytest.mark.parametrize("typ", [None, "JWT", "rt+jwt", "id_token+jwt"])
async def test_a_jwt_of_another_type_is_not_an_access_token(
    client: httpx.AsyncClient, patient: Account, typ: str | None
) -> None:
    await assert_refused(client, forge(with_claims(patient), typ=typ))


async def test_refresh_and_access_tokens_are_not_interchangeable(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    pair = await sign_in(client, user.email)
    await assert_refused(client, pair["refresh_token"])
    # Refresh tokens are short opaque strings: a JWT does not even fit the contract's bound.
    swapped = await client.post("/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert_problem(swapped, 400)


async def test_a_token_of_a_deleted_or_unknown_sign_in_is_refused(
    client: httpx.AsyncClient, patient: Account, database_url: str
) -> None:
    await assert_refused(client, forge(with_claims(patient, sid=str(uuid.uuid4()))))
    await assert_refused(client, forge(with_claims(patient, sub=str(uuid.uuid4()))))
    assert await status_with(client, patient.token) == 200
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM sessions WHERE id = %s", (claims_of(patient.token)["sid"],))
    await assert_refused(client, patient.token)


@pytest.mark.parametrize("shift", [-1, 1])
async def test_a_token_of_another_session_version_is_refused(
    client: httpx.AsyncClient, patient: Account, shift: int
) -> None:
    version = claims_of(patient.token)["ver"]
    await assert_refused(client, forge(with_claims(patient, ver=version + shift)))
