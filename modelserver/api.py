"""The operations of ``openapi/inference-v2.yaml`` (each operationId names its function here).

Connexion has already checked every request against the contract; these functions check what
only the model knows and shape the protocol's replies.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from connexion.context import scope as _scope

from modelserver.model import LogisticModel
from modelserver.tensors import FEATURES_TENSOR, feature_rows, requested_outputs

REGISTRY_KEY = "modelserver.models"


class ModelNotFound(LookupError):
    """No model of that name here: answered 404."""


def _models() -> Mapping[str, LogisticModel]:
    models: Mapping[str, LogisticModel] = _scope[REGISTRY_KEY]
    return models


def _model(name: str) -> LogisticModel:
    model = _models().get(name)
    if model is None:
        raise ModelNotFound(f"model {name!r} not found")
    return model


async def server_live() -> dict[str, Any]:
    """The process answers."""
    return {"live": True}


async def server_ready() -> dict[str, Any]:
    """Models are loaded before the app is built, so an answering server is a ready one."""
    return {"ready": True}


async def model_metadata(model_name: str) -> dict[str, Any]:
    """Versions, platform and tensor metadata of one model."""
    model = _model(model_name)
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": model.platform,
        "inputs": [{"name": FEATURES_TENSOR, "datatype": "FP64", "shape": [-1, model.n_features]}],
        "outputs": [
            {"name": "probability", "datatype": "FP64", "shape": [-1]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ],
        "parameters": {
            "feature_names": list(model.feature_names),
            "output_class": model.output_class,
            "threshold": model.threshold,
            "training": dict(model.training),
        },
    }


async def model_ready(model_name: str) -> dict[str, Any]:
    """A served model is loaded, hence ready."""
    return {"name": _model(model_name).name, "ready": True}


async def infer(model_name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run the model on a batch and return the requested outputs."""
    model = _model(model_name)
    rows = feature_rows(model, body["inputs"])
    wanted = requested_outputs(body.get("outputs"))
    predictions = model.predict(rows)
    tensors = {
        "probability": {
            "name": "probability",
            "shape": [len(rows)],
            "datatype": "FP64",
            "data": [p.probability for p in predictions],
        },
        "label": {
            "name": "label",
            "shape": [len(rows)],
            "datatype": "BYTES",
            "data": [p.label for p in predictions],
        },
    }
    return {
        "model_name": model.name,
        "model_version": model.version,
        "id": body.get("id") or str(uuid.uuid4()),
        "outputs": [tensors[name] for name in wanted],
    }
