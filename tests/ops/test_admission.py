"""Admission control (``MEDAI_MAX_IN_FLIGHT``): past the bound a request is refused at once
with 503 problem+json and Retry-After; probes are never refused; below it nothing changes.

Requests are held in flight deterministically: the database pool's ``acquire`` waits on a gate
that the test opens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from persistence.db import Database
from service import admission
from service.logs import ACCESS_LOGGER
from tests.conftest import assert_problem

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]
SIGN_IN = {"email": "nobody@example.org", "password": "not the password"}


class Gate:
    """Requests that need a database connection wait here until ``open()``."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.arrivals: asyncio.Queue[None] = asyncio.Queue()

    def open(self) -> None:
        self.opened.set()

    async def until_waiting(self, more: int) -> None:
        """Until ``more`` further requests have arrived at the gate."""
        async with asyncio.timeout(30):
            for _ in range(more):
                await self.arrivals.get()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate()
    real_acquire = Database.acquire

    async def gated_acquire(self: Database) -> Any:
        held.arrivals.put_nowait(None)
        await held.opened.wait()
        return await real_acquire(self)

    monkeypatch.setattr(Database, "acquire", gated_acquire)
    yield held
    held.open()


async def test_past_the_bound_requests_get_503_with_retry_after_and_liveness_does_not(
    client_for: ClientFor, gate: Gate
) -> None:
    client = await client_for(max_in_flight=2)
    held = [asyncio.create_task(client.post("/auth/login", json=SIGN_IN)) for _ in range(2)]
    await gate.until_waiting(2)

    async with asyncio.timeout(10):  # without admission control it would wait at the gate
        refused = await client.post("/auth/login", json=SIGN_IN)
    assert_problem(refused, 503)
    assert refused.headers["retry-after"] == "1"
    # Made in front of the hardening layer, the refusal carries its headers all the same.
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert refused.headers["cache-control"] == "no-store"
    assert (
        refused.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    again = await client.get("/users/me")
    assert again.status_code == 503
    # Every refusal is the same reply: no header carried over from the one before.
    assert len(again.headers.raw) == len(refused.headers.raw)
    for _ in range(5):
        assert (await client.get("/health/live")).status_code == 200
    # Readiness is exempt too: it is admitted (and waits for the database like the others).
    ready = asyncio.create_task(client.get("/health/ready"))
    await gate.until_waiting(1)

    gate.open()
    assert [reply.status_code for reply in await asyncio.gather(*held)] == [401, 401]
    assert (await ready).status_code == 200
    # Room again: the next request is admitted and answered normally.
    assert (await client.post("/auth/login", json=SIGN_IN)).status_code == 401


async def test_without_a_bound_nothing_is_refused(client_for: ClientFor, gate: Gate) -> None:
    client = await client_for(max_in_flight=0)
    # Six accounts: six failures of one account and address could meet its sign-in throttle
    # (429) when the gate lets them through one after another, which is not what this is about.
    held = [
        asyncio.create_task(
            client.post("/auth/login", json={**SIGN_IN, "email": f"nobody-{n}@example.org"})
        )
        for n in range(6)
    ]
    await gate.until_waiting(6)
    gate.open()
    assert {reply.status_code for reply in await asyncio.gather(*held)} == {401}


async def refused_total(client: httpx.AsyncClient) -> float:
    reply = await client.get("/metrics")
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            if sample.name == "medai_http_refused_total":
                return float(sample.value)
    raise AssertionError("no medai_http_refused_total in /metrics")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_refusals_are_counted_and_logged_in_aggregate_not_one_line_each(
    client_for: ClientFor,
    gate: Gate,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr(admission, "monotonic", clock)
    caplog.set_level(logging.INFO)
    client = await client_for(max_in_flight=1)
    held = asyncio.create_task(client.post("/auth/login", json=SIGN_IN))
    await gate.until_waiting(1)
    before = await refused_total(client)
    capsys.readouterr()
    caplog.clear()

    for _ in range(3):
        assert (await client.get("/users/me")).status_code == 503
    clock.now += admission.REPORT_INTERVAL
    assert (await client.get("/users/me")).status_code == 503

    # No access-log line per refusal (the overload would grow the log with it)...
    access = [
        orjson.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    assert not [line for line in access if line.get("logger") == ACCESS_LOGGER]
    # ... but a warning at the first, then one per interval with the count since the last.
    warnings = [r.getMessage() for r in caplog.records if r.name == admission.__name__]
    assert warnings == [
        "at capacity: 1 request(s) refused with 503 (1 in flight, the bound)",
        "at capacity: 3 request(s) refused with 503 (1 in flight, the bound)",
    ]
    # And every one counted.
    assert await refused_total(client) == before + 4

    gate.open()
    assert (await held).status_code == 401
