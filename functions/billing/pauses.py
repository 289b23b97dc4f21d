"""R8, R10, R12: pauses and reactivations, as a table of transitions.

An account holds a set of independent pauses, each with its reason and the instant it
started. It receives leads only when the set is empty. A trigger either starts one kind
of pause or lifts it; starting a pause that holds already, or lifting one that does not,
changes nothing and announces nothing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from functions.billing.account import Account, PauseReason
from functions.billing.events import AccountPaused, AccountReactivated


class Trigger(StrEnum):
    BUDGET_REACHED = "budget_reached"  # R8: spend reached the budget, or a lead did not fit
    BUDGET_PERIOD_STARTED = "budget_period_started"  # R8: a new period lifts a budget pause
    BUDGET_RAISED = "budget_raised"  # R8: the budget now exceeds the spend
    GRACE_ENDED_UNPAID = "grace_ended_unpaid"  # R10
    BALANCE_SETTLED = "balance_settled"  # R10, R11


_PAUSE, _LIFT = "pause", "lift"

TRANSITIONS: dict[Trigger, tuple[str, PauseReason]] = {
    Trigger.BUDGET_REACHED: (_PAUSE, PauseReason.BUDGET),
    Trigger.BUDGET_PERIOD_STARTED: (_LIFT, PauseReason.BUDGET),
    Trigger.BUDGET_RAISED: (_LIFT, PauseReason.BUDGET),
    Trigger.GRACE_ENDED_UNPAID: (_PAUSE, PauseReason.NON_PAYMENT),
    Trigger.BALANCE_SETTLED: (_LIFT, PauseReason.NON_PAYMENT),
}


def apply(
    account: Account, trigger: Trigger, at: datetime
) -> tuple[Account, AccountPaused | AccountReactivated | None]:
    """The account after ``trigger`` at ``at``, and the event it produced, if any."""
    action, reason = TRANSITIONS[trigger]
    pauses = dict(account.pauses)
    if action == _PAUSE:
        if reason in pauses:
            return account, None
        pauses[reason] = at
        return account.with_pauses(pauses), AccountPaused(account.contractor_id, reason, at)
    since = pauses.pop(reason, None)
    if since is None:
        return account, None
    return account.with_pauses(pauses), AccountReactivated(
        account.contractor_id, reason, at, paused_since=since
    )


def stored_transitions(
    old: Account | None, new: Account
) -> list[AccountPaused | AccountReactivated]:
    """The announcements that a stored change of the account from ``old`` to ``new`` makes
    certain, each equal to the one its writer published (same event id, same fact): every
    pause that started, and every budget pause that a new budget period lifted (its instant
    is the period's start, ``decision.roll_over``).

    A reactivation of another kind (a budget raised, a lead credited, a balance settled)
    happened at the instant of its request, which the account does not keep; the request
    announces it, and announces it again when it is repeated."""
    old_pauses = dict(old.pauses) if old else {}
    events: list[AccountPaused | AccountReactivated] = []
    since = old_pauses.get(PauseReason.BUDGET)
    if (
        old is not None
        and since is not None
        and new.pauses.get(PauseReason.BUDGET) != since
        and new.period.start > old.period.start
    ):
        events.append(
            AccountReactivated(new.contractor_id, PauseReason.BUDGET, new.period.start, since)
        )
    events += [
        AccountPaused(new.contractor_id, reason, started)
        for reason, started in sorted(new.pauses.items())
        if old_pauses.get(reason) != started
    ]
    return events
