"""The outbox dispatcher of one process, started and stopped by the app's lifespan.

Every ``medai serve`` worker process runs one; they share the table safely (claims skip rows
another holds), so N instances deliver N times faster, never twice on purpose. Stopping
cancels a delivery in flight: its message stays claimed until its lease ends, then is sent
again (at least once; receivers drop the repeat by its id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from adapters.mail import FileMailer, SmtpConfig, SmtpMailer
from adapters.templates import JinjaRenderer
from adapters.webhooks import HttpTransport, SystemResolver
from domain import notifications, webhooks
from domain.notifications import NotificationSettings
from domain.outbox import EMAIL, Claimed, DispatchObserver, RetryPolicy, Sender, dispatch_once
from domain.webhooks import UrlPolicy
from persistence.db import Database, DatabaseUnavailable
from persistence.outbox import OutboxStore
from service import metrics
from service.settings import Settings

if TYPE_CHECKING:
    from service.runtime import Runtime

log = logging.getLogger(__name__)

# Delivered messages are kept this long (what was sent, when), then deleted.
KEEP_DELIVERED_DAYS = 7
PURGE_EVERY_SECONDS = 3600.0
SAMPLE_EVERY_SECONDS = 5.0


class DepthObserver(DispatchObserver, Protocol):
    def depth(self, pending: int, oldest_age: float, overdue: float) -> None: ...


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base=timedelta(seconds=settings.outbox_retry_base),
        cap=timedelta(seconds=settings.outbox_retry_cap),
        max_age=timedelta(seconds=settings.outbox_max_age),
        # Longer than the slowest attempt can take (checked in the settings), so a live
        # dispatcher never loses its claim.
        lease=timedelta(seconds=settings.outbox_lease),
    )


def mailer(settings: Settings) -> Sender:
    if settings.smtp_url is not None:
        config = SmtpConfig.from_url(settings.smtp_url, timeout=settings.smtp_timeout)
        return SmtpMailer(config, settings.mail_from)
    return FileMailer(settings.data_dir / "mail", settings.mail_from)


def url_policy(settings: Settings) -> UrlPolicy:
    return UrlPolicy(https_only=settings.production, allow_private=settings.webhook_allow_private)


class _Delivers:
    """A ``Sender`` that is a domain function of the message (with its own units of work)."""

    def __init__(self, deliver: Callable[[Claimed], Awaitable[None]]) -> None:
        self._deliver = deliver

    async def deliver(self, message: Claimed) -> None:
        await self._deliver(message)


def senders(
    settings: Settings,
    database: Database,
    *,
    transport: webhooks.Transport | None = None,
    resolver: webhooks.Resolver | None = None,
) -> dict[str, Sender]:
    """Every kind of outbox message and who delivers it."""
    renderer = JinjaRenderer()
    notify = NotificationSettings(
        reminder_lead=timedelta(seconds=settings.reminder_lead),
        timezone=settings.notify_timezone,
    )
    delivery = webhooks.DeliverySettings(
        policy=UrlPolicy(
            https_only=settings.production, allow_private=settings.webhook_allow_private
        ),
        disable_after=settings.webhook_disable_after,
    )
    send = transport or HttpTransport(settings.webhook_timeout)
    lookup = resolver or SystemResolver()

    async def fan_out(message: Claimed) -> None:
        async with database.unit_of_work() as uow:
            await notifications.fan_out(uow, message.payload, renderer, notify, _now())

    async def remind(message: Claimed) -> None:
        async with database.unit_of_work() as uow:
            await notifications.remind(uow, message.payload, renderer, notify, _now())

    async def webhook(message: Claimed) -> None:
        await webhooks.deliver(database.unit_of_work, send, lookup, renderer, delivery, message)

    return {
        EMAIL: mailer(settings),
        notifications.APPOINTMENT_EVENT: _Delivers(fan_out),
        notifications.REMINDER: _Delivers(remind),
        notifications.WEBHOOK: _Delivers(webhook),
    }


def _now() -> datetime:
    return datetime.now(UTC)


class OutboxWorker:
    def __init__(
        self,
        store: OutboxStore,
        senders: Mapping[str, Sender],
        policy: RetryPolicy,
        *,
        poll_interval: float = 1.0,
        batch: int = 20,
        concurrency: int = 5,
        observer: DepthObserver | None = None,
    ) -> None:
        self.store = store
        self.senders = senders
        self.policy = policy
        self.poll_interval = poll_interval
        self.batch = batch
        self.concurrency = concurrency
        self.observer = observer
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    def wake(self) -> None:
        """Look for due messages now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        next_purge = next_sample = time.monotonic()
        while True:
            busy = False
            try:
                result = await dispatch_once(
                    self.store,
                    self.senders,
                    self.policy,
                    batch=self.batch,
                    concurrency=self.concurrency,
                    observer=self.observer,
                )
                busy = result.claimed == self.batch
                if self.observer is not None and time.monotonic() >= next_sample:
                    pending, oldest = await self.store.depth()
                    self.observer.depth(pending, oldest, await self.store.overdue())
                    next_sample = time.monotonic() + SAMPLE_EVERY_SECONDS
                if time.monotonic() >= next_purge:
                    await self.store.purge_delivered(KEEP_DELIVERED_DAYS)
                    next_purge = time.monotonic() + PURGE_EVERY_SECONDS
            except DatabaseUnavailable as exc:
                log.warning("outbox dispatcher: database unavailable (%s)", exc)
            except Exception:
                # Never let one bad round end the dispatcher for the life of the process.
                log.exception("outbox dispatcher round failed")
            if busy:
                continue  # a full batch: more may be due already
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)


def for_runtime(runtime: Runtime) -> OutboxWorker:
    settings = runtime.settings
    return OutboxWorker(
        OutboxStore(runtime.database),
        senders(settings, runtime.database),
        retry_policy(settings),
        poll_interval=settings.outbox_poll_interval,
        batch=settings.outbox_batch,
        # Half the pool at most: requests keep connections while the outbox is busy.
        concurrency=max(1, settings.db_pool_size // 2),
        observer=metrics.OutboxMetrics(),
    )
