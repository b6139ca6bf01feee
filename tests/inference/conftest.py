"""Helpers for inference tests: a real case of the reference model, a request shortcut, and a
scripted misbehaving ML service on a real loopback port."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from modelserver.model import MODELS_DIR
from tests.conftest import Account
from tests.mlclient.fake_server import MODEL, FakeMLServer, Script

_PARAMS: dict[str, Any] = json.loads((MODELS_DIR / f"{MODEL}.json").read_text())
FEATURE_NAMES: list[str] = _PARAMS["feature_names"]
# The reference model's own worked example: a malignant case, and what it must answer.
MALIGNANT = next(c for c in _PARAMS["reference_cases"] if c["label"] == "malignant")
CASE: dict[str, float] = dict(zip(FEATURE_NAMES, MALIGNANT["features"], strict=True))


async def infer(
    client: httpx.AsyncClient,
    who: Account,
    features: Mapping[str, object] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {"model": MODEL, "features": CASE if features is None else features, **extra}
    return await client.post("/inference", json=body, headers=who.headers)


METADATA: dict[str, Any] = {
    "name": MODEL,
    "versions": ["7"],
    "platform": "",
    "inputs": [{"name": "features", "datatype": "FP64", "shape": [-1, len(FEATURE_NAMES)]}],
    "outputs": [
        {"name": "probability", "datatype": "FP64", "shape": [-1]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ],
}


class ScriptedModelServer(FakeMLServer):
    """The ML client tests' scripted server, plus the model metadata the backend reads before
    predicting: the faults then hit the prediction call itself."""

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET" and scope["path"] == f"/v2/models/{MODEL}":
            body = json.dumps(METADATA).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await super().app(scope, receive, send)


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def script(scripted_server: ScriptedModelServer) -> Iterator[Script]:
    scripted_server.script.reset()
    yield scripted_server.script
    # Let a handler still sleeping in "slow" mode finish now rather than at shutdown.
    scripted_server.script.released = True


def infer_calls(script: Script) -> int:
    """Prediction calls the scripted server received (not metadata reads or readiness probes)."""
    return sum(1 for body in script.bodies if "inputs" in body)
