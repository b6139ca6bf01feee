"""The replica's staleness bound and the read-your-writes cookie, without servers (the real
standby is in tests/ops/test_read_replica.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from persistence.replica import Freshness, lsn
from service import metrics
from service.read_your_writes import COOKIE, PRIMARY_ONLY_KEY, ReadYourWrites, window_for
from service.settings import ConfigError, Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_wal_positions_compare_as_numbers() -> None:
    assert lsn("0/3000000") == 0x3000000
    assert lsn("1/0") > lsn("0/FFFFFFFF")
    assert lsn("16/B374D848") == (0x16 << 32) + 0xB374D848


def test_a_replica_is_unusable_until_it_is_seen_caught_up() -> None:
    freshness = Freshness(1.0, Clock())
    assert not freshness.fresh()
    assert freshness.state().detail.startswith("unknown: not checked yet")


def test_a_replica_that_replayed_a_sample_is_fresh_for_the_bound_after_it() -> None:
    clock = Clock()
    freshness = Freshness(1.0, clock)
    freshness.primary_at(100.0, 500)
    clock.now = 100.2
    freshness.standby_at(500)
    assert freshness.fresh()
    assert freshness.state().detail == "ok"
    # Replay stops; the primary moves on. The bound counts from the sample it last replayed.
    freshness.primary_at(100.5, 900)
    clock.now = 100.9
    freshness.standby_at(600)
    assert freshness.fresh()
    clock.now = 101.1
    assert not freshness.fresh()
    assert freshness.state().detail.startswith("lagging: not caught up for 1.1 s (bound 1 s)")
    # It catches up with the later sample: fresh again, from that sample's time.
    freshness.standby_at(900)
    assert freshness.fresh()
    assert freshness.staleness() == 101.1 - 100.5


def test_an_idle_primary_keeps_a_caught_up_replica_fresh() -> None:
    clock = Clock()
    freshness = Freshness(1.0, clock)
    for step in range(10):  # no writes: the primary's position does not move
        clock.now = 100.0 + step
        freshness.primary_at(clock.now, 500)
        freshness.standby_at(500)
        assert freshness.fresh()


def test_a_replica_seen_down_stays_unusable_until_it_catches_up_again() -> None:
    clock = Clock()
    freshness = Freshness(10.0, clock)
    freshness.primary_at(100.0, 500)
    freshness.standby_at(500)
    freshness.down("a connection broke")
    assert not freshness.fresh()
    assert freshness.state().detail.startswith("down: a connection broke")
    # Replayed positions older than the failure do not count: a new sample must be replayed.
    freshness.standby_at(500)
    assert not freshness.fresh()
    freshness.primary_at(100.5, 500)
    freshness.standby_at(500)
    assert freshness.fresh()


def test_the_cookie_outlives_the_staleness_bound() -> None:
    for bound in (0.1, 1.0, 1.5, 30.0):
        assert window_for(bound) > bound


async def _client() -> httpx.AsyncClient:
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(
            {"primary_only": bool(request.scope.get(PRIMARY_ONLY_KEY))}, status_code=409
        )

    app = Starlette(routes=[Route("/", endpoint, methods=["GET", "POST", "DELETE"])])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ReadYourWrites(app, window=2)),
        base_url="https://medai.test",
    )


async def test_a_reply_to_a_request_that_may_write_sets_the_cookie_and_a_read_does_not() -> None:
    async with await _client() as client:
        read = await client.get("/")
        assert "set-cookie" not in read.headers
        assert read.json() == {"primary_only": False}
        # Whatever the answer: a refused write costs only a few reads on the primary.
        for method in ("POST", "DELETE"):
            written = await client.request(method, "/")
            assert written.headers["set-cookie"] == (
                f"{COOKIE}=1; Max-Age=2; Path=/; HttpOnly; Secure; SameSite=Strict"
            )
        # The browser brings it back: this client's reads go to the primary.
        assert (await client.get("/")).json() == {"primary_only": True}


def test_the_replica_metrics_copy_its_state_and_count_each_read_once() -> None:
    clock = Clock()
    freshness = Freshness(1.0, clock)
    replica = SimpleNamespace(freshness=freshness, reads={"replica": 0, "primary": 0})
    sampler = metrics.ReplicaSampler(replica)

    def value(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    before = value("medai_db_stale_reads_total", target="replica") or 0.0
    sampler.sample()
    assert value("medai_db_replica_usable") == 0
    assert value("medai_db_replica_staleness_seconds") == math.inf
    freshness.primary_at(100.0, 5)
    freshness.standby_at(5)
    clock.now = 100.25
    replica.reads["replica"] = 3
    sampler.sample()
    sampler.sample()
    assert value("medai_db_replica_usable") == 1
    assert value("medai_db_replica_staleness_seconds") == 0.25
    assert value("medai_db_stale_reads_total", target="replica") == before + 3


def test_the_replica_settings_are_read_checked_and_kept_out_of_logs() -> None:
    url = "postgresql://medai:s3cret@replica.internal/medai"
    settings = Settings.from_env(
        {"MEDAI_DATABASE_REPLICA_URL": url, "MEDAI_REPLICA_MAX_LAG": "2.5"}
    )
    assert (settings.database_replica_url, settings.replica_max_lag) == (url, 2.5)
    assert "s3cret" not in repr(settings)
    assert Settings.from_env({}).database_replica_url is None
    with pytest.raises(ConfigError, match="MEDAI_REPLICA_MAX_LAG"):
        Settings.from_env({"MEDAI_REPLICA_MAX_LAG": "0"})
