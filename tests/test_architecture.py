"""The layers hold: import-linter's contracts (pyproject.toml, ``[tool.importlinter]``) over
the whole import graph, direct and indirect imports alike.

domain imports no persistence/service/handlers/mlclient nor the infrastructure libraries;
persistence nothing above it; handlers only the domain and their request context; the ML
client and the reference model server nothing of the backend. On the tree before the ports
(domain.appointments importing persistence.db, handlers.context importing service.runtime)
the first and third contracts are reported broken.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    # Every contract ran: one silently dropped from the config would otherwise pass.
    assert "Contracts: 5 kept" in result.stdout, result.stdout
