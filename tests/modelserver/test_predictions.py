from __future__ import annotations

import math

import httpx
import pytest

from tests.modelserver.conftest import (
    FEATURE_NAMES,
    INFER,
    PARAMS,
    REFERENCE_CASES,
    features_request,
)


async def predict(server: httpx.AsyncClient, body: dict[str, object]) -> dict[str, list[object]]:
    reply = await server.post(INFER, json=body)
    assert reply.status_code == 200, reply.text
    return {o["name"]: o["data"] for o in reply.json()["outputs"]}


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=lambda c: f"{c['probability']:.3f}")
async def test_predictions_match_scikit_learn_on_held_out_samples(
    server: httpx.AsyncClient, case: dict[str, object]
) -> None:
    outputs = await predict(server, features_request([case["features"]]))  # type: ignore[list-item]
    assert outputs["probability"][0] == pytest.approx(case["probability"], abs=1e-12)
    assert outputs["label"] == [case["label"]]


async def test_a_sample_at_the_training_means_scores_the_sigmoid_of_the_intercept(
    server: httpx.AsyncClient,
) -> None:
    # At the means every standardised feature is 0, so only the intercept is left:
    # P(malignant) = 1 - sigmoid(intercept), computed here by hand.
    outputs = await predict(server, features_request([PARAMS["means"]]))
    expected = 1 - 1 / (1 + math.exp(-PARAMS["intercept"]))
    assert outputs["probability"][0] == pytest.approx(expected, abs=1e-12)


async def test_a_batch_returns_one_probability_and_label_per_row_in_order(
    server: httpx.AsyncClient,
) -> None:
    rows = [c["features"] for c in REFERENCE_CASES]
    outputs = await predict(server, features_request(rows))
    assert outputs["label"] == [c["label"] for c in REFERENCE_CASES]
    assert len(outputs["probability"]) == len(rows)


async def test_flat_and_nested_data_give_the_same_prediction(server: httpx.AsyncClient) -> None:
    row = REFERENCE_CASES[1]["features"]
    nested = await predict(server, features_request([row]))
    flat = await predict(
        server,
        {"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": row}]},
    )
    assert flat == nested


async def test_thirty_named_tensors_give_the_same_prediction_as_one_features_tensor(
    server: httpx.AsyncClient,
) -> None:
    row = REFERENCE_CASES[2]["features"]
    named = [
        {"name": name, "shape": [1], "datatype": "FP64", "data": [value]}
        for name, value in zip(FEATURE_NAMES, row, strict=True)
    ]
    assert await predict(server, {"inputs": named}) == await predict(
        server, features_request([row])
    )


async def test_outputs_can_be_restricted_and_the_id_is_echoed(server: httpx.AsyncClient) -> None:
    body = features_request([REFERENCE_CASES[0]["features"]], id="req-7")
    body["outputs"] = [{"name": "label"}]
    reply = await server.post(INFER, json=body)
    assert reply.json()["id"] == "req-7"
    assert [o["name"] for o in reply.json()["outputs"]] == ["label"]
    assert reply.json()["model_version"] == PARAMS["version"]


def test_the_committed_model_was_accurate_on_its_held_out_split() -> None:
    assert PARAMS["training"]["test_accuracy"] > 0.95
