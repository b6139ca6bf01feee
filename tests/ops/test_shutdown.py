"""SIGTERM: the request in flight still gets its answer, then the process exits with 0."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from typing import Any

import psutil  # type: ignore[import-untyped]

from tests.conftest import ROOT
from tests.ops.conftest import start_service

# A sign-in for an unknown email still does a full bcrypt hash (so it takes as long as a real
# one); at cost 14 that is about a second of CPU, a request long enough to be caught in flight.
SLOW_BCRYPT_COST = "14"


def _wait_for_connection(pid: int, port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        connections = psutil.Process(pid).net_connections()
        if any(c.laddr.port == port and c.status == "ESTABLISHED" for c in connections):
            return
        time.sleep(0.01)
    raise AssertionError("the request never reached the server")


def test_sigterm_lets_the_request_in_flight_finish_and_exits_cleanly(database_url: str) -> None:
    data_dir = ROOT / "var" / f"ops-shutdown-{uuid.uuid4().hex[:8]}"
    served = start_service(
        data_dir, {"DATABASE_URL": database_url, "MEDAI_BCRYPT_COST": SLOW_BCRYPT_COST}
    )
    reply: dict[str, Any] = {}

    def sign_in() -> None:
        with served.client(timeout=30) as client:
            reply["response"] = client.post(
                "/auth/login",
                json={"email": "nobody@example.org", "password": "not the password"},
                headers={"X-Request-ID": "in-flight"},
            )

    caller = threading.Thread(target=sign_in)
    caller.start()
    try:
        _wait_for_connection(served.process.pid, int(served.base_url.rsplit(":", 1)[1]))
        time.sleep(0.2)  # let the event loop accept it and start hashing
    finally:
        exit_code = served.terminate()
        caller.join()
    messages = [(line.get("message"), line.get("request_id")) for line in served.log_lines()]
    shutil.rmtree(data_dir, ignore_errors=True)

    assert exit_code == 0
    assert reply["response"].status_code == 401
    shutting_down = messages.index(("Shutting down", None))
    answered = messages.index(("request", "in-flight"))
    assert shutting_down < answered, "the request finished before SIGTERM; nothing was drained"
    assert ("Application shutdown complete.", None) in messages
