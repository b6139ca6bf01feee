"""A real SMTP server on loopback (aiosmtpd, in a thread of its own) that keeps what arrives.

Tests read the messages as the standard library parses them. ``refuse`` makes it answer 550 to
some recipients, ``stop``/``start`` take it down and bring it back on the same port.
"""

from __future__ import annotations

import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from modelserver.launcher import free_port


class _Handler:
    def __init__(self, receiver: MailReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.receiver.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        with self.receiver.lock:
            self.receiver.messages.append(mail)
        return "250 Message accepted for delivery"


class MailReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.refused: set[str] = set()
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
        self.refused.clear()

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [mail for mail in self.messages if mail["To"] == address]

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(mail["Message-ID"]) for mail in self.messages]


def body(mail: EmailMessage, subtype: str) -> str:
    """The text/plain or text/html part of a received mail."""
    part = mail.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    assert isinstance(part, EmailMessage)
    content: str = part.get_content()
    return content
