"""R8: a budget change takes effect at once: at or below the spend it pauses, raised above
the spend it lifts a budget pause; the threshold does not move."""

from __future__ import annotations

import pytest

from functions.billing.account import MAX_BUDGET, AccountError, PauseReason
from functions.billing.budget_change import change_budget
from functions.billing.events import AccountPaused, AccountReactivated
from functions.billing.money import Money
from tests.unit.support import at_utc, make_account

T0, T1 = at_utc(2024, 1, 20, 12), at_utc(2024, 1, 21, 12)


def paused(spent: int, budget: int = 10_000):
    account = make_account(budget=budget, spent=Money(spent))
    return account.with_pauses({PauseReason.BUDGET: T0})


def test_r8_raising_the_budget_above_the_spend_lifts_a_budget_pause():
    changed, events = change_budget(paused(10_000), Money(15_000), T1)
    assert changed.pauses == {}
    assert changed.remaining == Money(5_000)
    assert events == [AccountReactivated("contractor-1", PauseReason.BUDGET, T1, paused_since=T0)]


def test_r8_raising_the_budget_lifts_a_pause_left_by_a_lead_that_did_not_fit():
    changed, events = change_budget(paused(9_000), Money(12_000), T1)
    assert changed.pauses == {}
    assert len(events) == 1


@pytest.mark.parametrize("budget", [6_000, 4_000])
def test_r8_lowering_the_budget_to_or_below_the_spend_pauses(budget: int):
    account = make_account(spent=Money(6_000))
    changed, events = change_budget(account, Money(budget), T1)
    assert set(changed.pauses) == {PauseReason.BUDGET}
    assert changed.remaining == Money(0)
    assert events == [AccountPaused("contractor-1", PauseReason.BUDGET, T1)]


def test_r8_lowering_the_budget_above_the_spend_changes_no_pause():
    changed, events = change_budget(paused(9_000), Money(9_500), T1)
    assert set(changed.pauses) == {PauseReason.BUDGET}
    assert events == []
    active, events = change_budget(make_account(spent=Money(1_000)), Money(5_000), T1)
    assert (active.pauses, events, active.remaining) == ({}, [], Money(4_000))


def test_r8_raising_a_budget_that_stays_at_or_below_the_spend_keeps_the_pause():
    account = paused(6_000, budget=4_000)
    changed, events = change_budget(account, Money(5_000), T1)
    assert set(changed.pauses) == {PauseReason.BUDGET}
    assert events == []


def test_r12_a_budget_change_leaves_a_non_payment_pause_and_the_threshold():
    account = paused(10_000).with_pauses({PauseReason.BUDGET: T0, PauseReason.NON_PAYMENT: T0})
    changed, _ = change_budget(account, Money(20_000), T1)
    assert set(changed.pauses) == {PauseReason.NON_PAYMENT}
    assert changed.threshold == account.threshold
    assert changed.invoice_headroom == account.invoice_headroom


@pytest.mark.parametrize("budget", [0, MAX_BUDGET.cents + 1])
def test_a_budget_out_of_bounds_is_refused(budget: int):
    with pytest.raises(AccountError, match="monthly_budget_cents"):
        change_budget(make_account(), Money(budget), T1)
