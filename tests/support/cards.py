"""Cards saved the way the Pro App and the Lead Manager save them, against localstripe:
Stripe.js creates the PaymentMethod and confirms the SetupIntent; the number never reaches
the billing."""

from __future__ import annotations

import uuid

import requests
import stripe

from functions.adapters.payments import StripePayments
from functions.billing.invoices import Card

API_KEY = "sk_test_payments"
PUBLISHABLE_KEY = "pk_test_payments"
VISA = "4242424242424242"
DECLINED_AT_CHARGE = "4000000000000341"  # attaches, then every charge is declined


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_customer(payments: StripePayments) -> str:
    return payments.create_customer(new_id("c"), "Acme Roofing", "billing@acme.example")


def card_from_browser(stripe_api: stripe.StripeClient, number: str) -> str:
    """The PaymentMethod Stripe.js creates from the card form; the number never reaches us."""
    method = stripe_api.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    return method.id


def browser_confirms(
    localstripe: str, setup_intent_id: str, client_secret: str, method: str
) -> None:
    """What Stripe.js sends to confirm a SetupIntent: publishable key and client secret."""
    response = requests.post(
        f"{localstripe}/v1/setup_intents/{setup_intent_id}/confirm",
        data={"key": PUBLISHABLE_KEY, "client_secret": client_secret, "payment_method": method},
        timeout=10,
    )
    response.raise_for_status()
    assert response.json()["status"] == "succeeded"


def saved_card(
    payments: StripePayments, stripe_api: stripe.StripeClient, localstripe: str, number: str = VISA
) -> tuple[str, Card]:
    customer = new_customer(payments)
    setup_intent_id, client_secret = payments.create_setup_intent(customer)
    browser_confirms(
        localstripe, setup_intent_id, client_secret, card_from_browser(stripe_api, number)
    )
    return customer, payments.confirmed_card(setup_intent_id, customer)


def intents_of(stripe_api: stripe.StripeClient, invoice_id: str) -> list[stripe.PaymentIntent]:
    listed = stripe_api.v1.payment_intents.list(params={"limit": 100})
    return [
        intent
        for intent in listed.auto_paging_iter()
        if intent.metadata.to_dict().get("invoice_id") == invoice_id
    ]
