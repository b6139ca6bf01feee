"""The Kubernetes manifests (deploy/kubernetes) pass the Kubernetes schemas in strict mode and
checkov's policies, skip nothing without a written reason, and agree with the code.

Both checkers live in their own virtual environment (``.venv-tools``, pinned by
``deploy/kubernetes/tools.txt``): checkov's dependencies do not resolve together with the
project's lock and would weigh on every install of it. ``.ci/run`` creates it; this module does
too when it is missing and ``uv`` is on the PATH.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.conftest import ROOT
from tests.ops.test_deployment_files import _settings_variables

BASE = ROOT / "deploy" / "kubernetes"
TOOLS = ROOT / ".venv-tools"
SKIP_ANNOTATION = re.compile(r"^checkov\.io/skip\d+$")
# A skip is "CHECK_ID=reason"; the reason is a sentence, not a placeholder.
SKIP_VALUE = re.compile(r"^(CKV2?_K8S_\d+)=(.{20,})$")

Manifest = dict[str, Any]


def rendered() -> list[Manifest]:
    """What ``kubectl apply -k deploy/kubernetes`` applies: the base has resources and no
    transformers, so that is every document of every listed file, in order."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert set(kustomization) == {"apiVersion", "kind", "resources"}
    documents: list[Manifest] = []
    for name in kustomization["resources"]:
        documents.extend(doc for doc in yaml.safe_load_all((BASE / name).read_text()) if doc)
    return documents


def write(tmp_path: Path, documents: list[Manifest]) -> Path:
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def find(documents: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, (kind, name)
    return matches[0]


@pytest.fixture(scope="module")
def tools() -> Path:
    bin_dir = TOOLS / "bin"
    if not (bin_dir / "checkov").exists() or not (bin_dir / "kubernetes-validate").exists():
        uv = shutil.which("uv")
        assert uv is not None, "uv is needed to create .venv-tools (see .ci/run)"
        subprocess.run([uv, "venv", "-q", "--python", "3.11", str(TOOLS)], check=True)
        subprocess.run(
            [uv, "pip", "install", "-q", "-r", str(BASE / "tools.txt")],
            check=True,
            env={**os.environ, "VIRTUAL_ENV": str(TOOLS)},
            timeout=900,
        )
    return bin_dir


def kubernetes_validate(tools: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools / "kubernetes-validate"), "--strict", "--quiet", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def checkov(tools: Path, path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            str(tools / "checkov"),
            "--file",
            str(path),
            "--framework",
            "kubernetes",
            # Offline: no guideline download, no platform calls.
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert result.stdout, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_the_manifests_pass_kubernetes_validate_strict(tools: Path, tmp_path: Path) -> None:
    result = kubernetes_validate(tools, write(tmp_path, rendered()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_rejects_a_misspelt_field(tools: Path, tmp_path: Path) -> None:
    documents = copy.deepcopy(rendered())
    container = find(documents, "Deployment", "medai-backend")["spec"]["template"]["spec"][
        "containers"
    ][0]
    container["livenesProbe"] = container.pop("livenessProbe")
    result = kubernetes_validate(tools, write(tmp_path, documents))
    assert result.returncode != 0
    assert "livenesProbe" in result.stdout + result.stderr


def declared_skips(documents: list[Manifest]) -> set[tuple[str, str]]:
    """(check id, resource) for every ``checkov.io/skipN`` annotation, each with a reason."""
    skips = set()
    for doc in documents:
        for key, value in (doc["metadata"].get("annotations") or {}).items():
            if SKIP_ANNOTATION.match(key):
                match = SKIP_VALUE.match(value)
                assert match, f"{doc['kind']}/{doc['metadata']['name']}: {key} needs a reason"
                resource = f"{doc['kind']}.{doc['metadata']['namespace']}.{doc['metadata']['name']}"
                skips.add((match.group(1), resource))
    return skips


def test_checkov_passes_and_skips_only_what_the_manifests_give_reasons_for(
    tools: Path, tmp_path: Path
) -> None:
    documents = rendered()
    report = checkov(tools, write(tmp_path, documents))
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 100
    skipped = {(c["check_id"], c["resource"]) for c in report["results"]["skipped_checks"]}
    assert skipped == declared_skips(documents)


def test_checkov_catches_a_writable_root_filesystem(tools: Path, tmp_path: Path) -> None:
    documents = copy.deepcopy(rendered())
    backend = find(documents, "Deployment", "medai-backend")
    backend["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFilesystem"
    ] = False
    report = checkov(tools, write(tmp_path, documents))
    failed = {(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]}
    assert ("CKV_K8S_22", "Deployment.medai.medai-backend") in failed


def pod_specs(documents: list[Manifest]) -> dict[str, Manifest]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
        for d in documents
        if d["kind"] in ("Deployment", "Job")
    }


def test_every_pod_runs_non_root_read_only_without_privileges() -> None:
    specs = pod_specs(rendered())
    assert set(specs) == {
        "Deployment/medai-backend",
        "Deployment/medai-modelserver",
        "Job/medai-migrate",
    }
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["limits"]["memory"], name


def environment_names(documents: list[Manifest]) -> set[str]:
    names = set(find(documents, "ConfigMap", "medai-config")["data"])
    for spec in pod_specs(documents).values():
        for container in spec["containers"]:
            names.update(var["name"] for var in container.get("env", []))
    return names


def test_the_manifests_set_only_variables_the_service_reads() -> None:
    documents = rendered()
    assert environment_names(documents) <= _settings_variables()
    secrets = {
        var["valueFrom"]["secretKeyRef"]["key"]
        for spec in pod_specs(documents).values()
        for container in spec["containers"]
        for var in container.get("env", [])
        if "valueFrom" in var
    }
    assert secrets == {"DATABASE_URL", "MEDAI_MIGRATION_DATABASE_URL", "MEDAI_JWT_SECRET"}
    # Only the migration Job may bypass the pooler.
    backend = pod_specs(documents)["Deployment/medai-backend"]["containers"][0]
    assert "MEDAI_MIGRATION_DATABASE_URL" not in {var["name"] for var in backend["env"]}


def mebibytes(quantity: str) -> float:
    units: dict[str, Callable[[float], float]] = {
        "Mi": lambda v: v,
        "Gi": lambda v: v * 1024,
        "M": lambda v: v * 1e6 / 2**20,
    }
    for suffix, convert in units.items():
        if quantity.endswith(suffix):
            return convert(float(quantity.removesuffix(suffix)))
    raise AssertionError(f"unexpected quantity {quantity}")


def test_the_backend_probes_and_memory_follow_the_service_and_the_benchmark() -> None:
    documents = rendered()
    container = pod_specs(documents)["Deployment/medai-backend"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    workers = int(find(documents, "ConfigMap", "medai-config")["data"]["MEDAI_WORKERS"])
    report = json.loads((ROOT / "benchmarks" / "report.json").read_text())
    worker_rss_mb = float(report["facts"]["bench_1m_service_rss_mb"])
    request = mebibytes(container["resources"]["requests"]["memory"])
    # Every worker's measured resident size fits in the request, with the limit above it.
    assert request >= workers * worker_rss_mb * 1e6 / 2**20
    assert mebibytes(container["resources"]["limits"]["memory"]) > request
    assert int(container["resources"]["limits"]["cpu"]) == workers
