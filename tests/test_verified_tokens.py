"""The access-token memo: it may skip repeating a verification, never change its answer."""

from __future__ import annotations

import time
import uuid

import pytest

from adapters.tokens import TokenService
from domain.credentials import AccessClaims, InvalidToken
from domain.model import Role
from service.verified_tokens import VerifiedTokens

SECRET = "memo-test-secret-" + "y" * 40


class CountingVerifier:
    def __init__(self, ttl: int = 900) -> None:
        self.service = TokenService(secret=SECRET, issuer="i", audience="a", ttl_seconds=ttl)
        self.calls = 0

    def __call__(self, token: str) -> AccessClaims:
        self.calls += 1
        return self.service.decode_access(token)

    def issue(self) -> str:
        return self.service.issue_access(uuid.uuid4(), Role.PATIENT, 0, uuid.uuid4())


def test_a_token_that_verified_is_not_verified_again_before_it_expires() -> None:
    verifier = CountingVerifier()
    memo = VerifiedTokens(verifier)
    token = verifier.issue()

    first, second = memo.claims(token), memo.claims(token)

    assert first == second
    assert verifier.calls == 1


def test_a_token_past_its_expiry_goes_through_the_full_check_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verifier = CountingVerifier(ttl=60)
    memo = VerifiedTokens(verifier)
    token = verifier.issue()
    memo.claims(token)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)

    memo.claims(token)  # within PyJWT's leeway, so still valid: but verified anew

    assert verifier.calls == 2


def test_a_refused_token_is_refused_every_time_and_never_remembered() -> None:
    verifier = CountingVerifier()
    memo = VerifiedTokens(verifier)
    forged = verifier.issue()[:-2] + "xx"

    for _ in range(2):
        with pytest.raises(InvalidToken):
            memo.claims(forged)

    assert verifier.calls == 2


def test_a_full_memo_forgets_its_oldest_token_first() -> None:
    verifier = CountingVerifier()
    memo = VerifiedTokens(verifier, max_entries=2)
    oldest, middle, newest = verifier.issue(), verifier.issue(), verifier.issue()
    for token in (oldest, middle, newest):
        memo.claims(token)

    memo.claims(middle)
    memo.claims(oldest)

    assert verifier.calls == 4  # only the forgotten oldest was verified again
