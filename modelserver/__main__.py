"""``python -m modelserver --host 127.0.0.1 --port 8081``: serve the reference models."""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time

import uvicorn

from modelserver.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m modelserver", description="MedAI reference model server (OIP v2)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--parent-pid",
        type=int,
        help="stop when this process is gone (how `medai serve` starts it: a parent killed with "
        "SIGKILL cannot stop its children, and an orphan would keep its port)",
    )
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        _exit_with_parent(args.parent_pid)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)


def _exit_with_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Once re-parented (the parent died), stop as on SIGTERM: uvicorn drains and exits."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    main()
