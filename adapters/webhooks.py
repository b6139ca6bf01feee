"""Webhook delivery over HTTP: the resolver and the signed POST (Standard Webhooks).

The domain checks every address a host resolves to (domain/webhooks.py); the request then
connects to the first checked address itself, with the URL's host name kept for the Host header
and for TLS (SNI and the certificate check), so a second DNS answer cannot send it elsewhere.
Redirects are not followed (a 3xx is a failed delivery): a redirect could point anywhere.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from standardwebhooks import Webhook

from domain.outbox import DeliveryFailed

USER_AGENT = "MedAI-Webhooks/1"


class SystemResolver:
    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses: list[str] = []
        for info in infos:
            address = str(info[4][0])
            if address not in addresses:
                addresses.append(address)
        return addresses


def signed_headers(secret: str, message_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``."""
    timestamp = datetime.fromtimestamp(int(now.timestamp()), UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body.decode()),
    }


def _pinned(url: str, address: str) -> str:
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


class HttpTransport:
    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    async def send(
        self,
        *,
        url: str,
        address: str,
        secret: str,
        message_id: str,
        body: Mapping[str, Any],
    ) -> int:
        content = orjson.dumps(body)
        parts = urlsplit(url)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": parts.netloc,
            **signed_headers(secret, message_id, content, datetime.now(UTC)),
        }
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self.timeout, follow_redirects=False, trust_env=False
                ) as client,
                # Only the status matters: the receiver's body is never read.
                client.stream(
                    "POST",
                    _pinned(url, address),
                    content=content,
                    headers=headers,
                    extensions=extensions,
                ) as response,
            ):
                return response.status_code
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}"[:300]) from None
