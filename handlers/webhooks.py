"""Operations tagged ``webhooks`` (admins only, from the spec's ``x-roles``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain import webhooks
from handlers.context import JSON, caller, runtime, unit_of_work

Reply = tuple[dict[str, Any] | None, int, dict[str, str]]


async def list_webhooks(token_info: dict[str, Any]) -> Reply:
    async with unit_of_work(token_info) as uow:
        return await webhooks.listing(uow), 200, JSON


async def create_webhook(body: dict[str, Any], token_info: dict[str, Any]) -> Reply:
    rt = runtime()
    async with unit_of_work(token_info) as uow:
        created = await webhooks.register(
            uow, caller(token_info), body, rt.webhook_policy, rt.webhook_resolver
        )
    return created, 201, {**JSON, "Location": f"/webhooks/{created['id']}"}


async def get_webhook(webhook_id: str, token_info: dict[str, Any]) -> Reply:
    async with unit_of_work(token_info) as uow:
        return await webhooks.get(uow, UUID(webhook_id)), 200, JSON


async def update_webhook(
    webhook_id: str, body: dict[str, Any], token_info: dict[str, Any]
) -> Reply:
    rt = runtime()
    async with unit_of_work(token_info) as uow:
        changed = await webhooks.change(
            uow, UUID(webhook_id), body, rt.webhook_policy, rt.webhook_resolver
        )
    return changed, 200, JSON


async def delete_webhook(webhook_id: str, token_info: dict[str, Any]) -> Reply:
    async with unit_of_work(token_info) as uow:
        await webhooks.remove(uow, UUID(webhook_id))
    return None, 204, {}


async def list_webhook_deliveries(
    webhook_id: str, token_info: dict[str, Any], limit: int = 50
) -> Reply:
    async with unit_of_work(token_info) as uow:
        return await webhooks.deliveries(uow, UUID(webhook_id), limit), 200, JSON


async def redeliver_webhook_delivery(
    webhook_id: str, delivery_id: str, token_info: dict[str, Any]
) -> Reply:
    async with unit_of_work(token_info) as uow:
        await webhooks.redeliver(uow, UUID(webhook_id), UUID(delivery_id))
    return None, 202, {}
