"""Spec review as API consumers would do it: Spectral (``spectral:oas`` and the OWASP API
Security ruleset) finds no error, Redocly lint (recommended) nothing, and the HTML reference
builds self-contained.

No Spectral rule is switched off: ``.spectral.yaml`` only exempts the places where a rule cannot
apply by nature, each with its reason. The one kind of warning let through is
``owasp:api4:2023-string-restricted`` ("a string should have a format, pattern, enum or const")
on free text — names, reasons, doctor's notes, problem titles and details, opaque tokens and
cursors — which no pattern describes; every such string has a ``maxLength`` instead
(``owasp:api4:2023-string-limit``, an error, holds). Any other warning fails.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

from tests.contract import node_package, spec_document

# A script, stylesheet or module that the browser would fetch from another host.
REMOTE_CODE = re.compile(
    r"""<script[^>]*\ssrc=["']https?:|<link[^>]*\shref=["']https?:"""
    r"""|\bfrom\s*["']https?:|\bimport\(\s*["']https?:"""
)
QUIET = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


# Spectral's severities in its JSON output.
ERROR, WARNING = 0, 1
ACCEPTED_WARNINGS = {"owasp:api4:2023-string-restricted"}


def test_spectral_with_the_owasp_ruleset_finds_no_error_and_only_free_text_warnings() -> None:
    spectral = str(node_package.installed() / "spectral")
    command = [spectral, "lint", "--format", "json", "--quiet", "openapi/medai.yaml"]
    result = node_package.run(command, cwd=spec_document.ROOT)
    findings = json.loads(result.stdout or "[]")
    counts = Counter((finding["severity"], finding["code"]) for finding in findings)
    print(f"\nspectral: {dict(counts)}")
    assert [f for f in findings if f["severity"] == ERROR] == []
    assert {f["code"] for f in findings if f["severity"] == WARNING} <= ACCEPTED_WARNINGS


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
