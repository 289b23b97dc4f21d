"""The lead billing app, synthesized once per test process for every infra test.

``app.synth()`` runs cdk-nag's checks: a finding that is not acknowledged makes it raise,
and every test here then errors.
"""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from infra import names
from infra.app import build_app
from tests.infra.support import Synthesized


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    try:
        assembly = build_app(outdir).synth()
    except RuntimeError as error:  # cdk-nag's findings, or the layer that could not be built
        pytest.fail(f"the app does not synthesize: {error}", pytrace=False)
    template = assembly.get_stack_by_name(names.STACK_NAME).template
    return Synthesized(
        outdir=outdir,
        template=Template.from_json(template),
        resources=json.loads(json.dumps(template))["Resources"],
    )
