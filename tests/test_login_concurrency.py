"""Ten sign-ins at once, at the production bcrypt cost, do not stall other requests.

bcrypt at cost 12 costs about a quarter of a second of CPU per check; run on the event loop,
ten of them would freeze the worker for seconds. The service runs them in threads, so the
liveness probe keeps answering meanwhile. The test prints the figures but asserts only that
everything answered (timings on a shared machine are not a pass/fail signal).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.embedded_db import EmbeddedPostgres
from tests.contract import live

LOGINS = 10
PRODUCTION_COST = "12"
PASSWORD = "a long and unguessable passphrase"


@pytest.fixture(scope="module")
def service(postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live.scratch_database(postgres, "medai_concurrency") as url:
        env = {"DATABASE_URL": url, "MEDAI_BCRYPT_COST": PRODUCTION_COST}
        data_dir: Path = tmp_path_factory.mktemp("concurrency-service")
        with live.serve(data_dir, env) as running:
            yield running.base_url


async def probe_until(client: httpx.AsyncClient, done: asyncio.Event) -> list[tuple[int, float]]:
    answers = []
    while not done.is_set():
        started = time.perf_counter()
        reply = await client.get("/health/live")
        answers.append((reply.status_code, (time.perf_counter() - started) * 1000))
        await asyncio.sleep(0.01)
    return answers


async def sign_in(client: httpx.AsyncClient, email: str) -> tuple[int, float]:
    started = time.perf_counter()
    reply = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    return reply.status_code, (time.perf_counter() - started) * 1000


async def test_ten_concurrent_sign_ins_at_cost_12_leave_the_probe_answering(service: str) -> None:
    limits = httpx.Limits(max_connections=LOGINS + 2)
    async with httpx.AsyncClient(base_url=service, timeout=60, limits=limits) as client:
        emails = [f"concurrent-{n}@example.org" for n in range(LOGINS)]
        for email in emails:
            body = {"email": email, "password": PASSWORD, "full_name": "Concurrent"}
            assert (await client.post("/auth/register", json=body)).status_code == 201

        idle = [await probe_once(client) for _ in range(20)]
        done = asyncio.Event()
        probing = asyncio.create_task(probe_until(client, done))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        logins = await asyncio.gather(*(sign_in(client, email) for email in emails))
        burst = (time.perf_counter() - started) * 1000
        done.set()
        probes = await probing

    report(idle, probes, logins, burst)
    assert [status for status, _ in logins] == [200] * LOGINS
    assert probes
    assert {status for status, _ in probes} == {200}


async def probe_once(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    assert (await client.get("/health/live")).status_code == 200
    return (time.perf_counter() - started) * 1000


def report(
    idle: list[float],
    probes: list[tuple[int, float]],
    logins: list[tuple[int, float]],
    burst: float,
) -> None:
    during = sorted(ms for _, ms in probes)
    took = sorted(ms for _, ms in logins)
    print(
        f"\n{LOGINS} concurrent sign-ins at bcrypt cost {PRODUCTION_COST}: all done in "
        f"{burst:.0f} ms; each took {took[0]:.0f}-{took[-1]:.0f} ms "
        f"(median {statistics.median(took):.0f} ms)"
        f"\n/health/live idle: median {statistics.median(idle):.1f} ms, max {max(idle):.1f} ms"
        f"\n/health/live during the burst: {len(during)} probes, median "
        f"{statistics.median(during):.1f} ms, p90 {during[int(len(during) * 0.9)]:.1f} ms, "
        f"max {during[-1]:.1f} ms"
    )
