"""R14: which notices an account change or an instant gives, and their business ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from functions.billing.account import Account, PauseReason
from functions.billing.budget import budget_period_at
from functions.billing.grace import grace_end
from functions.billing.invoices import Card
from functions.billing.money import Money
from functions.billing.notices import NoticeKind, card_expiring, changes, reminder_due
from tests.unit.support import LOS_ANGELES, at_local, at_utc, make_account

AT = at_utc(2024, 3, 5, 18)
FIRST_FAILURE = at_utc(2024, 3, 1, 12)
END = grace_end(FIRST_FAILURE)


def paused(account: Account, **pauses: object) -> Account:
    return account.with_pauses({PauseReason(reason): since for reason, since in pauses.items()})


def kinds(notices: list) -> list[tuple[NoticeKind, PauseReason | None]]:
    return [(notice.kind, notice.reason) for notice in notices]


# -- pauses and reactivations -------------------------------------------------------------


def test_r14_a_pause_that_starts_gives_one_paused_notice_with_its_reason() -> None:
    before = make_account()
    after = paused(before, non_payment=END)

    notices = changes(before, after, AT)

    assert kinds(notices) == [(NoticeKind.PAUSED, PauseReason.NON_PAYMENT)]
    assert notices[0].at == END


def test_r14_the_same_change_seen_again_gives_the_same_notice_id() -> None:
    before = make_account()
    after = paused(before, budget=AT)

    first = changes(before, after, AT)[0].notice_id
    again = changes(before, after, AT + timedelta(hours=1))[0].notice_id
    assert first == again


def test_r14_two_pauses_of_one_reason_at_different_starts_are_two_notices() -> None:
    before = make_account()
    first = changes(before, paused(before, budget=AT), AT)[0]
    second = changes(before, paused(before, budget=AT + timedelta(days=30)), AT)[0]
    assert first.notice_id != second.notice_id


def test_r14_a_pause_that_holds_in_both_images_gives_nothing() -> None:
    before = paused(make_account(), budget=AT)
    after = replace(before, spent=Money(5))
    assert changes(before, after, AT) == []


def test_r14_a_lifted_pause_gives_a_reactivated_notice_keyed_by_the_pause() -> None:
    before = paused(make_account(), non_payment=END)
    after = make_account()

    notices = changes(before, after, AT)

    assert kinds(notices) == [(NoticeKind.REACTIVATED, PauseReason.NON_PAYMENT)]
    assert notices[0].at == AT
    assert notices[0].notice_id != changes(make_account(), before, AT)[0].notice_id


def test_r14_lifting_one_of_two_pauses_tells_of_the_lift_only() -> None:
    before = paused(make_account(), budget=AT, non_payment=END)
    after = paused(make_account(), budget=AT)
    assert kinds(changes(before, after, AT)) == [(NoticeKind.REACTIVATED, PauseReason.NON_PAYMENT)]


def test_r14_a_new_account_gives_no_notice() -> None:
    assert changes(None, make_account(), AT) == []


# -- 75 % of the budget -------------------------------------------------------------------


def test_r14_the_spend_reaching_75_percent_gives_one_warning() -> None:
    before = make_account(budget=10_000, spent=Money(7_499))
    after = replace(before, spent=Money(7_500))

    assert kinds(changes(before, after, AT)) == [(NoticeKind.BUDGET_75, None)]
    # Below the mark, or past it in both images: nothing.
    assert changes(make_account(spent=Money(7_000)), before, AT) == []
    assert changes(after, replace(after, spent=Money(8_000)), AT) == []


def test_r14_the_warning_is_keyed_by_the_budget_period() -> None:
    account = make_account(budget=10_000)
    before = replace(account, spent=Money(100))
    after = replace(account, spent=Money(9_000))
    following = budget_period_at(account.period.end, account.signed_up_at, account.timezone)
    next_before = replace(before, period=following, spent=Money(0))
    next_after = replace(after, period=following)

    this_period = changes(before, after, AT)[0].notice_id
    next_period = changes(next_before, next_after, AT)[0].notice_id

    assert this_period != next_period


def test_r14_a_new_period_then_75_percent_in_one_change_warns_again() -> None:
    """A lead that rolls the period over and reaches 75 % of the new one."""
    account = make_account(budget=10_000, spent=Money(9_000))
    following = budget_period_at(account.period.end, account.signed_up_at, account.timezone)
    after = replace(account, period=following, spent=Money(8_000))
    assert kinds(changes(account, after, AT)) == [(NoticeKind.BUDGET_75, None)]


def test_r14_lowering_the_budget_below_the_mark_warns() -> None:
    before = make_account(budget=10_000, spent=Money(5_000))
    after = replace(before, monthly_budget=Money(6_000))
    assert kinds(changes(before, after, AT)) == [(NoticeKind.BUDGET_75, None)]


def test_r14_reaching_the_budget_tells_of_the_pause_not_of_75_percent() -> None:
    """One lead from below 75 % to 100 %: the pause's email says the budget is reached."""
    before = make_account(budget=10_000, spent=Money(5_000))
    after = paused(replace(before, spent=Money(10_000)), budget=AT)
    assert kinds(changes(before, after, AT)) == [(NoticeKind.PAUSED, PauseReason.BUDGET)]


# -- grace reminders ----------------------------------------------------------------------


def in_grace(past_due: int = 12_345) -> Account:
    return make_account(past_due=Money(past_due), first_failure_at=FIRST_FAILURE, grace_ends_at=END)


@pytest.mark.parametrize("hours", [72, 24])
def test_r14_a_reminder_is_due_from_its_mark_and_not_a_second_before(hours: int) -> None:
    mark = END - timedelta(hours=hours)
    before = reminder_due(in_grace(), mark - timedelta(seconds=1))
    due = reminder_due(in_grace(), mark)

    assert due is not None and due.kind is NoticeKind.GRACE_REMINDER
    assert due.hours_before == hours
    assert before is None or before.hours_before != hours


def test_r14_each_reminder_has_one_id_for_its_grace_period() -> None:
    first = reminder_due(in_grace(), END - timedelta(hours=72))
    later = reminder_due(in_grace(), END - timedelta(hours=30))
    last = reminder_due(in_grace(), END - timedelta(hours=1))
    assert first is not None and later is not None and last is not None
    assert first.notice_id == later.notice_id
    assert last.notice_id != first.notice_id
    # A new grace period gives new reminders.
    other = replace(
        in_grace(), first_failure_at=END + timedelta(days=3), grace_ends_at=END + timedelta(days=10)
    )
    again = reminder_due(other, END + timedelta(days=9))
    assert again is not None and again.notice_id != last.notice_id


def test_r14_marks_passed_together_give_the_latest_reminder_only() -> None:
    due = reminder_due(in_grace(), END - timedelta(hours=2))
    assert due is not None and due.hours_before == 24


def test_r14_no_reminder_before_72_hours_after_the_end_or_with_nothing_past_due() -> None:
    assert reminder_due(in_grace(), END - timedelta(hours=73)) is None
    assert reminder_due(in_grace(), END) is None
    assert reminder_due(in_grace(past_due=0), END - timedelta(hours=1)) is None
    assert reminder_due(make_account(), END - timedelta(hours=1)) is None


# -- card expiring ------------------------------------------------------------------------


def with_card(exp_month: int, exp_year: int) -> Account:
    card = Card("pm_1", "visa", "4242", exp_month, exp_year)
    return make_account(timezone=LOS_ANGELES, card=card)


def test_r14_a_card_expiring_this_local_month_gives_a_notice() -> None:
    account = with_card(12, 2026)
    # 2026-12-01 03:00 UTC is still November 30 in Los Angeles.
    assert card_expiring(account, at_local(LOS_ANGELES, 2026, 11, 30, 19)) is None
    due = card_expiring(account, at_local(LOS_ANGELES, 2026, 12, 1, 0, 0))
    assert due is not None and due.kind is NoticeKind.CARD_EXPIRING
    assert card_expiring(account, at_local(LOS_ANGELES, 2026, 12, 31, 23, 59)) == replace(
        due, at=at_local(LOS_ANGELES, 2026, 12, 31, 23, 59)
    )
    assert card_expiring(account, at_local(LOS_ANGELES, 2027, 1, 1)) is None


def test_r14_a_new_card_gets_its_own_expiry_notice() -> None:
    now = at_local(LOS_ANGELES, 2026, 12, 10)
    first = card_expiring(with_card(12, 2026), now)
    replaced = card_expiring(
        replace(with_card(12, 2026), card=Card("pm_2", "visa", "1881", 12, 2026)), now
    )
    assert first is not None and replaced is not None
    assert first.notice_id != replaced.notice_id
    assert card_expiring(make_account(), now) is None
