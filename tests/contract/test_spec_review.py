"""Spec review as API consumers would do it: Spectral (``spectral:oas`` and the OWASP API
Security ruleset) and Redocly lint find nothing, and the HTML reference builds self-contained.

Warnings fail too: a rule that does not fit is switched off in ``.spectral.yaml`` or
``redocly.yaml`` with a one-line reason, so the review stays readable as the spec grows.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.contract import node_package, spec_document

# A script, stylesheet or module that the browser would fetch from another host.
REMOTE_CODE = re.compile(
    r"""<script[^>]*\ssrc=["']https?:|<link[^>]*\shref=["']https?:"""
    r"""|\bfrom\s*["']https?:|\bimport\(\s*["']https?:"""
)
QUIET = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


def test_spectral_with_the_owasp_ruleset_finds_nothing() -> None:
    spectral = str(node_package.installed() / "spectral")
    command = [spectral, "lint", "--fail-severity", "warn", "openapi/medai.yaml"]
    result = node_package.run(command, cwd=spec_document.ROOT)
    assert "No results with a severity of 'warn' or higher found!" in result.stdout


def test_redocly_lint_finds_nothing() -> None:
    redocly = str(node_package.installed() / "redocly")
    result = node_package.run([redocly, "lint"], cwd=spec_document.ROOT, env=QUIET)
    output = result.stdout + result.stderr
    assert "Your API description is valid" in output
    assert not re.search(r"You have \d+ warnings?", output), output


def test_the_html_reference_is_self_contained_and_documents_every_operation(
    tmp_path: Path,
) -> None:
    redocly = str(node_package.installed() / "redocly")
    page = tmp_path / "reference.html"
    command = [redocly, "build-docs", "medai@v1", "--inlineBundle", "--output", str(page)]
    node_package.run(command, cwd=spec_document.ROOT, env=QUIET)
    html = page.read_text()
    # Nothing loaded from elsewhere (without --inlineBundle Redoc imports itself from a CDN):
    # it must render on a machine with no network.
    assert not REMOTE_CODE.findall(html)
    for operation_id in spec_document.operations(spec_document.load()):
        assert f'"operationId":"{operation_id}"' in html, operation_id
