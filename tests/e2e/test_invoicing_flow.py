"""Invoicing end to end through the local stack of `make run` (R3, R5, R6, R11): a card
saved through the card routes and localstripe, leads, the clock moved to Friday, and the
invoice paid in localstripe, visible to the operator and emailed with its PDF."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e

CONTRACTOR = "e2e-friday"
SECRET_KEY = "sk_test_local"
PUBLISHABLE_KEY = "pk_test_local"


def save_card_as_the_app_does(local: LocalClient, number: str = "4242424242424242") -> dict:
    token = local.contractor_token(CONTRACTOR)
    started = local.request("POST", "/me/card/setup-intent", token=token, json={})
    assert started.status_code == 201, started.text
    setup = started.json()
    stripe_url = local.config["stripe_endpoint"]
    # Stripe.js's part: the card number goes to Stripe, never to the billing API
    method = requests.post(
        f"{stripe_url}/v1/payment_methods",
        auth=(SECRET_KEY, ""),
        data={
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": "2030",
            "card[cvc]": "123",
        },
        timeout=10,
    ).json()["id"]
    confirmed = requests.post(
        f"{stripe_url}/v1/setup_intents/{setup['setup_intent_id']}/confirm",
        data={
            "key": PUBLISHABLE_KEY,
            "client_secret": setup["client_secret"],
            "payment_method": method,
        },
        timeout=10,
    )
    assert confirmed.json()["status"] == "succeeded", confirmed.text
    saved = local.request(
        "POST", "/me/card/confirm", token=token, json={"setup_intent_id": setup["setup_intent_id"]}
    )
    assert saved.status_code == 200, saved.text
    return saved.json()


def test_friday_invoices_charges_and_emails_the_account(local: LocalClient):
    # Given an account with a card saved through the card routes
    created = local.create_account(
        contractor_id=CONTRACTOR, billing_email="billing@friday.example", locale="es"
    )
    assert created.status_code == 201, created.text
    card = save_card_as_the_app_does(local)["card"]
    assert (card["brand"], card["last4"]) == ("visa", "4242")
    # And two leads delivered on Wednesday
    local.put_lead(contractor_id=CONTRACTOR, price_cents=4_500, category="roofing")
    local.put_lead(contractor_id=CONTRACTOR, price_cents=3_000, category="fencing")
    local.advance(1)
    # When the clock reaches Friday 06:00 in Chicago (12:00 UTC in March, before DST)
    local.set_clock("2025-03-07T12:05:00Z")
    # Then the invoice is paid, as the operator API shows
    listed = local.admin("GET", f"/admin/accounts/{CONTRACTOR}/invoices").json()
    [summary] = listed["items"]
    assert (summary["kind"], summary["status"], summary["total_cents"]) == ("weekly", "paid", 7_500)
    detail = local.admin("GET", f"/admin/invoices/{summary['invoice_id']}").json()
    [attempt] = detail["attempts"]
    assert attempt["outcome"] == "succeeded"
    # And in localstripe
    intent = requests.get(
        f"{local.config['stripe_endpoint']}/v1/payment_intents/{attempt['payment_intent_id']}",
        auth=(SECRET_KEY, ""),
        timeout=10,
    ).json()
    assert (intent["status"], intent["amount"]) == ("succeeded", 7_500)
    # And the email, in Spanish, with its PDF on disk
    [mail] = [m for m in local.emails() if m["to"] == ["billing@friday.example"]]
    assert "pagada" in mail["subject"]
    [pdf] = [a for a in mail["attachments"] if a["content_type"] == "application/pdf"]
    assert Path(pdf["path"]).read_bytes().startswith(b"%PDF")
    assert account_state(local)["unbilled_cents"] == 0


def account_state(local: LocalClient) -> dict:
    return local.get_account(CONTRACTOR).json()
