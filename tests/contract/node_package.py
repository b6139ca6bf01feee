"""The Node side of the contract checks: the TypeScript client package in ``clients/typescript``,
whose devDependencies also carry the spec linters (Spectral, Redocly).

Node is required, not optional: without it the client's drift, type and smoke checks would
silently not run, so a missing ``node`` fails the tests that need it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "typescript"
BIN = PACKAGE / "node_modules" / ".bin"
INSTALL_DEADLINE = 600
RUN_DEADLINE = 300


def _require(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is not installed: the contract checks need Node.js 20+ and npm"
    return path


@functools.cache
def installed() -> Path:
    """``npm ci`` once per session when node_modules is missing or older than the lock file."""
    _require("node")
    marker = PACKAGE / "node_modules" / ".package-lock.json"
    lock = PACKAGE / "package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        run([_require("npm"), "ci"], cwd=PACKAGE, deadline=INSTALL_DEADLINE)
    return BIN


def run(
    command: list[str],
    *,
    cwd: Path = PACKAGE,
    env: Mapping[str, str] | None = None,
    deadline: int = RUN_DEADLINE,
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; fail the test with its output when it exits non-zero."""
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=deadline, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}\n{result.stdout[-8000:]}\n"
        f"{result.stderr[-8000:]}"
    )
    return result


def npm_script(name: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    installed()
    return run([_require("npm"), "run", "--silent", name], env=env)
