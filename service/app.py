"""The app factory: the composition root. Nothing here runs at import time."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from connexion import AsyncApp
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.options import SwaggerUIOptions
from starlette.types import ASGIApp, Receive, Scope, Send

from handlers.context import REQUEST_SCOPE
from service import (
    fastpath,
    formats,
    heap,
    logs,
    metrics,
    outbox_worker,
    problems,
    reference,
    security,
    signatures,
)
from service.admission import AdmissionControl
from service.hardening import HardenedServerErrors, HardeningMiddleware
from service.jsonifier import OrjsonJsonifier
from service.methods import MethodGuard, spec_paths
from service.observability import ObservabilityMiddleware, operation_routes
from service.ratelimit import RateLimit
from service.read_your_writes import ReadYourWrites, window_for
from service.reference import (
    DOCS_PATH,
    SPEC_PATH,
    ContractPages,
    ReferencePage,
    published_contract,
)
from service.runtime import SCOPE_KEY, Runtime
from service.settings import EMBEDDED_ML_URL_VARIABLE, EMBEDDED_URL_VARIABLE, Settings
from service.validation import VALIDATOR_MAP, BodyGate

log = logging.getLogger(__name__)

SPEC_DIR = Path(__file__).resolve().parent.parent / "openapi"
SPEC_FILE = "medai.yaml"


class RuntimeMiddleware:
    """Puts the runtime in every request's scope, where the security function, handlers and
    error handlers find it (no module-level globals), and makes the scope the current
    request's for the handlers (``REQUEST_SCOPE``)."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SCOPE_KEY] = self.runtime
        REQUEST_SCOPE.set(scope)
        await self.app(scope, receive, send)


# The outermost layer, wrapped in the security headers (service/hardening.py).
_REPLACED = {ServerErrorMiddleware: HardenedServerErrors}


def _connexion_app(**options: Any) -> AsyncApp:
    """Stock Connexion, or the same with its per-request rebuilding done once per operation
    (``service.fastpath``: only on the Connexion release it was proven on, and unless switched
    off). Either way the app's middlewares and validators below are the same ones."""
    if fastpath.enabled():
        return fastpath.PlannedApp(
            __name__,
            middlewares=fastpath.middlewares(_REPLACED),
            security_map=fastpath.SECURITY_MAP,
            **options,
        )
    middlewares = [_REPLACED.get(m, m) for m in ConnexionMiddleware.default_middlewares]
    return AsyncApp(
        __name__, middlewares=middlewares, security_map=security.SECURITY_MAP, **options
    )


def create_app(settings: Settings, database_url: str) -> AsyncApp:
    """Build the ASGI app for ``settings`` against the database at ``database_url``."""
    formats.register()
    # Connexion warns on every request to an operation accepting two media types (login takes
    # JSON or the OAuth form); that is by design here.
    logging.getLogger("connexion.operations.openapi3").setLevel(logging.ERROR)
    # Connexion's validators quote refused values, passwords and tokens included.
    logs.withhold_request_values()
    runtime = Runtime.build(settings, database_url, ml_observer=metrics.MLMetrics())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await runtime.start()
        worker = outbox_worker.for_runtime(runtime) if settings.outbox_dispatch else None
        if worker is not None:
            worker.start()
        # Connexion builds its middleware (the spec, the validators) before the lifespan runs.
        heap.settle()
        try:
            async with metrics.pool_sampling(runtime.database.pool, replica=runtime.replica):
                yield
        finally:
            if worker is not None:
                await worker.stop()
            await runtime.stop()

    app = _connexion_app(specification_dir=SPEC_DIR, jsonifier=OrjsonJsonifier(), lifespan=lifespan)
    signatures.freeze(security.token_info)
    # Connexion routes, validates and authenticates from the published contract, with the
    # roles of each operation where its security middleware enforces them.
    published = published_contract().document
    app.add_api(
        security.enforced(published),
        resolver=signatures.SignatureCachingResolver(published),
        strict_validation=True,
        validator_map=VALIDATOR_MAP,
        validate_responses=settings.validate_responses,
        swagger_ui_options=SwaggerUIOptions(
            swagger_ui=settings.swagger_ui, swagger_ui_path=DOCS_PATH, spec_path=SPEC_PATH
        ),
    )
    # The contract's own pages in front of Swagger UI (which would serve its working copy).
    app.add_middleware(ContractPages, position=MiddlewarePosition.BEFORE_SWAGGER)
    # After routing and security, before Connexion's validation: bodies read whole, 415s.
    app.add_middleware(BodyGate, position=MiddlewarePosition.BEFORE_VALIDATION, spec=published)
    # First added is outermost: request id, access log and metrics cover every reply,
    # including size refusals and CORS preflights.
    app.add_middleware(
        ObservabilityMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        routes=operation_routes(SPEC_DIR / SPEC_FILE),
        serve_metrics=settings.metrics,
    )
    if settings.max_in_flight:  # inside the access log and metrics: refusals are counted
        app.add_middleware(
            AdmissionControl,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            max_in_flight=settings.max_in_flight,
        )
    app.add_middleware(
        HardeningMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        max_body_bytes=settings.max_body_bytes,
        headers=False,
    )
    # CORS outside routing and security, so a preflight never needs a token. Exact origins
    # from configuration only: never reflected, never "*". Credentials are allowed for the one
    # cookie there is, a browser sign-in's refresh token (HttpOnly, SameSite=Strict, /auth only,
    # CSRF-checked: handlers.auth); access tokens stay bearer.
    app.add_middleware(
        problems.ProblemCORSMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "Idempotency-Key",
            "X-Request-ID",
            "X-Requested-With",
        ],
        expose_headers=[
            "ETag",
            "Location",
            "Retry-After",
            "Idempotent-Replayed",
            "X-Request-ID",
            "RateLimit",
            "RateLimit-Policy",
        ],
        allow_credentials=True,
        max_age=600,
    )
    if settings.rate_limit:  # inside CORS, so that a browser can read a 429 and the quota
        app.add_middleware(
            RateLimit, position=MiddlewarePosition.BEFORE_EXCEPTION, quota=settings.rate_limit
        )
    app.add_middleware(
        RuntimeMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, runtime=runtime
    )
    if runtime.replica is not None:
        app.add_middleware(
            ReadYourWrites,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            window=window_for(settings.replica_max_lag),
        )
    # Outside the error handlers, so every 401 gets its challenge whoever answered it.
    app.add_middleware(security.BearerChallenge, position=MiddlewarePosition.BEFORE_EXCEPTION)
    # Inside CORS, so that a preflight OPTIONS is answered before any 405.
    app.add_middleware(
        MethodGuard,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        paths=spec_paths(SPEC_DIR / SPEC_FILE),
    )
    if settings.swagger_ui:
        # The Redocly reference beside Swagger UI, under the same switch as the docs.
        app.add_middleware(
            ReferencePage,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            page=reference.PAGE,
        )
    problems.register(app)
    app.runtime = runtime  # for tests and the CLI
    return app


def create_app_from_env() -> AsyncApp:
    """Entry point for uvicorn workers (``--factory``).

    Workers never start the embedded database: the parent process (``medai serve``) starts it
    once and hands its URL down in ``MEDAI_EMBEDDED_DATABASE_URL``; likewise the reference model
    server, when no ML service is configured, in ``MEDAI_EMBEDDED_ML_URL``.
    """
    settings = Settings.from_env().with_secret()
    url = settings.database_url or os.environ.get(EMBEDDED_URL_VARIABLE)
    if url is None:
        raise RuntimeError(
            "No database: set DATABASE_URL, or start the service with 'medai serve' which "
            "provides the embedded development database"
        )
    embedded_ml = os.environ.get(EMBEDDED_ML_URL_VARIABLE)
    if settings.ml_service_url is None and embedded_ml:
        settings = dataclasses.replace(settings, ml_service_url=embedded_ml)
    return create_app(settings, url)
