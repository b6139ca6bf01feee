"""The client and the reference server agree on the contract (in-process, no sockets)."""

from __future__ import annotations

import httpx
import pytest

from mlclient import MLBadRequest, MLClient, MLClientConfig, Tensor
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


async def test_the_client_reads_the_feature_order_from_the_metadata() -> None:
    async with client() as ml:
        metadata = await ml.model_metadata("breast-cancer")
    assert metadata.versions == ("1",)
    assert metadata.parameters["feature_names"][0] == "mean_radius"


async def test_an_input_the_server_rejects_is_a_bad_request_with_its_reason() -> None:
    async with client() as ml:
        with pytest.raises(MLBadRequest, match=r"expected shape \[n, 30\]"):
            await ml.infer("breast-cancer", [Tensor.from_rows("features", [[1.0] * 29])])
