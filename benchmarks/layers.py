"""What each layer of the stack costs a request, measured in one process without the network:
``uv run python -m benchmarks.layers`` (about a minute; uses the benchmark's 10,000-appointment
database, generating it if needed).

The full benchmark says how much CPU a request costs; this says where it goes. It builds the
app as ``medai serve`` does in production, calls it as an ASGI application in a loop (no
uvicorn, no sockets: what is left is the app itself and psycopg), and reports the CPU time per
patient-list request with the whole stack, then with one piece at a time taken out, in
alternation so drift hits every variant alike. Differences of a few microseconds are noise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import secrets
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvloop

from benchmarks import dataset
from benchmarks.fixtures import Fixtures
from service import embedded_db

WORK_DIR = Path(__file__).resolve().parent.parent / "var" / "bench"


def _requests(path: str) -> list[tuple[str, str]]:
    rows = Path(path).read_text().splitlines()
    return [(token, target) for token, target in (row.split("\t") for row in rows)]


async def _call(app: Any, token: str, target: str) -> int:
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"user-agent", b"layers"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def small_database() -> dataset.Dataset:
    """The benchmark's 10,000-appointment database on the embedded server, made if needed."""
    postgres = embedded_db.start(WORK_DIR)
    shape = dataset.SMALL
    return dataset.prepare(postgres.libpq_url("postgres"), postgres.libpq_url(shape.name), shape)


def production_settings(secret: str, database_url: str) -> Any:
    """The service's settings as production has them, its ML service out of reach (no request
    measured here calls it)."""
    from service.settings import Settings

    return Settings.from_env(
        {
            "MEDAI_ENV": "production",
            "MEDAI_JWT_SECRET": secret,
            "DATABASE_URL": database_url,
            "MEDAI_ML_URL": "http://127.0.0.1:9",
        }
    )


Variant = Callable[[], contextlib.AbstractContextManager[None]]


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


async def _measure(build: Callable[[], Any], requests: list[tuple[str, str]], count: int) -> float:
    app = build()
    lifespan_done = asyncio.Event()
    started = asyncio.Event()
    messages = [{"type": "lifespan.startup"}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await lifespan_done.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message)

    lifespan = asyncio.create_task(app({"type": "lifespan", "state": {}}, receive, send))
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait({lifespan, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if lifespan.done():  # start-up failed: its exception, instead of waiting forever
        waiting.cancel()
        lifespan.result()
        raise RuntimeError("the app's lifespan ended during start-up")
    try:
        for token, target in requests[:50]:  # warm-up: prepared statements, caches
            if await _call(app, token, target) != 200:
                raise RuntimeError(f"{target}: not 200 during the warm-up")
        gc.collect()
        cpu = time.process_time()
        for n in range(count):
            token, target = requests[n % len(requests)]
            status = await _call(app, token, target)
            if status != 200:
                raise RuntimeError(f"{target}: {status}")
        return (time.process_time() - cpu) / count * 1000
    finally:
        lifespan_done.set()
        await lifespan


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layers", description=__doc__)
    parser.add_argument("--count", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--stack-only", action="store_true", help="only the whole stack and the baseline"
    )
    parser.add_argument(
        "--only",
        choices=("stack", "bare"),
        help="measure one of the two and nothing else (benchmarks/instructions.py)",
    )
    args = parser.parse_args()

    from service import logs
    from service.app import create_app

    # As `medai serve` does: without it the access log line is never written (INFO is off).
    logs.configure("info")

    data = small_database()
    shape = data.shape
    secret = secrets.token_urlsafe(48)
    # A folder of its own: benchmarks/instructions.py runs two of these at once.
    folder = WORK_DIR / "layers" / str(os.getpid())
    files = Fixtures(data, secret, folder).write_all()
    requests = _requests(files["patient_list"])
    shutil.rmtree(folder)
    settings = production_settings(secret, data.url)

    def build() -> Any:
        return create_app(settings, data.url)

    def build_bare() -> Any:
        from benchmarks import bare_app

        return bare_app.build(data.url, secret)

    variants: dict[str, Variant] = {} if args.only == "bare" else {"whole stack": _nothing}
    if not (args.stack_only or args.only):
        variants.update(VARIANTS)
    with_bare = args.only != "stack"
    names = [*variants, BARE] if with_bare else [*variants]
    figures: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name, variant in variants.items():
            with variant():
                figures[name].append(uvloop.run(_measure(build, requests, args.count)))
        if with_bare:
            figures[BARE].append(uvloop.run(_measure(build_bare, requests, args.count)))
    base = statistics.median(next(iter(figures.values())))
    print(
        f"patient list, {shape.appointments:,} appointments, CPU ms per request (median of "
        f"{args.rounds} x {args.count}):"
    )
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"  {name:<40} {median:.3f}  ({median - base:+.3f})")
    return 0


class _Passthrough:
    def __init__(self, app: Any, **_options: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@contextlib.contextmanager
def _patched(target: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


def _without_middleware(name: str) -> Variant:
    def variant() -> contextlib.AbstractContextManager[None]:
        from service import app

        return _patched(app, name, _Passthrough)

    return variant


def _without_connexion_middleware(name: str) -> Variant:
    def variant() -> contextlib.AbstractContextManager[None]:
        from connexion.middleware.main import ConnexionMiddleware

        kept = [m for m in ConnexionMiddleware.default_middlewares if m.__name__ != name]
        return _patched(ConnexionMiddleware, "default_middlewares", kept)

    return variant


@contextlib.contextmanager
def _no_access_log() -> Iterator[None]:
    import logging

    from service.logs import ACCESS_LOGGER

    logger = logging.getLogger(ACCESS_LOGGER)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


BARE = "the bare baseline (benchmarks/bare_app.py)"
VARIANTS: dict[str, Variant] = {
    "without the access log line": _no_access_log,
    **{f"without {name}": _without_middleware(name) for name in ("Edge", "Inner")},
    **{
        f"without Connexion's {name}": _without_connexion_middleware(name)
        for name in ("SwaggerUIMiddleware", "ResponseValidationMiddleware")
    },
}

if __name__ == "__main__":
    raise SystemExit(main())
