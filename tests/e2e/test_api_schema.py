"""Schemathesis runs the committed ``openapi.json`` against the local stack (issue 5): every
operation, with data generated from its schema (valid and invalid), answers no 5xx and
nothing the document does not describe (status codes, content types, bodies).

Contractor routes get a contractor's access token of an account this module opens,
operator routes an admin token (the local gateway's stand-in for a SigV4 signature); a
generated contractor id that is well formed is replaced by that account's, so that the
operator routes answer with an account's data, not only 404.
``POST /webhooks/stripe`` is left out: Stripe signs its bodies, so a generated body can only
be refused; one test below shows it is, with 400.

Bounded for CI: at most ``MAX_EXAMPLES`` generated requests per operation, no shrinking,
derandomized (the same requests every run), no example database.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions.billing.account import CONTRACTOR_ID
from infra.openapi import DOCUMENT_PATH
from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 20
CONTRACTOR = "schema-contractor"
WEBHOOK = "/webhooks/stripe"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def tokens(local: LocalClient) -> dict[str, str]:
    """The token for each group of routes, by the first segment of the path."""
    created = local.create_account(contractor_id=CONTRACTOR)
    assert created.status_code == 201, created.text
    return {"me": local.contractor_token(CONTRACTOR), "admin": local.admin_token()}


# Loaded at collection: the committed file, whatever stack serves it.
schema = schemathesis.openapi.from_path(DOCUMENT_PATH).exclude(path=WEBHOOK)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    phases=[Phase.explicit, Phase.generate],  # no shrinking
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_openapi_document_says(
    case: Any, local: LocalClient, tokens: dict[str, str]
) -> None:
    token = tokens[case.path.split("/")[1]]
    path = case.path_parameters or {}
    if CONTRACTOR_ID.fullmatch(str(path.get("contractor_id", ""))):
        # A well-formed id names the module's account, so that the operator routes answer
        # with its data; a malformed one stays, to be refused.
        path["contractor_id"] = CONTRACTOR
    case.call_and_validate(
        base_url=local.api,
        headers={"Authorization": f"Bearer {token}"},
        checks=CHECKS,
        timeout=60,
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Stripe-Signature": "t=1,v1=0000"}],
    ids=["unsigned", "badly signed"],
)
def test_the_stripe_webhook_refuses_a_body_stripe_did_not_sign(
    local: LocalClient, headers: dict[str, str]
) -> None:
    response = requests.post(
        f"{local.api}{WEBHOOK}",
        data=b'{"id": "evt_1", "type": "payment_intent.succeeded"}',
        headers={"Content-Type": "application/json", **headers},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_signature"
    assert response.json()["message"]
