"""Server-side types from the contract: ``handlers/contract_types.py`` is what the spec
generates today, and mypy holds a handler's reply to it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.contract import generate_types


def test_contract_types_match_the_spec(tmp_path: Path) -> None:
    fresh = tmp_path / "contract_types.py"
    generate_types.generate(fresh)
    assert fresh.read_text() == generate_types.TYPES.read_text(), (
        "handlers/contract_types.py is stale: run `uv run python -m tests.contract.generate_types`"
    )


def _mypy(tmp_path: Path, reply: str) -> subprocess.CompletedProcess[str]:
    handler = tmp_path / "probe_handler.py"
    handler.write_text(
        "from handlers import contract_types as api\n\n\n"
        "async def check_liveness() -> tuple[api.Health, int, dict[str, str]]:\n"
        f"    return {reply}, 200, {{}}\n"
    )
    command = [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", str(handler)]
    return subprocess.run(
        command, cwd=generate_types.ROOT, capture_output=True, text=True, check=False
    )


def test_mypy_accepts_a_reply_the_contract_describes(tmp_path: Path) -> None:
    result = _mypy(tmp_path, '{"status": "ok", "checks": {"database": "ok"}}')
    assert result.returncode == 0, result.stdout


def test_mypy_refuses_a_reply_with_a_field_the_contract_lacks(tmp_path: Path) -> None:
    result = _mypy(tmp_path, '{"status": "ok", "uptime": 3}')
    assert result.returncode == 1
    assert '"uptime"' in result.stdout


def test_mypy_refuses_a_reply_without_a_required_field(tmp_path: Path) -> None:
    result = _mypy(tmp_path, '{"checks": {}}')
    assert result.returncode == 1
    assert '"status"' in result.stdout


def test_mypy_refuses_a_value_outside_an_enum(tmp_path: Path) -> None:
    result = _mypy(tmp_path, '{"status": "degraded"}')
    assert result.returncode == 1
