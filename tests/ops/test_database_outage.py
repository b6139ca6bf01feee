"""The database goes away under load and comes back: 503s meanwhile, never a 500 or a hang,
and the service recovers without a restart.

PostgreSQL is stopped with its own ``pg_ctl`` (as the system user the embedded wheel runs it
as), like an operator or a failover would, so pooled connections die mid-use.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import assert_problem
from tests.ops.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Postgres, Served, sign_in

# The service answers within its pool timeout (2 s); a hang would exceed this client timeout
# and fail the request outright.
PATIENCE = 5.0


class Load:
    """A few clients signing in and reading their profile until told to stop (bounded)."""

    def __init__(self, served: Served, headers: dict[str, str], clients: int = 3) -> None:
        self.served = served
        self.headers = headers
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        credentials = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        with self.served.client(timeout=PATIENCE) as client:
            for _ in range(5000):
                if self._stop.is_set():
                    return
                sends: tuple[tuple[str, Callable[[], httpx.Response]], ...] = (
                    ("me", lambda: client.get("/users/me", headers=self.headers)),
                    ("login", lambda: client.post("/auth/login", json=credentials)),
                )
                for name, send in sends:
                    try:
                        status = send().status_code
                    except httpx.HTTPError as exc:
                        with self._lock:
                            self.failures.append(f"{name}: {exc!r}")
                        continue
                    with self._lock:
                        self.statuses[(name, status)] += 1


@pytest.fixture
def postgres(served: Served) -> Iterator[Postgres]:
    server = Postgres(served.data_dir / "pgdata")
    yield server
    if not server.running:
        server.start()  # leave the database running for the next test, whatever happened


def _wait_until_recovered(client: httpx.Client, headers: dict[str, str]) -> None:
    """Ten 200s in a row, so both workers' pools are back."""
    deadline = time.monotonic() + 60
    streak = 0
    while streak < 10 and time.monotonic() < deadline:
        try:
            ok = client.get("/users/me", headers=headers).status_code == 200
        except httpx.HTTPError:
            ok = False
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.2)
    assert streak == 10, "the service did not recover after the database came back"


def test_a_database_outage_gives_503s_and_the_service_recovers_by_itself(
    served: Served, postgres: Postgres
) -> None:
    with served.client(timeout=PATIENCE) as client:
        headers = sign_in(client)
        with Load(served, headers) as load:
            postgres.stop()

            assert_problem(client.get("/users/me", headers=headers), 503)
            login = client.post(
                "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert_problem(login, 503)
            assert login.headers["retry-after"]
            assert_problem(client.get("/health/ready"), 503)
            assert client.get("/health/live").status_code == 200

            postgres.start()
            _wait_until_recovered(client, headers)

    assert load.failures == []
    assert {status for _, status in load.statuses} <= {200, 503}, load.statuses
    assert load.statuses[("me", 503)] > 0, load.statuses
