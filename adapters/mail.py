"""Email delivery for the outbox: an SMTP client (aiosmtplib), or in development a folder of
``.eml`` files the developer opens (``var/mail/`` by default).

Each email's Message-ID is built from its outbox message id, so a message delivered twice (the
dispatcher died after the server took it and before the outbox recorded it) carries the same
Message-ID both times, and the receiving side drops the repeat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

import aiosmtplib

from domain.outbox import Claimed, DeliveryFailed, Email

log = logging.getLogger(__name__)

DEFAULT_FROM = "MedAI <no-reply@medai.invalid>"


def message_id(outbox_id: UUID, sender: str) -> str:
    """``<outbox id@sender's domain>``: the same for every delivery of one outbox message."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "medai.invalid"
    return f"<{outbox_id}@{domain}>"


def build(email: Email, outbox_id: UUID, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = email.to
    mail["Subject"] = email.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = message_id(outbox_id, sender)
    mail.set_content(email.text)
    if email.html is not None:
        mail.add_alternative(email.html, subtype="html")
    return mail


@dataclass(frozen=True)
class SmtpConfig:
    """From ``MEDAI_SMTP_URL``: ``smtp://[user:password@]host[:port][?starttls=...]``
    (STARTTLS when the server offers it, ``?starttls=required`` to insist, ``?starttls=off``
    never) or ``smtps://...`` (TLS from the first byte, port 465 by default)."""

    hostname: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False
    start_tls: bool | None = None
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must look like smtp://host:port or smtps://host:port")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has a port that is not a number from 1 to 65535") from None
        starttls = parse_qs(parts.query).get("starttls", ["auto"])[0]
        if starttls not in ("auto", "required", "off"):
            raise ValueError("starttls must be auto, required or off")
        implicit = parts.scheme == "smtps"
        modes: dict[str, bool | None] = {"auto": None, "required": True, "off": False}
        return cls(
            hostname=parts.hostname,
            port=port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit,
            start_tls=False if implicit else modes[starttls],
            timeout=timeout,
        )


class SmtpMailer:
    """The outbox's email ``Sender`` through an SMTP server."""

    def __init__(self, config: SmtpConfig, sender: str = DEFAULT_FROM) -> None:
        self.config = config
        self.sender = sender

    async def deliver(self, message: Claimed) -> None:
        mail = build(Email.from_payload(message.payload), message.id, self.sender)
        config = self.config
        try:
            await aiosmtplib.send(
                mail,
                hostname=config.hostname,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.use_tls,
                start_tls=config.start_tls,
                timeout=config.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [error.code for error in refused.recipients]
            # 5xx: the server will never take this address; 4xx: try again later.
            raise DeliveryFailed(
                f"recipient refused ({', '.join(map(str, codes))})",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryFailed(f"SMTP {error.code}: {error.message[:200]}") from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}"[:300]) from None


class FileMailer:
    """Development sink: each email written to ``folder`` as ``<outbox id>.eml`` (the same file
    again on a repeat delivery), and a log line saying where."""

    def __init__(self, folder: Path, sender: str = DEFAULT_FROM) -> None:
        self.folder = folder
        self.sender = sender

    async def deliver(self, message: Claimed) -> None:
        mail = build(Email.from_payload(message.payload), message.id, self.sender)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{message.id}.eml"
            path.write_bytes(bytes(mail))
        except OSError as error:
            raise DeliveryFailed(f"cannot write the mail file: {error}") from None
        # Never the body: it may hold a single-use link.
        log.info("mail %r written to %s (no MEDAI_SMTP_URL set)", mail["Subject"], path)
