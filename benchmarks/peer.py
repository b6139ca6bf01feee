"""This service against a FastAPI + SQLModel peer doing the same work (``peer_app.py``), and
the service with and without its Connexion fast path (``service/fastpath.py``):
``uv run python -m benchmarks.peer`` (a few minutes; uses the benchmark's 10,000-appointment
database, generating it if needed; ``--count``/``--rounds`` to change the sample).

Two ways, both reporting server CPU milliseconds per request, the median of the rounds, the
three apps alternating within each round so that a noisy moment hits all of them:

- in-process (default): each app is built in this process and called as an ASGI application in
  a loop, as ``benchmarks.layers`` does (no uvicorn, no sockets: what is counted is the app, its
  framework and its database driver);
- ``--http``: from outside, as ``benchmarks.run`` does: the three apps run as servers at once
  (``medai serve`` with one worker in each mode, the peer on uvicorn with uvloop and httptools,
  like the service's worker), pinned to CPU 0; wrk, pinned to CPU 1, loads one at a time for
  ``--seconds``; the server process's CPU time is read from ``/proc`` before and after.

PostgreSQL's own CPU is not counted either way. Results and how to read them:
benchmarks/peer.md.
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

from benchmarks.fixtures import Fixtures
from benchmarks.layers import WORK_DIR, _measure, _requests, production_settings, small_database
from service import fastpath

SCENARIOS = {"list": "patient_list", "get": "get_by_id", "liveness": "liveness"}
FAST, STOCK, PEER = "medai, fast path", "medai, stock Connexion", "FastAPI + SQLModel"
EDGE_PEER = "FastAPI + SQLModel, same edge"  # peer_app.SameEdge and uvicorn's access log


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer", description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--http", action="store_true", help="measure servers from outside")
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run (--http)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (--http)")
    args = parser.parse_args()

    from benchmarks import peer_app
    from service import logs
    from service.app import create_app

    logs.configure("info")  # as `medai serve`: the access log line is written
    data = small_database()
    secret = secrets.token_urlsafe(48)
    folder = WORK_DIR / "peer" / str(os.getpid())
    files = Fixtures(data, secret, folder).write_all()
    requests = {name: _requests(files[kind]) for name, kind in SCENARIOS.items()}
    if args.http:
        try:
            outside = _over_http(data.url, secret, files, args)
        finally:
            shutil.rmtree(folder)
        _print(outside, args, "server CPU ms per request over HTTP")
        return 0
    shutil.rmtree(folder)
    settings = production_settings(secret, data.url)

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
        EDGE_PEER: lambda: peer_app.build(data.url, secret, edge=True),
    }
    figures: dict[tuple[str, str], list[float]] = {(s, a): [] for s in SCENARIOS for a in builders}
    for _ in range(args.rounds):
        for scenario in SCENARIOS:
            for name, build in builders.items():
                cpu = uvloop.run(_measure(build, requests[scenario], args.count))
                figures[(scenario, name)].append(cpu)
    _print(figures, args, f"in-process CPU ms per request, {args.count} requests per round")
    return 0


def _over_http(
    database_url: str, secret: str, files: dict[str, str], args: argparse.Namespace
) -> dict[tuple[str, str], list[float]]:
    from benchmarks import loadgen, processes, procstat
    from modelserver.launcher import free_port

    log_dir = WORK_DIR / "peer-logs"
    ml_elsewhere = {"MEDAI_ML_URL": f"http://127.0.0.1:{free_port()}"}
    servers: dict[str, processes.Server] = {}
    try:
        for name, mode in ((FAST, "on"), (STOCK, "off")):
            servers[name] = processes.start_service(
                database_url=database_url,
                data_dir=WORK_DIR / "peer-data",
                secret=secret,
                cpu=0,
                log_dir=log_dir,
                extra_env={**ml_elsewhere, fastpath.SWITCH: mode},
                name=f"service-{mode}",
            )
        for name, edge in ((PEER, "0"), (EDGE_PEER, "1")):
            port = free_port()
            servers[name] = processes._spawn(
                "peer-edge" if edge == "1" else "peer",
                ["-m", "benchmarks.peer_app"],
                {
                    "BENCH_DATABASE_URL": database_url,
                    "BENCH_JWT_SECRET": secret,
                    "BENCH_PORT": str(port),
                    "BENCH_PEER_EDGE": edge,
                },
                0,
                log_dir,
                port,
            )
        for server in servers.values():
            server.wait_until("/health/live", deadline=300)  # a loaded machine starts slowly
        figures: dict[tuple[str, str], list[float]] = {
            (s, a): [] for s in SCENARIOS for a in servers
        }
        for _ in range(args.rounds):
            for scenario, kind in SCENARIOS.items():
                load = loadgen.Load("get.lua", (files[kind],), connections=args.connections)
                for name, server in servers.items():
                    loadgen.run(load, server.base_url, 1, cpu=1)  # warm-up
                    before = procstat.tree_cpu(server.pid)
                    summary = loadgen.run(load, server.base_url, args.seconds, cpu=1)
                    after = procstat.tree_cpu(server.pid)
                    if summary.status_errors or summary.socket_errors or not summary.requests:
                        raise RuntimeError(f"{name} {scenario}: errors under load: {summary}")
                    cpu = procstat.tree_cpu_delta(before, after)
                    figures[(scenario, name)].append(cpu / summary.requests * 1000)
                    server.clear_log()
        return figures
    finally:
        for server in servers.values():
            server.stop()


def _print(
    figures: dict[tuple[str, str], list[float]], args: argparse.Namespace, what: str
) -> None:
    print(f"{what}, median of {args.rounds} rounds")
    print(
        f"| scenario | {FAST} | {STOCK} | {PEER} | {EDGE_PEER} | fast / peer | stock / peer "
        "| fast / same-edge peer |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for scenario in SCENARIOS:
        fast, stock, peer, edge = (
            statistics.median(figures[(scenario, n)]) for n in (FAST, STOCK, PEER, EDGE_PEER)
        )
        print(
            f"| {scenario} | {fast:.3f} | {stock:.3f} | {peer:.3f} | {edge:.3f} | "
            f"x{fast / peer:.2f} | x{stock / peer:.2f} | x{fast / edge:.2f} |"
        )
    for (scenario, name), values in figures.items():
        print(f"  {scenario} / {name}: {[round(v, 3) for v in values]}")


if __name__ == "__main__":
    raise SystemExit(main())
