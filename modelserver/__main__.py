"""``python -m modelserver --host 127.0.0.1 --port 8081``: serve the reference models."""

from __future__ import annotations

import argparse

import uvicorn

from modelserver.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m modelserver", description="MedAI reference model server (OIP v2)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
