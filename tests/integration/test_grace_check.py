"""The grace period and the non-payment pause against moto and localstripe (R9, R10):
grace_check driven by the clock, on_lead at the grace end, payments that settle it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
import stripe

from functions.adapters.accounts import instant, parse_instant
from functions.adapters.models import AccountModel, InvoiceModel
from functions.billing.grace import GRACE
from functions.billing.invoices import weekly_invoice_id
from functions.usecases.collection import outcome_events
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
from tests.support.aws import LambdaContext, Resources, stream_records
from tests.support.cards import API_KEY, DECLINED_AT_CHARGE, VISA, intents_of

# Friday 20 November 2026, 06:00 in Chicago: the first invoice fails then.
FIRST_FAILURE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GRACE_END = FIRST_FAILURE + GRACE
FRIDAY = date(2026, 11, 20)


@pytest.fixture
def cid() -> str:
    """A contractor id of this test alone: localstripe outlives each test's moto state."""
    return f"c-{uuid.uuid4().hex[:8]}"


def check(grace_check: ModuleType, clock: Clock, at: datetime) -> dict[str, Any]:
    clock.current = at
    return grace_check.handler({"run": "grace_check"}, LambdaContext(function_name="grace_check"))


def bill(
    weekly_invoice: ModuleType,
    on_lead: ModuleType,
    aws: Resources,
    clock: Clock,
    cid: str,
    at: datetime,
    friday: date,
    lead_id: str,
) -> str:
    """A lead delivered an hour before ``at``, then an invoice for it issued and collected
    at ``at``; the invoice id."""
    clock.current = at
    delivered = (at - timedelta(hours=1)).isoformat()
    deliver(on_lead, records_for(aws, [lead(lead_id, 4_500, cid, at=delivered)]))
    invoice = weekly_invoice.run.weekly(WeeklyWork(cid, friday), at)
    assert invoice is not None
    return str(invoice.invoice_id)


def failed_first(
    weekly_invoice: ModuleType,
    on_lead: ModuleType,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
) -> str:
    """Given an account whose card declines every charge and whose first invoice failed at
    ``FIRST_FAILURE``; the invoice id."""
    open_contractor(cid)
    save_card(localstripe, cid, DECLINED_AT_CHARGE)
    invoice_id = bill(weekly_invoice, on_lead, aws, clock, cid, FIRST_FAILURE, FRIDAY, "L1")
    assert InvoiceModel.get(invoice_id).status == "past_due"
    events(aws)
    return invoice_id


def attempts(invoice_id: str) -> list[tuple[int, str]]:
    return [(int(a.number), a.outcome) for a in InvoiceModel.get(invoice_id).attempts]


def grace_fields(cid: str) -> tuple[str | None, str | None, str | None]:
    item = account(cid)
    return item.first_failure_at, item.grace_ends_at, item.grace_shard


def in_grace_index(cid: str) -> bool:
    return cid in {item.contractor_id for item in AccountModel.grace.query("grace")}


def test_r9_the_first_failure_starts_a_grace_period_of_exactly_168_hours(
    weekly_invoice, on_lead, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)

    assert grace_fields(cid) == (instant(FIRST_FAILURE), instant(GRACE_END), "grace")
    assert account(cid).past_due_cents == 4_500
    assert in_grace_index(cid)


def test_r10_the_account_is_paused_at_exactly_168_hours_and_not_a_second_before(
    weekly_invoice,
    on_lead,
    grace_check,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
):
    failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)

    # When the check runs a second before the grace end, nothing is paused
    assert check(grace_check, clock, GRACE_END - timedelta(seconds=1))["paused"] == 0
    assert dict(account(cid).pauses.as_dict()) == {}
    assert events(aws, "AccountPaused") == []

    # When it runs at the grace end, the account is paused from the grace end exactly
    assert check(grace_check, clock, GRACE_END)["paused"] == 1
    assert account(cid).pauses.as_dict() == {"non_payment": instant(GRACE_END)}
    [entry] = ledger(cid, kind="account_paused")
    assert (entry.entry_id, entry.reason) == (
        f"pause#non_payment#{instant(GRACE_END)}",
        "non_payment",
    )
    [paused] = events(aws, "AccountPaused")
    assert paused["detail"]["reason"] == "non_payment"
    assert parse_instant(instant(datetime.fromisoformat(paused["detail"]["since"]))) == GRACE_END

    # And the same run again changes nothing and announces nothing
    assert check(grace_check, clock, GRACE_END + timedelta(minutes=5))["paused"] == 0
    assert events(aws, "AccountPaused") == []
    assert len(ledger(cid, kind="account_paused")) == 1


def test_r9_past_due_invoices_are_retried_on_days_1_3_and_6_and_not_on_day_7(
    weekly_invoice,
    on_lead,
    grace_check,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
):
    invoice_id = failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    day = timedelta(days=1)
    runs = [
        (FIRST_FAILURE + day - timedelta(seconds=1), 1),
        (FIRST_FAILURE + day, 2),
        (FIRST_FAILURE + day + timedelta(hours=1), 2),
        (FIRST_FAILURE + 2 * day, 2),
        (FIRST_FAILURE + 3 * day, 3),
        (FIRST_FAILURE + 3 * day + timedelta(hours=1), 3),
        (FIRST_FAILURE + 6 * day, 4),
        (FIRST_FAILURE + 6 * day + timedelta(hours=23), 4),
        (FIRST_FAILURE + 7 * day, 4),
        (FIRST_FAILURE + 7 * day + timedelta(hours=1), 4),
    ]
    for at, expected in runs:
        check(grace_check, clock, at)
        assert len(attempts(invoice_id)) == expected, at

    assert attempts(invoice_id) == [(n, "declined") for n in (1, 2, 3, 4)]
    api = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})
    assert len(intents_of(api, invoice_id)) == 4
    failed = events(aws, "PaymentFailed")
    assert sorted(event["detail"]["attempt"] for event in failed) == [2, 3, 4]
    # The retries' failures move nothing: the grace period ends where it did
    assert grace_fields(cid) == (instant(FIRST_FAILURE), instant(GRACE_END), "grace")


def test_r9_a_retry_run_twice_at_once_charges_once(
    weekly_invoice,
    on_lead,
    grace_check,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
):
    invoice_id = failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    at = FIRST_FAILURE + timedelta(days=1, minutes=3)

    assert check(grace_check, clock, at)["retried"] == 1
    assert check(grace_check, clock, at)["retried"] == 0

    assert attempts(invoice_id) == [(1, "declined"), (2, "declined")]


def test_r9_a_second_failure_on_day_3_does_not_move_the_grace_end(
    weekly_invoice, on_lead, aws: Resources, clock: Clock, cid: str, localstripe: str
):
    failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)

    # When another invoice fails on day 3
    day_3 = FIRST_FAILURE + timedelta(days=3)
    second = bill(weekly_invoice, on_lead, aws, clock, cid, day_3, date(2026, 11, 23), "L2")

    # Then it is past due too, and the grace period still ends 168 h after the first failure
    assert InvoiceModel.get(second).status == "past_due"
    assert account(cid).past_due_cents == 9_000
    assert grace_fields(cid) == (instant(FIRST_FAILURE), instant(GRACE_END), "grace")


def test_r9_a_retry_that_succeeds_ends_the_grace_period_and_nothing_is_paused(
    weekly_invoice,
    on_lead,
    grace_check,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
):
    invoice_id = failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    # Given the contractor stored a good card after the failure
    save_card(localstripe, cid, VISA)

    # When the day-1 retry runs
    assert check(grace_check, clock, FIRST_FAILURE + timedelta(days=1))["retried"] == 1

    # Then the invoice is paid, nothing is past due, and the grace period is over
    assert attempts(invoice_id) == [(1, "declined"), (2, "succeeded")]
    assert InvoiceModel.get(invoice_id).status == "paid"
    assert account(cid).past_due_cents == 0
    assert grace_fields(cid) == (None, None, None)
    assert not in_grace_index(cid)
    [paid] = events(aws, "InvoicePaid")
    assert paid["detail"]["invoice_id"] == invoice_id
    # And at the old grace end nothing is paused
    assert check(grace_check, clock, GRACE_END) == {
        "running": 0,
        "retried": 0,
        "paused": 0,
        "reminded": 0,
    }
    assert dict(account(cid).pauses.as_dict()) == {}
    assert events(aws, "AccountPaused") == []


def test_r9_a_failure_after_settlement_starts_a_new_grace_period(
    weekly_invoice,
    on_lead,
    grace_check,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
):
    failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    save_card(localstripe, cid, VISA)
    check(grace_check, clock, FIRST_FAILURE + timedelta(days=1))
    assert grace_fields(cid) == (None, None, None)

    # When the card declines again and a later invoice fails
    save_card(localstripe, cid, DECLINED_AT_CHARGE)
    later = FIRST_FAILURE + timedelta(days=2)
    bill(weekly_invoice, on_lead, aws, clock, cid, later, date(2026, 11, 22), "L2")

    # Then a new grace period runs from that failure
    assert grace_fields(cid) == (instant(later), instant(later + GRACE), "grace")
    assert account(cid).past_due_cents == 4_500


def test_r10_a_lead_after_the_grace_end_is_rejected_and_pauses_with_no_schedule_run(
    weekly_invoice,
    on_lead,
    grace_check,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
):
    failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)

    # A lead a second before the grace end is charged
    clock.current = GRACE_END
    before = (GRACE_END - timedelta(seconds=1)).isoformat()
    deliver(on_lead, records_for(aws, [lead("L-before", 1_000, cid, at=before)]))
    [charged] = [e for e in events(aws) if e["detail-type"] == "LeadCharged"]
    assert charged["detail"]["lead_id"] == "L-before"

    # When a lead is delivered 168 h + 1 s after the first failure, no check having run
    clock.current = GRACE_END + timedelta(seconds=5)
    after = (GRACE_END + timedelta(seconds=1)).isoformat()
    deliver(on_lead, records_for(aws, [lead("L-after", 1_000, cid, at=after)]))

    # Then it is rejected for non-payment and the account is paused from the grace end
    announced = events(aws)
    [rejected] = [e for e in announced if e["detail-type"] == "LeadRejected"]
    assert (rejected["detail"]["lead_id"], rejected["detail"]["reason"]) == ("L-after", "paused")
    [paused] = [e for e in announced if e["detail-type"] == "AccountPaused"]
    assert paused["detail"]["reason"] == "non_payment"
    assert datetime.fromisoformat(paused["detail"]["since"]) == GRACE_END
    item = account(cid)
    assert item.pauses.as_dict() == {"non_payment": instant(GRACE_END)}
    assert item.spent_cents == 5_500  # the first invoice's lead and the one before the end
    [entry] = ledger(cid, kind="account_paused")
    assert entry.entry_id == f"pause#non_payment#{instant(GRACE_END)}"

    # And the hourly check finds the pause made: no second pause, no second announcement
    assert check(grace_check, clock, GRACE_END + timedelta(minutes=30))["paused"] == 0
    assert events(aws, "AccountPaused") == []

    # And the same lead delivered again announces the same facts, under the same ids
    again = [
        record
        for record in stream_records(aws.leads_stream_arn())
        if record["dynamodb"]["Keys"]["lead_id"]["S"] == "L-after"
    ]
    deliver(on_lead, again)
    repeated = {(e["detail-type"], e["detail"]["event_id"]) for e in events(aws)}
    assert repeated == {
        ("LeadRejected", rejected["detail"]["event_id"]),
        ("AccountPaused", paused["detail"]["event_id"]),
    }


def test_r10_paying_everything_past_due_lifts_the_non_payment_pause(
    weekly_invoice,
    on_lead,
    grace_check,
    aws: Resources,
    clock: Clock,
    cid: str,
    localstripe: str,
):
    invoice_id = failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    check(grace_check, clock, GRACE_END)
    assert account(cid).pauses.as_dict() == {"non_payment": instant(GRACE_END)}
    events(aws)

    # When the whole past-due balance is paid with a good card
    save_card(localstripe, cid, VISA)
    paid_at = GRACE_END + timedelta(days=1)
    clock.current = paid_at
    collection = grace_check.run._collection
    past_due = grace_check.run._grace.past_due_invoices(cid)
    [invoice] = past_due
    paid = collection.retry(invoice, grace_check.run._grace.get(cid), paid_at)

    # Then the pause lifts, the grace period is over, and the reactivation is recorded
    assert paid.status.value == "paid"
    item = account(cid)
    assert (dict(item.pauses.as_dict()), item.past_due_cents) == ({}, 0)
    assert grace_fields(cid) == (None, None, None)
    [entry] = ledger(cid, kind="account_reactivated")
    assert (entry.entry_id, entry.reason) == (
        f"reactivation#non_payment#{instant(GRACE_END)}",
        "non_payment",
    )
    announced = outcome_events(paid)
    assert [type(event).__name__ for event in announced] == ["InvoicePaid", "AccountReactivated"]
    assert announced[1].paused_since == GRACE_END  # type: ignore[union-attr]
    assert invoice.invoice_id == invoice_id
    assert weekly_invoice_id(cid, FRIDAY) == invoice_id
