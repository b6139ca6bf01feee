"""The app factory: the composition root. Nothing here runs at import time."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
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
    admission,
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
from service.edge import Edge
from service.jsonifier import OrjsonJsonifier
from service.methods import Methods, PathMethods, spec_paths
from service.observability import operation_routes
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


class Inner:
    """Our layer inside CORS (a preflight is answered before any 405) and outside Connexion's
    error handlers (every 401 gets its challenge, whoever answered it), one ASGI layer for:

    - the runtime in every request's scope, where the security function, handlers and error
      handlers find it (no module-level globals), and the scope made the current request's
      for the handlers (``REQUEST_SCOPE``);
    - the 405s of the spec's paths (``service.methods``);
    - the RFC 6750 challenge on every 401 (``service.security.challenged``).
    """

    def __init__(self, app: ASGIApp, runtime: Runtime, paths: list[PathMethods]) -> None:
        self.app = app
        self.runtime = runtime
        self.methods = Methods(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SCOPE_KEY] = self.runtime
        REQUEST_SCOPE.set(scope)
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.methods.refused(scope)
        if refused is not None:
            await self.methods.refuse(refused, scope["method"], send)
            return
        await self.app(scope, receive, security.challenged(send))


def _connexion_app(edge: Any, outer: list[Any], **options: Any) -> AsyncApp:
    """Stock Connexion, or the same with its per-request rebuilding done once per operation
    (``service.fastpath``: only on the Connexion release it was proven on, and unless switched
    off). Either way the app's middlewares and validators below are the same ones, and the
    ``edge`` (``service.edge``) takes the place of Connexion's last-resort error middleware,
    which it wraps: the outermost layer but for ``outer`` (admission control), put in front."""
    replaced = {ServerErrorMiddleware: edge}
    if fastpath.enabled():
        return fastpath.PlannedApp(
            __name__,
            middlewares=[*outer, *fastpath.middlewares(replaced)],
            security_map=fastpath.SECURITY_MAP,
            **options,
        )
    middlewares = [*outer, *(replaced.get(m, m) for m in ConnexionMiddleware.default_middlewares)]
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

    # Request id, size limits, /metrics, security headers, metrics and the access log of every
    # reply, size refusals, admission refusals, CORS preflights and bare 500s included.
    edge = functools.partial(
        Edge,
        routes=operation_routes(SPEC_DIR / SPEC_FILE),
        max_body_bytes=settings.max_body_bytes,
        serve_metrics=settings.metrics,
    )
    # Outermost, so that a refusal costs the least (refusals are counted, not access-logged).
    outer = [admission.outermost(settings.max_in_flight)] if settings.max_in_flight else []
    app = _connexion_app(
        edge, outer, specification_dir=SPEC_DIR, jsonifier=OrjsonJsonifier(), lifespan=lifespan
    )
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
    # First added is outermost (inside the edge).
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
    if runtime.replica is not None:  # a writer's next lists read the primary (a cookie)
        app.add_middleware(
            ReadYourWrites,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            window=window_for(settings.replica_max_lag),
        )
    app.add_middleware(
        Inner,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        runtime=runtime,
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
