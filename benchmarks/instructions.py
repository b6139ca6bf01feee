"""Instructions per patient-list request, service and bare baseline, counted by valgrind:
``uv run python -m benchmarks.instructions`` (about 5 minutes; needs ``valgrind``).

CPU time on a shared machine drifts by 10 % from one minute to the next, so small changes
(a few percent of a request) cannot be seen in it. The count of instructions a request
executes barely drifts (±0.5 % here): valgrind counts them as the app serves requests
in-process (``benchmarks/layers.py --only``), once for a few hundred requests and once for
two thousand more, and the difference divided by the extra requests is the cost of one,
start-up and warm-up cancelled out. Instructions are not time (cache misses and the kernel
are not in them), so read the ratio beside the benchmark's CPU figures, not instead of them.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

from benchmarks.processes import ROOT

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def _instructions(only: str, count: int) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is missing: apt-get install -y valgrind")
    command = [
        valgrind,
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.layers",
        "--only",
        only,
        "--rounds",
        "1",
        "--count",
        str(count),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run failed ({only}, {count}):\n{done.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--base", type=int, default=200, help="requests of the short run")
    parser.add_argument("--extra", type=int, default=2000, help="requests more in the long run")
    args = parser.parse_args()
    counts_of = (args.base, args.base + args.extra)
    runs = [(only, count) for only in ("stack", "bare") for count in counts_of]
    # One at a time: each run prepares the dataset, which clears the others' sessions.
    counts = {run: _instructions(*run) for run in runs}
    per_request = {
        only: (counts[only, args.base + args.extra] - counts[only, args.base]) / args.extra
        for only in ("stack", "bare")
    }
    print(f"patient list, instructions per request ({args.extra:,} requests' difference):")
    print(f"  service (whole stack)  {per_request['stack']:>12,.0f}")
    print(f"  bare baseline          {per_request['bare']:>12,.0f}")
    print(f"  ratio                  {per_request['stack'] / per_request['bare']:>12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
