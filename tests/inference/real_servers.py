"""Stock model servers for the tests: MLServer and KServe, each in its own virtualenv.

mlserver 1.7.1 and kserve 0.21.0 cannot share an environment (fastapi < 0.116 against
starlette >= 1.3.1), nor the backend's, so each gets a virtualenv under ``var/ml-venvs/``
named by a hash of its pinned packages: made once (uv, from its cache when warm: seconds), then
reused by every later run until the pins change. ``.ci/run`` makes them before the tests.

The servers listen on loopback ports picked free, are started as their own process group and
are stopped by their process id.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from modelserver.launcher import free_port
from modelserver.model import MODELS_DIR

ROOT = Path(__file__).resolve().parents[2]
SERVERS = Path(__file__).resolve().parent / "servers"
VENVS = ROOT / "var" / "ml-venvs"
PARAMS_FILE = MODELS_DIR / "breast-cancer.json"
PYTHON = "3.11"
SCIKIT_LEARN = "scikit-learn==1.9.1"
PACKAGES: dict[str, tuple[str, ...]] = {
    "mlserver": ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", SCIKIT_LEARN),
    "kserve": ("kserve==0.21.0", SCIKIT_LEARN),
}
# A loaded CI machine imports MLServer and scikit-learn slowly (tens of seconds measured).
START_TIMEOUT = 240.0


def venv_dir(kind: str) -> Path:
    key = hashlib.sha256("\n".join((PYTHON, *PACKAGES[kind])).encode()).hexdigest()[:12]
    return VENVS / f"{kind}-{key}"


def _uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def ensure_venv(kind: str) -> Path:
    """The virtualenv's directory, made first if missing (under a lock: concurrent runs wait)."""
    target = venv_dir(kind)
    done = target / "installed.json"
    if done.exists():
        return target
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(VENVS / f"{kind}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        started = time.monotonic()
        # The interpreter running the tests (the project's 3.11): uv never downloads one.
        interpreter = sys.executable if sys.version_info[:2] == (3, 11) else PYTHON
        subprocess.run([*_uv(), "venv", "-q", "--python", interpreter, str(target)], check=True)
        python = str(target / "bin" / "python")
        subprocess.run(
            [*_uv(), "pip", "install", "-q", "--python", python, *PACKAGES[kind]], check=True
        )
        seconds = round(time.monotonic() - started, 1)
        done.write_text(json.dumps({"packages": PACKAGES[kind], "install_seconds": seconds}))
    return target


def build_model(venv: Path, directory: Path) -> dict[str, Any]:
    """``model.joblib`` in ``directory``, and scikit-learn's own answers for the reference
    cases, computed by the server's scikit-learn."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            str(SERVERS / "build_model.py"),
            str(PARAMS_FILE),
            directory,
        ],
        check=True,
    )
    expected: dict[str, Any] = json.loads((directory / "expected.json").read_text())
    return expected


@dataclass
class ServerProcess:
    """A model server started as its own process group, its output in a log file."""

    args: Sequence[str]
    cwd: Path
    port: int
    ready_path: str
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    start_seconds: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MLSERVER", "VIRTUAL_ENV", "PYTHON", "UV_"))
        }
        started = time.monotonic()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                list(self.args),
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**environment, **self.env},
                start_new_session=True,
            )
        deadline = started + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"model server exited at start: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.base_url + self.ready_path, timeout=1).status_code == 200:
                    self.start_seconds = time.monotonic() - started
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"model server not ready in {START_TIMEOUT} s: {self.log}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signum)

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGCONT)  # a frozen server cannot act on SIGTERM
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def mlserver(directory: Path) -> tuple[ServerProcess, dict[str, Any]]:
    """Stock MLServer with the stock scikit-learn runtime, from configuration only."""
    venv = ensure_venv("mlserver")
    model_dir = directory / "breast-cancer"
    expected = build_model(venv, model_dir)
    port = free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        # MLServer 1.7.1's parallel workers die under uvloop 0.23 ("There is no current event
        # loop"): inference in the main process.
        "parallel_workers": 0,
    }
    (directory / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": "breast-cancer",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "1"},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings))
    server = ServerProcess(
        args=[str(venv / "bin" / "mlserver"), "start", str(directory)],
        cwd=directory,
        port=port,
        ready_path="/v2/models/breast-cancer/ready",
        log=directory / "mlserver.log",
    )
    return server, expected


def kserve(directory: Path) -> tuple[ServerProcess, dict[str, Any]]:
    """KServe's ModelServer serving the plain scikit-learn model (see servers/kserve_sklearn)."""
    venv = ensure_venv("kserve")
    expected = build_model(venv, directory)
    port = free_port()
    script = SERVERS / "kserve_sklearn.py"
    server = ServerProcess(
        args=[
            str(venv / "bin" / "python"),
            str(script),
            "breast-cancer",
            str(directory / "model.joblib"),
            str(port),
        ],
        cwd=directory,
        port=port,
        ready_path="/v2/models/breast-cancer/ready",
        log=directory / "kserve.log",
    )
    return server, expected


FEATURES: list[str] = json.loads(PARAMS_FILE.read_text())["feature_names"]


def models_toml(body: str, features: Sequence[str] = FEATURES) -> str:
    """A models file for ``breast-cancer`` whose feature list is ``features``."""
    names = ", ".join(f'"{name}"' for name in features)
    return f"[models.breast-cancer]\nfeatures = [{names}]\n{body}"


MLSERVER_MODELS = """\
version = "1"
# MLServer declares no inputs unless model-settings.json does: name the one to send.
input = "input-0"

[models.breast-cancer.probability]
output = "predict_proba"
classes = ["malignant", "benign"]
positive = "malignant"

[models.breast-cancer.label]
output = "predict"
labels = { "0" = "malignant", "1" = "benign" }
"""

KSERVE_MODELS = """\
input = "input-0"
# KServe's scikit-learn server answers one output, output-0, and refuses requested names.
request_outputs = false

[models.breast-cancer.probability]
output = "output-0"
classes = ["malignant", "benign"]
positive = "malignant"
"""
