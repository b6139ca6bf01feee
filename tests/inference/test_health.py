"""``GET /inference/health`` reports the ML service as this instance sees it, always as 200,
and answers quickly whatever the ML service does."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx

from domain.model import Role
from tests.conftest import MakeUser, assert_problem
from tests.inference.conftest import ScriptedModelServer, infer
from tests.mlclient.fake_server import Script

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]


async def test_the_reference_server_is_ready_with_its_model_and_version(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.ADMIN)
    reply = await client.get("/inference/health", headers=admin.headers)
    assert reply.status_code == 200, reply.text
    health = reply.json()
    assert (health["configured"], health["ready"], health["detail"]) == (True, True, None)
    assert health["probe_latency_ms"] >= 0
    assert health["breaker"]["state"] == "closed"
    assert health["models"] == [{"name": "breast-cancer", "available": True, "versions": ["1"]}]


async def test_a_hanging_ml_service_is_reported_not_ready_within_the_probe_deadline(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    client_for: ClientFor,
    scripted_server: ScriptedModelServer,
    script: Script,
) -> None:
    doctor = await make_user(Role.DOCTOR)
    app = await client_for(ml_service_url=scripted_server.base_url, ml_timeout=30.0)
    script.mode, script.delay = "slow", 60.0
    started = time.monotonic()
    reply = await app.get("/inference/health", headers=doctor.headers)
    # The probe's own deadline is 1 s whatever MEDAI_ML_TIMEOUT says; generous bound.
    assert time.monotonic() - started < 10
    assert reply.status_code == 200, reply.text
    health = reply.json()
    assert (health["ready"], health["probe_latency_ms"]) == (False, None)
    assert "no answer within" in health["detail"]
    assert health["models"][0]["available"] is False


async def test_without_an_ml_service_health_says_so_and_predictions_answer_503(
    client: httpx.AsyncClient, make_user: MakeUser, client_for: ClientFor
) -> None:
    doctor = await make_user(Role.DOCTOR)
    app = await client_for(ml_service_url=None)
    health = (await app.get("/inference/health", headers=doctor.headers)).json()
    assert (health["configured"], health["ready"]) == (False, False)
    assert "MEDAI_ML_URL" in health["detail"]
    reply = await infer(app, doctor)
    problem = assert_problem(reply, 503)
    assert problem["error_class"] == "not_configured"
    assert int(reply.headers["retry-after"]) >= 1
