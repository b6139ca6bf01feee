"""This service against a FastAPI + SQLModel peer doing the same work (``peer_app.py``), and
the service with and without its Connexion fast path (``service/fastpath.py``):
``uv run python -m benchmarks.peer`` (a few minutes; uses the benchmark's 10,000-appointment
database, generating it if needed; ``--count``/``--rounds`` to change the sample).

Each app is built in this process and called as an ASGI application in a loop, as
``benchmarks.layers`` does (no uvicorn, no sockets: the server CPU that is left is the app, its
framework and its database driver; PostgreSQL's own CPU is not counted, and the HTTP server's
is the same for every app). Figures are CPU milliseconds per request, the median of the
rounds; the three apps alternate within each round so that a noisy moment hits all of them.
Results and how to read them: benchmarks/peer.md.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
from collections.abc import Callable
from typing import Any

import uvloop

from benchmarks import dataset
from benchmarks.fixtures import Fixtures
from benchmarks.layers import WORK_DIR, _measure, _requests
from service import embedded_db, fastpath

SCENARIOS = {"list": "patient_list", "get": "get_by_id", "liveness": "liveness"}
FAST, STOCK, PEER = "medai, fast path", "medai, stock Connexion", "FastAPI + SQLModel"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer", description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from benchmarks import peer_app
    from service import logs
    from service.app import create_app
    from service.settings import Settings

    logs.configure("info")  # as `medai serve`: the access log line is written
    postgres = embedded_db.start(WORK_DIR)
    shape = dataset.SMALL
    data = dataset.prepare(postgres.libpq_url("postgres"), postgres.libpq_url(shape.name), shape)
    secret = secrets.token_urlsafe(48)
    folder = WORK_DIR / "peer" / str(os.getpid())
    files = Fixtures(data, secret, folder).write_all()
    requests = {name: _requests(files[kind]) for name, kind in SCENARIOS.items()}
    shutil.rmtree(folder)
    settings = Settings.from_env(
        {
            "MEDAI_ENV": "production",
            "MEDAI_JWT_SECRET": secret,
            "DATABASE_URL": data.url,
            "MEDAI_ML_URL": "http://127.0.0.1:9",
        }
    )

    def service(mode: str) -> Callable[[], Any]:
        def build() -> Any:
            os.environ[fastpath.SWITCH] = mode
            app = create_app(settings, data.url)
            if (mode == "on") != isinstance(app, fastpath.PlannedApp):
                raise RuntimeError(f"fast path {mode!r} was not taken as asked")
            return app

        return build

    builders: dict[str, Callable[[], Any]] = {
        FAST: service("on"),
        STOCK: service("off"),
        PEER: lambda: peer_app.build(data.url, secret),
    }
    figures: dict[tuple[str, str], list[float]] = {(s, a): [] for s in SCENARIOS for a in builders}
    for _ in range(args.rounds):
        for scenario in SCENARIOS:
            for name, build in builders.items():
                cpu = uvloop.run(_measure(build, requests[scenario], args.count))
                figures[(scenario, name)].append(cpu)
    print(f"CPU ms per request, median of {args.rounds} rounds x {args.count} requests")
    print(f"| scenario | {FAST} | {STOCK} | {PEER} | fast / peer | stock / peer |")
    print("|---|---|---|---|---|---|")
    for scenario in SCENARIOS:
        fast, stock, peer = (statistics.median(figures[(scenario, n)]) for n in builders)
        print(
            f"| {scenario} | {fast:.3f} | {stock:.3f} | {peer:.3f} | "
            f"x{fast / peer:.2f} | x{stock / peer:.2f} |"
        )
    print(
        "all rounds:", {f"{s} / {n}": [round(v, 3) for v in vs] for (s, n), vs in figures.items()}
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
