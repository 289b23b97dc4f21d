"""R14: which emails a contractor receives besides the invoice, and their business ids.

A notice is a fact about the account that the contractor must hear of once:

* ``PAUSED``: a pause started (R8 budget reached, R10 grace ended unpaid). A budget pause
  is the "100 % of the budget reached" email: reaching the budget is what pauses.
* ``REACTIVATED``: a pause lifted (R8 new period or raised budget, R10 balance settled).
  When another pause still holds, the same email says so and why.
* ``BUDGET_75``: the spend of a budget period reached 75 % of its budget.
* ``GRACE_REMINDER``: 72 and 24 hours before the grace end while something is past due.
* ``CARD_EXPIRING``: the card on file expires at the end of this month (local time).

The payment failure itself (R9) is told by the failed invoice's own email, which carries
the grace end in local time and how to update the card; it is not sent twice.

Each notice has a ``notice_id`` made of the facts that identify it (the pause and its
start, the budget period, the grace period, the card and its month), so a fact seen again
(a redelivered stream record, an hourly check run twice) gives the same id, and the
sender sends each id once. These functions are pure: they compare account snapshots, or
look at one snapshot at an instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from functions.billing.account import Account, PauseReason
from functions.billing.money import Money

# R14: the reminders before the grace end, in hours, latest first when several are due.
REMINDER_HOURS: tuple[int, ...] = (72, 24)
BUDGET_WARNING_PERCENT = 75


class NoticeKind(StrEnum):
    PAUSED = "paused"
    REACTIVATED = "reactivated"
    BUDGET_75 = "budget_75"
    GRACE_REMINDER = "grace_reminder"
    CARD_EXPIRING = "card_expiring"


@dataclass(frozen=True, slots=True)
class Notice:
    """One email to send. The words come from the account snapshot the notice was found on
    (balances, budget, grace end, card, language, timezone, account manager) and these
    fields: ``reason`` for a pause or a lift, ``paused_since`` for a lift (the start of the
    pause that lifted), ``hours_before`` for a reminder."""

    kind: NoticeKind
    contractor_id: str
    notice_id: str
    at: datetime  # the instant of the fact; the email's date
    reason: PauseReason | None = None
    paused_since: datetime | None = None
    hours_before: int | None = None


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def paused_notice(contractor_id: str, reason: PauseReason, since: datetime) -> Notice:
    return Notice(
        NoticeKind.PAUSED,
        contractor_id,
        f"paused~{reason.value}~{_stamp(since)}",
        since,
        reason=reason,
    )


def reactivated_notice(
    contractor_id: str, reason: PauseReason, paused_since: datetime, at: datetime
) -> Notice:
    """The lift of the pause of ``reason`` that started at ``paused_since``."""
    return Notice(
        NoticeKind.REACTIVATED,
        contractor_id,
        f"reactivated~{reason.value}~{_stamp(paused_since)}",
        at,
        reason=reason,
        paused_since=paused_since,
    )


def changes(old: Account | None, new: Account, at: datetime) -> list[Notice]:
    """The notices a change of the account from ``old`` to ``new`` (at ``at``) gives.

    Pauses that started and pauses that lifted are compared by reason and start; a budget
    crossing 75 % in ``new``'s budget period, unless the same change paused for budget
    (the pause's email says more)."""
    old_pauses = dict(old.pauses) if old else {}
    notices = [
        reactivated_notice(new.contractor_id, reason, since, at)
        for reason, since in sorted(old_pauses.items())
        if new.pauses.get(reason) != since
    ]
    notices += [
        paused_notice(new.contractor_id, reason, since)
        for reason, since in sorted(new.pauses.items())
        if old_pauses.get(reason) != since
    ]
    newly_paused_for_budget = any(
        notice.kind is NoticeKind.PAUSED and notice.reason is PauseReason.BUDGET
        for notice in notices
    )
    if not newly_paused_for_budget and _warned(new) and not (old and _same_period_warned(old, new)):
        notices.append(
            Notice(
                NoticeKind.BUDGET_75,
                new.contractor_id,
                f"budget75~{_stamp(new.period.start)}",
                at,
            )
        )
    return notices


def _warned(account: Account) -> bool:
    """The spend has reached the warning share of the budget (integer arithmetic)."""
    return account.spent.cents * 100 >= account.monthly_budget.cents * BUDGET_WARNING_PERCENT


def _same_period_warned(old: Account, new: Account) -> bool:
    return old.period.start == new.period.start and _warned(old)


def reminder_due(account: Account, now: datetime) -> Notice | None:
    """R14: the grace reminder due at ``now``: the latest mark (72 h, 24 h before the grace
    end) reached, while the grace period runs and something is past due. Marks passed
    together give the latest one only."""
    first, end = account.first_failure_at, account.grace_ends_at
    if first is None or end is None or account.past_due <= Money(0) or now >= end:
        return None
    reached = [hours for hours in REMINDER_HOURS if now >= end - timedelta(hours=hours)]
    if not reached:
        return None
    hours = min(reached)
    return Notice(
        NoticeKind.GRACE_REMINDER,
        account.contractor_id,
        f"grace-reminder-{hours}h~{_stamp(first)}",
        now,
        hours_before=hours,
    )


def card_expiring(account: Account, now: datetime) -> Notice | None:
    """R14: the card on file expires at the end of ``now``'s month in the account's
    timezone (a card is good through the last day of its expiry month)."""
    card = account.card
    if card is None:
        return None
    local = now.astimezone(ZoneInfo(account.timezone))
    if (local.year, local.month) != (card.exp_year, card.exp_month):
        return None
    return Notice(
        NoticeKind.CARD_EXPIRING,
        account.contractor_id,
        f"card-expiring~{card.payment_method_id}~{card.expiry_month}",
        now,
    )
