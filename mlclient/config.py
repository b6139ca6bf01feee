"""How to reach the ML service and how much to trust it: one frozen value, checked on creation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

# Model names end up in URL paths: keeping them to this alphabet means no escaping, no "..",
# no "/" — the client never builds a URL an attacker could steer.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def allowed_models(names: Iterable[str]) -> frozenset[str]:
    models = frozenset(names)
    for name in models:
        if not MODEL_NAME.fullmatch(name) or ".." in name:
            raise ValueError(f"invalid model name {name!r}")
    return models


@dataclass(frozen=True, slots=True)
class MLClientConfig:
    """Settings of :class:`mlclient.client.MLClient`. Durations are in seconds.

    ``base_url`` None means "no ML service": every call fails fast with ``MLNotConfigured``.
    """

    base_url: str | None
    # The allow-list: the only model names the client will put in a URL.
    models: frozenset[str]
    connect_timeout: float = 1.0
    read_timeout: float = 5.0
    write_timeout: float = 5.0
    # Waiting for a pooled connection; the semaphore below keeps calls within the pool, so
    # running into this means a bug, not load.
    pool_timeout: float = 1.0
    # Whole call, the single retry and reading the body included.
    deadline_seconds: float = 8.0
    # The readiness probe behind GET /inference/health must answer fast even when ML hangs.
    ready_deadline_seconds: float = 1.0
    max_response_bytes: int = 1024 * 1024
    max_concurrent_calls: int = 8
    # When all call slots are busy, queue this long at most, then MLSaturated: callers get a
    # quick 503 instead of piling up behind a slow ML service.
    saturation_wait_seconds: float = 0.2
    breaker_failure_threshold: int = 5
    breaker_reset_seconds: float = 30.0
    # The one retry waits uniform(0, retry_jitter_seconds): concurrent callers hit by the same
    # blip do not come back at the same instant.
    retry_jitter_seconds: float = 0.2

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", allowed_models(self.models))
        if self.base_url is not None:
            object.__setattr__(self, "base_url", checked_base_url(self.base_url))
        durations = (
            self.connect_timeout,
            self.read_timeout,
            self.write_timeout,
            self.pool_timeout,
            self.deadline_seconds,
            self.ready_deadline_seconds,
            self.breaker_reset_seconds,
        )
        if any(d <= 0 for d in durations) or self.saturation_wait_seconds < 0:
            raise ValueError("timeouts and durations must be positive")
        if self.retry_jitter_seconds < 0:
            raise ValueError("retry_jitter_seconds must not be negative")
        if min(self.max_response_bytes, self.max_concurrent_calls) < 1:
            raise ValueError("max_response_bytes and max_concurrent_calls must be at least 1")
        if self.breaker_failure_threshold < 1:
            raise ValueError("breaker_failure_threshold must be at least 1")


def checked_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"ML base URL must be http(s)://host[:port][/path], got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("ML base URL must not carry a query, fragment or credentials")
    return url.rstrip("/")
