from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from modelserver.app import create_app
from modelserver.model import MODELS_DIR

INFER = "/v2/models/breast-cancer/infer"
PARAMS: dict[str, Any] = json.loads((MODELS_DIR / "breast-cancer.json").read_text())
REFERENCE_CASES: list[dict[str, Any]] = PARAMS["reference_cases"]
FEATURE_NAMES: list[str] = PARAMS["feature_names"]


@pytest.fixture(scope="session")
def server_app() -> Any:
    # Response validation on: every reply in these tests is also checked against the contract.
    return create_app(validate_responses=True)


@pytest.fixture
async def server(server_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=server_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ml.test") as client:
        yield client


def features_request(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    tensor = {"name": "features", "shape": [len(rows), 30], "datatype": "FP64", "data": rows}
    return {"inputs": [tensor], **extra}
