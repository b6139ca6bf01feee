"""The transactional outbox: what a use case writes to announce a change, and how it is
delivered after commit.

A use case never sends anything itself (a request must not wait on a mail server, and a mail
sent for a change that then rolls back cannot be taken back). It writes the message through its
unit of work's ``outbox`` in the same transaction as the change::

    await uow.outbox.enqueue(Email(to=..., subject=..., text=..., html=...))
    await uow.commit()

and the dispatcher (``dispatch_once``, run by a worker in every ``medai serve`` process)
delivers it after commit. Delivery is at least once: a dispatcher that dies between sending
and recording the delivery leaves the message to be sent again, under the same id, which
receivers use to drop the repeat (an email's Message-ID is built from it).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

log = logging.getLogger(__name__)

EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Email:
    """One email to one recipient. ``html`` is an alternative body; ``text`` is always sent."""

    to: str
    subject: str
    text: str
    html: str | None = None
    kind: str = field(default=EMAIL, init=False)

    def payload(self) -> dict[str, Any]:
        return {"to": self.to, "subject": self.subject, "text": self.text, "html": self.html}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Email:
        return cls(
            to=payload["to"],
            subject=payload["subject"],
            text=payload["text"],
            html=payload.get("html"),
        )


class Message(Protocol):
    """Anything the outbox carries: a kind naming its sender and a JSON payload."""

    @property
    def kind(self) -> str: ...

    def payload(self) -> dict[str, Any]: ...


class Outbox(Protocol):
    """The port a use case writes through (``uow.outbox``): part of its transaction."""

    async def enqueue(
        self,
        message: Message,
        *,
        not_before: datetime | None = None,
        dedup_key: str | None = None,
    ) -> UUID | None:
        """Write ``message`` to be delivered once the transaction commits (not before
        ``not_before``). With a ``dedup_key`` already used, nothing is written and None is
        returned; otherwise the message's id."""
        ...


class OutboxUnitOfWork(Protocol):
    """What a use case that announces its changes needs of its unit of work."""

    @property
    def outbox(self) -> Outbox: ...

    async def commit(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a dispatcher holds for one delivery attempt (its ``attempt``-th)."""

    id: UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    created_at: datetime


class DeliveryFailed(Exception):
    """This attempt failed; ``permanent`` when retrying cannot help (a refused address)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Sender(Protocol):
    """Delivers one kind of message (adapters/mail.py for emails). Raises DeliveryFailed."""

    async def deliver(self, message: Claimed) -> None: ...


class OutboxStore(Protocol):
    """The dispatcher's side of the outbox table; each call is its own short transaction."""

    async def claim(self, limit: int, lease: timedelta) -> list[Claimed]:
        """Up to ``limit`` pending messages that are due, hidden from other dispatchers for
        ``lease`` (``FOR UPDATE SKIP LOCKED``: concurrent dispatchers never share one)."""
        ...

    async def delivered(self, message: Claimed) -> None: ...

    async def retry_at(self, message: Claimed, at: datetime, error: str) -> None: ...

    async def dead(self, message: Claimed, error: str) -> None: ...

    async def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, until the message is ``max_age`` old.

    The n-th failure waits ``base * 2**(n-1)`` capped at ``cap``, times a random factor in
    [0.5, 1]: receivers that were down together are not hit together when they come back.
    """

    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(hours=1)
    max_age: timedelta = timedelta(days=3)
    lease: timedelta = timedelta(seconds=120)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> timedelta:
        exponential = self.base * (2 ** min(max(attempt - 1, 0), 30))
        capped: timedelta = min(exponential, self.cap)
        return capped * (0.5 + rand() / 2)


@dataclass
class DispatchResult:
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def claimed(self) -> int:
        return self.delivered + self.retried + self.dead


class DispatchObserver(Protocol):
    """Counts outcomes (the service's metrics); the domain stays free of Prometheus."""

    def outcome(self, kind: str, outcome: str) -> None: ...


async def dispatch_once(
    store: OutboxStore,
    senders: Mapping[str, Sender],
    policy: RetryPolicy,
    *,
    batch: int = 20,
    observer: DispatchObserver | None = None,
) -> DispatchResult:
    """Claim a batch of due messages and try each once, concurrently; record every outcome."""
    claimed = await store.claim(batch, policy.lease)
    result = DispatchResult()
    if not claimed:
        return result
    now = await store.now()
    outcomes = await asyncio.gather(
        *(_deliver(store, senders, policy, message, now) for message in claimed)
    )
    for message, outcome in zip(claimed, outcomes, strict=True):
        setattr(result, outcome, getattr(result, outcome) + 1)
        if observer is not None:
            observer.outcome(message.kind, outcome)
    return result


async def _deliver(
    store: OutboxStore,
    senders: Mapping[str, Sender],
    policy: RetryPolicy,
    message: Claimed,
    now: datetime,
) -> str:
    sender = senders.get(message.kind)
    try:
        if sender is None:
            raise DeliveryFailed(f"no sender for messages of kind {message.kind!r}")
        await sender.deliver(message)
    except Exception as exc:
        if not isinstance(exc, DeliveryFailed):
            # A fault of ours, not the receiver's: retried like any failure, and logged whole.
            log.exception("outbox message %s (%s) failed unexpectedly", message.id, message.kind)
        failure = exc if isinstance(exc, DeliveryFailed) else DeliveryFailed(type(exc).__name__)
        error = str(failure)[:500]
        retry = now + policy.delay(message.attempt)
        if failure.permanent or retry - message.created_at > policy.max_age:
            log.warning(
                "outbox message %s (%s) dead after %d attempt(s): %s",
                message.id,
                message.kind,
                message.attempt,
                error,
            )
            await store.dead(message, error)
            return "dead"
        log.info(
            "outbox message %s (%s) attempt %d failed, next at %s: %s",
            message.id,
            message.kind,
            message.attempt,
            retry.isoformat(),
            error,
        )
        await store.retry_at(message, retry, error)
        return "retried"
    await store.delivered(message)
    return "delivered"
