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
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from adapters.mail import FileMailer, SmtpConfig, SmtpMailer
from domain.outbox import EMAIL, DispatchObserver, RetryPolicy, Sender, dispatch_once
from persistence.db import DatabaseUnavailable
from persistence.outbox import OutboxStore
from service.settings import Settings

if TYPE_CHECKING:
    from service.runtime import Runtime

log = logging.getLogger(__name__)

# Delivered messages are kept this long (what was sent, when), then deleted.
KEEP_DELIVERED_DAYS = 7
PURGE_EVERY_SECONDS = 3600.0


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base=timedelta(seconds=settings.outbox_retry_base),
        cap=timedelta(seconds=settings.outbox_retry_cap),
        max_age=timedelta(seconds=settings.outbox_max_age),
        # Longer than the slowest attempt can take, so a live dispatcher never loses its claim.
        lease=timedelta(seconds=max(120.0, 4 * settings.smtp_timeout)),
    )


def senders(settings: Settings) -> dict[str, Sender]:
    if settings.smtp_url is not None:
        config = SmtpConfig.from_url(settings.smtp_url, timeout=settings.smtp_timeout)
        mailer: Sender = SmtpMailer(config, settings.mail_from)
    else:
        mailer = FileMailer(settings.data_dir / "mail", settings.mail_from)
    return {EMAIL: mailer}


class OutboxWorker:
    def __init__(
        self,
        store: OutboxStore,
        senders: Mapping[str, Sender],
        policy: RetryPolicy,
        *,
        poll_interval: float = 1.0,
        batch: int = 20,
        observer: DispatchObserver | None = None,
    ) -> None:
        self.store = store
        self.senders = senders
        self.policy = policy
        self.poll_interval = poll_interval
        self.batch = batch
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
        next_purge = time.monotonic()
        while True:
            busy = False
            try:
                result = await dispatch_once(
                    self.store, self.senders, self.policy, batch=self.batch, observer=self.observer
                )
                busy = result.claimed == self.batch
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
        senders(settings),
        retry_policy(settings),
        poll_interval=settings.outbox_poll_interval,
        batch=settings.outbox_batch,
    )
