"""A pytest plugin that switches one protection off for a whole run (the mutation proof).

Never auto-loaded: ``python -m tests.security.mutations`` passes ``-p
tests.security.mutant_plugin``. Even then it does nothing unless ``MEDAI_MUTATION`` is set, to
the name of a mutant in ``tests.security.mutants`` or to ``none`` for the unmutated baseline.
When active it writes the outcome of every test to the JSON file named by
``MEDAI_MUTATION_REPORT``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.security.mutants import MUTANTS

MUTATION_VARIABLE = "MEDAI_MUTATION"
REPORT_VARIABLE = "MEDAI_MUTATION_REPORT"
BASELINE = "none"


class ActiveMutant:
    def __init__(self, name: str, report: Path | None) -> None:
        self.name = name
        self.report = report
        self.patcher = pytest.MonkeyPatch()
        self.outcomes: dict[str, list[str]] = {"passed": [], "failed": [], "error": []}

    def apply(self) -> None:
        if self.name != BASELINE:
            MUTANTS[self.name].apply(self.patcher)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.outcome in self.outcomes:
            self.outcomes[report.outcome].append(report.nodeid)
        elif report.failed:  # setup or teardown: the run is broken, not the protection
            self.outcomes["error"].append(report.nodeid)

    def pytest_sessionfinish(self) -> None:
        if self.report is not None:
            self.report.write_text(json.dumps({"mutant": self.name, **self.outcomes}))

    def pytest_unconfigure(self) -> None:
        self.patcher.undo()


def pytest_configure(config: pytest.Config) -> None:
    name = os.environ.get(MUTATION_VARIABLE)
    if not name:
        return
    if name != BASELINE and name not in MUTANTS:
        raise pytest.UsageError(f"{MUTATION_VARIABLE}={name!r} names no mutant")
    report = os.environ.get(REPORT_VARIABLE)
    active = ActiveMutant(name, Path(report) if report else None)
    active.apply()
    config.pluginmanager.register(active, "medai-mutant")
