"""Prometheus metrics: what is measured, and how ``/metrics`` adds up several workers.

With one process the values live in memory. With several uvicorn workers each process counts
for itself, so ``medai serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the
workers start; every process then keeps its values in memory-mapped files there and a scrape,
whichever worker answers it, sums them. prometheus_client reads that variable when it is first
imported, so this module is only imported by the app factory, after ``medai serve`` decided.

``ML_*`` are fed by :class:`MLMetrics`, which the app factory hands to the predictor (the ML
client itself stays free of Prometheus).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from mlclient import BreakerState, BreakerStatus

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# Most answers take a few milliseconds; the upper buckets catch the database and ML timeouts.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "medai_http_requests",
    "HTTP requests answered, by operationId ('none' outside the spec), method and status.",
    ("operation", "method", "status"),
)
HTTP_DURATION = Histogram(
    "medai_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response.",
    ("operation", "method", "status"),
    buckets=_LATENCY_BUCKETS,
)
HTTP_REFUSED = Counter(
    "medai_http_refused",
    "Requests refused at capacity (503, admission control) before routing: not in the above.",
)

# Gauges are summed over live workers: each worker has its own pool.
DB_POOL_SIZE = Gauge(
    "medai_db_pool_connections", "Open database connections.", multiprocess_mode="livesum"
)
DB_POOL_IN_USE = Gauge(
    "medai_db_pool_connections_in_use",
    "Database connections lent to requests.",
    multiprocess_mode="livesum",
)
DB_POOL_MAX = Gauge(
    "medai_db_pool_connections_max",
    "Most connections the pools may open.",
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "medai_db_pool_requests_waiting",
    "Requests waiting for a database connection.",
    multiprocess_mode="livesum",
)
DB_POOL_TIMEOUTS = Counter(
    "medai_db_pool_timeouts", "Requests that got no database connection in time (503)."
)
DB_CONNECT_ERRORS = Counter("medai_db_connect_errors", "Failed attempts to open a connection.")
DB_CONNECTIONS_LOST = Counter(
    "medai_db_connections_lost", "Pooled connections found broken when lent out."
)

# The read replica (persistence/replica.py), when one is configured; sampled with the pool.
REPLICA_STALENESS = Gauge(
    "medai_db_replica_staleness_seconds",
    "How far behind the primary the read replica may be now, at most (the highest over "
    "workers; +Inf until it is first seen caught up, and while it is down).",
    multiprocess_mode="livemax",
)
REPLICA_USABLE = Gauge(
    "medai_db_replica_usable",
    "1 when lists are read on the replica (within MEDAI_REPLICA_MAX_LAG and answering), 0 when "
    "they go to the primary (the lowest over workers).",
    multiprocess_mode="livemin",
)
STALE_READS = Counter(
    "medai_db_stale_reads",
    "List and search reads (Transactions.stale_read) by where they ran: replica or primary.",
    ("target",),
)

# The ML service, as seen through the app's client (mlclient.gateway reports to MLMetrics).
ML_REQUEST_DURATION = Histogram(
    "medai_ml_request_duration_seconds",
    "Predictions asked of the ML service, by model and outcome: ok, timeout, error (no usable "
    "answer), invalid (the model refused the input), rejected (never sent: breaker open, all "
    "call slots busy, or no ML service configured).",
    ("model", "outcome"),
    buckets=_LATENCY_BUCKETS,
)
ML_BREAKER_STATE = Gauge(
    "medai_ml_breaker_state",
    "Circuit breaker in front of the ML service: 0 closed, 1 half-open, 2 open "
    "(the highest over workers).",
    multiprocess_mode="livemax",
)
ML_BREAKER_OPENED = Counter("medai_ml_breaker_opened", "Times the ML circuit breaker opened.")
_BREAKER_LEVELS = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


# The outbox (service/outbox_worker.py). Depth and age are the database's, the same seen from
# every worker: the highest of the live ones is reported.
OUTBOX_PENDING = Gauge(
    "medai_outbox_pending",
    "Messages in the outbox not yet delivered nor given up (waiting, or between retries).",
    multiprocess_mode="livemax",
)
OUTBOX_OLDEST_AGE = Gauge(
    "medai_outbox_oldest_pending_age_seconds",
    "Age of the oldest message not yet delivered (0 when none).",
    multiprocess_mode="livemax",
)
OUTBOX_OVERDUE = Gauge(
    "medai_outbox_overdue_seconds",
    "How long the longest-waiting due message has been due: near the poll interval while "
    "dispatchers run.",
    multiprocess_mode="livemax",
)
OUTBOX_DELIVERIES = Counter(
    "medai_outbox_deliveries",
    "Delivery attempts by kind (email, webhook, appointment_event, appointment_reminder) and "
    "outcome: delivered, retried (failed, tried again later), dead (given up).",
    ("kind", "outcome"),
)


class OutboxMetrics:
    """The dispatcher's ``DispatchObserver``, and the sampled depth and age."""

    def outcome(self, kind: str, outcome: str) -> None:
        OUTBOX_DELIVERIES.labels(kind, outcome).inc()

    def depth(self, pending: int, oldest_age: float, overdue: float) -> None:
        OUTBOX_PENDING.set(pending)
        OUTBOX_OLDEST_AGE.set(oldest_age)
        OUTBOX_OVERDUE.set(overdue)


class MLMetrics:
    """Copies a process's ML calls and breaker changes into the metrics above."""

    def __init__(self) -> None:
        self._times_opened = 0

    def call(self, model: str, outcome: str, seconds: float) -> None:
        ML_REQUEST_DURATION.labels(model, outcome).observe(seconds)

    def breaker(self, status: BreakerStatus) -> None:
        ML_BREAKER_STATE.set(_BREAKER_LEVELS[status.state])
        if status.times_opened > self._times_opened:
            ML_BREAKER_OPENED.inc(status.times_opened - self._times_opened)
            self._times_opened = status.times_opened


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_VARIABLE))


def render() -> bytes:
    """The text exposition for a scrape: this process's values, or every worker's summed."""
    if multiprocess():
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def sample_pool(pool: Any) -> None:
    """Copy a psycopg pool's statistics into the gauges (and its error counts, which
    ``pop_stats`` resets, into the counters)."""
    stats = pool.pop_stats()
    size = stats.get("pool_size", 0)
    DB_POOL_SIZE.set(size)
    DB_POOL_IN_USE.set(size - stats.get("pool_available", 0))
    DB_POOL_MAX.set(stats.get("pool_max", 0))
    DB_POOL_WAITING.set(stats.get("requests_waiting", 0))
    DB_POOL_TIMEOUTS.inc(stats.get("requests_errors", 0))
    DB_CONNECT_ERRORS.inc(stats.get("connections_errors", 0))
    DB_CONNECTIONS_LOST.inc(stats.get("connections_lost", 0))


class ReplicaSampler:
    """Copies a ``persistence.replica.ReadReplica``'s state and read counts (plain integers
    there, so the hot path only adds one) into the metrics above."""

    def __init__(self, replica: Any) -> None:
        self._replica = replica
        self._counted: dict[str, int] = {}

    def sample(self) -> None:
        freshness = self._replica.freshness
        REPLICA_STALENESS.set(freshness.staleness() if freshness.problem is None else math.inf)
        REPLICA_USABLE.set(1 if freshness.fresh() else 0)
        for target, count in self._replica.reads.items():
            STALE_READS.labels(target).inc(count - self._counted.get(target, 0))
            self._counted[target] = count


@contextlib.asynccontextmanager
async def pool_sampling(
    pool: Any, every: float = 5.0, replica: Any | None = None
) -> AsyncIterator[None]:
    """Sample ``pool`` (and ``replica``, if any) every few seconds for the app's life. A timer
    rather than a per-request update: no cost on the hot path, and an idle worker still reports
    a true picture."""
    replica_sampler = ReplicaSampler(replica) if replica is not None else None

    async def loop() -> None:
        while True:
            sample_pool(pool)
            if replica_sampler is not None:
                replica_sampler.sample()
            await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name="medai-pool-metrics")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if multiprocess():
            # A stopped worker's gauges must not count among the live ones.
            _multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
