"""Regenerate ``handlers/contract_types.py`` from the spec: ``uv run python -m
tests.contract.generate_types``. The drift test runs the same generation into a temporary file.

TypedDicts, one per component schema, so mypy checks what each handler returns against the
contract. ``--strict-nullable`` makes ``nullable: true`` mean ``| None`` (and only that); closed
TypedDicts (PEP 728) are off because mypy does not support them yet.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi" / "medai.yaml"
TYPES = ROOT / "handlers" / "contract_types.py"
OPTIONS = [
    "--input-file-type=openapi",
    "--output-model-type=typing.TypedDict",
    "--target-python-version=3.11",
    "--use-standard-collections",
    "--use-union-operator",
    "--enum-field-as-literal=all",
    "--strict-nullable",
    "--no-use-closed-typed-dict",
    "--use-schema-description",
    "--use-field-description",
    "--keep-model-order",
    "--disable-timestamp",
    # Formatted below with the project's own ruff settings instead.
    "--no-formatters",
]
_WRAPPED_OPTIONS = "\n".join(
    f"#     {line}" for line in textwrap.wrap(" ".join(OPTIONS), 88, break_on_hyphens=False)
)
HEADER = f"""\
# Generated from openapi/medai.yaml by datamodel-code-generator; do not edit.
# Regenerate: uv run python -m tests.contract.generate_types
# which runs: datamodel-codegen --input openapi/medai.yaml --output handlers/contract_types.py
{_WRAPPED_OPTIONS}
# then ruff check --fix and ruff format. tests/contract/test_contract_types.py fails on drift.
# Each problem type narrows Problem's `type` to its own URI (allOf), which a TypedDict subclass
# may not do (PEP 589); mypy's complaint about that override is all that is switched off:
# mypy: disable-error-code=misc"""


def generate(output: Path) -> None:
    """Write the TypedDicts for the current spec to ``output``."""
    codegen = [sys.executable, "-m", "datamodel_code_generator"]
    arguments = ["--input", str(SPEC), "--output", str(output), "--custom-file-header", HEADER]
    _run([*codegen, *arguments, *OPTIONS])
    ruff = [sys.executable, "-m", "ruff"]
    config = ["--config", str(ROOT / "pyproject.toml")]
    # Formatted first too: a long Literal line is only short enough once ruff wrapped it.
    _run([*ruff, "format", "--quiet", *config, str(output)])
    _run([*ruff, "check", "--fix", "--quiet", *config, str(output)])
    _run([*ruff, "format", "--quiet", *config, str(output)])


def _run(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{command[2]} failed:\n{result.stdout}\n{result.stderr}")


if __name__ == "__main__":
    generate(TYPES)
