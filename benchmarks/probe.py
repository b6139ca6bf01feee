"""A liveness probe as an orchestrator runs one: a GET /health/live at a steady pace (not as
fast as possible, which would itself load the server), timing each answer."""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

INTERVAL = 0.05  # 20 probes a second: a few hundred samples per run, negligible load


@dataclass(frozen=True)
class ProbeResult:
    samples: int
    failures: int
    p50_ms: float
    p99_ms: float


class LivenessProbe:
    def __init__(self, base_url: str, path: str = "/health/live") -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._path = path
        self._stop = threading.Event()
        self._latencies: list[float] = []
        self._failures = 0
        self._thread = threading.Thread(target=self._run, name="liveness-probe", daemon=True)

    def __enter__(self) -> LivenessProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=10)
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    conn.request("GET", self._path)
                    reply = conn.getresponse()
                    reply.read()
                    ok = reply.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                elapsed = time.perf_counter() - started
                if ok:
                    self._latencies.append(elapsed * 1000)
                else:
                    self._failures += 1
                self._stop.wait(max(0.0, INTERVAL - elapsed))
        finally:
            conn.close()

    def result(self) -> ProbeResult:
        values = sorted(self._latencies)
        if not values:
            return ProbeResult(0, self._failures, float("nan"), float("nan"))
        p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
        return ProbeResult(len(values), self._failures, statistics.median(values), p99)
