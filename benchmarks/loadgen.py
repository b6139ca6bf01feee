"""Running wrk (Debian's package) pinned to the load core, and reading its summary."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson

LUA_DIR = Path(__file__).with_name("lua")
SUMMARY_MARK = "BENCH "


class WrkMissing(RuntimeError):
    pass


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(
            "wrk is not installed: run 'apt-get update && apt-get install -y wrk' "
            "(Debian's package), then run the benchmark again"
        )
    return path


@dataclass(frozen=True)
class Load:
    """One wrk invocation: a Lua script from ``lua/`` with its arguments."""

    script: str
    args: tuple[str, ...]
    connections: int = 32
    threads: int = 2


@dataclass(frozen=True)
class Summary:
    requests: int
    seconds: float
    status_errors: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def start(load: Load, base_url: str, seconds: float, cpu: int) -> subprocess.Popen[bytes]:
    command = [
        "taskset",
        "-c",
        str(cpu),
        wrk_path(),
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_DIR / load.script),
        base_url,
        "--",
        *load.args,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen[bytes]) -> Summary:
    out, err = process.communicate()
    for line in out.decode().splitlines():
        if line.startswith(SUMMARY_MARK):
            data = orjson.loads(line[len(SUMMARY_MARK) :])
            return Summary(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                status_errors=data["status_errors"],
                socket_errors=data["socket_errors"],
                p50_ms=data["p50_us"] / 1000,
                p90_ms=data["p90_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                max_ms=data["max_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no summary:\n{out.decode()}\n{err.decode()}")


def run(load: Load, base_url: str, seconds: float, cpu: int) -> Summary:
    return finish(start(load, base_url, seconds, cpu))
