"""CPU time and memory of processes, from ``/proc``: what a request costs, whoever did the work.

CPU is user + system time in clock ticks (``/proc/<pid>/stat`` fields 14 and 15, every
thread of the process included, so bcrypt's threads count for the login). The database's
figure is the sum over the postmaster and all its children (backends, WAL writer,
checkpointer), so work pushed into PostgreSQL is not hidden.
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = 1.0 / os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces; everything after its ")" is space-separated.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(pid)
    return (int(fields[11]) + int(fields[12])) * TICK


def children(pid: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds of ``root`` and of each of its direct children (PostgreSQL's processes are
    all children of the postmaster), by pid."""
    found = {root: cpu_seconds(root)}
    for child in children(root):
        try:
            found[child] = cpu_seconds(child)
        except ProcessLookupError:
            continue
    return found


def tree_cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two ``tree_cpu`` snapshots by the processes alive at the second
    (pooled backends live through a run; one that ended in between is not counted)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def rss_mb(pid: int) -> float:
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)


def pin_tree(root: int, cpu: int) -> None:
    """Pin the postmaster (new backends inherit it) and every process it already forked
    (what ``taskset -pc`` does, without a process per pid)."""
    os.sched_setaffinity(root, {cpu})
    for pid in children(root):
        try:
            os.sched_setaffinity(pid, {cpu})
        except ProcessLookupError:
            continue  # a backend that ended in between
