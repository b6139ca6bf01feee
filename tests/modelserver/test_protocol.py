from __future__ import annotations

from typing import Any

import httpx
import pytest

from modelserver.app import MAX_BODY_BYTES
from tests.modelserver.conftest import FEATURE_NAMES, INFER, REFERENCE_CASES, features_request

ROW = REFERENCE_CASES[0]["features"]
JSON = {"content-type": "application/json"}


def tensor(
    name: str = "features", shape: Any = (1, 30), datatype: str = "FP64", data: Any = None
) -> dict[str, Any]:
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": data or ROW}


BAD_BODIES = {
    "29 columns": {"inputs": [tensor(shape=(1, 29), data=ROW[:29])]},
    "shape and data disagree": {"inputs": [tensor(shape=(2, 30))]},
    "a string element": {"inputs": [tensor(data=["1.0", *ROW[1:]])]},
    "a boolean element": {"inputs": [tensor(data=[True, *ROW[1:]])]},
    "an integer datatype": {"inputs": [tensor(datatype="INT32")]},
    "an empty batch": {"inputs": [tensor(shape=(0, 30), data=[])]},
    "a value beyond range": {"inputs": [tensor(data=[1e300, *ROW[1:]])]},
    "ragged nested rows": {"inputs": [tensor(data=[ROW, ROW[:29]], shape=(2, 30))]},
    "both input forms": {"inputs": [tensor(), tensor(name="mean_radius", shape=(1,), data=[1])]},
    "a missing feature": {
        "inputs": [tensor(name=n, shape=(1,), data=[1.0]) for n in FEATURE_NAMES[:29]]
    },
    "an unknown input": {"inputs": [tensor(name="age", shape=(1,), data=[50])]},
    "the same input twice": {"inputs": [tensor(), tensor()]},
    "an unknown output": {"inputs": [tensor()], "outputs": [{"name": "survival"}]},
    "an unknown field": {"inputs": [tensor()], "priority": "high"},
    "no inputs": {"inputs": []},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_a_bad_inference_request_is_a_400_with_the_protocol_error_shape(
    server: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    reply = await server.post(INFER, json=body)
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"] == "application/json"
    assert isinstance(reply.json()["error"], str)


async def test_an_unparsable_body_is_a_400(server: httpx.AsyncClient) -> None:
    reply = await server.post(INFER, content=b"{not json", headers=JSON)
    assert reply.status_code == 400
    assert "error" in reply.json()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_literals_are_refused_by_the_model_not_scored(
    server: httpx.AsyncClient, literal: str
) -> None:
    # Python's json module accepts these JavaScript literals and the schema sees a number.
    data = ", ".join([literal, *map(str, ROW[1:])])
    body = '{"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP64", "data": [%s]}]}'
    reply = await server.post(INFER, content=(body % data).encode(), headers=JSON)
    assert reply.status_code == 400
    assert "not finite" in reply.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/models/lung-cancer"),
        ("GET", "/v2/models/lung-cancer/ready"),
        ("POST", "/v2/models/lung-cancer/infer"),
        ("GET", "/v2/nowhere"),
    ],
)
async def test_an_unknown_model_or_path_is_a_404(
    server: httpx.AsyncClient, method: str, path: str
) -> None:
    reply = await server.request(method, path, json=features_request([ROW]))
    assert reply.status_code == 404
    assert reply.json()["error"]


async def test_a_body_over_the_limit_is_a_413(server: httpx.AsyncClient) -> None:
    reply = await server.post(INFER, content=b" " * (MAX_BODY_BYTES + 1))
    assert reply.status_code == 413
    assert reply.json()["error"]


async def test_metadata_describes_the_tensors_and_the_feature_order(
    server: httpx.AsyncClient,
) -> None:
    reply = await server.get("/v2/models/breast-cancer")
    body = reply.json()
    assert body["versions"] == ["1"]
    assert body["inputs"] == [{"name": "features", "datatype": "FP64", "shape": [-1, 30]}]
    assert [o["name"] for o in body["outputs"]] == ["probability", "label"]
    assert body["parameters"]["feature_names"] == FEATURE_NAMES


@pytest.mark.parametrize(
    "path", ["/v2/health/live", "/v2/health/ready", "/v2/models/breast-cancer/ready"]
)
async def test_health_endpoints_answer_200_and_echo_the_request_id(
    server: httpx.AsyncClient, path: str
) -> None:
    reply = await server.get(path, headers={"X-Request-ID": "probe-9"})
    assert reply.status_code == 200
    assert reply.headers["x-request-id"] == "probe-9"


async def test_a_malformed_request_id_header_is_a_400(server: httpx.AsyncClient) -> None:
    reply = await server.get("/v2/health/live", headers={"X-Request-ID": "a b"})
    assert reply.status_code == 400
    assert reply.json()["error"]
