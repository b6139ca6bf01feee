from __future__ import annotations

import pytest

from mlclient import BreakerState, CircuitBreaker, MLCircuitOpen
from tests.mlclient.conftest import FakeClock


def tripped(clock: FakeClock, threshold: int = 3, reset: float = 10.0) -> CircuitBreaker:
    breaker = CircuitBreaker(threshold, reset, clock)
    for _ in range(threshold):
        breaker.record_failure(breaker.acquire())
    return breaker


def test_stays_closed_below_the_failure_threshold() -> None:
    breaker = CircuitBreaker(3, 10.0, FakeClock())
    for _ in range(2):
        breaker.record_failure(breaker.acquire())
    assert breaker.status().state is BreakerState.CLOSED
    breaker.acquire()


def test_opens_after_n_consecutive_failures_and_fails_fast_with_a_retry_after() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(2.5)
    with pytest.raises(MLCircuitOpen) as caught:
        breaker.acquire()
    assert caught.value.retry_after == 8
    assert caught.value.kind == "circuit_open"
    assert breaker.status().state is BreakerState.OPEN


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(3, 10.0, FakeClock())
    for outcome in ("fail", "fail", "ok", "fail", "fail"):
        permit = breaker.acquire()
        if outcome == "ok":
            breaker.record_success(permit)
        else:
            breaker.record_failure(permit)
    assert breaker.status().state is BreakerState.CLOSED


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(10.0)
    assert breaker.status().state is BreakerState.HALF_OPEN
    probe = breaker.acquire()
    assert probe.probe
    with pytest.raises(MLCircuitOpen):
        breaker.acquire()


def test_a_successful_probe_closes_the_breaker() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(10.0)
    breaker.record_success(breaker.acquire())
    assert breaker.status().state is BreakerState.CLOSED
    assert breaker.status().consecutive_failures == 0
    assert not breaker.acquire().probe


def test_a_failed_probe_opens_it_again_for_a_full_period() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(10.0)
    breaker.record_failure(breaker.acquire())
    clock.advance(9.0)
    with pytest.raises(MLCircuitOpen):
        breaker.acquire()
    assert breaker.status().times_opened == 2


def test_a_probe_released_without_a_verdict_lets_the_next_call_probe() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(10.0)
    breaker.release(breaker.acquire())
    assert breaker.acquire().probe


def test_an_outcome_of_a_call_admitted_before_the_breaker_opened_is_ignored() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 10.0, clock)
    straggler = breaker.acquire()
    breaker.record_failure(breaker.acquire())
    breaker.record_success(straggler)
    assert breaker.status().state is BreakerState.OPEN


def test_refuses_a_threshold_below_one() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(0, 10.0)
