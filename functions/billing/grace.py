"""R9, R10: the grace period that follows a failed payment, and its end.

The grace period starts at the account's first failed payment and ends exactly ``GRACE``
later; later failures neither restart nor extend it. During it the past-due invoices are
collected again on fixed days after the first failure. When it ends with anything still
past due, the account is paused for non-payment (R10); when everything past due is paid
before, it is over and nothing is paused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from functions.billing.account import Account, PauseReason
from functions.billing.money import Money

GRACE = timedelta(hours=168)
# R9: the days after the first failure on which past-due invoices are collected again.
RETRY_DAYS: tuple[int, ...] = (1, 3, 6)


def grace_end(first_failure: datetime) -> datetime:
    """R9: the end of the grace period that ``first_failure`` started; nothing moves it."""
    return first_failure + GRACE


def retry_slots(first_failure: datetime, days: Sequence[int] = RETRY_DAYS) -> list[datetime]:
    """The instants of the automatic retries, each strictly inside the grace period."""
    end = grace_end(first_failure)
    slots = [first_failure + timedelta(days=day) for day in sorted(days) if day > 0]
    return [slot for slot in slots if slot < end]


def due_retries(first_failure: datetime, now: datetime, days: Sequence[int] = RETRY_DAYS) -> int:
    """How many retry slots have come by ``now``; none count at or after the grace end."""
    if now >= grace_end(first_failure):
        return 0
    return sum(1 for slot in retry_slots(first_failure, days) if slot <= now)


def latest_retry_slot(
    first_failure: datetime, now: datetime, days: Sequence[int] = RETRY_DAYS
) -> datetime | None:
    """The latest retry slot reached by ``now`` while the grace period runs, if any."""
    due = due_retries(first_failure, now, days)
    return retry_slots(first_failure, days)[due - 1] if due else None


def retry_due(
    first_failure: datetime,
    last_attempt_at: datetime,
    now: datetime,
    days: Sequence[int] = RETRY_DAYS,
) -> bool:
    """R9: whether an invoice whose last attempt was at ``last_attempt_at`` is collected
    again at ``now``: a slot has come that no attempt followed yet. A slot gives one
    attempt however often it is checked, and slots missed together give one attempt."""
    slot = latest_retry_slot(first_failure, now, days)
    return slot is not None and last_attempt_at < slot


def grace_over(account: Account, at: datetime) -> bool:
    """R10: the grace period ended at or before ``at`` with something still past due."""
    return (
        account.grace_ends_at is not None
        and at >= account.grace_ends_at
        and account.past_due > Money(0)
    )


def pauses_for_non_payment(account: Account, at: datetime) -> bool:
    """R10: at ``at`` the account must be paused for non-payment and is not yet."""
    return grace_over(account, at) and PauseReason.NON_PAYMENT not in account.pauses
