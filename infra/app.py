"""The CDK app: ``python -m infra.app`` synthesizes the lead billing stack into ``cdk.out``
(or ``$CDK_OUTDIR``), with cdk-nag's AWS Solutions checks run as a validation plugin.
"""

from __future__ import annotations

import os

from aws_cdk import App

from infra import names
from infra.nag import add_checks
from infra.stack import LeadBillingStack


def build_app(outdir: str | os.PathLike[str] | None = None) -> App:
    """The app with its stack and checks, not yet synthesized.

    Code assets and the dependency layer are built once per process, however many apps
    the process builds (``infra/assets.py``).
    """
    app = App(outdir=str(outdir if outdir is not None else os.environ.get("CDK_OUTDIR", "cdk.out")))
    LeadBillingStack(app, names.STACK_NAME)
    add_checks(app)
    return app


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
