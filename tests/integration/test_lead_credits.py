"""Lead credits against moto and localstripe: ``POST /admin/leads/{lead_id}/credit`` takes a
bad lead's charge back once, off the next invoice while it is unbilled (with its budget,
lifting a budget pause, R8), or as account credit that the next invoice takes off before
the card is charged (R6), never making an invoice negative."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from types import ModuleType
from typing import Any

import pytest
import stripe

from functions.adapters.credits import LeadCredits
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.models import InvoiceModel, LedgerEntryModel
from functions.billing.invoices import InvoiceKind, weekly_invoice_id
from functions.weekly_invoice.billing_run import WeeklyWork
from tests.integration.conftest import Clock
from tests.integration.steps import (
    account,
    deliver,
    events,
    lead,
    ledger,
    open_contractor,
    records_for,
    save_card,
)
from tests.support.aws import LambdaContext, Resources, rest_event, sent_mail
from tests.support.cards import API_KEY, intents_of

THURSDAY = "2026-11-19T10:00:00-06:00"
FRIDAY = date(2026, 11, 20)
NEXT_THURSDAY = "2026-11-26T10:00:00-06:00"
NEXT_FRIDAY = date(2026, 11, 27)


@pytest.fixture
def cid() -> str:
    """A contractor id of this test alone: localstripe outlives each test's moto state."""
    return f"c-{uuid.uuid4().hex[:8]}"


def credit(
    api: ModuleType, lead_id: str, contractor_id: str, reason: str = "wrong phone number"
) -> tuple[int, dict[str, Any]]:
    body = {"contractor_id": contractor_id, "reason": reason}
    return call(api, f"/admin/leads/{lead_id}/credit", body)


def call(api: ModuleType, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    response = api.handler(rest_event("POST", path, body), LambdaContext(function_name="api"))
    return response["statusCode"], json.loads(response["body"])


def friday(weekly_invoice: ModuleType, clock: Clock, contractor_id: str, day: date):
    """The Friday run's work for one account, at 06:00 in Chicago (R3)."""
    clock.set(f"{day.isoformat()}T06:00:00-06:00")
    weekly_invoice.run.weekly(WeeklyWork(contractor_id, day), clock.now())
    return InvoiceModel.get(weekly_invoice_id(contractor_id, day), consistent_read=True)


def lead_on(lead_id: str, price: int, contractor_id: str = "c-1", at: str = THURSDAY):
    """A lead as the lead distribution system writes it, delivered on Thursday by default."""
    return lead(lead_id, price, contractor_id, at=at)


def stripe_api(localstripe: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})


def deliver_at(on_lead, aws, clock: Clock, at: str, *leads: dict[str, Any]) -> None:
    clock.set(at)
    deliver(on_lead, records_for(aws, list(leads)))


# -- A charge not invoiced yet ------------------------------------------------------------


def test_crediting_an_unbilled_lead_takes_it_off_the_next_invoice_and_gives_its_budget_back(
    on_lead, api, weekly_invoice, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    # Given an account with a $100.00 budget that two leads spent exactly: paused (R8)
    open_contractor(cid, budget=10_000)
    save_card(localstripe, cid)
    deliver_at(
        on_lead,
        aws,
        clock,
        THURSDAY,
        lead_on("A1", 6_000, cid),
        lead_on("A2", 4_000, cid),
    )
    assert set(account(cid).pauses.as_dict()) == {"budget"}
    events(aws)  # the leads' own events

    # When the operator credits the second lead
    status, body = credit(api, "A2", cid)

    # Then it is credited off the unbilled charges, with its budget given back
    assert status == 201, body
    assert body["credit"] | {"credited_at": None} == {
        "lead_id": "A2",
        "contractor_id": cid,
        "amount_cents": 4_000,
        "kind": "unbilled",
        "invoice_id": None,
        "reason": "wrong phone number",
        "credited_at": None,
        "budget_returned_cents": 4_000,
        "reactivated": True,
    }
    state = body["account"]
    assert (state["unbilled_cents"], state["credit_cents"]) == (6_000, 0)
    assert state["budget"]["spent_cents"] == 6_000
    assert state["budget"]["remaining_cents"] == 4_000
    # And the budget pause lifted at once, as raising the budget does
    assert (state["status"], state["pauses"]) == ("active", [])
    item = account(cid)
    assert (int(item.unbilled_cents), int(item.invoice_headroom_cents)) == (6_000, 14_000)
    assert item.billable_timezone == "America/Chicago"
    # The ledger records the credit as a new entry; the charge keeps its facts and only
    # leaves the unbilled list
    [entry] = ledger(cid, kind="lead_credited")
    assert (entry.entry_id, int(entry.amount_cents), entry.detail) == (
        "credit#A2",
        4_000,
        "unbilled",
    )
    charge = LedgerEntryModel.get(cid, "lead#A2")
    assert (charge.kind, int(charge.amount_cents)) == ("charge", 4_000)
    assert charge.unbilled_key is None and charge.invoice_id is None
    assert len(ledger(cid, kind="account_reactivated")) == 1
    announced = events(aws)
    assert {(e["detail-type"], e["detail"]["event_id"]) for e in announced} == {
        ("LeadCredited", "LeadCredited:A2"),
        ("AccountReactivated", f"AccountReactivated:{cid}:budget:2026-11-19T16:00:00+00:00"),
    }

    # When Friday comes: the invoice bills the other lead only, and the card pays just that
    invoice = friday(weekly_invoice, clock, cid, FRIDAY)
    assert [line.lead_id for line in invoice.lines] == ["A1"]
    assert (invoice.status, int(invoice.total_cents), invoice.credit_applied_cents) == (
        "paid",
        6_000,
        None,
    )
    [intent] = intents_of(stripe_api(localstripe), invoice.invoice_id)
    assert intent.amount == 6_000
    item = account(cid)
    assert int(item.unbilled_cents) == 0 and item.billable_timezone is None


def test_r2_a_charge_credited_while_an_invoice_is_drafted_stays_off_that_invoice(
    on_lead, api, aws: Resources, clock: Clock, cid: str
):
    # Given an invoice drafted with two unbilled charges, not claimed yet
    open_contractor(cid)
    deliver_at(on_lead, aws, clock, THURSDAY, lead_on("A1", 2_000, cid), lead_on("A2", 3_000, cid))
    store = InvoiceStore()
    invoice_id = weekly_invoice_id(cid, FRIDAY)
    clock.set("2026-11-20T06:00:00-06:00")
    store._draft(cid, invoice_id, InvoiceKind.WEEKLY, clock.now(), None)

    # When one of them is credited before the invoice claims it
    assert credit(api, "A2", cid)[0] == 201

    # Then the invoice bills the other one only, and the account holds nothing unbilled
    issued = store.issue(cid, invoice_id, InvoiceKind.WEEKLY, clock.now())
    assert issued is not None
    assert [line.lead_id for line in issued.lines] == ["A1"]
    assert int(account(cid).unbilled_cents) == 0


# -- A charge invoiced already ------------------------------------------------------------


def invoiced_and_paid(on_lead, weekly_invoice, aws, clock, cid, localstripe, price=4_500):
    open_contractor(cid)
    save_card(localstripe, cid)
    deliver_at(on_lead, aws, clock, THURSDAY, lead_on("A1", price, cid))
    invoice = friday(weekly_invoice, clock, cid, FRIDAY)
    assert (invoice.status, int(invoice.total_cents)) == ("paid", price)
    return invoice


def test_crediting_an_invoiced_and_paid_lead_credits_the_next_invoice_before_the_card(
    on_lead, api, weekly_invoice, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    # Given a lead invoiced and paid on Friday
    first = invoiced_and_paid(on_lead, weekly_invoice, aws, clock, cid, localstripe)
    events(aws)

    # When the operator credits it
    clock.set("2026-11-23T11:00:00-06:00")
    status, body = credit(api, "A1", cid, "the homeowner never asked for a quote")

    # Then it becomes account credit; the paid invoice stays as it was (R5)
    assert status == 201, body
    assert (body["credit"]["kind"], body["credit"]["invoice_id"]) == (
        "account_credit",
        first.invoice_id,
    )
    assert body["account"]["credit_cents"] == 4_500
    assert body["account"]["unbilled_cents"] == 0
    assert body["account"]["budget"]["spent_cents"] == 0  # delivered in this period
    again = InvoiceModel.get(first.invoice_id)
    assert (again.status, int(again.total_cents), again.credit_applied_cents) == (
        "paid",
        4_500,
        None,
    )
    assert [e["detail-type"] for e in events(aws)] == ["LeadCredited"]

    # When the next week's leads are invoiced
    deliver_at(on_lead, aws, clock, NEXT_THURSDAY, lead_on("B1", 6_000, cid, at=NEXT_THURSDAY))
    second = friday(weekly_invoice, clock, cid, NEXT_FRIDAY)

    # Then the invoice shows its total, the credit applied and the amount due, and the
    # card is charged the amount due only
    assert (second.status, int(second.total_cents), int(second.credit_applied_cents)) == (
        "paid",
        6_000,
        4_500,
    )
    [intent] = intents_of(stripe_api(localstripe), second.invoice_id)
    assert (intent.status, intent.amount) == ("succeeded", 1_500)
    assert int(account(cid).credit_cents) == 0
    [applied] = ledger(cid, kind="credit_applied")
    assert (applied.entry_id, int(applied.amount_cents)) == (
        f"credit_applied#{second.invoice_id}",
        4_500,
    )
    payments = {entry.detail: int(entry.amount_cents) for entry in ledger(cid, kind="payment")}
    assert payments == {first.invoice_id: 4_500, second.invoice_id: 1_500}
    paid = [e["detail"] for e in events(aws) if e["detail-type"] == "InvoicePaid"]
    assert [(e["invoice_id"], e["amount_cents"]) for e in paid] == [(second.invoice_id, 1_500)]
    mail = sent_mail()[-1]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Total: $60.00" in text
    assert "Account credit applied: -$45.00" in text
    assert "Amount due: $15.00" in text


def test_a_credit_larger_than_the_next_invoice_pays_it_without_a_charge_and_keeps_the_rest(
    on_lead, api, weekly_invoice, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    # Given $45.00 of account credit
    invoiced_and_paid(on_lead, weekly_invoice, aws, clock, cid, localstripe)
    clock.set("2026-11-23T11:00:00-06:00")
    assert credit(api, "A1", cid)[0] == 201

    # When the next invoice is $20.00
    deliver_at(on_lead, aws, clock, NEXT_THURSDAY, lead_on("B1", 2_000, cid, at=NEXT_THURSDAY))
    second = friday(weekly_invoice, clock, cid, NEXT_FRIDAY)

    # Then it is paid by the credit with no Stripe charge, never negative, and the other
    # $25.00 stays on the account for the invoice after it
    assert (second.status, int(second.total_cents), int(second.credit_applied_cents)) == (
        "paid",
        2_000,
        2_000,
    )
    assert intents_of(stripe_api(localstripe), second.invoice_id) == []
    [attempt] = second.attempts
    assert (attempt.outcome, attempt.payment_intent_id) == ("succeeded", None)
    assert int(account(cid).credit_cents) == 2_500
    text = sent_mail()[-1].get_body(preferencelist=("plain",)).get_content()
    assert "Paid in full with your account credit" in text
    assert "Amount due: $0.00" in text


# -- Once per lead ------------------------------------------------------------------------


def test_r2_the_same_lead_credited_twice_is_credited_once(
    on_lead, api, aws: Resources, clock: Clock, cid: str
):
    open_contractor(cid)
    deliver_at(on_lead, aws, clock, THURSDAY, lead_on("A1", 2_000, cid), lead_on("A2", 3_000, cid))
    events(aws)
    status, first = credit(api, "A1", cid)
    assert status == 201

    # A retried request, and a second one with another reason: nothing more is credited
    for reason in ("wrong phone number", "another reason"):
        status, body = credit(api, "A1", cid, reason)
        assert status == 409
        assert body["error"] == "already_credited"
        assert body["credit"] == first["credit"]

    assert int(account(cid).unbilled_cents) == 3_000
    assert int(account(cid).spent_cents) == 3_000
    assert len(ledger(cid, kind="lead_credited")) == 1
    # The first credit's event is announced again under its own id, so a request whose
    # first answer was lost still gets it announced; consumers see one fact
    ids = {e["detail"]["event_id"] for e in events(aws)}
    assert ids == {"LeadCredited:A1"}


def test_r2_two_concurrent_credits_of_one_lead_credit_it_once(
    on_lead, aws: Resources, clock: Clock, cid: str
):
    open_contractor(cid)
    deliver_at(on_lead, aws, clock, THURSDAY, lead_on("A1", 2_000, cid), lead_on("A2", 3_000, cid))
    start = threading.Barrier(4)

    def request(_: int):
        start.wait()
        return LeadCredits().credit(cid, "A1", "duplicate lead", clock.now())

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(request, range(4)))

    assert sum(result.created for result in results) == 1
    assert len({result.credit for result in results}) == 1
    assert int(account(cid).unbilled_cents) == 3_000
    assert int(account(cid).spent_cents) == 3_000
    assert len(ledger(cid, kind="lead_credited")) == 1


# -- What cannot be credited --------------------------------------------------------------


def test_an_unknown_lead_or_another_contractors_lead_answers_404_and_credits_nothing(
    on_lead, api, aws: Resources, clock: Clock, cid: str
):
    open_contractor(cid)
    open_contractor("c-other")
    deliver_at(on_lead, aws, clock, THURSDAY, lead_on("A1", 2_000, cid))
    for lead_id, contractor_id in (("nope", cid), ("A1", "c-other"), ("A1", "c-nobody")):
        status, body = credit(api, lead_id, contractor_id)
        assert (status, body["error"]) == (404, "lead_not_found"), body
    assert int(account(cid).unbilled_cents) == 2_000
    assert ledger(cid, kind="lead_credited") == []


def test_a_rejected_lead_was_never_charged_and_answers_409(
    on_lead, api, aws: Resources, clock: Clock, cid: str
):
    open_contractor(cid, budget=1_000)
    deliver_at(on_lead, aws, clock, THURSDAY, lead_on("A1", 5_000, cid))  # over the budget
    assert ledger(cid, kind="lead_rejected")
    status, body = credit(api, "A1", cid)
    assert (status, body["error"]) == (409, "lead_not_charged")
    assert "budget" in body["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "no contractor"},
        {"contractor_id": "c-1"},
        {"contractor_id": "c-1", "reason": ""},
        {"contractor_id": "c-1", "reason": "x" * 501},
        {"contractor_id": "c-1", "reason": 5},
        {"contractor_id": "c-1", "reason": "bad", "amount_cents": 1},
        {"contractor_id": "c 1", "reason": "bad"},
    ],
)
def test_a_bad_credit_request_answers_400_and_credits_nothing(
    on_lead, api, aws: Resources, clock: Clock, body
):
    open_contractor("c-1")
    deliver_at(on_lead, aws, clock, THURSDAY, lead_on("A1", 2_000))
    status, answer = call(api, "/admin/leads/A1/credit", body)
    assert (status, answer["error"]) == (400, "invalid_request"), answer
    assert ledger("c-1", kind="lead_credited") == []
    assert int(account("c-1").unbilled_cents) == 2_000


def test_a_reason_of_blanks_answers_400(on_lead, api, aws: Resources, clock: Clock):
    open_contractor("c-1")
    deliver_at(on_lead, aws, clock, THURSDAY, lead_on("A1", 2_000))
    status, answer = credit(api, "A1", "c-1", "   ")
    assert (status, answer["error"]) == (400, "invalid_request")
    assert answer["problems"] == [{"field": "reason", "message": "must be a non-empty string"}]
