from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from mlclient import MLClient, MLClientConfig, Tensor
from tests.mlclient.fake_server import MODEL, FakeMLServer, Script

DEADLINE = 0.6


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingTransport(httpx.AsyncHTTPTransport):
    """A real HTTP transport that counts attempts, refused ones included."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return await super().handle_async_request(request)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeMLServer]:
    server = FakeMLServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def script(fake_server: FakeMLServer) -> Iterator[Script]:
    fake_server.script.reset()
    yield fake_server.script
    # Let a handler still sleeping in "slow" mode finish now rather than at shutdown.
    fake_server.script.released = True


def config_for(base_url: str | None, **overrides: Any) -> MLClientConfig:
    settings: dict[str, Any] = {
        "models": frozenset({MODEL}),
        "connect_timeout": 0.5,
        "read_timeout": 5.0,
        "deadline_seconds": DEADLINE,
        "ready_deadline_seconds": DEADLINE,
        "max_response_bytes": 64 * 1024,
        "breaker_failure_threshold": 3,
        "breaker_reset_seconds": 10.0,
        "retry_jitter_seconds": 0.01,
    }
    settings.update(overrides)
    return MLClientConfig(base_url=base_url, **settings)


MakeClient = Callable[..., MLClient]


@pytest.fixture
async def make_client(fake_server: FakeMLServer) -> AsyncIterator[MakeClient]:
    """Started clients of the fake server (or of ``base_url``), closed after the test."""
    clients: list[MLClient] = []

    def make(base_url: str | None = fake_server.base_url, **kwargs: Any) -> MLClient:
        options = {k: kwargs.pop(k) for k in ("transport", "clock") if k in kwargs}
        client = MLClient(config_for(base_url, **kwargs), **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def features(rows: int = 1) -> list[Tensor]:
    return [Tensor.from_rows("features", [[1.0] * 30 for _ in range(rows)])]
