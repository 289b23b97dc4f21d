"""cdk-nag's AWS Solutions checks pass at synth, and every acknowledged finding says why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs

from infra.nag import VALIDATION_REPORT, acknowledge, add_checks
from tests.infra.support import Synthesized


@pytest.fixture(scope="module")
def nag_report(synthesized: Synthesized) -> dict[str, Any]:
    report = json.loads((synthesized.outdir / VALIDATION_REPORT).read_text())
    (plugin,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    return plugin


def test_the_stack_passes_the_aws_solutions_checks(nag_report: dict[str, Any]) -> None:
    assert nag_report["conclusion"] == "success"
    assert nag_report.get("violations", []) == []


def test_every_acknowledged_finding_states_its_reason(nag_report: dict[str, Any]) -> None:
    acknowledged = nag_report.get("suppressedViolations", [])

    assert acknowledged
    for finding in acknowledged:
        assert len(finding["reason"].split()) >= 10, finding["acknowledgedId"]


def test_no_finding_is_acknowledged_for_the_whole_stack(nag_report: dict[str, Any]) -> None:
    for finding in nag_report.get("suppressedViolations", []):
        assert "/" in finding["acknowledgedAt"], finding["acknowledgedId"]


def _queue_app(outdir: Path, *, acknowledged: bool) -> App:
    app = App(outdir=str(outdir))
    queue = sqs.Queue(Stack(app, "Probe"), "Queue", enforce_ssl=True)
    if acknowledged:
        acknowledge(queue, "AwsSolutions-SQS3", "A probe queue of the check's own test.")
    add_checks(app)
    return app


def test_an_unacknowledged_finding_fails_the_synth(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"(?s)ValidationFailed.*AwsSolutions-SQS3"):
        _queue_app(tmp_path / "failing", acknowledged=False).synth()

    _queue_app(tmp_path / "passing", acknowledged=True).synth()
