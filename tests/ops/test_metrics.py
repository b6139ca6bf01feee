"""``/metrics``: Prometheus text, outside the spec, counting requests by operation and status."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from service import metrics
from service.edge import Edge


async def _samples(
    client: httpx.AsyncClient,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = await client.get("/metrics")
    assert reply.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def _requests(operation: str, method: str, status: int) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = {"operation": operation, "method": method, "status": str(status)}
    return ("medai_http_requests_total", tuple(sorted(labels.items())))


def _latency_count(operation: str, method: str, status: int) -> tuple[str, Any]:
    return ("medai_http_request_duration_seconds_count", _requests(operation, method, status)[1])


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    reply = await client.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE medai_http_requests_total counter" in reply.text
    assert "# TYPE medai_http_request_duration_seconds histogram" in reply.text


async def test_each_request_counts_once_by_operation_method_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = await _samples(client)
    for _ in range(3):
        await client.get("/health/live")
    await client.get("/users/me")
    after = await _samples(client)

    def delta(key: tuple[str, Any]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta(_requests("checkLiveness", "GET", 200)) == 3
    assert delta(_latency_count("checkLiveness", "GET", 200)) == 3
    assert delta(_requests("getCurrentUser", "GET", 401)) == 1


async def test_scrapes_are_not_counted_and_unknown_methods_share_one_label(
    client: httpx.AsyncClient,
) -> None:
    before = await _samples(client)
    await client.request("BREW", "/health/live")
    after = await _samples(client)
    counted = {
        name_labels for name_labels in after if name_labels[0] == "medai_http_requests_total"
    }
    assert not any(("operation", "metrics") in labels for _, labels in counted)
    assert not any(("method", "BREW") in labels for _, labels in counted)
    others = [
        value - before.get(key, 0.0)
        for key, value in after.items()
        if key[0] == "medai_http_requests_total" and ("method", "other") in key[1]
    ]
    assert sum(others) == 1


async def test_metrics_accepts_only_reads(client: httpx.AsyncClient) -> None:
    reply = await client.post("/metrics")
    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET, HEAD"


async def test_the_pool_gauges_follow_the_pool(app: Any, client: httpx.AsyncClient) -> None:
    pool = app.runtime.database.pool
    async with pool.connection():
        metrics.sample_pool(pool)
        samples = await _samples(client)
    stats = pool.get_stats()
    assert samples[("medai_db_pool_connections_max", ())] == stats["pool_max"]
    assert samples[("medai_db_pool_connections_in_use", ())] >= 1


async def test_metrics_can_be_left_to_the_app_when_switched_off() -> None:
    async def downstream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = Edge(downstream, routes={}, max_body_bytes=1024, serve_metrics=False)
    transport = httpx.ASGITransport(app=middleware)
    async with httpx.AsyncClient(transport=transport, base_url="http://medai.test") as c:
        assert (await c.get("/metrics")).status_code == 404
