"""R11 against moto and localstripe: a saved or renewed card is charged everything past due
at once, one PaymentIntent per past-due invoice; paying ends the grace period (R9) and lifts
a non-payment pause (R10) but never a budget pause (R12); ``POST /me/pay`` pays what is past
due with the card on file."""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, timedelta
from types import ModuleType
from typing import Any

import pytest
import stripe

from functions.adapters.accounts import AccountStore, instant
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.models import AccountModel, InvoiceModel
from functions.billing.invoices import AttemptOutcome, PaymentAttempt
from functions.usecases.billing_view import contractor_billing
from tests.integration.conftest import Clock
from tests.integration.steps import account, events, open_contractor, save_card
from tests.integration.test_card_updated import (
    CONFIRM,
    call,
    claims_of,
    confirmed_in_browser,
    deliver_webhook,
    sign,
)
from tests.integration.test_grace_check import (
    FIRST_FAILURE,
    FRIDAY,
    GRACE_END,
    attempts,
    bill,
    check,
    failed_first,
    grace_fields,
    in_grace_index,
)
from tests.support.aws import Resources
from tests.support.cards import API_KEY, DECLINED_AT_CHARGE, VISA, intents_of

PAY = "/me/pay"
DAY = timedelta(days=1)


@pytest.fixture
def cid() -> str:
    """A contractor id of this test alone: localstripe outlives each test's moto state."""
    return f"c-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def stripe_api(localstripe: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe}, max_network_retries=0)


def past_due_twice(
    billing: dict[str, ModuleType], aws: Resources, clock: Clock, cid: str, localstripe: str
) -> tuple[str, str]:
    """Given two past-due invoices: the first failed at ``FIRST_FAILURE``, another on day 3."""
    first = failed_first(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, localstripe
    )
    second = bill(
        billing["weekly_invoice"],
        billing["on_lead"],
        aws,
        clock,
        cid,
        FIRST_FAILURE + 3 * DAY,
        date(2026, 11, 23),
        "L2",
    )
    assert InvoiceModel.get(second).status == "past_due"
    assert account(cid).past_due_cents == 9_000
    events(aws)
    return first, second


def confirm(
    card_updated: ModuleType,
    stripe_api: stripe.StripeClient,
    localstripe: str,
    cid: str,
    number: str = VISA,
) -> tuple[str, int, dict[str, Any]]:
    setup_intent_id = confirmed_in_browser(card_updated, stripe_api, localstripe, cid, number)
    status, body = call(
        card_updated, CONFIRM, {"setup_intent_id": setup_intent_id}, claims=claims_of(cid)
    )
    return setup_intent_id, status, body


def webhook_event(kind: str, found: dict[str, Any]) -> str:
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:12]}",
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {"object": found},
        }
    )


def intent_counts(stripe_api: stripe.StripeClient, *invoice_ids: str) -> list[int]:
    return [len(intents_of(stripe_api, invoice_id)) for invoice_id in invoice_ids]


def test_r11_a_card_saved_on_day_6_collects_at_once_and_no_pause_follows(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str, stripe_api
):
    invoice_id = failed_first(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, localstripe
    )
    # Given the day-6 retry declined this very day
    check(billing["grace_check"], clock, FIRST_FAILURE + 6 * DAY)
    assert attempts(invoice_id) == [(1, "declined"), (2, "declined")]
    events(aws)

    # When the contractor saves a good card an hour later
    clock.current = FIRST_FAILURE + 6 * DAY + timedelta(hours=1)
    _, status, body = confirm(billing["card_updated"], stripe_api, localstripe, cid)

    # Then the invoice is charged to it at once, as an attempt of its own
    assert status == 200
    assert body["collected_cents"] == 4_500
    assert attempts(invoice_id) == [(1, "declined"), (2, "declined"), (3, "succeeded")]
    [intent] = [i for i in intents_of(stripe_api, invoice_id) if i.status == "succeeded"]
    assert intent.amount == 4_500
    # And the grace period is over: nothing past due, no grace fields, out of the index
    assert grace_fields(cid) == (None, None, None)
    assert not in_grace_index(cid)
    assert body["billing"] == contractor_billing(AccountStore().get(cid), clock.now()).model_dump(
        mode="json"
    )
    assert (body["billing"]["status"], body["billing"]["past_due_cents"]) == ("active", 0)
    assert body["billing"]["grace_ends_at"] is None
    [paid] = events(aws, "InvoicePaid")
    assert paid["detail"]["invoice_id"] == invoice_id
    # And at the old grace end nothing is paused
    assert check(billing["grace_check"], clock, GRACE_END)["paused"] == 0
    assert dict(account(cid).pauses.as_dict()) == {}


def test_r11_a_card_saved_on_day_8_collects_and_reactivates_the_paused_account_at_once(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str, stripe_api
):
    invoice_id = failed_first(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, localstripe
    )
    check(billing["grace_check"], clock, GRACE_END)
    assert account(cid).pauses.as_dict() == {"non_payment": instant(GRACE_END)}
    events(aws)

    clock.current = FIRST_FAILURE + 8 * DAY
    _, status, body = confirm(billing["card_updated"], stripe_api, localstripe, cid)

    assert status == 200
    assert body["collected_cents"] == 4_500
    assert InvoiceModel.get(invoice_id).status == "paid"
    assert dict(account(cid).pauses.as_dict()) == {}
    assert (body["billing"]["status"], body["billing"]["pauses"]) == ("active", [])
    [reactivated] = events(aws, "AccountReactivated")
    assert reactivated["detail"]["reason"] == "non_payment"


def test_r11_a_card_that_fails_again_collects_nothing_and_the_account_stays_paused(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str, stripe_api
):
    first, second = past_due_twice(billing, aws, clock, cid, localstripe)
    check(billing["grace_check"], clock, GRACE_END)
    before = intent_counts(stripe_api, first, second)
    events(aws)

    clock.current = GRACE_END + DAY
    _, status, body = confirm(
        billing["card_updated"], stripe_api, localstripe, cid, DECLINED_AT_CHARGE
    )

    # Then each invoice had one more attempt, declined: still past due, still paused
    assert status == 200
    assert body["collected_cents"] == 0
    assert intent_counts(stripe_api, first, second) == [n + 1 for n in before]
    assert [InvoiceModel.get(i).status for i in (first, second)] == ["past_due", "past_due"]
    assert account(cid).pauses.as_dict() == {"non_payment": instant(GRACE_END)}
    assert (body["billing"]["status"], body["billing"]["past_due_cents"]) == ("paused", 9_000)
    assert {e["detail"]["invoice_id"] for e in events(aws, "PaymentFailed")} == {first, second}


@pytest.mark.parametrize(
    ("number", "collected"),
    [pytest.param(VISA, 9_000, id="good card"), pytest.param(DECLINED_AT_CHARGE, 0, id="declined")],
)
def test_r11_the_confirm_and_the_webhook_of_one_setup_collect_once(
    billing,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
    stripe_api,
    number: str,
    collected: int,
):
    first, second = past_due_twice(billing, aws, clock, cid, localstripe)
    before = intent_counts(stripe_api, first, second)
    clock.current = FIRST_FAILURE + 4 * DAY

    setup_intent_id, status, body = confirm(
        billing["card_updated"], stripe_api, localstripe, cid, number
    )
    assert (status, body["collected_cents"]) == (200, collected)
    after_confirm = [attempts(first), attempts(second)]

    # When Stripe reports the same SetupIntent as succeeded
    payload = webhook_event(
        "setup_intent.succeeded",
        {
            "id": setup_intent_id,
            "object": "setup_intent",
            "status": "succeeded",
            "customer": account(cid).stripe_customer_id,
        },
    )
    assert deliver_webhook(billing["card_updated"], payload, sign(payload)) == (
        200,
        {"received": True},
    )

    # Then one new PaymentIntent per invoice in all, and no attempt more
    assert intent_counts(stripe_api, first, second) == [n + 1 for n in before]
    assert [attempts(first), attempts(second)] == after_confirm


def test_r11_a_setup_succeeded_webhook_alone_saves_the_card_and_collects(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str, stripe_api
):
    invoice_id = failed_first(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, localstripe
    )
    # Given a setup the app confirmed in the browser but never told the billing about
    setup_intent_id = confirmed_in_browser(billing["card_updated"], stripe_api, localstripe, cid)
    clock.current = FIRST_FAILURE + 2 * DAY

    payload = webhook_event(
        "setup_intent.succeeded",
        {"id": setup_intent_id, "customer": account(cid).stripe_customer_id},
    )
    assert deliver_webhook(billing["card_updated"], payload, sign(payload))[0] == 200

    assert account(cid).card.last4 == "4242"  # type: ignore[union-attr]
    assert InvoiceModel.get(invoice_id).status == "paid"
    assert grace_fields(cid) == (None, None, None)


def test_r11_another_customers_setup_is_refused_and_collects_nothing(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str, stripe_api
):
    invoice_id = failed_first(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, localstripe
    )
    other = f"{cid}-other"
    open_contractor(other)
    theirs = confirmed_in_browser(billing["card_updated"], stripe_api, localstripe, other)
    card_before = account(cid).card.as_dict()  # type: ignore[union-attr]

    status, body = call(
        billing["card_updated"], CONFIRM, {"setup_intent_id": theirs}, claims=claims_of(cid)
    )

    assert (status, body["error"]) == (403, "setup_intent_not_found")
    assert attempts(invoice_id) == [(1, "declined")]
    assert account(cid).past_due_cents == 4_500
    assert account(cid).card.as_dict() == card_before  # type: ignore[union-attr]
    assert AccountModel.get(other).past_due_cents == 0


def test_r12_paying_lifts_the_non_payment_pause_and_leaves_the_budget_pause(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str, stripe_api
):
    # Given an account whose only lead spent its whole budget (paused for budget), whose
    # invoice failed, and whose grace period ended (paused for non-payment too)
    open_contractor(cid, budget=4_500)
    save_card(localstripe, cid, DECLINED_AT_CHARGE)
    invoice_id = bill(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, FIRST_FAILURE, FRIDAY, "L1"
    )
    check(billing["grace_check"], clock, GRACE_END)
    assert set(account(cid).pauses.as_dict()) == {"budget", "non_payment"}
    events(aws)

    clock.current = GRACE_END + DAY
    _, status, body = confirm(billing["card_updated"], stripe_api, localstripe, cid)

    assert (status, body["collected_cents"]) == (200, 4_500)
    assert InvoiceModel.get(invoice_id).status == "paid"
    assert set(account(cid).pauses.as_dict()) == {"budget"}
    assert body["billing"]["status"] == "paused"
    assert [p["reason"] for p in body["billing"]["pauses"]] == ["budget"]
    [reactivated] = events(aws, "AccountReactivated")
    assert reactivated["detail"]["reason"] == "non_payment"


# Stripe's card updater (R11)


def renewal(method_id: str, customer: str | None, exp_year: int = 2031) -> str:
    return webhook_event(
        "payment_method.automatically_updated",
        {
            "id": method_id,
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": exp_year},
        },
    )


def test_r11_a_renewed_card_on_file_replaces_its_details_and_collects_once(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    invoice_id = failed_first(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, localstripe
    )
    # Given the card on file is now a good one (renewed by the card updater below)
    save_card(localstripe, cid, VISA)
    method = account(cid).card.payment_method_id  # type: ignore[union-attr]
    clock.current = FIRST_FAILURE + 2 * DAY

    payload = renewal(method, account(cid).stripe_customer_id)
    assert deliver_webhook(billing["card_updated"], payload, sign(payload))[0] == 200
    # The same event delivered again changes nothing more
    assert deliver_webhook(billing["card_updated"], payload, sign(payload))[0] == 200

    card = account(cid).card
    assert card is not None
    assert (card.payment_method_id, int(card.exp_year)) == (method, 2031)
    assert attempts(invoice_id) == [(1, "declined"), (2, "succeeded")]
    assert grace_fields(cid) == (None, None, None)


def test_r11_a_renewed_card_that_is_not_on_file_changes_nothing(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    invoice_id = failed_first(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, localstripe
    )
    card_before = account(cid).card.as_dict()  # type: ignore[union-attr]

    payload = renewal("pm_not_on_file", account(cid).stripe_customer_id)
    assert deliver_webhook(billing["card_updated"], payload, sign(payload))[0] == 200

    assert account(cid).card.as_dict() == card_before  # type: ignore[union-attr]
    assert attempts(invoice_id) == [(1, "declined")]


# POST /me/pay (R11)


def pay(card_updated: ModuleType, cid: str) -> tuple[int, dict[str, Any]]:
    return call(card_updated, PAY, claims=claims_of(cid))


def test_r11_pay_without_a_card_on_file_answers_409(card_updated, cid: str):
    open_contractor(cid)

    status, body = pay(card_updated, cid)

    assert (status, body["error"]) == (409, "no_card_on_file")
    assert "card" in body["message"]


def test_r11_pay_with_nothing_past_due_collects_nothing(
    card_updated, clock: Clock, cid: str, localstripe: str
):
    open_contractor(cid)
    save_card(localstripe, cid, VISA)

    status, body = pay(card_updated, cid)

    assert (status, body["collected_cents"]) == (200, 0)
    assert body["billing"] == contractor_billing(AccountStore().get(cid), clock.now()).model_dump(
        mode="json"
    )


def test_r11_pay_retries_every_past_due_invoice_with_the_card_on_file(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str, stripe_api
):
    first, second = past_due_twice(billing, aws, clock, cid, localstripe)
    clock.current = FIRST_FAILURE + 4 * DAY

    # With the declining card: one more attempt each, nothing collected
    status, body = pay(billing["card_updated"], cid)
    assert (status, body["collected_cents"]) == (200, 0)
    assert [len(attempts(i)) for i in (first, second)] == [2, 2]

    # With a good card on file: both paid, the grace period over
    save_card(localstripe, cid, VISA)
    status, body = pay(billing["card_updated"], cid)
    assert (status, body["collected_cents"]) == (200, 9_000)
    assert [InvoiceModel.get(i).status for i in (first, second)] == ["paid", "paid"]
    assert (body["billing"]["past_due_cents"], body["billing"]["grace_ends_at"]) == (0, None)
    assert grace_fields(cid) == (None, None, None)


def test_r6_pay_leaves_an_attempt_under_way_to_its_run(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str, stripe_api
):
    invoice_id = failed_first(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, localstripe
    )
    save_card(localstripe, cid, VISA)
    # Given another run started attempt 2 a minute ago
    clock.current = FIRST_FAILURE + DAY
    store = InvoiceStore()
    invoice = store.get(invoice_id)
    assert invoice is not None
    under_way = PaymentAttempt(2, clock.current, AttemptOutcome.UNKNOWN)
    assert store.start_attempt(invoice, under_way)
    clock.current += timedelta(minutes=1)

    status, body = pay(billing["card_updated"], cid)

    assert (status, body["collected_cents"]) == (200, 0)
    assert attempts(invoice_id) == [(1, "declined"), (2, "unknown")]
    assert len(intents_of(stripe_api, invoice_id)) == 1


def test_r11_a_setup_webhook_naming_another_customers_setup_is_acknowledged_and_ignored(
    billing, aws: Resources, clock: Clock, cid: str, localstripe: str, stripe_api
):
    invoice_id = failed_first(
        billing["weekly_invoice"], billing["on_lead"], aws, clock, cid, localstripe
    )
    other = f"{cid}-other"
    open_contractor(other)
    theirs = confirmed_in_browser(billing["card_updated"], stripe_api, localstripe, other)
    card_before = account(cid).card.as_dict()  # type: ignore[union-attr]

    payload = webhook_event(
        "setup_intent.succeeded", {"id": theirs, "customer": account(cid).stripe_customer_id}
    )
    assert deliver_webhook(billing["card_updated"], payload, sign(payload)) == (
        200,
        {"received": True},
    )

    assert account(cid).card.as_dict() == card_before  # type: ignore[union-attr]
    assert AccountModel.get(other).card is None
    assert attempts(invoice_id) == [(1, "declined")]
