"""A circuit breaker: stop calling a dependency that keeps failing, and find out when it is back.

::

    CLOSED ──N consecutive failures──> OPEN ──reset_seconds later──> HALF_OPEN
      ^                                  ^                               │ one probe call
      └────────── probe succeeds ────────┼───────── probe fails ─────────┘

While OPEN every call fails fast (no waiting on a dead service, no load on a struggling one).
HALF_OPEN lets exactly one probe through; the others keep failing fast until it returns.

Pure logic over an injectable clock; not thread-safe (one event loop owns it). Every admission
returns a :class:`Permit` carrying the breaker's generation: an outcome reported with a permit
from an earlier state (a straggler that started before the breaker opened) is ignored, so a
slow success from long ago cannot close a breaker that has since opened.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mlclient.errors import MLCircuitOpen


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Permit:
    generation: int
    probe: bool


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """For health and metrics. ``retry_after`` is the seconds until a probe may go (0 if none)."""

    state: BreakerState
    consecutive_failures: int
    retry_after: float
    times_opened: int


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_seconds <= 0:
            raise ValueError("failure_threshold >= 1 and reset_seconds > 0 required")
        self._threshold = failure_threshold
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._failures = 0
        self._open_until = 0.0
        self._probe_in_flight = False
        self._times_opened = 0

    def status(self) -> BreakerStatus:
        state = self._state
        retry_after = (
            max(0.0, self._open_until - self._clock()) if state is BreakerState.OPEN else 0.0
        )
        if state is BreakerState.OPEN and retry_after == 0.0:
            state = BreakerState.HALF_OPEN  # the next call will be the probe
        return BreakerStatus(state, self._failures, retry_after, self._times_opened)

    def acquire(self) -> Permit:
        """Admit a call, or raise :class:`MLCircuitOpen` with a whole-second ``retry_after``."""
        if self._state is BreakerState.OPEN:
            remaining = self._open_until - self._clock()
            if remaining > 0:
                raise MLCircuitOpen(
                    "ML service circuit open: failing fast", retry_after=math.ceil(remaining)
                )
            self._move_to(BreakerState.HALF_OPEN)
        if self._state is BreakerState.HALF_OPEN:
            if self._probe_in_flight:
                raise MLCircuitOpen("ML service circuit half-open: a probe is in flight")
            self._probe_in_flight = True
            return Permit(self._generation, probe=True)
        return Permit(self._generation, probe=False)

    def record_success(self, permit: Permit) -> None:
        if permit.generation != self._generation:
            return
        if self._state is BreakerState.HALF_OPEN:
            self._move_to(BreakerState.CLOSED)
        self._failures = 0

    def record_failure(self, permit: Permit) -> None:
        if permit.generation != self._generation:
            return
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
            self._open_until = self._clock() + self._reset_seconds
            self._times_opened += 1
            self._move_to(BreakerState.OPEN)

    def release(self, permit: Permit) -> None:
        """The call ended without a verdict (cancelled, or never sent): free the probe slot so
        the next call can probe, instead of leaving the breaker half-open forever."""
        if permit.generation == self._generation and permit.probe:
            self._probe_in_flight = False

    def _move_to(self, state: BreakerState) -> None:
        self._state = state
        self._generation += 1
        self._probe_in_flight = False
        if state is BreakerState.CLOSED:
            self._failures = 0
