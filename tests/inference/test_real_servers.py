"""The doctor's prediction against stock model servers, configured, not customised: MLServer
1.7.1 with its scikit-learn runtime and KServe 0.21.0's ModelServer, each in its own virtualenv
(tests/inference/real_servers.py), on loopback. Then the fault table against MLServer: every
fault a 502, 503 or 504 (never a 500, never a 422 on the features), on record with its reason.

Slow (a loaded machine imports MLServer in tens of seconds), so marked; CI runs them.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.model import Role
from tests.conftest import Account, MakeUser, assert_problem
from tests.inference import real_servers
from tests.inference.conftest import CASE, infer
from tests.inference.real_servers import (
    FEATURES,
    KSERVE_MODELS,
    MLSERVER_MODELS,
    ServerProcess,
    models_toml,
)

pytestmark = [pytest.mark.slow]

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]
PARAMS: dict[str, Any] = json.loads(real_servers.PARAMS_FILE.read_text())
CLASSES = ("malignant", "benign")


@pytest.fixture(scope="module")
def mlserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Any]]:
    server, expected = real_servers.mlserver(tmp_path_factory.mktemp("mlserver"))
    server.start()
    yield server, expected
    server.stop()


@pytest.fixture
def running_mlserver(mlserver: tuple[ServerProcess, Any]) -> tuple[ServerProcess, Any]:
    """The module's MLServer, started again if a fault test left it dead."""
    server, _ = mlserver
    if not server.alive:
        server.start()
    return mlserver


@pytest.fixture
def app_for(client_for: ClientFor, tmp_path: Path) -> Callable[..., Awaitable[httpx.AsyncClient]]:
    async def build(server: ServerProcess, models: str, **settings: Any) -> httpx.AsyncClient:
        path = tmp_path / f"models-{time.monotonic_ns()}.toml"
        path.write_text(models)
        return await client_for(ml_service_url=server.base_url, ml_models_file=path, **settings)

    return build


@dataclass
class OnMLServer:
    """A test's doctor, the module's MLServer, and apps calling it with a given models file."""

    server: ServerProcess
    expected: dict[str, Any]
    doctor: Account
    app_for: Callable[..., Awaitable[httpx.AsyncClient]]

    async def app(self, models: str, **settings: Any) -> httpx.AsyncClient:
        return await self.app_for(self.server, models, **settings)


@pytest.fixture
async def ml(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    app_for: Callable[..., Awaitable[httpx.AsyncClient]],
    running_mlserver: tuple[ServerProcess, Any],
) -> OnMLServer:
    server, expected = running_mlserver
    return OnMLServer(server, expected, await make_user(Role.DOCTOR), app_for)


def case(index: int) -> dict[str, float]:
    return dict(zip(FEATURES, PARAMS["reference_cases"][index]["features"], strict=True))


async def assert_predicts_like_sklearn(
    app: httpx.AsyncClient, doctor: Account, expected: dict[str, Any], version: str | None
) -> None:
    for index, proba in enumerate(expected["predict_proba"]):
        reply = await infer(app, doctor, case(index))
        assert reply.status_code == 201, reply.text
        record = reply.json()
        assert abs(record["outputs"]["probability"] - proba[0]) <= 1e-9
        assert record["outputs"]["label"] == CLASSES[int(expected["predict"][index])]
        assert (record["model_version"], record["upstream_status"]) == (version, 200)


async def test_stock_mlserver_predicts_from_configuration_only(
    ml: OnMLServer,
) -> None:
    app = await ml.app(models_toml(MLSERVER_MODELS))
    doctor = ml.doctor
    await assert_predicts_like_sklearn(app, doctor, ml.expected, "1")
    health = (await app.get("/inference/health", headers=doctor.headers)).json()
    assert (health["ready"], health["detail"]) == (True, None)
    assert health["models"] == [{"name": "breast-cancer", "available": True, "versions": ["1"]}]


async def test_stock_kserve_predicts_from_configuration_only(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    app_for: Callable[..., Awaitable[httpx.AsyncClient]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server, expected = real_servers.kserve(tmp_path_factory.mktemp("kserve"))
    server.start()
    try:
        doctor = await make_user(Role.DOCTOR)
        # KServe names no version in its replies, and answers 501 to a versioned path: the
        # configured version is recorded, not asked for.
        versioned = 'version = "1"\nversion_in_path = false\n'
        app = await app_for(server, models_toml(versioned + KSERVE_MODELS))
        await assert_predicts_like_sklearn(app, doctor, expected, "1")
        # Without a configured version, the record says the server named none.
        unversioned = await app_for(server, models_toml(KSERVE_MODELS))
        reply = await infer(unversioned, doctor)
        assert reply.status_code == 201, reply.text
        assert reply.json()["model_version"] is None
        health = (await app.get("/inference/health", headers=doctor.headers)).json()
        assert health["models"][0]["available"] is True
    finally:
        server.stop()


# --- The fault table, against stock MLServer -------------------------------------------------


async def failed(app: httpx.AsyncClient, who: Account, reply: httpx.Response, status: int) -> Any:
    problem = assert_problem(reply, status)
    assert "invalid_field" not in problem
    record = (await app.get(f"/inference/{problem['inference_id']}", headers=who.headers)).json()
    assert (record["status"], record["error_class"]) == ("failed", problem["error_class"])
    return record


async def test_an_unloaded_model_is_503_and_unavailable_until_loaded_again(
    ml: OnMLServer,
) -> None:
    server, doctor = ml.server, ml.doctor
    app = await ml.app(models_toml(MLSERVER_MODELS))
    assert (await infer(app, doctor)).status_code == 201
    repository = f"{server.base_url}/v2/repository/models/breast-cancer"
    async with httpx.AsyncClient(timeout=30) as direct:
        assert (await direct.post(f"{repository}/unload")).status_code == 200
        try:
            # MLServer still answers its server-level readiness 200 with no model loaded.
            assert (await direct.get(f"{server.base_url}/v2/health/ready")).status_code == 200
            reply = await infer(app, doctor)
            record = await failed(app, doctor, reply, 503)
            assert (record["error_class"], record["upstream_status"]) == ("model_not_ready", 404)
            assert reply.headers["retry-after"] == "5"
            health = (await app.get("/inference/health", headers=doctor.headers)).json()
            assert (health["ready"], health["models"][0]["available"]) == (False, False)
            assert "404" in health["detail"]
        finally:
            assert (await direct.post(f"{repository}/load")).status_code == 200
    assert (await infer(app, doctor)).status_code == 201
    health = (await app.get("/inference/health", headers=doctor.headers)).json()
    assert health["models"][0]["available"] is True


async def test_an_output_the_runtime_does_not_have_is_a_502_not_the_doctors_422(
    ml: OnMLServer,
) -> None:
    """The old backend's request (outputs probability and label): MLServer answers 400."""
    doctor = ml.doctor
    models = MLSERVER_MODELS.replace('output = "predict_proba"', 'output = "probability"')
    app = await ml.app(models_toml(models))
    record = await failed(app, doctor, await infer(app, doctor), 502)
    assert (record["error_class"], record["upstream_status"]) == ("upstream_rejected", 400)


async def test_a_server_error_is_a_502(
    ml: OnMLServer,
) -> None:
    """A configuration with one feature too many: scikit-learn raises, MLServer answers 500."""
    doctor = ml.doctor
    app = await ml.app(models_toml(MLSERVER_MODELS, [*FEATURES, "extra"]))
    reply = await infer(app, doctor, {**CASE, "extra": 0.0})
    record = await failed(app, doctor, reply, 502)
    assert (record["error_class"], record["upstream_status"]) == ("upstream_error", 500)


async def test_a_server_slower_than_the_deadline_is_a_504_then_answers_again(
    ml: OnMLServer,
) -> None:
    server, doctor = ml.server, ml.doctor
    app = await ml.app(models_toml(MLSERVER_MODELS), ml_timeout=1.0)
    assert (await infer(app, doctor)).status_code == 201  # metadata read, plan kept
    server.signal(signal.SIGSTOP)
    loop = asyncio.get_running_loop()
    resume = loop.call_later(2.0, server.signal, signal.SIGCONT)
    try:
        started = time.monotonic()
        record = await failed(app, doctor, await infer(app, doctor), 504)
        assert time.monotonic() - started < 1.0 + 5
        assert record["error_class"] == "timeout"
    finally:
        await asyncio.sleep(max(0.0, 2.5 - (time.monotonic() - started)))
        resume.cancel()
        server.signal(signal.SIGCONT)
    assert (await infer(app, doctor)).status_code == 201


async def test_a_frozen_server_is_a_504_and_unavailable_in_health_within_its_deadline(
    ml: OnMLServer,
) -> None:
    server, doctor = ml.server, ml.doctor
    app = await ml.app(models_toml(MLSERVER_MODELS), ml_timeout=1.0)
    server.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        health = (await app.get("/inference/health", headers=doctor.headers)).json()
        assert time.monotonic() - started < 2 + 5
        assert (health["ready"], health["models"][0]["available"]) == (False, False)
        record = await failed(app, doctor, await infer(app, doctor), 504)
        assert record["error_class"] == "timeout"
    finally:
        server.signal(signal.SIGCONT)


async def test_a_server_killed_mid_call_is_a_502_and_a_stopped_one_503_with_retry_after(
    ml: OnMLServer,
) -> None:
    server, doctor = ml.server, ml.doctor
    app = await ml.app(models_toml(MLSERVER_MODELS), ml_timeout=10.0)
    assert (await infer(app, doctor)).status_code == 201
    server.signal(signal.SIGSTOP)  # the call is then surely in flight when the kill comes
    call = asyncio.create_task(infer(app, doctor))
    await asyncio.sleep(0.5)
    server.signal(signal.SIGKILL)
    assert server.process is not None
    server.process.wait(10)
    killed = await failed(app, doctor, await call, 502)
    assert (killed["error_class"], killed["upstream_status"]) == ("upstream_error", None)
    reply = await infer(app, doctor)
    stopped = await failed(app, doctor, reply, 503)
    assert stopped["error_class"] == "unreachable"
    assert int(reply.headers["retry-after"]) >= 1
    health = (await app.get("/inference/health", headers=doctor.headers)).json()
    assert (health["ready"], health["models"][0]["available"]) == (False, False)
