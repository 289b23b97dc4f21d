"""Defects the billing simulation (tests/simulation, issue 7) found, each as the smallest
failing case through the real handlers. A test marked ``xfail(strict=True)`` documents a
defect not fixed yet: it starts passing, and so fails the suite, when the fix lands; drop
the mark then (and the machine's workaround it names)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from functions.adapters.models import QuarantineModel
from tests.integration.conftest import Clock
from tests.integration.steps import account, deliver, events, lead, ledger, open_contractor
from tests.support.aws import synthetic_record


def test_a_lead_quarantined_for_its_future_date_is_never_charged_on_redelivery(
    on_lead, aws, clock: Clock
):
    # Given a lead stamped 10 minutes ahead of the billing's clock (beyond the 5 minutes of
    # skew tolerated): quarantined as invalid, announced as LeadRejected "invalid"
    open_contractor()
    record = synthetic_record(lead("F1", 1_000, at="2026-11-20T09:10:00-06:00"))
    clock.set("2026-11-20T09:00:00-06:00")
    assert deliver(on_lead, [record]) == {"batchItemFailures": []}
    assert [kept.reason for kept in QuarantineModel.scan()] == ["invalid"]
    [rejected] = events(aws, "LeadRejected")
    assert rejected["detail"]["reason"] == "invalid"

    # When the stream delivers the same record again (at least once) a quarter hour later
    clock.current += timedelta(minutes=15)
    assert deliver(on_lead, [record]) == {"batchItemFailures": []}

    # Then the lead is still never charged (README: "a lead dated in the future ... is
    # never charged"), and nothing contradicts what was announced about it
    assert ledger(kind="charge") == []
    assert account().spent_cents == 0
    assert [e["detail"]["reason"] for e in events(aws, "LeadRejected")] in ([], ["invalid"])
    assert events(aws, "LeadCharged") == []


def test_a_threshold_invoice_whose_charge_never_reached_stripe_is_collected_later(
    on_lead,
    weekly_invoice,
    grace_check,
    reconcile,
    aws,
    clock: Clock,
    localstripe: str,
    monkeypatch: pytest.MonkeyPatch,
):
    from functions.adapters import payments as payments_adapter
    from functions.adapters.models import InvoiceModel
    from tests.integration.steps import records_for, save_card
    from tests.integration.test_grace_check import check
    from tests.integration.test_weekly_invoice import (
        friday_run,
        invoke,
        threshold_record,
        work_messages,
    )
    from tests.support.aws import LambdaContext
    from tests.support.payments import Fault, FaultyHttpClient

    # Given an account with a working card whose leads reach the threshold on Thursday
    cid = "c-threshold"
    open_contractor(cid)
    save_card(localstripe, cid)
    clock.set("2026-11-19T10:00:00-06:00")
    deliver(on_lead, records_for(aws, [lead("T1", 20_000, cid, "2026-11-19T10:00:00-06:00")]))
    # And Stripe cannot be reached for that charge, nor for its retries (the request
    # never arrives: Stripe makes no PaymentIntent, so no webhook will ever come)
    http = FaultyHttpClient()
    http.fail_next(*[Fault.TIMEOUT] * 4)
    original = payments_adapter.stripe_client
    monkeypatch.setattr(
        payments_adapter,
        "stripe_client",
        lambda key, base=None: original(key, base, http_client=http),
    )
    payments_adapter.stripe_payments.cache_clear()
    # When the threshold trigger runs: the invoice is issued, its outcome unknown, and the
    # stream record succeeds (it is not retried later)
    assert invoke(weekly_invoice, {"Records": [threshold_record(cid)]}) == {"batchItemFailures": []}
    invoice_id = f"{cid}~T000001"
    assert [a.outcome for a in InvoiceModel.get(invoice_id).attempts] == ["unknown"]
    # And everything that runs later runs: the hourly grace_check, the daily reconciliation
    # (01:00 UTC), the Friday run and its work (Stripe answers again by then)
    for _ in range(20):  # to Friday 06:00 in Chicago
        check(grace_check, clock, clock.current + timedelta(hours=1))
        if clock.current.hour == 1:
            reconcile.handler(
                {"run": "reconcile", "scheduled_time": clock.current.isoformat()},
                LambdaContext(function_name="reconcile"),
            )
    invoke(weekly_invoice, {"Records": friday_run(weekly_invoice, clock)})
    invoke(weekly_invoice, {"Records": work_messages(weekly_invoice)})

    # Then the invoice has been collected (R6: issuing an invoice charges the card)
    assert InvoiceModel.get(invoice_id).status == "paid"


def test_a_threshold_invoice_settled_by_stripes_webhook_is_announced_issued(
    on_lead,
    weekly_invoice,
    card_updated,
    aws,
    clock: Clock,
    localstripe: str,
    monkeypatch: pytest.MonkeyPatch,
):
    import stripe

    from functions.adapters import payments as payments_adapter
    from functions.adapters.models import InvoiceModel
    from tests.integration.steps import records_for, save_card
    from tests.integration.test_card_updated import deliver_webhook, sign
    from tests.integration.test_weekly_invoice import invoke, threshold_record
    from tests.support.cards import API_KEY
    from tests.support.payments import Fault, FaultyHttpClient

    # Given an account whose leads reach the threshold
    cid = "c-announced"
    open_contractor(cid)
    save_card(localstripe, cid)
    deliver(on_lead, records_for(aws, [lead("T1", 20_000, cid)]))
    events(aws)
    # And Stripe charges the threshold invoice but its answer is lost, and every retry of
    # the same key fails (localstripe has no idempotency keys: the retries must not reach it)
    http = FaultyHttpClient()
    http.fail_next(Fault.LOST_ANSWER, *[Fault.SERVER_ERROR] * 3)
    original = payments_adapter.stripe_client
    monkeypatch.setattr(
        payments_adapter,
        "stripe_client",
        lambda key, base=None: original(key, base, http_client=http),
    )
    monkeypatch.setattr(payments_adapter, "stripe_payments", _unpaced_payments(payments_adapter))
    invoke(weekly_invoice, {"Records": [threshold_record(cid)]})
    invoice_id = f"{cid}~T000001"
    assert [a.outcome for a in InvoiceModel.get(invoice_id).attempts] == ["unknown"]

    # When Stripe's payment_intent.succeeded webhook for that PaymentIntent arrives
    api = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})
    [intent] = [
        i
        for i in api.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
        if i.metadata.to_dict().get("invoice_id") == invoice_id
    ]
    payload = json.dumps(
        {
            "id": "evt_threshold_paid",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": intent.to_dict()},
        }
    )
    status, _ = deliver_webhook(card_updated, payload, sign(payload))

    # Then the invoice is paid, and both facts are announced: issued, and paid (R5, R6)
    assert status == 200
    assert InvoiceModel.get(invoice_id).status == "paid"
    announced = {e["detail"]["event_id"] for e in events(aws)}
    assert f"InvoicePaid:{invoice_id}" in announced
    assert f"InvoiceIssued:{invoice_id}" in announced


def _unpaced_payments(payments_adapter):
    """The payments adapter with no sleeping between retries (the faults are immediate)."""

    def build(secrets, request_interval=0.0):
        return payments_adapter.StripePayments(
            payments_adapter.stripe_client(secrets.api_key, secrets.api_base),
            sleep=lambda seconds: None,
        )

    return build


def test_a_late_webhook_of_an_earlier_card_setup_does_not_replace_the_card_saved_since(
    card_updated, clock: Clock, localstripe: str
):
    import stripe

    from functions.adapters.models import AccountModel
    from tests.integration.test_card_updated import (
        CONFIRM,
        call,
        claims_of,
        confirmed_in_browser,
        deliver_webhook,
        sign,
    )
    from tests.support.cards import API_KEY, DECLINED_AT_CHARGE, VISA

    api = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe}, max_network_retries=0)
    cid = "c-two-cards"
    open_contractor(cid)
    # Given a card the contractor saved in the app, whose confirm never reached the billing
    # (the app was closed): Stripe's setup_intent.succeeded webhook is on its way
    first = confirmed_in_browser(card_updated, api, localstripe, cid, VISA)
    # And a second card saved a minute later, confirmed by the app
    clock.current += timedelta(minutes=1)
    second = confirmed_in_browser(card_updated, api, localstripe, cid, DECLINED_AT_CHARGE)
    status, body = call(card_updated, CONFIRM, {"setup_intent_id": second}, claims=claims_of(cid))
    assert status == 200, body
    latest = AccountModel.get(cid).card.payment_method_id  # type: ignore[union-attr]

    # When the first setup's webhook arrives now, after the second card was saved
    payload = json.dumps(
        {
            "id": "evt_first_setup",
            "object": "event",
            "type": "setup_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": api.v1.setup_intents.retrieve(first).to_dict()},
        }
    )
    clock.current += timedelta(minutes=1)
    status, _ = deliver_webhook(card_updated, payload, sign(payload))
    assert status == 200

    # Then the card on file is still the one saved last (R11: the new card is the one
    # charged)
    assert AccountModel.get(cid).card.payment_method_id == latest  # type: ignore[union-attr]
