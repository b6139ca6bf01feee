"""The client against a misbehaving ML service over real loopback HTTP.

Time bounds are generous (deadline + 1 s): they catch a hang, not a slow CI machine.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from mlclient import (
    BreakerState,
    MLCircuitOpen,
    MLContractViolation,
    MLModelNotFound,
    MLNotConfigured,
    MLResponseTooLarge,
    MLSaturated,
    MLTimeout,
    MLUnreachable,
    MLUpstreamError,
)
from mlclient.errors import MLModelNotReady, MLUpstreamRejected
from tests.mlclient.conftest import DEADLINE, CountingTransport, FakeClock, MakeClient, features
from tests.mlclient.fake_server import MODEL, Script, refused_port


async def test_a_healthy_service_answers_with_a_checked_result(
    make_client: MakeClient, script: Script
) -> None:
    async with make_client() as ml:
        result = await ml.infer(MODEL, features(rows=2), request_id="req-42")
    assert (result.model_name, result.model_version, result.request_id) == (MODEL, "7", "req-42")
    assert result.output("probability").data == (0.25, 0.25)
    assert result.output("label").data == ("benign", "benign")
    assert result.upstream_status == 200
    assert result.latency_ms > 0


async def test_the_request_id_goes_out_as_header_and_protocol_id(
    make_client: MakeClient, script: Script
) -> None:
    async with make_client() as ml:
        await ml.infer(MODEL, features(), request_id="req-43")
    assert script.request_ids == ["req-43"]
    assert script.bodies[0]["id"] == "req-43"


async def test_a_slow_service_times_out_within_the_deadline(
    make_client: MakeClient, script: Script
) -> None:
    script.mode, script.delay = "slow", 5.0
    started = time.monotonic()
    async with make_client() as ml:
        with pytest.raises(MLTimeout):
            await ml.infer(MODEL, features())
    assert time.monotonic() - started < DEADLINE + 1


async def test_a_500_is_a_bad_gateway_and_is_not_retried(
    make_client: MakeClient, script: Script
) -> None:
    script.mode = "error500"
    async with make_client() as ml:
        with pytest.raises(MLUpstreamError) as caught:
            await ml.infer(MODEL, features())
    assert caught.value.upstream_status == 500
    assert "model crashed" in str(caught.value)
    assert script.requests == 1


async def test_a_503_is_retried_once_and_the_retry_can_succeed(
    make_client: MakeClient, script: Script
) -> None:
    script.mode = "unavailable_once"
    async with make_client() as ml:
        result = await ml.infer(MODEL, features())
    assert result.model_version == "7"
    assert script.requests == 2


async def test_a_persistent_503_is_retried_only_once_then_unavailable_with_retry_after(
    make_client: MakeClient, script: Script
) -> None:
    script.mode = "unavailable"
    async with make_client() as ml:
        with pytest.raises(MLUnreachable) as caught:
            await ml.infer(MODEL, features())
    assert script.requests == 2
    assert caught.value.retry_after == 7


async def test_a_refused_connection_is_retried_once_then_unreachable(
    make_client: MakeClient,
) -> None:
    transport = CountingTransport()
    started = time.monotonic()
    async with make_client(f"http://127.0.0.1:{refused_port()}", transport=transport) as ml:
        with pytest.raises(MLUnreachable):
            await ml.infer(MODEL, features())
    assert transport.attempts == 2
    assert time.monotonic() - started < DEADLINE + 1


async def test_a_request_a_ready_model_refuses_is_upstream_rejected_and_not_retried(
    make_client: MakeClient, script: Script
) -> None:
    script.mode = "reject"
    async with make_client() as ml:
        with pytest.raises(MLUpstreamRejected, match="expected shape") as caught:
            await ml.infer(MODEL, features())
    assert caught.value.upstream_status == 400
    # The infer call, then the model's readiness probe that tells "refused" from "not ready".
    assert script.paths == [
        f"/v2/models/{MODEL}/infer",
        f"/v2/models/{MODEL}/ready",
    ]


@pytest.mark.parametrize(("mode", "status"), [("loading", 400), ("unloaded", 404)])
async def test_a_model_that_is_loading_or_unloaded_is_not_ready_with_a_retry_hint(
    make_client: MakeClient, script: Script, mode: str, status: int
) -> None:
    script.mode = mode
    async with make_client() as ml:
        with pytest.raises(MLModelNotReady) as caught:
            await ml.infer(MODEL, features())
        assert not (await ml.model_ready(MODEL)).ready
    assert caught.value.upstream_status == status
    assert caught.value.retry_after == 5
    assert "not ready yet" in caught.value.message or "not found" in caught.value.message


async def test_a_versioned_call_goes_to_the_versions_path(
    make_client: MakeClient, script: Script
) -> None:
    async with make_client() as ml:
        await ml.infer(MODEL, features(), version="7")
        await ml.model_ready(MODEL, "7")
    assert script.paths == [
        f"/v2/models/{MODEL}/versions/7/infer",
        f"/v2/models/{MODEL}/versions/7/ready",
    ]


async def test_a_redirect_is_not_followed(make_client: MakeClient, script: Script) -> None:
    script.mode = "redirect"
    async with make_client() as ml:
        with pytest.raises(MLUpstreamError):
            await ml.infer(MODEL, features())
    assert script.requests == 1


@pytest.mark.parametrize("mode", ["garbage", "wrong_model", "bad_shape"])
async def test_a_reply_that_violates_the_contract_is_a_bad_gateway(
    make_client: MakeClient, script: Script, mode: str
) -> None:
    script.mode = mode
    async with make_client() as ml:
        with pytest.raises(MLContractViolation):
            await ml.infer(MODEL, features())


@pytest.mark.parametrize("mode", ["huge", "huge_chunked"])
async def test_a_body_over_the_size_cap_is_refused_while_streaming(
    make_client: MakeClient, script: Script, mode: str
) -> None:
    script.mode = mode
    started = time.monotonic()
    async with make_client() as ml:
        with pytest.raises(MLResponseTooLarge):
            await ml.infer(MODEL, features())
    assert time.monotonic() - started < DEADLINE + 1


async def test_repeated_failures_open_the_breaker_which_then_fails_fast(
    make_client: MakeClient, script: Script
) -> None:
    script.mode = "error500"
    async with make_client() as ml:
        for _ in range(3):
            with pytest.raises(MLUpstreamError):
                await ml.infer(MODEL, features())
        started = time.monotonic()
        with pytest.raises(MLCircuitOpen) as caught:
            await ml.infer(MODEL, features())
        assert time.monotonic() - started < 0.1
        assert ml.breaker_status().state is BreakerState.OPEN
    assert script.requests == 3
    assert caught.value.retry_after == 10


async def test_the_breaker_recovers_through_one_probe_when_the_service_does(
    make_client: MakeClient, script: Script
) -> None:
    clock = FakeClock()
    script.mode = "error500"
    async with make_client(clock=clock) as ml:
        for _ in range(3):
            with pytest.raises(MLUpstreamError):
                await ml.infer(MODEL, features())
        script.mode = "ok"
        clock.advance(10.0)
        assert ml.breaker_status().state is BreakerState.HALF_OPEN
        await ml.infer(MODEL, features())
        assert ml.breaker_status().state is BreakerState.CLOSED
    assert script.requests == 4


@pytest.mark.parametrize("mode", ["reject", "loading", "unloaded"])
async def test_refusals_and_a_model_not_ready_open_the_breaker(
    make_client: MakeClient, script: Script, mode: str
) -> None:
    """The backend checks features itself, so a refusal means the model cannot be used: a
    permanent misconfiguration or an unloaded model must not look like a healthy service."""
    script.mode = mode
    async with make_client(breaker_failure_threshold=3) as ml:
        for _ in range(3):
            with pytest.raises((MLUpstreamRejected, MLModelNotReady)):
                await ml.infer(MODEL, features())
        assert ml.breaker_status().state is BreakerState.OPEN


async def test_the_models_readiness_probes_a_half_open_breaker(
    make_client: MakeClient, script: Script
) -> None:
    script.mode = "unloaded"
    async with make_client(breaker_failure_threshold=1, breaker_reset_seconds=0.05) as ml:
        with pytest.raises(MLModelNotReady):
            await ml.infer(MODEL, features())
        await asyncio.sleep(0.1)
        # The model's own probe is the half-open probe: still unloaded, so open again.
        assert not (await ml.model_ready(MODEL)).ready
        assert ml.breaker_status().state is BreakerState.OPEN
        await asyncio.sleep(0.1)
        script.mode = "ok"
        assert (await ml.model_ready(MODEL)).ready
        assert ml.breaker_status().state is BreakerState.CLOSED


async def test_calls_beyond_the_concurrency_bound_fail_fast_as_saturated(
    make_client: MakeClient, script: Script
) -> None:
    script.mode, script.delay = "slow", 0.3
    async with make_client(max_concurrent_calls=1, saturation_wait_seconds=0.05) as ml:
        first = asyncio.create_task(ml.infer(MODEL, features()))
        await asyncio.sleep(0.05)
        with pytest.raises(MLSaturated) as caught:
            await ml.infer(MODEL, features())
        assert (await first).model_version == "7"
    assert caught.value.retry_after >= 1
    assert script.requests == 1


async def test_a_model_off_the_allow_list_is_refused_without_a_request(
    make_client: MakeClient, script: Script
) -> None:
    async with make_client() as ml:
        with pytest.raises(MLModelNotFound):
            await ml.infer("../admin", features())
    assert script.requests == 0


async def test_an_unconfigured_client_fails_fast_as_unavailable(make_client: MakeClient) -> None:
    async with make_client(None) as ml:
        with pytest.raises(MLNotConfigured) as caught:
            await ml.ready()
    assert caught.value.kind == "not_configured"


async def test_ready_reports_readiness_and_probe_latency(
    make_client: MakeClient, script: Script
) -> None:
    async with make_client() as ml:
        status = await ml.ready(request_id="probe-1")
    assert status.ready
    assert status.upstream_status == 200
    assert status.latency_ms > 0
    assert script.request_ids == ["probe-1"]


async def test_a_not_ready_service_is_reported_not_ready_without_a_retry(
    make_client: MakeClient, script: Script
) -> None:
    script.mode = "unavailable"
    async with make_client() as ml:
        status = await ml.ready()
    assert not status.ready
    assert status.upstream_status == 503
    assert script.requests == 1


async def test_a_hanging_service_fails_the_readiness_probe_within_its_own_deadline(
    make_client: MakeClient, script: Script
) -> None:
    script.mode, script.delay = "slow", 5.0
    started = time.monotonic()
    async with make_client(ready_deadline_seconds=0.2) as ml:
        with pytest.raises(MLTimeout):
            await ml.ready()
    assert time.monotonic() - started < 0.2 + 1
