"""R9, R10: the grace period's end, its retry days, and a lead at its end. No mocks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.billing.account import PauseReason
from functions.billing.decision import Outcome, apply_decision, decide
from functions.billing.events import AccountPaused, LeadRejected, RejectReason
from functions.billing.grace import (
    GRACE,
    RETRY_DAYS,
    due_retries,
    grace_end,
    grace_over,
    latest_retry_slot,
    pauses_for_non_payment,
    retry_due,
    retry_slots,
)
from functions.billing.money import Money
from tests.unit.support import at_utc, make_account, make_lead

FAILED = at_utc(2024, 1, 20, 12, 0)
END = FAILED + timedelta(hours=168)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def in_grace(past_due: int = 4_500, **changes):
    return make_account(
        past_due=Money(past_due), first_failure_at=FAILED, grace_ends_at=END, **changes
    )


def test_r9_the_grace_period_ends_exactly_168_hours_after_the_first_failure():
    assert timedelta(hours=168) == GRACE
    assert grace_end(FAILED) == END


def test_r9_the_retries_fall_on_days_1_3_and_6_after_the_first_failure():
    assert RETRY_DAYS == (1, 3, 6)
    assert retry_slots(FAILED) == [FAILED + DAY, FAILED + 3 * DAY, FAILED + 6 * DAY]


def test_r9_retry_days_are_configurable_and_never_reach_the_grace_end():
    assert retry_slots(FAILED, (2, 7, 8)) == [FAILED + 2 * DAY]


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (FAILED, 0),
        (FAILED + DAY - SECOND, 0),
        (FAILED + DAY, 1),
        (FAILED + 3 * DAY - SECOND, 1),
        (FAILED + 3 * DAY, 2),
        (FAILED + 6 * DAY, 3),
        (END - SECOND, 3),
        (END, 0),
        (END + DAY, 0),
    ],
)
def test_r9_due_retries_count_the_slots_reached_and_none_at_the_grace_end(now, due):
    assert due_retries(FAILED, now) == due


def test_r9_a_retry_is_due_once_per_slot_however_often_it_is_checked():
    day_1 = FAILED + DAY
    assert latest_retry_slot(FAILED, day_1 + timedelta(hours=5)) == day_1
    assert retry_due(FAILED, FAILED, day_1)
    assert not retry_due(FAILED, day_1, day_1 + timedelta(hours=1))
    assert retry_due(FAILED, day_1, FAILED + 3 * DAY)
    # Slots missed together give one attempt
    assert retry_due(FAILED, FAILED, FAILED + 6 * DAY)
    assert not retry_due(FAILED, FAILED + 6 * DAY, END - SECOND)
    # None at or after the grace end
    assert not retry_due(FAILED, FAILED, END)


def test_r10_the_grace_period_is_over_unpaid_at_its_end_exactly():
    account = in_grace()
    assert not grace_over(account, END - SECOND)
    assert grace_over(account, END)
    assert not grace_over(in_grace(past_due=0), END)
    assert not grace_over(make_account(), END)


def test_r10_a_paused_account_needs_no_second_non_payment_pause():
    account = in_grace()
    assert pauses_for_non_payment(account, END)
    paused = account.with_pauses({PauseReason.NON_PAYMENT: END})
    assert not pauses_for_non_payment(paused, END + DAY)


def test_r9_a_lead_a_second_before_the_grace_end_is_charged():
    account = in_grace()
    lead = make_lead(delivered_at=END - SECOND, price=500)

    assert decide(account, lead).outcome is Outcome.CHARGE


def test_r10_a_lead_after_the_grace_end_is_rejected_and_pauses_from_the_grace_end():
    # Given an account whose grace period ended unpaid, and no schedule paused it yet
    account = in_grace()
    lead = make_lead(delivered_at=END + SECOND, price=500)

    # When the lead is decided and applied, later still
    decision = decide(account, lead)
    after, events = apply_decision(account, lead, decision, END + DAY)

    # Then it is rejected as paused and the account is paused from the grace end
    assert (decision.outcome, decision.reason) == (Outcome.REJECT, RejectReason.PAUSED)
    assert decision.pauses_for_non_payment and not decision.pauses_for_budget
    assert [type(event) for event in events] == [LeadRejected, AccountPaused]
    assert events[1] == AccountPaused(account.contractor_id, PauseReason.NON_PAYMENT, END)
    assert dict(after.pauses) == {PauseReason.NON_PAYMENT: END}
    assert (after.spent, after.unbilled) == (account.spent, account.unbilled)


def test_r10_a_lead_after_the_grace_end_of_a_paid_account_is_charged():
    account = in_grace(past_due=0)
    lead = make_lead(delivered_at=END + SECOND, price=500)

    assert decide(account, lead).outcome is Outcome.CHARGE


def test_r10_once_paused_for_non_payment_a_lead_is_rejected_without_a_new_pause():
    account = in_grace().with_pauses({PauseReason.NON_PAYMENT: END})
    lead = make_lead(delivered_at=END + DAY, price=500)

    decision = decide(account, lead)
    _, events = apply_decision(account, lead, decision, END + DAY)

    assert decision.reason is RejectReason.PAUSED and not decision.pauses_for_non_payment
    assert [type(event) for event in events] == [LeadRejected]
