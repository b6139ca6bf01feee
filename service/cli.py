"""``medai`` command: serve, migrate, create-admin.

``medai serve`` is the README's run command: with no ``DATABASE_URL`` it starts the embedded
PostgreSQL once in this (parent) process, migrates, and hands the URL to uvicorn's workers.
With no ``MEDAI_ML_URL`` (outside production) it likewise starts the reference model server as a
child process, so predictions work out of the box through the same HTTP client as production.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from service.settings import (
    EMBEDDED_ML_URL_VARIABLE,
    EMBEDDED_URL_VARIABLE,
    ConfigError,
    Settings,
)

if TYPE_CHECKING:
    from modelserver.launcher import ModelServer

log = logging.getLogger("medai")
# Not imported from service.metrics: importing it would load prometheus_client too early.
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from service import embedded_db

    server = embedded_db.start(settings.data_dir)
    return server.url()


def _migration_url(settings: Settings, url: str) -> str:
    """Migrations run as one transaction under an advisory lock: behind a transaction-mode
    pooler they take the direct URL when one is given (docs/operations.md)."""
    return settings.migration_database_url or url


def serve(settings: Settings) -> None:
    from service import logs

    logs.configure(settings.log_level)
    # uvicorn drains on SIGTERM/SIGINT, then re-raises the signal. Ending with a normal exit
    # instead lets the clean-up run: the metrics folder below, the embedded database's stop.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_cleanly)
    metrics_dir = _metrics_dir(settings.workers)
    try:
        _serve(settings)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _exit_cleanly(signum: int, _frame: FrameType | None) -> None:
    log.info("stopping on %s", signal.Signals(signum).name)
    sys.exit(0)


def _metrics_dir(workers: int) -> str | None:
    """With several workers, a fresh folder for their metric files, set before anything imports
    prometheus_client (it reads the variable once, at import); one process counts in memory."""
    if workers == 1:
        os.environ.pop(METRICS_DIR_VARIABLE, None)
        return None
    path = tempfile.mkdtemp(prefix="medai-metrics-")
    os.environ[METRICS_DIR_VARIABLE] = path
    return path


def _serve(settings: Settings) -> None:
    settings = settings.with_secret()
    # Started first and awaited last: the model server's start-up (about a second: an
    # interpreter, uvicorn, the model) then overlaps the database's and the migrations'
    # instead of adding to them (benchmarks/profiles.md, warm start).
    model_server = _spawn_model_server(settings)
    if settings.swagger_ui:
        from service import reference

        # In the background: the page is served as soon as it is written.
        reference.build_in_background(reference.PAGE)
    try:
        from service import migrate

        url = _database_url(settings)
        if not settings.database_url:
            os.environ[EMBEDDED_URL_VARIABLE] = url
        if settings.migrate_at_start:
            migrate.upgrade(_migration_url(settings, url))
        if settings.initial_admin_email and settings.initial_admin_password:
            asyncio.run(
                _create_admin(
                    settings, url, settings.initial_admin_email, settings.initial_admin_password
                )
            )
        model_server = _await_model_server(model_server)
        _run_uvicorn(settings)
    finally:
        if model_server is not None:
            model_server.stop()


def _spawn_model_server(settings: Settings) -> ModelServer | None:
    """The reference model server when no ML service is configured, its URL handed to the
    workers like the embedded database's. Not in production: there, predictions answer 503
    ("not configured") until MEDAI_ML_URL names a real ML service."""
    os.environ.pop(EMBEDDED_ML_URL_VARIABLE, None)
    if settings.ml_service_url:
        return None
    if settings.production:
        log.warning("MEDAI_ML_URL is not set: predictions will answer 503 until it is")
        return None
    from modelserver import launcher

    try:
        return launcher.spawn(log_level="warning")
    except (launcher.LaunchError, OSError) as exc:
        _model_server_failed(exc)
        return None


def _await_model_server(server: ModelServer | None) -> ModelServer | None:
    if server is None:
        return None
    from modelserver import launcher

    try:
        launcher.wait_until_ready(server)
    except launcher.LaunchError as exc:
        _model_server_failed(exc)
        return None
    os.environ[EMBEDDED_ML_URL_VARIABLE] = server.base_url
    log.info("reference model server at %s", server.base_url)
    return server


def _model_server_failed(exc: Exception) -> None:
    # Everything but predictions works without it; they answer 503 (not configured).
    log.error("reference model server did not start (%s): predictions will answer 503", exc)


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn

    from service import logs

    uvicorn.run(
        "service.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        log_config=logs.config(settings.log_level),
        # The middleware writes one JSON line per request; uvicorn's own would double it.
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )


async def _create_admin(settings: Settings, url: str, email: str, password: str) -> None:
    from domain import users
    from service.runtime import Runtime

    runtime = Runtime.build(settings.with_secret(), url)
    await runtime.database.open()
    try:
        user, created = await users.bootstrap_admin(
            runtime.database.transactions(),
            runtime.auth,
            email=email,
            password=password,
            full_name="Administrator",
        )
    finally:
        await runtime.stop()
    log.warning(
        "admin %s %s", user.email, "created" if created else "already present (ensured admin)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medai", description="MedAI backend")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the HTTP API (embedded database unless DATABASE_URL)")
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")
    admin = commands.add_parser(
        "create-admin",
        help="create the first admin (password from MEDAI_ADMIN_PASSWORD or a prompt)",
    )
    admin.add_argument("--email", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"medai: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        serve(settings)
    elif args.command == "migrate":
        from service import migrate

        migrate.upgrade(_migration_url(settings, _database_url(settings)))
    elif args.command == "create-admin":
        password = os.environ.get("MEDAI_ADMIN_PASSWORD") or getpass.getpass("Password: ")
        url = _database_url(settings)
        from service import migrate

        migrate.upgrade(_migration_url(settings, url))
        asyncio.run(_create_admin(settings, url, args.email, password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
