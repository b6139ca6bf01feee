"""The reference model server's app factory. Nothing runs at import time."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware import MiddlewarePosition
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelserver.api import REGISTRY_KEY, ModelNotFound
from modelserver.model import MODELS_DIR, LogisticModel, load_models
from modelserver.tensors import InputError

log = logging.getLogger(__name__)

SPEC_DIR = Path(__file__).resolve().parent.parent / "openapi"
SPEC_FILE = "inference-v2.yaml"
MAX_BODY_BYTES = 4 * 1024 * 1024
# Validation messages quote the offending value, which may be a 30 000-element array.
MAX_ERROR_CHARS = 500


class BodyTooLarge(Exception):
    """The request body went past MAX_BODY_BYTES: answered 413."""


def _error_bytes(message: str) -> bytes:
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 1] + "\u2026"
    return json.dumps({"error": message}).encode()


class ServerContext:
    """Outermost middleware: gives handlers the models, echoes ``X-Request-ID``, and caps the
    request body (a chunked body has no Content-Length, so it is also counted as it arrives)."""

    def __init__(self, app: ASGIApp, models: Mapping[str, LogisticModel]) -> None:
        self.app = app
        self.models = models

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[REGISTRY_KEY] = self.models
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id")
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            await _send_error(send, 413, f"request body larger than {MAX_BODY_BYTES} bytes")
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise BodyTooLarge(f"request body larger than {MAX_BODY_BYTES} bytes")
            return message

        async def echoing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and request_id is not None:
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, counting_receive, echoing_send)


async def _send_error(send: Send, status: int, message: str) -> None:
    body = _error_bytes(message)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error(status: int, message: str) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status, mimetype="application/json", body=_error_bytes(message)
    )


def _problem(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    # Connexion's own validation failures: the protocol's shape instead of problem+json.
    assert isinstance(exc, ProblemException)
    return _error(exc.status, str(exc.detail or exc.title))


def _http_exception(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, exc.detail)


def _input_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return _error(400, str(exc))


def _not_found(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return _error(404, str(exc.args[0]) if exc.args else "not found")


def _too_large(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return _error(413, str(exc))


def _unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.error("unhandled error", exc_info=exc)
    return _error(500, "internal error; it has been logged")


def create_app(models_dir: Path = MODELS_DIR, *, validate_responses: bool = False) -> AsyncApp:
    """The model server app serving every model in ``models_dir``.

    ``validate_responses`` checks every reply against the contract (tests turn it on).
    """
    models = load_models(models_dir)
    if not models:
        raise ValueError(f"no model in {models_dir}")
    app = AsyncApp(__name__, specification_dir=SPEC_DIR)
    app.add_api(SPEC_FILE, strict_validation=True, validate_responses=validate_responses)
    app.add_middleware(ServerContext, MiddlewarePosition.BEFORE_EXCEPTION, models=models)
    app.add_error_handler(ProblemException, _problem)
    app.add_error_handler(HTTPException, _http_exception)
    app.add_error_handler(InputError, _input_error)
    app.add_error_handler(ModelNotFound, _not_found)
    app.add_error_handler(BodyTooLarge, _too_large)
    app.add_error_handler(Exception, _unexpected)
    return app
