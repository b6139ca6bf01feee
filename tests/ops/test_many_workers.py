"""Two uvicorn workers behind one port: metrics add up, the embedded database starts once."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.conftest import Served

LIVENESS = {"operation": "checkLiveness", "method": "GET", "status": "200"}


def _liveness_count(served: Served) -> float:
    with served.client() as client:
        text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "medai_http_requests":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels == LIVENESS:
                    return sample.value
    return 0.0


def _probe(base_url: str, request_id: str) -> int:
    # A connection per request, so the kernel may hand each to either worker.
    reply = httpx.get(f"{base_url}/health/live", headers={"X-Request-ID": request_id}, timeout=10)
    return reply.status_code


def _wait_for_access_lines(served: Served, ids: set[str]) -> dict[str, int]:
    """request id → pid of the worker that logged it, once every id has been logged."""
    deadline = time.monotonic() + 30
    while True:
        seen = {
            line["request_id"]: line["pid"]
            for line in served.access_lines()
            if line.get("request_id") in ids
        }
        if len(seen) == len(ids) or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


def test_a_scrape_from_either_worker_counts_the_requests_of_both(served: Served) -> None:
    before = _liveness_count(served)
    prefix = uuid.uuid4().hex[:8]
    ids: set[str] = set()
    pids: set[int] = set()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for batch in range(10):
            batch_ids = [f"{prefix}-{batch}-{n}" for n in range(24)]
            statuses = list(pool.map(lambda rid: _probe(served.base_url, rid), batch_ids))
            assert statuses == [200] * len(batch_ids)
            ids.update(batch_ids)
            pids = set(_wait_for_access_lines(served, ids).values())
            if len(pids) > 1:
                break
    logged = _wait_for_access_lines(served, ids)
    assert len(logged) == len(ids)
    assert len(pids) == 2, "every request went to one worker; the sum was not exercised"
    # Each access line is written after its metrics, so all are counted by now.
    assert _liveness_count(served) - before == len(ids)


def test_the_embedded_database_is_started_once_by_the_parent_process(served: Served) -> None:
    lines = served.log_lines()
    started = [line for line in lines if "embedded PostgreSQL" in line.get("message", "")]
    assert len(started) == 1
    parent = started[0]["pid"]
    workers = {
        line["pid"] for line in lines if line.get("message", "").startswith("Started server")
    }
    assert len(workers) == 2
    assert parent not in workers


def test_the_pool_gauges_add_up_the_pools_of_both_workers(served: Served) -> None:
    with served.client() as client:
        text = client.get("/metrics").text
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    # Ten connections at most per worker (MEDAI_DB_POOL_SIZE's default), two workers.
    assert values["medai_db_pool_connections_max"] == 20
    assert 0 <= values["medai_db_pool_connections_in_use"] <= values["medai_db_pool_connections"]
