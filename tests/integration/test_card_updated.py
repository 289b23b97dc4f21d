"""card_updated against moto and localstripe: the contractor saves a card through a Stripe
SetupIntent (R11), and Stripe's signed webhooks settle payment attempts whose answer never
came (R6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import date, timedelta
from types import ModuleType
from typing import Any

import pytest
import stripe

from functions.adapters.accounts import AccountStore
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.models import AccountModel, InvoiceModel
from functions.billing.invoices import (
    AttemptOutcome,
    Card,
    Invoice,
    InvoiceKind,
    PaymentAttempt,
    weekly_invoice_id,
)
from functions.usecases.billing_view import contractor_billing
from tests.integration.conftest import CARD_UPDATED_WEBHOOK_SECRET, Clock
from tests.integration.steps import deliver, events, lead, ledger, open_contractor, records_for
from tests.support.aws import LambdaContext, Resources, rest_event, sent_mail
from tests.support.cards import API_KEY, VISA, browser_confirms, card_from_browser

SETUP = "/me/card/setup-intent"
CONFIRM = "/me/card/confirm"
WEBHOOK = "/webhooks/stripe"
CARD_ON_ATTEMPT = Card("pm_attempt", "visa", "4242", 12, 2030)


@pytest.fixture
def cid() -> str:
    """A contractor id of this test alone: localstripe outlives each test's moto state."""
    return f"c-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def stripe_api(localstripe: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe}, max_network_retries=0)


def claims_of(contractor_id: str) -> dict[str, str]:
    """The claims a Cognito access token of the contractor carries once API Gateway has
    verified it."""
    return {"username": contractor_id, "scope": "billing/card"}


def call(
    module: ModuleType,
    path: str,
    body: Any = None,
    *,
    claims: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    event = rest_event("POST", path, body)
    if claims is not None:
        event["requestContext"]["authorizer"] = {"claims": claims}
    response = module.handler(event, LambdaContext(function_name="card_updated"))
    return response["statusCode"], json.loads(response["body"])


def setup_intent(module: ModuleType, contractor_id: str) -> tuple[str, str]:
    status, body = call(module, SETUP, claims=claims_of(contractor_id))
    assert status == 201, body
    return body["setup_intent_id"], body["client_secret"]


def confirmed_in_browser(
    module: ModuleType,
    stripe_api: stripe.StripeClient,
    localstripe: str,
    contractor_id: str,
    number: str = VISA,
) -> str:
    """A SetupIntent of the contractor, confirmed with a card (a Visa unless ``number``
    says otherwise) as Stripe.js confirms it."""
    setup_intent_id, client_secret = setup_intent(module, contractor_id)
    method = card_from_browser(stripe_api, number)
    browser_confirms(localstripe, setup_intent_id, client_secret, method)
    return setup_intent_id


def customers_of(stripe_api: stripe.StripeClient, contractor_id: str) -> list[str]:
    listed = stripe_api.v1.customers.list(params={"limit": 100})
    return [
        customer.id
        for customer in listed.auto_paging_iter()
        if customer.metadata.to_dict().get("contractor_id") == contractor_id
    ]


# The card flow (R11)


def test_r11_a_setup_intent_creates_the_customer_once_and_stores_it(
    card_updated, stripe_api: stripe.StripeClient, cid: str
):
    # Given an account without a Stripe customer
    open_contractor(cid)
    assert AccountModel.get(cid).stripe_customer_id is None

    # When the app asks for a card setup twice
    first, first_secret = setup_intent(card_updated, cid)
    second, _ = setup_intent(card_updated, cid)

    # Then one customer was created and stored, and both setups are for it, off-session
    [customer] = customers_of(stripe_api, cid)
    assert AccountModel.get(cid).stripe_customer_id == customer
    assert first != second
    assert first_secret.startswith(first)
    for setup_intent_id in (first, second):
        setup = stripe_api.v1.setup_intents.retrieve(setup_intent_id)
        assert (setup.customer, setup.usage) == (customer, "off_session")


def test_r11_confirming_a_card_set_up_in_the_browser_saves_and_answers_it(
    card_updated, stripe_api: stripe.StripeClient, localstripe: str, cid: str, clock: Clock
):
    # Given a setup the contractor confirmed with a Visa in the app (Stripe.js)
    open_contractor(cid)
    setup_intent_id = confirmed_in_browser(card_updated, stripe_api, localstripe, cid)

    # When the app tells the billing
    status, body = call(
        card_updated, CONFIRM, {"setup_intent_id": setup_intent_id}, claims=claims_of(cid)
    )

    # Then the card is the account's card on file, and the answer describes it with the
    # billing state GET /me/billing shows: nothing was past due, nothing is collected
    assert status == 200
    assert body["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}
    assert body["collected_cents"] == 0
    assert body["billing"] == contractor_billing(AccountStore().get(cid), clock.now()).model_dump(
        mode="json"
    )
    assert body["billing"]["card"]["last4"] == "4242"
    card = AccountModel.get(cid).card
    assert card is not None
    assert (card.brand, card.last4, int(card.exp_month), int(card.exp_year)) == (
        "visa",
        "4242",
        12,
        2030,
    )
    assert card.payment_method_id.startswith("pm_")
    [entry] = ledger(cid, kind="card_saved")
    assert entry.entry_id == f"card#{setup_intent_id}"
    assert entry.reason == card.payment_method_id
    # And Stripe charges it by default
    customer = stripe_api.v1.customers.retrieve(str(AccountModel.get(cid).stripe_customer_id))
    assert customer.invoice_settings.default_payment_method == card.payment_method_id


def test_r11_confirming_the_same_setup_again_changes_nothing_and_answers_the_same(
    card_updated, stripe_api: stripe.StripeClient, localstripe: str, cid: str, clock: Clock
):
    open_contractor(cid)
    setup_intent_id = confirmed_in_browser(card_updated, stripe_api, localstripe, cid)
    first = call(card_updated, CONFIRM, {"setup_intent_id": setup_intent_id}, claims=claims_of(cid))
    stored = AccountModel.get(cid).card.as_dict()  # type: ignore[union-attr]

    clock.set("2026-11-20T16:00:00+00:00")
    again = call(card_updated, CONFIRM, {"setup_intent_id": setup_intent_id}, claims=claims_of(cid))

    assert again == first
    assert AccountModel.get(cid).card.as_dict() == stored  # type: ignore[union-attr]
    assert len(ledger(cid, kind="card_saved")) == 1


def test_r11_another_customers_setup_answers_403_and_saves_nothing(
    card_updated, stripe_api: stripe.StripeClient, localstripe: str, cid: str
):
    # Given another contractor's confirmed setup, and a contractor with a customer of its own
    other = f"{cid}-other"
    open_contractor(cid)
    open_contractor(other)
    theirs = confirmed_in_browser(card_updated, stripe_api, localstripe, other)
    setup_intent(card_updated, cid)

    # When the contractor names the other's setup
    status, body = call(card_updated, CONFIRM, {"setup_intent_id": theirs}, claims=claims_of(cid))

    # Then it is refused, as if it did not exist, and nothing is saved anywhere
    assert status == 403
    assert body["error"] == "setup_intent_not_found"
    assert theirs not in json.dumps(body) and other not in json.dumps(body)
    assert AccountModel.get(cid).card is None
    assert AccountModel.get(other).card is None
    assert ledger(cid, kind="card_saved") == []
    customer = stripe_api.v1.customers.retrieve(str(AccountModel.get(cid).stripe_customer_id))
    assert customer.invoice_settings.default_payment_method is None


def test_r11_a_setup_by_a_contractor_without_a_customer_is_refused(
    card_updated, stripe_api: stripe.StripeClient, localstripe: str, cid: str
):
    other = f"{cid}-other"
    open_contractor(cid)
    open_contractor(other)
    theirs = confirmed_in_browser(card_updated, stripe_api, localstripe, other)

    status, _ = call(card_updated, CONFIRM, {"setup_intent_id": theirs}, claims=claims_of(cid))

    assert status == 403
    assert AccountModel.get(cid).card is None


def test_r11_a_setup_not_confirmed_yet_answers_409_with_its_status(card_updated, cid: str):
    open_contractor(cid)
    setup_intent_id, _ = setup_intent(card_updated, cid)

    status, body = call(
        card_updated, CONFIRM, {"setup_intent_id": setup_intent_id}, claims=claims_of(cid)
    )

    assert status == 409
    assert body["status"] == "requires_payment_method"
    assert AccountModel.get(cid).card is None
    assert ledger(cid, kind="card_saved") == []


# Whose card: the token's contractor, never the request's (R13)


def test_r13_the_setup_is_for_the_contractor_the_token_names(
    card_updated, stripe_api: stripe.StripeClient, cid: str
):
    other = f"{cid}-other"
    open_contractor(cid)
    open_contractor(other)

    setup_intent_id, _ = setup_intent(card_updated, other)

    assert AccountModel.get(cid).stripe_customer_id is None
    customer = AccountModel.get(other).stripe_customer_id
    assert stripe_api.v1.setup_intents.retrieve(setup_intent_id).customer == customer


@pytest.mark.parametrize("path", [SETUP, CONFIRM])
def test_r13_a_body_naming_a_contractor_is_refused(card_updated, cid: str, path: str):
    open_contractor(cid)
    body = {"contractor_id": f"{cid}-other"}
    if path == CONFIRM:
        body["setup_intent_id"] = "seti_123"

    status, answer = call(card_updated, path, body, claims=claims_of(cid))

    assert status == 400
    assert [problem["field"] for problem in answer["problems"]] == ["contractor_id"]
    assert AccountModel.get(cid).stripe_customer_id is None


def test_r13_no_route_takes_a_contractor_from_the_path(card_updated, cid: str):
    open_contractor(cid)
    status, _ = call(card_updated, f"/contractors/{cid}/card/setup-intent", claims=claims_of(cid))
    assert status == 404
    assert AccountModel.get(cid).stripe_customer_id is None


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(None, id="no authorizer"),
        pytest.param({}, id="no claims"),
        pytest.param({"sub": "c-1", "scope": "billing/card"}, id="no username"),
        pytest.param({"username": " "}, id="blank username"),
    ],
)
def test_r13_a_request_without_a_verified_contractor_answers_401(
    card_updated, claims: dict[str, str] | None
):
    open_contractor("c-1")
    status, body = call(card_updated, SETUP, claims=claims)
    assert (status, body["error"]) == (401, "unauthenticated")
    assert AccountModel.get("c-1").stripe_customer_id is None


def test_a_contractor_without_an_account_answers_404(card_updated, cid: str):
    status, body = call(card_updated, SETUP, claims=claims_of(cid))
    assert (status, body["error"]) == (404, "account_not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "setup_intent_id", id="missing"),
        pytest.param({"setup_intent_id": ""}, "setup_intent_id", id="empty"),
        pytest.param({"setup_intent_id": 7}, "setup_intent_id", id="not a string"),
    ],
)
def test_a_bad_confirm_body_answers_400_naming_the_field(
    card_updated, cid: str, body: dict[str, Any], field: str
):
    open_contractor(cid)
    status, answer = call(card_updated, CONFIRM, body, claims=claims_of(cid))
    assert status == 400
    assert field in answer["message"]
    assert [problem["field"] for problem in answer["problems"]] == [field]


def test_a_confirm_body_that_is_not_json_answers_400(card_updated, cid: str):
    open_contractor(cid)
    event = rest_event("POST", CONFIRM)
    event["body"] = "setup_intent_id=seti_123"
    event["requestContext"]["authorizer"] = {"claims": claims_of(cid)}
    response = card_updated.handler(event, LambdaContext(function_name="card_updated"))
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["message"] == "invalid body"


# Stripe's webhooks (R6)


def sign(payload: str, secret: str = CARD_UPDATED_WEBHOOK_SECRET, age: int = 0) -> str:
    """A ``Stripe-Signature`` as Stripe computes it: HMAC-SHA256 of ``<t>.<payload>``."""
    timestamp = int(time.time()) - age
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def intent_event(
    kind: str,
    invoice_id: str,
    attempt: int = 1,
    *,
    intent_id: str = "pi_webhook",
    failure: dict[str, str] | None = None,
) -> str:
    """A Stripe event about a PaymentIntent that ``charge`` created for an invoice attempt."""
    succeeded = kind == "payment_intent.succeeded"
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:12]}",
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": 4_500,
                    "currency": "usd",
                    "status": "succeeded" if succeeded else "requires_payment_method",
                    "metadata": {
                        "invoice_id": invoice_id,
                        "attempt": str(attempt),
                        "description": f"CraftJack leads, invoice {invoice_id}",
                    },
                    "last_payment_error": None if succeeded else failure,
                }
            },
        }
    )


def deliver_webhook(
    module: ModuleType, payload: str, signature: str | None, *, encoded: bool = False
) -> tuple[int, dict[str, Any]]:
    event = rest_event("POST", WEBHOOK)
    event["body"] = base64.b64encode(payload.encode()).decode() if encoded else payload
    event["isBase64Encoded"] = encoded
    if signature is not None:
        event["headers"]["Stripe-Signature"] = signature
        event["multiValueHeaders"]["Stripe-Signature"] = [signature]
    response = module.handler(event, LambdaContext(function_name="card_updated"))
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def under_way(on_lead, card_updated, aws: Resources, clock: Clock, cid: str) -> Invoice:
    """An issued invoice whose first attempt started and never got Stripe's answer."""
    open_contractor(cid)
    deliver(on_lead, records_for(aws, [lead("A1", 4_500, cid)]))
    store = InvoiceStore()
    now = clock.now()
    issued = store.issue(cid, weekly_invoice_id(cid, date(2026, 11, 20)), InvoiceKind.WEEKLY, now)
    assert issued is not None
    pending = PaymentAttempt(1, now, AttemptOutcome.UNKNOWN, card=CARD_ON_ATTEMPT)
    assert store.start_attempt(issued, pending)
    events(aws)  # the leads' own events
    invoice = store.get(issued.invoice_id)
    assert invoice is not None
    return invoice


def unchanged(invoice: Invoice, aws: Resources) -> None:
    """Nothing happened to the invoice, the account, the mail or the bus."""
    item = InvoiceModel.get(invoice.invoice_id)
    assert item.status == "open"
    assert [attempt.outcome for attempt in item.attempts] == ["unknown"]
    assert ledger(invoice.contractor_id, kind="payment") == []
    assert ledger(invoice.contractor_id, kind="payment_failed") == []
    assert int(AccountModel.get(invoice.contractor_id).past_due_cents) == 0
    assert sent_mail() == []
    assert events(aws) == []


def test_r6_a_signed_success_pays_the_attempt_that_stayed_unknown(
    card_updated, under_way: Invoice, aws: Resources
):
    # When Stripe reports that the attempt's PaymentIntent succeeded
    payload = intent_event("payment_intent.succeeded", under_way.invoice_id)
    status, body = deliver_webhook(card_updated, payload, sign(payload))

    # Then the invoice is paid by that PaymentIntent, with one payment in the ledger
    assert (status, body) == (200, {"received": True})
    item = InvoiceModel.get(under_way.invoice_id)
    assert item.status == "paid"
    [attempt] = item.attempts
    assert (attempt.outcome, attempt.payment_intent_id) == ("succeeded", "pi_webhook")
    assert attempt.card_last4 == "4242"
    assert [int(e.amount_cents) for e in ledger(under_way.contractor_id, kind="payment")] == [4_500]
    # And it is emailed once and announced
    [mail] = sent_mail()
    assert mail["To"] == "billing@acme.example"
    [paid] = events(aws, "InvoicePaid")
    assert paid["detail"]["invoice_id"] == under_way.invoice_id
    assert paid["detail"]["payment_intent_id"] == "pi_webhook"


def test_r6_the_same_event_delivered_twice_changes_nothing_more(
    card_updated, under_way: Invoice, aws: Resources, clock: Clock
):
    payload = intent_event("payment_intent.succeeded", under_way.invoice_id)
    assert deliver_webhook(card_updated, payload, sign(payload))[0] == 200
    settled = InvoiceModel.get(under_way.invoice_id).attempts[0].as_dict()

    clock.set("2026-11-20T15:05:00+00:00")
    assert deliver_webhook(card_updated, payload, sign(payload))[0] == 200

    assert InvoiceModel.get(under_way.invoice_id).attempts[0].as_dict() == settled
    assert len(ledger(under_way.contractor_id, kind="payment")) == 1
    assert len(sent_mail()) == 1
    # Announced again at most, under the same event id, which consumers discard
    assert {e["detail"]["event_id"] for e in events(aws, "InvoicePaid")} == {
        f"InvoicePaid:{under_way.invoice_id}"
    }


def test_r6_a_failure_arriving_after_the_success_leaves_the_invoice_paid(
    card_updated, under_way: Invoice, aws: Resources
):
    succeeded = intent_event("payment_intent.succeeded", under_way.invoice_id)
    failed = intent_event(
        "payment_intent.payment_failed",
        under_way.invoice_id,
        failure={"code": "card_declined", "decline_code": "insufficient_funds"},
    )
    assert deliver_webhook(card_updated, succeeded, sign(succeeded))[0] == 200

    assert deliver_webhook(card_updated, failed, sign(failed))[0] == 200

    item = InvoiceModel.get(under_way.invoice_id)
    assert (item.status, item.attempts[0].outcome) == ("paid", "succeeded")
    assert ledger(under_way.contractor_id, kind="payment_failed") == []
    assert int(AccountModel.get(under_way.contractor_id).past_due_cents) == 0
    assert len(sent_mail()) == 1
    assert events(aws, "PaymentFailed") == []


@pytest.mark.parametrize(
    ("failure", "decline_code"),
    [
        pytest.param(
            {"code": "card_declined", "decline_code": "insufficient_funds"},
            "insufficient_funds",
            id="decline code",
        ),
        pytest.param({"code": "expired_card"}, "expired_card", id="code only"),
    ],
)
def test_r6_a_signed_failure_makes_the_unknown_attempt_past_due_with_its_code(
    card_updated, under_way: Invoice, aws: Resources, failure: dict[str, str], decline_code: str
):
    payload = intent_event("payment_intent.payment_failed", under_way.invoice_id, failure=failure)

    assert deliver_webhook(card_updated, payload, sign(payload))[0] == 200

    item = InvoiceModel.get(under_way.invoice_id)
    assert item.status == "past_due"
    assert (item.attempts[0].outcome, item.attempts[0].decline_code) == ("declined", decline_code)
    assert int(AccountModel.get(under_way.contractor_id).past_due_cents) == 4_500
    [failed] = events(aws, "PaymentFailed")
    assert failed["detail"]["reason"] == decline_code
    assert len(sent_mail()) == 1


def test_r6_a_base64_encoded_body_is_verified_as_sent(
    card_updated, under_way: Invoice, aws: Resources
):
    payload = intent_event("payment_intent.succeeded", under_way.invoice_id)
    status, _ = deliver_webhook(card_updated, payload, sign(payload), encoded=True)
    assert status == 200
    assert InvoiceModel.get(under_way.invoice_id).status == "paid"


def tampered(payload: str) -> str:
    return payload.replace('"amount": 4500', '"amount": 1')


@pytest.mark.parametrize(
    ("change", "signature"),
    [
        pytest.param(
            lambda p: p, lambda p: sign(p, secret="whsec_someone_else"), id="another secret"
        ),
        pytest.param(lambda p: p, lambda p: sign(p, age=400), id="older than 300 s"),
        pytest.param(tampered, sign, id="tampered body"),
        pytest.param(lambda p: p, lambda p: None, id="no signature"),
        pytest.param(lambda p: p, lambda p: "t=1,v1=00", id="garbage signature"),
    ],
)
def test_r6_a_webhook_not_provably_from_stripe_answers_400_and_changes_nothing(
    card_updated, under_way: Invoice, aws: Resources, change: Any, signature: Any
):
    payload = intent_event("payment_intent.succeeded", under_way.invoice_id)
    assert tampered(payload) != payload

    status, body = deliver_webhook(card_updated, change(payload), signature(payload))

    assert (status, body["error"]) == (400, "invalid_signature")
    unchanged(under_way, aws)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(
            lambda invoice: json.dumps(
                {"id": "evt_other", "type": "customer.created", "data": {"object": {}}}
            ),
            id="another event type",
        ),
        pytest.param(
            lambda invoice: intent_event("payment_intent.succeeded", "c-nobody/W2026-11-20"),
            id="unknown invoice",
        ),
        pytest.param(
            lambda invoice: intent_event("payment_intent.succeeded", invoice.invoice_id, 2),
            id="unknown attempt",
        ),
    ],
)
def test_r6_a_signed_event_about_nothing_billed_is_acknowledged_and_ignored(
    card_updated, under_way: Invoice, aws: Resources, payload: Any
):
    body = payload(under_way)

    assert deliver_webhook(card_updated, body, sign(body)) == (200, {"received": True})

    unchanged(under_way, aws)


# R11: the card on file is the card of the setup started last, whatever order Stripe's
# webhooks and the app's confirms arrive in.


def setup_webhook(stripe_api: stripe.StripeClient, setup_intent_id: str) -> str:
    """Stripe's ``setup_intent.succeeded`` event for a setup, as Stripe describes it now."""
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:12]}",
            "object": "event",
            "type": "setup_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": stripe_api.v1.setup_intents.retrieve(setup_intent_id).to_dict()},
        }
    )


def on_file(cid: str) -> str | None:
    card = AccountModel.get(cid, consistent_read=True).card
    return None if card is None else str(card.payment_method_id)


def method_of(stripe_api: stripe.StripeClient, setup_intent_id: str) -> str:
    return str(stripe_api.v1.setup_intents.retrieve(setup_intent_id).payment_method)


def test_r11_setups_are_numbered_in_the_order_they_start(
    card_updated, stripe_api: stripe.StripeClient, cid: str
):
    open_contractor(cid)
    started = [setup_intent(card_updated, cid)[0] for _ in range(3)]
    numbers = [
        stripe_api.v1.setup_intents.retrieve(s).metadata.to_dict()["card_setup"] for s in started
    ]
    assert numbers == ["1", "2", "3"]
    assert AccountModel.get(cid).card_setups == 3


def test_r11_the_apps_late_confirm_of_an_older_setup_keeps_the_newer_card(
    card_updated, stripe_api: stripe.StripeClient, localstripe: str, cid: str
):
    from tests.support.cards import DECLINED_AT_CHARGE

    # Given two setups confirmed in the browser, the second one's card saved by the app
    open_contractor(cid)
    older = confirmed_in_browser(card_updated, stripe_api, localstripe, cid, VISA)
    newer = confirmed_in_browser(card_updated, stripe_api, localstripe, cid, DECLINED_AT_CHARGE)
    status, _ = call(card_updated, CONFIRM, {"setup_intent_id": newer}, claims=claims_of(cid))
    assert status == 200
    customer = AccountModel.get(cid).stripe_customer_id
    default = stripe_api.v1.customers.retrieve(customer).invoice_settings.default_payment_method

    # When the app's confirm of the older setup arrives late
    status, body = call(card_updated, CONFIRM, {"setup_intent_id": older}, claims=claims_of(cid))

    # Then it is answered with the card on file, which is still the newer one, unchanged in
    # the billing and in Stripe; the older setup recorded nothing
    assert status == 200, body
    assert body["card"]["last4"] == "0341"
    assert body["collected_cents"] == 0
    assert on_file(cid) == method_of(stripe_api, newer)
    assert AccountModel.get(cid).card_setup == 2
    after = stripe_api.v1.customers.retrieve(customer).invoice_settings.default_payment_method
    assert after == default
    assert [entry.entry_id for entry in ledger(cid, kind="card_saved")] == [f"card#{newer}"]


def test_r11_webhooks_of_two_setups_in_reverse_order_leave_the_later_card(
    card_updated, stripe_api: stripe.StripeClient, localstripe: str, cid: str
):
    # Given two setups confirmed in the browser, whose app never told the billing
    open_contractor(cid)
    older = confirmed_in_browser(card_updated, stripe_api, localstripe, cid, VISA)
    newer = confirmed_in_browser(card_updated, stripe_api, localstripe, cid, VISA)
    # When Stripe sends the newer setup's webhook first, then the older one's, twice
    for setup in (newer, older, older):
        payload = setup_webhook(stripe_api, setup)
        assert deliver_webhook(card_updated, payload, sign(payload)) == (200, {"received": True})
    # Then the newer setup's card is on file
    assert on_file(cid) == method_of(stripe_api, newer)


def test_r11_an_older_setup_saving_at_the_same_time_as_a_newer_one_cannot_replace_it(
    card_updated, stripe_api: stripe.StripeClient, localstripe: str, cid: str, monkeypatch
):
    # Given a newer setup's card on file
    open_contractor(cid)
    older = confirmed_in_browser(card_updated, stripe_api, localstripe, cid, VISA)
    newer = confirmed_in_browser(card_updated, stripe_api, localstripe, cid, VISA)
    assert call(card_updated, CONFIRM, {"setup_intent_id": newer}, claims=claims_of(cid))[0] == 200
    # When the older setup's confirm read the account before that card was saved (the two
    # ran at the same time), so only its conditional write can tell
    cards = card_updated.card_update._cards
    monkeypatch.setattr(cards, "setup_on_file", lambda contractor_id: None)
    status, body = call(card_updated, CONFIRM, {"setup_intent_id": older}, claims=claims_of(cid))
    # Then the write is refused: the newer card stays, and the answer says so
    assert status == 200, body
    assert on_file(cid) == method_of(stripe_api, newer)
    assert [entry.entry_id for entry in ledger(cid, kind="card_saved")] == [f"card#{newer}"]


def test_r11_a_late_webhook_of_an_older_setup_collects_nothing_with_its_card(
    weekly_invoice,
    on_lead,
    card_updated,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
    stripe_api: stripe.StripeClient,
):
    from tests.integration.test_grace_check import FIRST_FAILURE, failed_first
    from tests.support.cards import DECLINED_AT_CHARGE, intents_of

    # Given a past-due invoice, a working card set up but never confirmed by the app, and a
    # declining card set up after it and saved (its collection failed: still past due)
    invoice_id = failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    clock.current = FIRST_FAILURE + timedelta(days=2)
    working = confirmed_in_browser(card_updated, stripe_api, localstripe, cid, VISA)
    declining = confirmed_in_browser(card_updated, stripe_api, localstripe, cid, DECLINED_AT_CHARGE)
    status, body = call(
        card_updated, CONFIRM, {"setup_intent_id": declining}, claims=claims_of(cid)
    )
    assert (status, body["collected_cents"]) == (200, 0)
    assert InvoiceModel.get(invoice_id).status == "past_due"
    intents = len(intents_of(stripe_api, invoice_id))

    # When the working card's setup_intent.succeeded arrives now
    payload = setup_webhook(stripe_api, working)
    assert deliver_webhook(card_updated, payload, sign(payload)) == (200, {"received": True})

    # Then nothing is charged with it: the invoice stays past due, no PaymentIntent more,
    # and the declining card saved last stays on file
    assert InvoiceModel.get(invoice_id).status == "past_due"
    assert len(intents_of(stripe_api, invoice_id)) == intents
    assert on_file(cid) == method_of(stripe_api, declining)


def test_r11_a_newer_setup_replaces_a_card_saved_before_setups_were_numbered(
    card_updated, stripe_api: stripe.StripeClient, localstripe: str, cid: str
):
    from tests.integration.steps import save_card

    # Given a card on file saved without a setup number
    open_contractor(cid)
    save_card(localstripe, cid)
    assert AccountModel.get(cid).card_setup is None
    # When the contractor saves a card through a numbered setup
    status, _ = call(
        card_updated,
        CONFIRM,
        {"setup_intent_id": confirmed_in_browser(card_updated, stripe_api, localstripe, cid)},
        claims=claims_of(cid),
    )
    # Then it is the card on file, with its number
    assert status == 200
    assert AccountModel.get(cid).card_setup == 1
