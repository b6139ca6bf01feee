"""The Dockerfile, compose.yaml and docs/operations.md agree with the code."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from service.settings import Settings
from tests.conftest import ROOT

DOC = ROOT / "docs" / "operations.md"
TABLE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \|", re.MULTILINE)


class _Recorder(Mapping[str, str]):
    """An empty environment that remembers every variable asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _settings_variables() -> set[str]:
    env = _Recorder()
    Settings.from_env(env)
    return env.asked


def test_the_configuration_table_lists_exactly_the_variables_the_settings_read() -> None:
    documented = set(TABLE_ROW.findall(DOC.read_text()))
    assert documented == _settings_variables()


def test_compose_sets_only_variables_the_service_reads() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    backend = set(compose["services"]["backend"]["environment"])
    assert backend <= _settings_variables()
    assert {"DATABASE_URL", "MEDAI_JWT_SECRET", "MEDAI_ML_URL"} <= backend


def test_the_embedded_database_is_not_a_production_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [dep for dep in project["dependencies"] if "pgserver" in dep]


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
