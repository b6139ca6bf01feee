"""A misbehaving ML service over real loopback HTTP: each fault maps to its status within the
deadline, leaves a failed record naming its error class, and never holds a database connection.

Time bounds are generous (the deadline plus seconds): they catch a hang, not a slow machine.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from domain.model import Role
from tests.appointments.conftest import book
from tests.conftest import Account, MakeUser, assert_problem
from tests.inference.conftest import CASE, ScriptedModelServer, infer, infer_calls
from tests.mlclient.fake_server import Script, refused_port

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]
DEADLINE = 0.5


@pytest.fixture
def faulty(client_for: ClientFor, scripted_server: ScriptedModelServer) -> ClientFor:
    """An app whose ML service is the scripted one, with a short deadline."""

    async def build(**overrides: Any) -> httpx.AsyncClient:
        settings = {"ml_service_url": scripted_server.base_url, "ml_timeout": DEADLINE}
        return await client_for(**{**settings, **overrides})

    return build


async def failed_record(
    client: httpx.AsyncClient, who: Account, reply: httpx.Response, status: int
) -> dict[str, Any]:
    """The problem answered ``status`` and named a record, which is settled as failed."""
    problem = assert_problem(reply, status)
    record = await client.get(f"/inference/{problem['inference_id']}", headers=who.headers)
    assert record.status_code == 200, record.text
    body: dict[str, Any] = record.json()
    assert body["status"] == "failed"
    assert body["outputs"] is None
    assert body["completed_at"] is not None
    assert body["error_class"] == problem["error_class"]
    return body


async def test_a_slow_ml_service_answers_504_within_the_deadline(
    client: httpx.AsyncClient, make_user: MakeUser, faulty: ClientFor, script: Script
) -> None:
    doctor, app = await make_user(Role.DOCTOR), await faulty()
    script.mode, script.delay = "slow", 30.0
    started = time.monotonic()
    reply = await infer(app, doctor)
    assert time.monotonic() - started < DEADLINE + 5
    record = await failed_record(app, doctor, reply, 504)
    assert (record["error_class"], record["upstream_status"]) == ("timeout", None)


@pytest.mark.parametrize(
    ("mode", "error_class", "upstream_status"),
    [
        ("error500", "upstream_error", 500),
        ("garbage", "contract_violation", 200),
        ("bad_shape", "contract_violation", 200),
        ("wrong_model", "contract_violation", 200),
        ("huge", "response_too_large", 200),
    ],
)
async def test_an_unusable_answer_is_a_bad_gateway(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    faulty: ClientFor,
    script: Script,
    mode: str,
    error_class: str,
    upstream_status: int,
) -> None:
    doctor, app = await make_user(Role.DOCTOR), await faulty()
    script.mode = mode
    record = await failed_record(app, doctor, await infer(app, doctor), 502)
    assert (record["error_class"], record["upstream_status"]) == (error_class, upstream_status)


async def test_a_refused_connection_is_503_with_retry_after(
    client: httpx.AsyncClient, make_user: MakeUser, faulty: ClientFor
) -> None:
    doctor = await make_user(Role.DOCTOR)
    app = await faulty(ml_service_url=f"http://127.0.0.1:{refused_port()}")
    reply = await infer(app, doctor)
    record = await failed_record(app, doctor, reply, 503)
    assert int(reply.headers["retry-after"]) >= 1
    assert (record["error_class"], record["upstream_status"]) == ("unreachable", None)


async def test_a_request_a_ready_model_refuses_is_a_bad_gateway_not_the_doctors_fault(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    faulty: ClientFor,
    script: Script,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The features were checked against the model's configuration before the call: a ready
    model refusing the request means the configuration does not fit the model (a 502)."""
    doctor, app = await make_user(Role.DOCTOR), await faulty()
    script.mode = "reject"
    with caplog.at_level("WARNING", logger="mlclient"):
        problem = assert_problem(await infer(app, doctor), 502)
    assert "invalid_field" not in problem
    record = await failed_record(app, doctor, await infer(app, doctor), 502)
    assert (record["error_class"], record["upstream_status"]) == ("upstream_rejected", 400)
    # One line per failed prediction (two here), naming model, status and reason.
    failures = [r.getMessage() for r in caplog.records if r.name == "mlclient"]
    assert len(failures) == 2
    assert "model=breast-cancer error_class=upstream_rejected upstream_status=400" in failures[0]
    assert "expected shape" in failures[0]
    assert str(CASE["mean_radius"]) not in failures[0]


@pytest.mark.parametrize(("mode", "upstream_status"), [("loading", 400), ("unloaded", 404)])
async def test_a_model_loading_or_unloaded_answers_503_with_retry_after(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    faulty: ClientFor,
    script: Script,
    mode: str,
    upstream_status: int,
) -> None:
    doctor, app = await make_user(Role.DOCTOR), await faulty()
    script.mode = mode
    reply = await infer(app, doctor)
    record = await failed_record(app, doctor, reply, 503)
    assert (record["error_class"], record["upstream_status"]) == (
        "model_not_ready",
        upstream_status,
    )
    assert reply.headers["retry-after"] == "5"
    health = (await app.get("/inference/health", headers=doctor.headers)).json()
    assert health["ready"] is False
    assert health["models"][0]["available"] is False


async def test_after_repeated_failures_the_breaker_answers_503_without_calling(
    client: httpx.AsyncClient, make_user: MakeUser, faulty: ClientFor, script: Script
) -> None:
    doctor = await make_user(Role.DOCTOR)
    app = await faulty(ml_breaker_failures=2, ml_breaker_reset=600)
    opened_before = await _metric(app, "medai_ml_breaker_opened_total")
    script.mode = "error500"
    for _ in range(2):
        assert_problem(await infer(app, doctor), 502)
    script.mode = "ok"
    reply = await infer(app, doctor)
    record = await failed_record(app, doctor, reply, 503)
    assert record["error_class"] == "circuit_open"
    assert int(reply.headers["retry-after"]) >= 1
    assert infer_calls(script) == 2
    health = (await app.get("/inference/health", headers=doctor.headers)).json()
    assert health["breaker"]["state"] == "open"
    assert await _metric(app, "medai_ml_breaker_opened_total") == opened_before + 1


async def test_the_breaker_closes_again_once_the_ml_service_recovers(
    client: httpx.AsyncClient, make_user: MakeUser, faulty: ClientFor, script: Script
) -> None:
    doctor = await make_user(Role.DOCTOR)
    app = await faulty(ml_breaker_failures=1, ml_breaker_reset=0.2)
    script.mode = "error500"
    assert_problem(await infer(app, doctor), 502)
    script.mode = "ok"
    await asyncio.sleep(0.5)  # past the reset: the next call is the probe
    recovered = await infer(app, doctor)
    assert recovered.status_code == 201, recovered.text
    assert recovered.json()["model_version"] == "7"
    health = (await app.get("/inference/health", headers=doctor.headers)).json()
    assert health["breaker"]["state"] == "closed"


async def test_the_request_id_goes_to_the_ml_service(
    client: httpx.AsyncClient, make_user: MakeUser, faulty: ClientFor, script: Script
) -> None:
    doctor, app = await make_user(Role.DOCTOR), await faulty()
    reply = await app.post(
        "/inference",
        json={"model": "breast-cancer", "features": CASE},
        headers={**doctor.headers, "X-Request-ID": "ward-7.case-42"},
    )
    assert reply.status_code == 201, reply.text
    assert script.request_ids == ["ward-7.case-42"]
    assert script.bodies[-1]["id"] == "ward-7.case-42"


async def test_a_hanging_ml_service_holds_no_database_connection(
    client: httpx.AsyncClient, make_user: MakeUser, faulty: ClientFor, script: Script
) -> None:
    """With a pool of one connection, the rest of the API keeps answering while a prediction
    waits on the ML service: the waiting request holds no connection."""
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    app = await faulty(db_pool_size=1, ml_timeout=20.0)
    await book(client, patient, start=1, doctor=doctor)
    script.mode, script.delay = "slow", 30.0
    waiting = asyncio.create_task(infer(app, doctor))
    try:
        for _ in range(500):  # until the prediction call has reached the ML service
            if infer_calls(script) or waiting.done():
                break
            await asyncio.sleep(0.02)
        assert infer_calls(script) == 1
        assert not waiting.done()
        for path, who in [("/appointments", patient), ("/users/me", doctor)]:
            answer = await app.get(path, headers=who.headers)
            assert answer.status_code == 200, answer.text
        listed = (await app.get("/inference", headers=doctor.headers)).json()["items"]
        assert [record["status"] for record in listed] == ["pending"]
    finally:
        script.released = True
        reply = await waiting
    assert reply.status_code == 201, reply.text


async def _metric(app: httpx.AsyncClient, name: str) -> float:
    text = (await app.get("/metrics")).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0
