"""The contractor routes and Stripe's webhook of the synthesized template, through the local
gateway as API Gateway runs them: the card routes take a contractor's access token with the
billing/contractor scope and hand its verified claims to card_updated; the webhook takes no
token and reaches card_updated, which verifies Stripe's signature; the new operator routes
read invoices with an admin token."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
import requests

from infra import names
from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e

SETUP_INTENT = "/me/card/setup-intent"
CONFIRM = "/me/card/confirm"
WEBHOOK = "/webhooks/stripe"
CONTRACTOR = "e2e-card"


@pytest.fixture(scope="module")
def account(local: LocalClient) -> str:
    created = local.create_account(contractor_id=CONTRACTOR)
    assert created.status_code == 201, created.text
    return CONTRACTOR


def _card_updated_calls(local: LocalClient, path: str) -> list[dict[str, Any]]:
    return [
        invocation
        for invocation in local.invocations()
        if invocation["function"] == names.FUNCTION_LOGICAL_IDS[names.CARD_UPDATED]
        and invocation["source"] == "api"
        and invocation["event"]["path"] == path
    ]


def _stripe(local: LocalClient, method: str, path: str, **data: Any) -> dict[str, Any]:
    response = requests.request(
        method,
        f"{local.stack.stripe_endpoint}{path}",
        data=data or None,
        auth=("sk_test_local", ""),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_template_routes_reach_the_local_gateway_with_their_authorization(local: LocalClient):
    routes = {
        (route["method"], route["path"]): route["authorization"] for route in local.config["routes"]
    }

    assert routes == {
        ("POST", "/admin/accounts"): "AWS_IAM",
        ("GET", "/admin/accounts/{contractor_id}"): "AWS_IAM",
        ("GET", "/admin/accounts/{contractor_id}/invoices"): "AWS_IAM",
        ("GET", "/admin/invoices/{invoice_id}"): "AWS_IAM",
        ("PATCH", "/admin/accounts/{contractor_id}"): "AWS_IAM",
        ("GET", "/admin/accounts/{contractor_id}/ledger"): "AWS_IAM",
        ("POST", "/admin/leads/{lead_id}/credit"): "AWS_IAM",
        ("POST", SETUP_INTENT): "COGNITO_USER_POOLS",
        ("POST", CONFIRM): "COGNITO_USER_POOLS",
        ("POST", "/me/pay"): "COGNITO_USER_POOLS",
        ("GET", "/me/billing"): "COGNITO_USER_POOLS",
        ("PUT", "/me/budget"): "COGNITO_USER_POOLS",
        ("GET", "/me/invoices"): "COGNITO_USER_POOLS",
        ("GET", "/me/invoices/{invoice_id}"): "COGNITO_USER_POOLS",
        ("GET", "/me/invoices/{invoice_id}/pdf"): "COGNITO_USER_POOLS",
        ("GET", "/me/ledger"): "COGNITO_USER_POOLS",
        ("POST", WEBHOOK): "NONE",
    }


def test_a_contractor_token_names_the_contractor_and_grants_the_billing_scope(
    local: LocalClient,
):
    token = local.contractor_token(CONTRACTOR)
    keys = local.http.get(f"{local.api}/_local/.well-known/jwks.json", timeout=30).json()
    (key,) = keys["keys"]

    claims = jwt.decode(token, jwt.algorithms.RSAAlgorithm.from_jwk(key), algorithms=["RS256"])

    assert claims["username"] == CONTRACTOR
    assert claims["scope"] == "billing/contractor"
    assert claims["token_use"] == "access"
    assert claims["iss"] == f"{local.api}/_local"


def test_a_contractor_creates_a_setup_intent_for_its_own_account(local: LocalClient, account: str):
    # Given a contractor's access token
    token = local.contractor_token(account)

    # When the Pro App asks for a card setup
    response = local.request("POST", SETUP_INTENT, token=token)

    # Then localstripe holds a SetupIntent for the account's customer
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["setup_intent_id"].startswith("seti_")
    assert body["client_secret"]
    setup = _stripe(local, "GET", f"/v1/setup_intents/{body['setup_intent_id']}")
    assert setup["customer"].startswith("cus_")
    # card_updated saw the contractor the gateway verified, in the authorizer's claims.
    (call,) = [
        invocation
        for invocation in _card_updated_calls(local, SETUP_INTENT)
        if invocation["event"]["requestContext"]["authorizer"]["claims"]["username"] == account
    ]
    assert call["event"]["requestContext"]["authorizer"]["claims"]["scope"] == (
        "billing/contractor"
    )


def test_a_card_set_up_in_the_browser_is_confirmed_and_saved(local: LocalClient, account: str):
    token = local.contractor_token(account)
    created = local.request("POST", SETUP_INTENT, token=token).json()
    method = _stripe(
        local,
        "POST",
        "/v1/payment_methods",
        **{
            "type": "card",
            "card[number]": "4242424242424242",
            "card[exp_month]": "12",
            "card[exp_year]": "2030",
            "card[cvc]": "123",
        },
    )
    confirmed = requests.post(
        f"{local.stack.stripe_endpoint}/v1/setup_intents/{created['setup_intent_id']}/confirm",
        data={
            "key": "pk_test_local",
            "client_secret": created["client_secret"],
            "payment_method": method["id"],
        },
        timeout=30,
    )
    assert confirmed.status_code == 200, confirmed.text

    response = local.request(
        "POST", CONFIRM, token=token, json={"setup_intent_id": created["setup_intent_id"]}
    )

    assert response.status_code == 200, response.text
    assert response.json()["card"]["last4"] == "4242"


def test_a_token_without_the_billing_scope_is_unauthorized(local: LocalClient, account: str):
    token = local.token(contractor_id=account, scope="openid")
    before = len(_card_updated_calls(local, SETUP_INTENT))

    response = local.request("POST", SETUP_INTENT, token=token)

    assert response.status_code == 401
    assert len(_card_updated_calls(local, SETUP_INTENT)) == before


@pytest.mark.parametrize("path", [SETUP_INTENT, CONFIRM])
def test_a_card_route_without_a_token_is_unauthorized(local: LocalClient, path: str):
    response = local.request("POST", path, json={"setup_intent_id": "seti_x"})

    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "Unauthorized"}


@pytest.mark.parametrize("path", [SETUP_INTENT, CONFIRM])
def test_an_admin_token_carries_no_contractor_and_is_refused(local: LocalClient, path: str):
    response = local.request(
        "POST", path, token=local.admin_token(), json={"setup_intent_id": "seti_x"}
    )

    assert response.status_code == 401


def test_a_contractor_token_does_not_open_the_operator_routes(local: LocalClient, account: str):
    response = local.request("GET", f"/admin/accounts/{account}", token=local.contractor_token())

    assert response.status_code == 403


def test_the_webhook_reaches_card_updated_without_a_token_and_is_refused_unsigned(
    local: LocalClient,
):
    before = len(_card_updated_calls(local, WEBHOOK))

    response = local.request(
        "POST", WEBHOOK, data=b'{"id": "evt_unsigned", "type": "payment_intent.succeeded"}'
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_signature"
    calls = _card_updated_calls(local, WEBHOOK)
    assert len(calls) == before + 1
    assert "authorizer" not in calls[-1]["event"]["requestContext"]


def test_operators_read_an_accounts_invoices_and_an_invoice_by_its_id(
    local: LocalClient, account: str
):
    listed = local.admin("GET", f"/admin/accounts/{account}/invoices")
    missing = local.admin("GET", "/admin/invoices/no-such-invoice")

    assert listed.status_code == 200, listed.text
    assert listed.json() == {"items": [], "next_cursor": None}
    assert missing.status_code == 404
    assert missing.json()["error"] == "invoice_not_found"
