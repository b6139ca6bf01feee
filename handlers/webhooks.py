"""Operations tagged ``webhooks`` (admins only, from the spec's ``x-roles``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain import webhooks
from handlers.context import JSON, caller, services, transactions

Reply = tuple[dict[str, Any] | None, int, dict[str, str]]


async def list_webhooks(token_info: dict[str, Any]) -> Reply:
    return await webhooks.listing(transactions(token_info)), 200, JSON


async def create_webhook(body: dict[str, Any], token_info: dict[str, Any]) -> Reply:
    app = services()
    created = await webhooks.register(
        transactions(token_info),
        caller(token_info),
        body,
        app.webhook_policy,
        app.webhook_resolver,
    )
    return created, 201, {**JSON, "Location": f"/webhooks/{created['id']}"}


async def get_webhook(webhook_id: str, token_info: dict[str, Any]) -> Reply:
    return await webhooks.get(transactions(token_info), UUID(webhook_id)), 200, JSON


async def update_webhook(
    webhook_id: str, body: dict[str, Any], token_info: dict[str, Any]
) -> Reply:
    app = services()
    changed = await webhooks.change(
        transactions(token_info), UUID(webhook_id), body, app.webhook_policy, app.webhook_resolver
    )
    return changed, 200, JSON


async def delete_webhook(webhook_id: str, token_info: dict[str, Any]) -> Reply:
    await webhooks.remove(transactions(token_info), UUID(webhook_id))
    return None, 204, {}


async def list_webhook_deliveries(
    webhook_id: str, token_info: dict[str, Any], limit: int = 50
) -> Reply:
    body = await webhooks.deliveries(transactions(token_info), UUID(webhook_id), limit)
    return body, 200, JSON


async def redeliver_webhook_delivery(
    webhook_id: str, delivery_id: str, token_info: dict[str, Any]
) -> Reply:
    await webhooks.redeliver(transactions(token_info), UUID(webhook_id), UUID(delivery_id))
    return None, 202, {}
