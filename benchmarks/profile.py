"""Sampling the server under load with py-spy, and summarising where its CPU goes.

Each sample is charged to the layer of its innermost Python frame (self time), the way the
design notes quote profiles: "psycopg 30 %, Connexion 18 %, …". Idle samples (waiting in the
event loop's poll) are left out by py-spy, so the shares are of busy time.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

# First match wins: more specific paths before the packages that contain them.
LAYERS = (
    ("psycopg_pool/", "psycopg pool"),
    ("psycopg/", "psycopg"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("connexion/", "Connexion"),
    ("jsonschema/", "jsonschema (validation)"),
    ("starlette/", "Starlette"),
    ("uvicorn/", "uvicorn"),
    ("jwt/", "PyJWT"),
    ("prometheus_client/", "prometheus_client"),
    ("/logging/", "logging"),
    ("service/logs.py", "logging"),
    ("service/observability.py", "service: observability"),
    ("service/hardening.py", "service: hardening"),
    ("service/security.py", "service: security"),
    ("/service/", "service: other"),
    ("/handlers/", "handlers"),
    ("/domain/", "domain"),
    ("/persistence/", "persistence"),
    ("/adapters/", "adapters"),
    ("asyncio/", "asyncio"),
    ("uvloop/", "asyncio"),
)


def py_spy() -> str:
    path = shutil.which("py-spy")
    if path is None:
        raise RuntimeError("py-spy is missing: it is in the dev group ('uv sync')")
    return path


def start(pid: int, seconds: float, output: Path, cpu: int) -> subprocess.Popen[bytes]:
    command = [
        "taskset", "-c", str(cpu), py_spy(), "record", "--pid", str(pid), "--duration",
        str(max(1, round(seconds))), "--rate", "250", "--nonblocking", "--format", "raw",
        "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def layer(frame: str) -> str:
    for needle, name in LAYERS:
        if needle in frame:
            return name
    return "other (stdlib, builtins)"


def summarise(raw: Path, top: int = 15) -> dict[str, object]:
    """Shares of busy samples by layer, and the busiest leaf functions."""
    layers: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        leaf = stack.rsplit(";", 1)[-1]
        layers[layer(leaf)] += count
        functions[leaf.strip()] += count
        total += count
    if total == 0:
        return {"samples": 0, "layers": {}, "functions": {}}
    return {
        "samples": total,
        "layers": {name: round(100 * n / total, 1) for name, n in layers.most_common()},
        "functions": {name: round(100 * n / total, 1) for name, n in functions.most_common(top)},
    }
