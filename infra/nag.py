"""cdk-nag's AWS Solutions checks, run as a validation plugin of the app at synth.

A finding that is not acknowledged fails the synth (``app.synth()`` raises, and the
findings are in ``<outdir>/validation-report.json``). An acknowledgment names one finding
on one construct and its subtree, and says why the finding does not apply there.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"
VALIDATION_REPORT = "validation-report.json"


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge ``finding`` (``AwsSolutions-IAM5[Resource::*]``) on ``scope``."""
    if not finding.startswith(f"{PACK}-"):
        raise ValueError(f"{finding!r} is not a finding of the {PACK} checks")
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PACK}::{finding}", reason=reason))
