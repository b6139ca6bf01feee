"""The client and the reference server agree on the contract (in-process, no sockets)."""

from __future__ import annotations

import httpx
import pytest

from mlclient import MLClient, MLClientConfig, Tensor
from mlclient.errors import MLUpstreamRejected
from modelserver.app import create_app
from tests.modelserver.conftest import REFERENCE_CASES


def client() -> MLClient:
    config = MLClientConfig("http://ml.test", frozenset({"breast-cancer"}))
    return MLClient(config, transport=httpx.ASGITransport(app=create_app()))


async def test_the_client_gets_the_reference_prediction_and_version_from_the_server() -> None:
    case = REFERENCE_CASES[1]
    async with client() as ml:
        result = await ml.infer("breast-cancer", [Tensor.from_rows("features", [case["features"]])])
    assert result.model_version == "1"
    assert result.output("probability").data[0] == pytest.approx(case["probability"], abs=1e-12)
    assert result.output("label").data == (case["label"],)


async def test_the_client_reads_the_declared_tensors_from_the_metadata() -> None:
    async with client() as ml:
        metadata = await ml.model_metadata("breast-cancer")
        ready = await ml.model_ready("breast-cancer")
    assert metadata.versions == ("1",)
    assert [(t.name, t.datatype, t.shape) for t in metadata.inputs] == [
        ("features", "FP64", (-1, 30))
    ]
    assert ready.ready


async def test_an_input_a_ready_model_refuses_is_upstream_rejected_with_its_reason() -> None:
    async with client() as ml:
        with pytest.raises(MLUpstreamRejected, match=r"expected shape \[n, 30\]"):
            await ml.infer("breast-cancer", [Tensor.from_rows("features", [[1.0] * 29])])
