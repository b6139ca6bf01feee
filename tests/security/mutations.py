"""The mutation proof: switch each protection off in turn and show that tests then fail.

    uv run python -m tests.security.mutations            # every mutant
    uv run python -m tests.security.mutations NAME ...   # some of them
    uv run python -m tests.security.mutations --write    # also refresh the table in MUTATIONS.md

First the security suite runs unmutated under the same plugin and must pass entirely; then, for
each mutant in ``tests.security.mutants``, pytest runs the mutant's test modules in a
subprocess with ``MEDAI_MUTATION`` set (see ``mutant_plugin``). A mutant is caught when at
least one test fails and none errors in setup; it survives when all pass. The source files are
never touched. Exits non-zero if any mutant survives or a run breaks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.security.mutant_plugin import BASELINE, MUTATION_VARIABLE, REPORT_VARIABLE
from tests.security.mutants import MUTANTS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DOC = HERE / "MUTATIONS.md"
TABLE_START, TABLE_END = "<!-- table:start -->", "<!-- table:end -->"
RUN_TIMEOUT = 600


@dataclass
class Outcome:
    name: str
    exit_code: int
    seconds: float
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error: list[str] = field(default_factory=list)
    log: str = ""

    @property
    def verdict(self) -> str:
        if self.error or self.exit_code not in (0, 1) or (self.exit_code == 1) != bool(self.failed):
            return "broken run"
        return "caught" if self.failed else "SURVIVED"


def run(name: str, modules: list[str]) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="medai-mutation-") as scratch:
        report = Path(scratch) / "report.json"
        env = {**os.environ, MUTATION_VARIABLE: name, REPORT_VARIABLE: str(report)}
        command = [
            *(sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider"),
            *("-p", "tests.security.mutant_plugin"),
            *(str(HERE / module) for module in modules),
        ]
        started = time.monotonic()
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        outcome = Outcome(name, done.returncode, time.monotonic() - started)
        outcome.log = done.stdout[-4000:] + done.stderr[-4000:]
        if report.exists():
            recorded = json.loads(report.read_text())
            outcome.passed, outcome.failed = recorded["passed"], recorded["failed"]
            outcome.error = recorded["error"]
    return outcome


def short(nodeids: list[str]) -> str:
    """``test_api2_…::test_x[a]`` and ``…[b]`` become ``api2 test_x (2 cases)``."""
    counts: Counter[str] = Counter()
    for nodeid in nodeids:
        path, _, test = nodeid.partition("::")
        module = Path(path).stem.removeprefix("test_")
        module = module.split("_")[0] if module.startswith("api") else module
        counts[f"{module} `{test.partition('[')[0]}`"] += 1
    return "<br>".join(f"{name} ({n} cases)" if n > 1 else name for name, n in counts.items())


def table(baseline: Outcome, outcomes: list[Outcome]) -> str:
    verdicts = Counter(outcome.verdict for outcome in outcomes)
    lines = [
        f"{len(outcomes)} mutants: {verdicts['caught']} caught, {verdicts['SURVIVED']} survived, "
        f"{verdicts['broken run']} broken runs. Unmutated baseline: {len(baseline.passed)} "
        "tests passed.",
        "",
        "| mutant | protection switched off | verdict | failed / run | tests that caught it |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        mutant = MUTANTS[outcome.name]
        total = len(outcome.passed) + len(outcome.failed)
        lines.append(
            f"| `{outcome.name}` | {mutant.protection} | {outcome.verdict} "
            f"| {len(outcome.failed)} / {total} | {short(outcome.failed)} |"
        )
    return "\n".join(lines)


def write_table(text: str) -> None:
    doc = DOC.read_text()
    head, _, rest = doc.partition(TABLE_START)
    _, _, tail = rest.partition(TABLE_END)
    DOC.write_text(f"{head}{TABLE_START}\n{text}\n{TABLE_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--write", action="store_true", help="update the table in MUTATIONS.md")
    args = parser.parse_args(argv)
    unknown = set(args.names) - MUTANTS.keys()
    if unknown:
        parser.error(f"no such mutant: {', '.join(sorted(unknown))}")
    names = args.names or list(MUTANTS)

    modules = sorted({module for name in names for module in MUTANTS[name].modules})
    baseline = run(BASELINE, modules)
    print(
        f"baseline: {len(baseline.passed)} passed, {len(baseline.failed)} failed "
        f"in {baseline.seconds:.0f} s",
        flush=True,
    )
    if baseline.failed or baseline.error or baseline.exit_code != 0:
        print(baseline.log)
        print("the unmutated suite must pass before mutants mean anything", file=sys.stderr)
        return 2

    outcomes = []
    for name in names:
        outcome = run(name, list(MUTANTS[name].modules))
        print(
            f"{outcome.verdict:>10}  {name}  ({len(outcome.failed)} failed, "
            f"{outcome.seconds:.0f} s)",
            flush=True,
        )
        if outcome.verdict == "broken run":
            print(outcome.log)
        outcomes.append(outcome)

    text = table(baseline, outcomes)
    print()
    print(text)
    if args.write:
        write_table(text)
    return 0 if all(outcome.verdict == "caught" for outcome in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
