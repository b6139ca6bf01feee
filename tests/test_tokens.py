"""Access tokens are checked without trusting anything the token says about itself."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

import jwt
import pytest

from adapters.tokens import TokenService
from domain.credentials import (
    REFRESH_TOKEN_PREFIX,
    InvalidToken,
    hash_refresh_token,
    new_refresh_token,
)
from domain.model import Role

SECRET = "unit-test-secret-" + "s" * 60  # long enough for HS512 as well
ISSUER, AUDIENCE = "medai-backend", "medai-api"
USER, SESSION = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=900)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(USER),
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
        "role": "patient",
        "ver": 1,
        "sid": str(SESSION),
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def sign(payload: dict[str, Any], *, secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers={"typ": "at+jwt", **headers})


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_an_issued_token_decodes_to_its_user_role_session_and_version(
    tokens: TokenService,
) -> None:
    token = tokens.issue_access(USER, Role.DOCTOR, 7, SESSION)
    decoded = tokens.decode_access(token)
    assert (decoded.user_id, decoded.role, decoded.session_version, decoded.session_id) == (
        USER,
        Role.DOCTOR,
        7,
        SESSION,
    )


def test_an_issued_token_carries_the_pinned_algorithm_its_type_and_every_required_claim(
    tokens: TokenService,
) -> None:
    token = tokens.issue_access(USER, Role.PATIENT, 1, SESSION)
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert (header["alg"], header["typ"]) == ("HS256", "at+jwt")
    assert {"iss", "aud", "sub", "iat", "exp", "jti"} <= payload.keys()
    assert payload["exp"] - payload["iat"] == 900


def test_a_token_made_by_the_test_helper_is_accepted(tokens: TokenService) -> None:
    # Guards the attacks below: each differs from an accepted token in one respect only.
    assert tokens.decode_access(sign(claims())).user_id == USER


def test_an_unsigned_alg_none_token_is_refused(tokens: TokenService) -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{b64(claims())}."
    with pytest.raises(InvalidToken):
        tokens.decode_access(unsigned)


def test_a_token_signed_with_another_secret_is_refused(tokens: TokenService) -> None:
    with pytest.raises(InvalidToken):
        tokens.decode_access(sign(claims(), secret="another-secret-" + "x" * 40))


def test_a_token_signed_with_another_algorithm_and_the_right_secret_is_refused(
    tokens: TokenService,
) -> None:
    other = jwt.encode(claims(), SECRET, algorithm="HS512", headers={"typ": "at+jwt"})
    with pytest.raises(InvalidToken):
        tokens.decode_access(other)


def test_a_tampered_payload_breaks_the_signature(tokens: TokenService) -> None:
    header, _, signature = sign(claims()).split(".")
    forged = f"{header}.{b64(claims(role='admin'))}.{signature}"
    with pytest.raises(InvalidToken):
        tokens.decode_access(forged)


@pytest.mark.parametrize(
    "wrong", [{"aud": "another-api"}, {"iss": "another-issuer"}], ids=["audience", "issuer"]
)
def test_a_token_for_another_audience_or_from_another_issuer_is_refused(
    tokens: TokenService, wrong: dict[str, str]
) -> None:
    with pytest.raises(InvalidToken):
        tokens.decode_access(sign(claims(**wrong)))


def test_an_expired_token_is_refused(tokens: TokenService) -> None:
    past = int(time.time()) - 60
    with pytest.raises(InvalidToken):
        tokens.decode_access(sign(claims(iat=past - 900, nbf=past - 900, exp=past)))


def test_a_token_not_yet_valid_is_refused(tokens: TokenService) -> None:
    later = int(time.time()) + 60
    with pytest.raises(InvalidToken):
        tokens.decode_access(sign(claims(nbf=later)))


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "jti"])
def test_a_token_missing_a_required_claim_is_refused(tokens: TokenService, claim: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.decode_access(sign(claims(**{claim: None})))


@pytest.mark.parametrize("typ", ["JWT", "refresh+jwt", None])
def test_a_jwt_of_another_type_is_not_an_access_token(
    tokens: TokenService, typ: str | None
) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"typ": typ})
    with pytest.raises(InvalidToken, match="not an access token"):
        tokens.decode_access(token)


def test_a_refresh_token_is_not_an_access_token(tokens: TokenService) -> None:
    with pytest.raises(InvalidToken):
        tokens.decode_access(new_refresh_token())


@pytest.mark.parametrize(
    "malformed",
    [{"sub": "not-a-uuid"}, {"role": "superuser"}, {"ver": "one"}, {"sid": None}],
    ids=["sub", "role", "ver", "sid"],
)
def test_a_validly_signed_token_with_malformed_claims_is_refused(
    tokens: TokenService, malformed: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken, match="malformed claims"):
        tokens.decode_access(sign(claims(**malformed)))


def test_refresh_tokens_are_random_recognisable_and_stored_as_their_sha256() -> None:
    first, second = new_refresh_token(), new_refresh_token()
    assert first != second
    assert first.startswith(REFRESH_TOKEN_PREFIX)
    assert len(first) > 40
    assert hash_refresh_token(first) == hashlib.sha256(first.encode()).digest()
    assert hash_refresh_token(first) != hash_refresh_token(second)
    assert len(hash_refresh_token(first)) == 32
