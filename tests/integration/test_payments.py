"""The Stripe adapter against localstripe (R6 collection, R11 card update), its retries under
injected HTTP faults, webhook signatures, and the Stripe secret."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests
import stripe
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from pydantic import ValidationError

from functions.adapters.payments import StripePayments, stripe_client
from functions.adapters.secrets import stripe_secrets
from functions.adapters.settings import PaymentsSettings
from functions.billing.invoices import AttemptOutcome, Card
from functions.billing.money import Money
from functions.billing.payments import (
    CardNotOwned,
    CardNotReady,
    ChargeResult,
    InvalidWebhook,
    PaymentsRejected,
    PaymentsUnavailable,
)
from tests.support.aws import ENVIRONMENT
from tests.support.cards import (
    API_KEY,
    DECLINED_AT_CHARGE,
    VISA,
    browser_confirms,
    card_from_browser,
    intents_of,
    new_customer,
    new_id,
    saved_card,
)
from tests.support.payments import Fault, FaultyHttpClient, WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_test_payments"
NEEDS_AUTHENTICATION = "4000002500003155"  # 3D Secure on every charge
PAYMENT_INTENTS = "/v1/payment_intents"


@pytest.fixture
def http() -> FaultyHttpClient:
    return FaultyHttpClient()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def payments(localstripe: str, http: FaultyHttpClient, sleeps: list[float]) -> StripePayments:
    return StripePayments(
        stripe_client(API_KEY, localstripe, http_client=http), sleep=sleeps.append
    )


@pytest.fixture
def stripe_api(localstripe: str) -> stripe.StripeClient:
    """Stripe as the test sees it, beside the adapter."""
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe}, max_network_retries=0)


def charge(
    payments: StripePayments, customer: str, card: Card, invoice_id: str, attempt: int = 1
) -> ChargeResult:
    return payments.charge(
        invoice_id, attempt, customer, card.payment_method_id, Money(12_500), "Leads, week 47"
    )


# Customers and cards (R11)


def test_a_contractor_becomes_a_customer_under_a_key_of_its_own(
    payments: StripePayments, http: FaultyHttpClient, stripe_api: stripe.StripeClient
):
    contractor = new_id("c")
    customer_id = payments.create_customer(contractor, "Acme Roofing", "billing@acme.example")

    customer = stripe_api.v1.customers.retrieve(customer_id)
    assert customer.metadata.to_dict() == {"contractor_id": contractor}
    assert (customer.name, customer.email) == ("Acme Roofing", "billing@acme.example")
    [sent] = http.sent_to("post", "/v1/customers")
    assert sent.idempotency_key == f"customer-{contractor}"


def test_a_confirmed_setup_gives_the_card_and_makes_it_the_default(
    payments: StripePayments, stripe_api: stripe.StripeClient, localstripe: str
):
    # Given a SetupIntent the app confirmed with a Visa card (as Stripe.js does)
    customer = new_customer(payments)
    setup_intent_id, client_secret = payments.create_setup_intent(customer)
    assert client_secret.startswith(setup_intent_id)
    method = card_from_browser(stripe_api, VISA)
    browser_confirms(localstripe, setup_intent_id, client_secret, method)

    # When the billing asks for the card it saved
    card = payments.confirmed_card(setup_intent_id, customer)

    # Then it is the Visa ending in 4242, attached to the customer as its default (R11)
    assert card == Card(
        payment_method_id=method, brand="visa", last4="4242", exp_month=12, exp_year=2030
    )
    assert stripe_api.v1.payment_methods.retrieve(method).customer == customer
    settings = stripe_api.v1.customers.retrieve(customer).invoice_settings
    assert settings.default_payment_method == method
    # Asking again (a retried request) gives the same card
    assert payments.confirmed_card(setup_intent_id, customer) == card


def test_a_setup_of_another_customer_is_not_owned(
    payments: StripePayments, stripe_api: stripe.StripeClient, localstripe: str
):
    other = new_customer(payments)
    setup_intent_id, client_secret = payments.create_setup_intent(other)
    browser_confirms(
        localstripe, setup_intent_id, client_secret, card_from_browser(stripe_api, VISA)
    )
    customer = new_customer(payments)

    with pytest.raises(CardNotOwned):
        payments.confirmed_card(setup_intent_id, customer)
    # and the other customer's card did not become this customer's default
    assert (
        stripe_api.v1.customers.retrieve(customer).invoice_settings.default_payment_method is None
    )


@pytest.mark.parametrize("setup_intent_id", ["seti_doesnotexist", "", "pi_123", "../customers"])
def test_an_unknown_setup_is_not_owned(payments: StripePayments, setup_intent_id: str):
    customer = new_customer(payments)
    with pytest.raises(CardNotOwned):
        payments.confirmed_card(setup_intent_id, customer)


def test_an_unconfirmed_setup_is_not_ready(payments: StripePayments):
    customer = new_customer(payments)
    setup_intent_id, _ = payments.create_setup_intent(customer)

    with pytest.raises(CardNotReady) as raised:
        payments.confirmed_card(setup_intent_id, customer)
    assert raised.value.status == "requires_payment_method"


# Charges (R6)


def test_a_charge_to_a_good_card_succeeds_with_one_payment_intent(
    payments: StripePayments,
    stripe_api: stripe.StripeClient,
    localstripe: str,
    http: FaultyHttpClient,
):
    customer, card = saved_card(payments, stripe_api, localstripe)
    invoice = new_id("inv")

    result = charge(payments, customer, card, invoice)

    assert result.outcome is AttemptOutcome.SUCCEEDED
    [intent] = intents_of(stripe_api, invoice)
    assert result == ChargeResult(AttemptOutcome.SUCCEEDED, intent.id)
    assert (intent.amount, intent.currency, intent.customer) == (12_500, "usd", customer)
    assert intent.payment_method == card.payment_method_id
    assert intent.metadata.to_dict() == {
        "invoice_id": invoice,
        "attempt": "1",
        "description": "Leads, week 47",
    }
    [sent] = http.sent_to("post", PAYMENT_INTENTS)
    assert sent.idempotency_key == f"invoice-{invoice}-attempt-1"


def test_a_card_declined_at_charge_gives_declined_with_its_code(
    payments: StripePayments, stripe_api: stripe.StripeClient, localstripe: str
):
    customer, card = saved_card(payments, stripe_api, localstripe, DECLINED_AT_CHARGE)
    invoice = new_id("inv")

    result = charge(payments, customer, card, invoice)

    [intent] = intents_of(stripe_api, invoice)
    assert result == ChargeResult(AttemptOutcome.DECLINED, intent.id, "card_declined")
    # find_attempt reads the same outcome back from Stripe
    assert payments.find_attempt(invoice, 1, customer) == result


def test_a_card_that_needs_authentication_is_declined_off_session(
    payments: StripePayments, stripe_api: stripe.StripeClient
):
    customer = new_customer(payments)
    method = card_from_browser(stripe_api, NEEDS_AUTHENTICATION)
    stripe_api.v1.payment_methods.attach(method, params={"customer": customer})
    card = Card(method, "visa", "3155", 12, 2030)
    invoice = new_id("inv")

    result = charge(payments, customer, card, invoice)

    [intent] = intents_of(stripe_api, invoice)
    assert result == ChargeResult(AttemptOutcome.DECLINED, intent.id, "authentication_required")
    # No charge was made, so there is nothing for find_attempt to find
    assert payments.find_attempt(invoice, 1, customer) is None


def test_each_attempt_of_an_invoice_has_its_own_payment_intent(
    payments: StripePayments,
    stripe_api: stripe.StripeClient,
    localstripe: str,
    http: FaultyHttpClient,
):
    customer, card = saved_card(payments, stripe_api, localstripe)
    invoice = new_id("inv")

    first = charge(payments, customer, card, invoice, attempt=1)
    second = charge(payments, customer, card, invoice, attempt=2)

    assert first.payment_intent_id != second.payment_intent_id
    assert [sent.idempotency_key for sent in http.sent_to("post", PAYMENT_INTENTS)] == [
        f"invoice-{invoice}-attempt-1",
        f"invoice-{invoice}-attempt-2",
    ]
    assert payments.find_attempt(invoice, 2, customer) == second


def test_a_charge_stripe_refuses_raises_rejected_without_retrying(
    payments: StripePayments, http: FaultyHttpClient
):
    customer = new_customer(payments)
    with pytest.raises(PaymentsRejected):
        payments.charge(new_id("inv"), 1, customer, "pm_missing", Money(100), "Leads")
    assert len(http.sent_to("post", PAYMENT_INTENTS)) == 1


@pytest.mark.parametrize("amount", [0, -100])
def test_a_charge_is_positive(payments: StripePayments, amount: int):
    with pytest.raises(ValueError):
        payments.charge("inv", 1, "cus_1", "pm_1", Money(amount), "Leads")


# Retries under HTTP faults


def test_a_500_then_a_timeout_are_retried_under_the_same_key_into_one_payment(
    payments: StripePayments,
    stripe_api: stripe.StripeClient,
    localstripe: str,
    http: FaultyHttpClient,
    sleeps: list[float],
):
    customer, card = saved_card(payments, stripe_api, localstripe)
    invoice = new_id("inv")
    http.fail_next(Fault.SERVER_ERROR, Fault.TIMEOUT)

    result = charge(payments, customer, card, invoice)

    assert result.outcome is AttemptOutcome.SUCCEEDED
    [intent] = intents_of(stripe_api, invoice)
    assert intent.status == "succeeded"
    assert result.payment_intent_id == intent.id
    sent = http.sent_to("post", PAYMENT_INTENTS)
    assert len(sent) == 3
    assert {request.idempotency_key for request in sent} == {f"invoice-{invoice}-attempt-1"}
    assert len({request.body for request in sent}) == 1  # the very same request, repeated
    assert sleeps == [0.5, 1.0]


def test_a_429_is_retried(
    payments: StripePayments,
    stripe_api: stripe.StripeClient,
    localstripe: str,
    http: FaultyHttpClient,
):
    customer, card = saved_card(payments, stripe_api, localstripe)
    invoice = new_id("inv")
    http.fail_next(Fault.RATE_LIMITED)

    assert charge(payments, customer, card, invoice).outcome is AttemptOutcome.SUCCEEDED
    assert len(intents_of(stripe_api, invoice)) == 1
    assert len(http.sent_to("post", PAYMENT_INTENTS)) == 2


def test_persistent_500s_give_unknown_and_no_payment_is_found(
    payments: StripePayments,
    stripe_api: stripe.StripeClient,
    localstripe: str,
    http: FaultyHttpClient,
    sleeps: list[float],
):
    customer, card = saved_card(payments, stripe_api, localstripe)
    invoice = new_id("inv")
    http.fail_next(*[Fault.SERVER_ERROR] * 4)

    result = charge(payments, customer, card, invoice)

    assert result == ChargeResult(AttemptOutcome.UNKNOWN)
    sent = http.sent_to("post", PAYMENT_INTENTS)
    assert len(sent) == 4  # the first try and three retries, never more
    assert {request.idempotency_key for request in sent} == {f"invoice-{invoice}-attempt-1"}
    assert sleeps == [0.5, 1.0, 2.0]
    # None of them reached Stripe: resolving the attempt finds nothing, and charges nothing
    assert payments.find_attempt(invoice, 1, customer) is None
    assert intents_of(stripe_api, invoice) == []


@pytest.mark.parametrize("lost", [Fault.ANSWERED_THEN_500, Fault.LOST_ANSWER])
def test_an_attempt_whose_answer_was_lost_is_found_later(
    payments: StripePayments,
    stripe_api: stripe.StripeClient,
    localstripe: str,
    http: FaultyHttpClient,
    lost: Fault,
):
    # Given Stripe charged the card, but its answer and every retry's answer were lost
    customer, card = saved_card(payments, stripe_api, localstripe)
    invoice = new_id("inv")
    http.fail_next(lost, Fault.SERVER_ERROR, Fault.TIMEOUT, Fault.SERVER_ERROR)
    assert charge(payments, customer, card, invoice).outcome is AttemptOutcome.UNKNOWN

    # When the attempt is resolved later
    found = payments.find_attempt(invoice, 1, customer)

    # Then it is the one payment Stripe made, and resolving it charged nothing more
    [intent] = intents_of(stripe_api, invoice)
    assert found == ChargeResult(AttemptOutcome.SUCCEEDED, intent.id)
    assert payments.find_attempt(invoice, 2, customer) is None


def test_stripe_saying_not_to_retry_is_obeyed(
    payments: StripePayments,
    stripe_api: stripe.StripeClient,
    localstripe: str,
    http: FaultyHttpClient,
    sleeps: list[float],
):
    customer, card = saved_card(payments, stripe_api, localstripe)
    http.should_retry_header = "false"
    http.fail_next(Fault.SERVER_ERROR)

    assert charge(payments, customer, card, new_id("inv")).outcome is AttemptOutcome.UNKNOWN
    assert len(http.sent_to("post", PAYMENT_INTENTS)) == 1
    assert sleeps == []


def test_other_requests_that_keep_failing_raise_unavailable(
    payments: StripePayments, http: FaultyHttpClient
):
    contractor = new_id("c")
    http.fail_next(*[Fault.TIMEOUT] * 4)

    with pytest.raises(PaymentsUnavailable):
        payments.create_customer(contractor, "Acme Roofing", "billing@acme.example")
    sent = http.sent_to("post", "/v1/customers")
    assert [request.idempotency_key for request in sent] == [f"customer-{contractor}"] * 4


def test_a_transient_failure_while_saving_a_card_is_retried(
    payments: StripePayments,
    stripe_api: stripe.StripeClient,
    localstripe: str,
    http: FaultyHttpClient,
):
    customer = new_customer(payments)
    setup_intent_id, client_secret = payments.create_setup_intent(customer)
    browser_confirms(
        localstripe, setup_intent_id, client_secret, card_from_browser(stripe_api, VISA)
    )
    http.fail_next(Fault.TIMEOUT, Fault.SERVER_ERROR, Fault.RATE_LIMITED)

    assert payments.confirmed_card(setup_intent_id, customer).last4 == "4242"


# Webhooks


@pytest.fixture
def verifier() -> StripePayments:
    """Verification needs no network: a client pointing nowhere will do."""
    return StripePayments(stripe_client("sk_test_unused", "http://127.0.0.1:9"))


EVENT = json.dumps(
    {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 12_500}},
    }
)


def signed(payload: str, secret: str = WEBHOOK_SECRET, age: int = 0) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=int(time.time()) - age
    )


def test_a_webhook_signed_with_our_secret_is_accepted(verifier: StripePayments):
    event = verifier.verify_webhook(EVENT.encode(), signed(EVENT), WEBHOOK_SECRET)
    assert event == json.loads(EVENT)
    assert type(event) is dict and type(event["data"]["object"]) is dict


def test_a_webhook_signed_a_little_under_the_tolerance_ago_is_accepted(verifier: StripePayments):
    event = verifier.verify_webhook(EVENT.encode(), signed(EVENT, age=290), WEBHOOK_SECRET)
    assert event["id"] == "evt_1"


@pytest.mark.parametrize(
    ("payload", "header"),
    [
        pytest.param(EVENT, None, id="missing signature"),
        pytest.param(EVENT, "", id="empty signature"),
        pytest.param(EVENT, "t=1,v1=", id="malformed signature"),
        pytest.param(EVENT, "nonsense", id="garbage header"),
        pytest.param(EVENT, signed(EVENT, secret="whsec_other"), id="another secret"),
        pytest.param(EVENT.replace("12500", "1"), signed(EVENT), id="tampered body"),
        pytest.param(EVENT, signed(EVENT, age=301), id="older than 300 s"),
        pytest.param("not json", signed("not json"), id="signed but not an event"),
    ],
)
def test_a_webhook_that_is_not_provably_from_stripe_is_invalid(
    verifier: StripePayments, payload: str, header: str | None
):
    with pytest.raises(InvalidWebhook):
        verifier.verify_webhook(payload.encode(), header, WEBHOOK_SECRET)


def test_localstripe_webhooks_arrive_signed_and_verify(
    payments: StripePayments, stripe_api: stripe.StripeClient, localstripe: str
):
    # Given a webhook endpoint registered with localstripe
    hook = f"{localstripe}/_config/webhooks/{new_id('hook')}"
    with WebhookReceiver().running() as receiver:
        requests.post(
            hook,
            json={
                "url": receiver.url,
                "secret": WEBHOOK_SECRET,
                "events": ["payment_intent.succeeded"],
            },
            timeout=10,
        ).raise_for_status()
        try:
            # When a payment succeeds
            customer, card = saved_card(payments, stripe_api, localstripe)
            result = charge(payments, customer, card, new_id("inv"))

            # Then its event arrives, and its signature verifies
            delivery = receiver.wait_for(
                lambda body: body["data"]["object"]["id"] == result.payment_intent_id
            )
            event = payments.verify_webhook(delivery.body, delivery.signature, WEBHOOK_SECRET)
            assert event["type"] == "payment_intent.succeeded"
            assert event["data"]["object"]["metadata"]["attempt"] == "1"
            with pytest.raises(InvalidWebhook):
                payments.verify_webhook(delivery.body, delivery.signature, "whsec_other")
        finally:
            # localstripe cannot forget an endpoint; this one stops matching any event
            requests.post(
                hook, json={"url": receiver.url, "secret": WEBHOOK_SECRET, "events": []}, timeout=10
            )


# The Stripe secret


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    parameters.clear_caches()
    with mock_aws():
        yield boto3.client("secretsmanager")
    parameters.clear_caches()


def test_the_stripe_secret_is_read_from_the_secret_the_settings_name(
    secrets_manager, monkeypatch: pytest.MonkeyPatch
):
    value = {"api_key": "sk_test_1", "webhook_secret": "whsec_1", "api_base": "http://127.0.0.1:1"}
    secrets_manager.create_secret(Name="stripe-local", SecretString=json.dumps(value))
    monkeypatch.setenv("STRIPE_SECRET_NAME", "stripe-local")

    settings = PaymentsSettings.from_env()
    secrets = stripe_secrets(settings.stripe_secret_name)

    assert (secrets.api_key, secrets.webhook_secret) == ("sk_test_1", "whsec_1")
    assert secrets.api_base == "http://127.0.0.1:1"
    assert "sk_test_1" not in repr(secrets) and "whsec_1" not in repr(secrets)


def test_in_aws_the_secret_has_no_api_base(secrets_manager):
    value = {"api_key": "sk_live_1", "webhook_secret": "whsec_1"}
    secrets_manager.create_secret(Name="stripe", SecretString=json.dumps(value))

    assert stripe_secrets("stripe").api_base is None


def test_the_secret_is_cached_between_invocations(secrets_manager):
    secrets_manager.create_secret(
        Name="stripe", SecretString=json.dumps({"api_key": "sk_1", "webhook_secret": "whsec_1"})
    )
    assert stripe_secrets("stripe").api_key == "sk_1"
    secrets_manager.put_secret_value(
        SecretId="stripe", SecretString=json.dumps({"api_key": "sk_2", "webhook_secret": "whsec_2"})
    )

    assert stripe_secrets("stripe").api_key == "sk_1"


def test_an_incomplete_secret_is_refused_without_showing_it(secrets_manager):
    secrets_manager.create_secret(Name="stripe", SecretString=json.dumps({"api_key": "sk_1"}))

    with pytest.raises(ValidationError) as raised:
        stripe_secrets("stripe")
    assert "webhook_secret" in str(raised.value)
    assert "sk_1" not in str(raised.value)
