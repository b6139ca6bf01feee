"""Triton cannot run here (no GPU image, not on PyPI): the backend against Triton's documented
v2 replies (its HTTP/REST protocol docs and an ONNX scikit-learn model's config), served by a
stand-in transport. Metadata with FP32 inputs and no ``parameters``; 400 for an unknown model,
to infer and to the model's readiness alike."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mlclient import MLClient, MLClientConfig
from mlclient.errors import MLModelNotReady
from mlclient.gateway import Predictor
from mlclient.models import parse_model

FEATURES = [f"f{i}" for i in range(30)]
METADATA = {
    "name": "breast-cancer",
    "versions": ["1"],
    "platform": "onnxruntime_onnx",
    "inputs": [{"name": "float_input", "datatype": "FP32", "shape": [-1, 30]}],
    "outputs": [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
    ],
}
CONFIG = {
    "version": "1",
    "features": FEATURES,
    "probability": {
        "output": "probabilities",
        "classes": ["malignant", "benign"],
        "positive": "malignant",
    },
    "label": {"output": "label", "labels": {"0": "malignant", "1": "benign"}},
}


class Triton:
    """Answers as Triton's HTTP endpoint does for one loaded model, ``breast-cancer``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.requests.append((request.url.path, body))
        path = request.url.path
        name = path.split("/")[3]
        if name != "breast-cancer":
            return httpx.Response(
                400, json={"error": f"Request for unknown model: '{name}' is not found"}
            )
        if path == "/v2/models/breast-cancer":
            return httpx.Response(200, json=METADATA)
        if path.endswith("/ready"):
            return httpx.Response(200)  # Triton's ready answers carry no body
        # Triton echoes the id, names the version, and sends FP32 as JSON numbers.
        return httpx.Response(
            200,
            json={
                "id": body["id"],
                "model_name": "breast-cancer",
                "model_version": "1",
                "outputs": [
                    {"name": "label", "datatype": "INT64", "shape": [1], "data": [0]},
                    {
                        "name": "probabilities",
                        "datatype": "FP32",
                        "shape": [1, 2],
                        "data": [0.875, 0.125],
                    },
                ],
            },
        )


def predictor(triton: Triton, server_name: str = "breast-cancer") -> Predictor:
    spec = parse_model("breast-cancer", {**CONFIG, "server_name": server_name})
    config = MLClientConfig("http://triton.test:8000", frozenset({server_name}))
    client = MLClient(config, transport=httpx.MockTransport(triton))
    return Predictor(client, {"breast-cancer": spec})


async def test_a_prediction_sends_fp32_and_reads_the_declared_outputs() -> None:
    triton = Triton()
    gateway = predictor(triton)
    await gateway.client.start()
    try:
        prediction = await gateway.predict(
            "breast-cancer", {name: float(i) for i, name in enumerate(FEATURES)}, "rid-1"
        )
    finally:
        await gateway.client.close()
    assert prediction.outputs == {"probability": 0.875, "label": "malignant"}
    assert prediction.model_version == "1"
    path, body = triton.requests[-1]
    assert path == "/v2/models/breast-cancer/versions/1/infer"
    [tensor] = body["inputs"]
    assert (tensor["name"], tensor["datatype"], tensor["shape"]) == ("float_input", "FP32", [1, 30])
    assert tensor["data"][:3] == [0.0, 1.0, 2.0]
    assert body["outputs"] == [{"name": "probabilities"}, {"name": "label"}]


async def test_health_uses_the_models_readiness_and_its_metadata() -> None:
    triton = Triton()
    gateway = predictor(triton)
    await gateway.client.start()
    try:
        health = await gateway.health("rid-2")
    finally:
        await gateway.client.close()
    assert health["ready"] is True
    assert health["models"] == [{"name": "breast-cancer", "available": True, "versions": ["1"]}]
    assert [path for path, _ in triton.requests] == [
        "/v2/models/breast-cancer/versions/1/ready",
        "/v2/models/breast-cancer",
    ]


async def test_an_unknown_model_is_not_ready_not_a_refused_input() -> None:
    """Triton's 400 for a model it does not serve: its readiness answers 400 too, so this is a
    503 (the model is not there now), never the doctor's 422."""
    triton = Triton()
    gateway = predictor(triton, server_name="breast-cancer-v2")
    await gateway.client.start()
    try:
        with pytest.raises(MLModelNotReady) as caught:
            await gateway.predict("breast-cancer", dict.fromkeys(FEATURES, 1.0), None)
        health = await gateway.health(None)
    finally:
        await gateway.client.close()
    assert caught.value.upstream_status == 400
    assert "unknown model" in caught.value.message
    assert health["models"][0]["available"] is False
