"""Webhooks: endpoints admins register, and the delivery of events to them.

An endpoint's URL is where this service will send requests from inside the clinic's network: a
server-side request forgery surface. Every URL is checked when registered and again, with its
name resolved, before every delivery (a name may resolve elsewhere later); the request then
goes to the very address that was checked. Unless configured otherwise, addresses that are not
globally routable (loopback, private, link-local such as 169.254.169.254, shared, reserved,
multicast) are refused, and in production only ``https`` is accepted.

Deliveries are signed per Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>``); ``webhook-id`` is the
event's id, the same on every retry and redelivery, for receivers to drop repeats.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit
from uuid import UUID

from domain.errors import NotFound, UnprocessableRequest
from domain.model import Caller, User, utc_iso
from domain.notifications import EVENT_TYPES, Renderer
from domain.outbox import Claimed, DeliveryFailed, Email, Outbox

if TYPE_CHECKING:
    from domain.ports import Transactions

MAX_URL_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    https_only: bool = True
    allow_private: bool = False


class UrlRefused(ValueError):
    """The URL or an address it resolves to is not allowed; the message says why."""


def check_url(url: str, policy: UrlPolicy) -> tuple[str, int]:
    """The host and port of an allowed URL; raises UrlRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"is longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    allowed = ("https",) if policy.https_only else ("https", "http")
    if parts.scheme not in allowed:
        raise UrlRefused("must be an https:// URL" if policy.https_only else "must be http(s)")
    if not parts.hostname:
        raise UrlRefused("has no host")
    if parts.username or parts.password:
        raise UrlRefused("may not carry credentials; the signature authenticates deliveries")
    if parts.fragment:
        raise UrlRefused("may not have a #fragment")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UrlRefused("has an invalid port") from None
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None:
        check_address(str(literal), policy)
    elif "." not in parts.hostname.rstrip(".") and not policy.allow_private:
        raise UrlRefused("must name a public host (a dotted domain name)")
    return parts.hostname, port


def check_address(address: str, policy: UrlPolicy) -> None:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        raise UrlRefused(f"resolves to {ip}, which cannot receive deliveries")
    if not ip.is_global and not policy.allow_private:
        raise UrlRefused(
            f"resolves to {ip}, a private, loopback, link-local or reserved address "
            "(refused unless MEDAI_WEBHOOK_ALLOW_PRIVATE is set)"
        )


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` resolves to now; raises OSError when it does not."""
        ...


class Transport(Protocol):
    """Sends one signed delivery (adapters/webhooks.py)."""

    async def send(
        self,
        *,
        url: str,
        address: str,
        secret: str,
        message_id: str,
        body: Mapping[str, Any],
    ) -> int:
        """POST ``body`` to ``url`` connecting to ``address``; the status code. Raises
        OSError-like ``DeliveryFailed`` when no answer came."""
        ...


# --- administration -------------------------------------------------------------------------


class WebhookEndpoints(Protocol):
    async def add(
        self,
        *,
        url: str,
        event_types: Sequence[str],
        description: str | None,
        secret: str,
        created_by: UUID,
    ) -> Mapping[str, Any]: ...

    async def get(self, endpoint_id: UUID) -> Mapping[str, Any] | None: ...

    async def all(self) -> list[Mapping[str, Any]]: ...

    async def update(
        self, endpoint_id: UUID, changes: Mapping[str, Any]
    ) -> Mapping[str, Any] | None: ...

    async def remove(self, endpoint_id: UUID) -> bool: ...

    async def deliveries(self, endpoint_id: UUID, limit: int) -> list[Mapping[str, Any]]: ...

    async def attempts(self, delivery_ids: Sequence[UUID]) -> list[Mapping[str, Any]]: ...

    async def redeliver(self, endpoint_id: UUID, delivery_id: UUID) -> bool: ...


class WebhookAdminUnitOfWork(Protocol):
    @property
    def webhooks(self) -> WebhookEndpoints: ...

    async def commit(self) -> None: ...


def endpoint_json(row: Mapping[str, Any], *, secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "url": row["url"],
        "description": row["description"],
        "event_types": list(row["event_types"]),
        "enabled": row["enabled"],
        "consecutive_failures": row["consecutive_failures"],
        "disabled_reason": row["disabled_reason"],
        "created_at": utc_iso(row["created_at"]),
        "updated_at": utc_iso(row["updated_at"]),
    }
    if secret:
        body["secret"] = row["secret"]
    return body


def _checked_types(event_types: Sequence[str]) -> list[str]:
    unknown = [name for name in event_types if name not in EVENT_TYPES]
    if unknown or not event_types:
        raise UnprocessableRequest(
            f"event_types must name some of {', '.join(EVENT_TYPES)}.", invalid_field="event_types"
        )
    return sorted(set(event_types))


async def _checked_url(url: str, policy: UrlPolicy, resolver: Resolver) -> str:
    try:
        host, port = check_url(url, policy)
        try:
            addresses = await resolver.resolve(host, port)
        except OSError:
            addresses = []  # checked again before every delivery, when it may resolve
        for address in addresses:
            check_address(address, policy)
    except UrlRefused as refused:
        raise UnprocessableRequest(f"The URL {refused}.", invalid_field="url") from None
    return url


async def _register(
    uow: WebhookAdminUnitOfWork,
    caller: Caller,
    body: Mapping[str, Any],
    policy: UrlPolicy,
    resolver: Resolver,
) -> dict[str, Any]:
    """Register an endpoint; the reply is the only one that shows its secret."""
    url = await _checked_url(body["url"], policy, resolver)
    row = await uow.webhooks.add(
        url=url,
        event_types=_checked_types(body["event_types"]),
        description=body.get("description"),
        secret=new_secret(),
        created_by=caller.id,
    )
    await uow.commit()
    return endpoint_json(row, secret=True)


async def _change(
    uow: WebhookAdminUnitOfWork,
    endpoint_id: UUID,
    body: Mapping[str, Any],
    policy: UrlPolicy,
    resolver: Resolver,
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = await _checked_url(body["url"], policy, resolver)
    if "event_types" in body:
        changes["event_types"] = _checked_types(body["event_types"])
    if "description" in body:
        changes["description"] = body["description"]
    if "enabled" in body:
        changes["enabled"] = body["enabled"]
        if body["enabled"]:
            changes["consecutive_failures"] = 0
            changes["disabled_reason"] = None
    row = await uow.webhooks.update(endpoint_id, changes)
    if row is None:
        raise NotFound("No webhook endpoint with this id.")
    await uow.commit()
    return endpoint_json(row)


async def _get(uow: WebhookAdminUnitOfWork, endpoint_id: UUID) -> dict[str, Any]:
    row = await uow.webhooks.get(endpoint_id)
    if row is None:
        raise NotFound("No webhook endpoint with this id.")
    return endpoint_json(row)


async def _listing(uow: WebhookAdminUnitOfWork) -> dict[str, Any]:
    return {"items": [endpoint_json(row) for row in await uow.webhooks.all()]}


async def _remove(uow: WebhookAdminUnitOfWork, endpoint_id: UUID) -> None:
    if not await uow.webhooks.remove(endpoint_id):
        raise NotFound("No webhook endpoint with this id.")
    await uow.commit()


async def _deliveries(uow: WebhookAdminUnitOfWork, endpoint_id: UUID, limit: int) -> dict[str, Any]:
    """The endpoint's latest deliveries, newest first, each with its attempts."""
    if await uow.webhooks.get(endpoint_id) is None:
        raise NotFound("No webhook endpoint with this id.")
    rows = await uow.webhooks.deliveries(endpoint_id, limit)
    attempts: dict[UUID, list[dict[str, Any]]] = {}
    for attempt in await uow.webhooks.attempts([row["id"] for row in rows]):
        attempts.setdefault(attempt["delivery_id"], []).append(
            {
                "attempt": attempt["attempt"],
                "at": utc_iso(attempt["attempted_at"]),
                "status_code": attempt["status_code"],
                "error": attempt["error"],
                "duration_ms": attempt["duration_ms"],
            }
        )
    items = []
    for row in rows:
        event = row["payload"]["event"]
        items.append(
            {
                "id": str(row["id"]),
                "event_id": event["id"],
                "event_type": event["type"],
                "event": event,
                "status": row["status"],
                "attempts": attempts.get(row["id"], []),
                "next_attempt_at": utc_iso(row["available_at"])
                if row["status"] == "pending"
                else None,
                "created_at": utc_iso(row["created_at"]),
                "delivered_at": utc_iso(row["delivered_at"]) if row["delivered_at"] else None,
            }
        )
    return {"items": items}


async def _redeliver(uow: WebhookAdminUnitOfWork, endpoint_id: UUID, delivery_id: UUID) -> None:
    """Send a delivery again now (same event id), whatever became of it."""
    if not await uow.webhooks.redeliver(endpoint_id, delivery_id):
        raise NotFound("No delivery with this id for this endpoint.")
    await uow.commit()


# --- delivery -------------------------------------------------------------------------------


class DeliveryRecords(Protocol):
    async def get(self, endpoint_id: UUID) -> Mapping[str, Any] | None: ...

    async def record_attempt(
        self,
        *,
        delivery_id: UUID,
        endpoint_id: UUID,
        attempt: int,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
        succeeded: bool,
    ) -> int:
        """Log the attempt and count it for the endpoint: its consecutive failures after it."""
        ...

    async def disable(self, endpoint_id: UUID, reason: str) -> bool:
        """Disable the endpoint; False if it already was."""
        ...

    async def admins(self) -> list[User]: ...


class DeliveryUnitOfWork(Protocol):
    @property
    def webhooks(self) -> DeliveryRecords: ...

    @property
    def outbox(self) -> Outbox: ...

    async def commit(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    policy: UrlPolicy
    disable_after: int = 20


async def deliver(
    units: Callable[[], AbstractAsyncContextManager[DeliveryUnitOfWork]],
    transport: Transport,
    resolver: Resolver,
    renderer: Renderer,
    settings: DeliverySettings,
    message: Claimed,
) -> None:
    """One attempt to deliver a webhook message (an outbox row of kind ``webhook``)."""
    endpoint_id = UUID(message.payload["endpoint_id"])
    event = message.payload["event"]
    async with units() as uow:
        endpoint = await uow.webhooks.get(endpoint_id)
    if endpoint is None:
        raise DeliveryFailed("the endpoint was deleted", permanent=True)
    if not endpoint["enabled"]:
        raise DeliveryFailed("the endpoint is disabled", permanent=True)
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        host, port = check_url(endpoint["url"], settings.policy)
        try:
            addresses = await resolver.resolve(host, port)
        except OSError as exc:
            raise DeliveryFailed(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise DeliveryFailed(f"{host} resolves to no address")
        for address in addresses:
            check_address(address, settings.policy)
        status = await transport.send(
            url=endpoint["url"],
            address=addresses[0],
            secret=endpoint["secret"],
            message_id=event["id"],
            body=event,
        )
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except UrlRefused as refused:
        error = f"URL refused: the URL {refused}"
    except DeliveryFailed as failed:
        error = str(failed)
    duration_ms = round((time.monotonic() - started) * 1000)
    async with units() as uow:
        failures = await uow.webhooks.record_attempt(
            delivery_id=message.id,
            endpoint_id=endpoint_id,
            attempt=message.attempt,
            status_code=status,
            error=error,
            duration_ms=duration_ms,
            succeeded=error is None,
        )
        if error is not None and failures >= settings.disable_after:
            reason = f"{failures} failed deliveries in a row; the last: {error}"
            if await uow.webhooks.disable(endpoint_id, reason):
                await _tell_admins(uow, renderer, endpoint, failures, error)
        await uow.commit()
    if error is not None:
        raise DeliveryFailed(error)


async def _tell_admins(
    uow: DeliveryUnitOfWork,
    renderer: Renderer,
    endpoint: Mapping[str, Any],
    failures: int,
    error: str,
) -> None:
    for admin in await uow.webhooks.admins():
        rendered = renderer.render(
            "webhook.disabled",
            {
                "recipient_name": admin.full_name,
                "url": endpoint["url"],
                "endpoint_id": str(endpoint["id"]),
                "failures": failures,
                "last_error": error,
            },
        )
        await uow.outbox.enqueue(Email(admin.email, rendered.subject, rendered.text, rendered.html))


# The admin use cases, each in its own unit of work.


async def register(
    tx: Transactions,
    caller: Caller,
    body: Mapping[str, Any],
    policy: UrlPolicy,
    resolver: Resolver,
) -> dict[str, Any]:
    async with tx.unit_of_work() as uow:
        return await _register(uow, caller, body, policy, resolver)


async def change(
    tx: Transactions,
    endpoint_id: UUID,
    body: Mapping[str, Any],
    policy: UrlPolicy,
    resolver: Resolver,
) -> dict[str, Any]:
    async with tx.unit_of_work() as uow:
        return await _change(uow, endpoint_id, body, policy, resolver)


async def get(tx: Transactions, endpoint_id: UUID) -> dict[str, Any]:
    async with tx.unit_of_work() as uow:
        return await _get(uow, endpoint_id)


async def listing(tx: Transactions) -> dict[str, Any]:
    async with tx.unit_of_work() as uow:
        return await _listing(uow)


async def remove(tx: Transactions, endpoint_id: UUID) -> None:
    async with tx.unit_of_work() as uow:
        await _remove(uow, endpoint_id)


async def deliveries(tx: Transactions, endpoint_id: UUID, limit: int) -> dict[str, Any]:
    async with tx.unit_of_work() as uow:
        return await _deliveries(uow, endpoint_id, limit)


async def redeliver(tx: Transactions, endpoint_id: UUID, delivery_id: UUID) -> None:
    async with tx.unit_of_work() as uow:
        await _redeliver(uow, endpoint_id, delivery_id)
