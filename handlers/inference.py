"""Operations tagged ``inference``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain import inference
from domain.inference import InferenceRequest
from domain.queries import RecordQuery
from handlers.context import JSON, caller, cursors, request_id, services, transactions

Reply = tuple[dict[str, Any], int, dict[str, str]]


async def run_inference(body: dict[str, Any], token_info: dict[str, Any]) -> Reply:
    """Predict, and keep the prediction on record."""
    app = services()
    record = await inference.run(
        transactions(token_info),
        app.predictor,
        caller(token_info),
        InferenceRequest.from_body(body),
        rate_per_minute=app.inference_rate_per_minute,
        request_id=request_id(),
    )
    return record, 201, {**JSON, "Location": f"/inference/{record['id']}"}


async def get_inference(inference_id: str, token_info: dict[str, Any]) -> Reply:
    """One inference record the caller may see."""
    record = await inference.get(transactions(token_info), caller(token_info), UUID(inference_id))
    return record, 200, JSON


async def list_inferences(token_info: dict[str, Any], limit: int, **query: Any) -> Reply:
    """The caller's inference records, newest first, one page at a time."""
    filters = RecordQuery(
        model_name=query.get("model"),
        patient_id=UUID(query["patient_id"]) if query.get("patient_id") else None,
        limit=limit,
    )
    page = await inference.search(
        transactions(token_info), caller(token_info), filters, query.get("cursor"), cursors()
    )
    return page, 200, JSON


async def check_inference_health(token_info: dict[str, Any]) -> Reply:
    """The ML service's readiness, models and breaker; 200 even when it is down."""
    report = await services().ml_health(request_id())
    return report, 200, JSON
