"""R1, R2, R7, R8, R10, R12: what happens to a delivered lead.

A lead is charged at its own price (R1) to the budget period it was delivered in (R7),
when no pause holds and its price fits in what remains of that period's budget (R8). A
lead that does not fit is rejected and pauses the account for budget; a lead that fits
exactly is charged and pauses it. A lead delivered at or after the end of a grace period
that ended unpaid is rejected and pauses the account for non-payment from the grace end
(R10), as if the hourly check had paused it already. A lead seen before is a duplicate
and changes nothing (R2); the storage adapter detects that, since it needs the ledger.

These functions are pure: the storage adapter turns a decision into one conditional
transaction whose conditions are the facts the decision relied on, so a decision made on
a stale snapshot is cancelled by DynamoDB rather than applied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from functions.billing.account import Account, PauseReason
from functions.billing.budget import budget_period_at
from functions.billing.events import (
    AccountPaused,
    AccountReactivated,
    BillingEvent,
    LeadCharged,
    LeadRejected,
    RejectReason,
)
from functions.billing.grace import pauses_for_non_payment
from functions.billing.leads import InvalidLead, Lead
from functions.billing.money import Money
from functions.billing.pauses import Trigger, apply

# A lead stamped later than this past the billing's clock is refused rather than charged
# to a budget period that has not started.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class Outcome(StrEnum):
    CHARGE = "charge"
    REJECT = "reject"


class Slot(StrEnum):
    """Which budget period a lead is charged to."""

    CURRENT = "current"
    PREVIOUS = "previous"  # delivered before a reset, processed after it


@dataclass(frozen=True, slots=True)
class LeadDecision:
    outcome: Outcome
    slot: Slot
    reason: RejectReason | None = None
    detail: str = ""
    pauses_for_budget: bool = False
    # R10: the grace period ended unpaid at the lead's instant: rejected, and the account is
    # paused for non-payment from the grace end, whether or not a schedule did it yet.
    pauses_for_non_payment: bool = False
    reaches_threshold: bool = False  # R4: the charge brings the unbilled charges to the threshold


def check_delivery_time(lead: Lead, now: datetime) -> None:
    if lead.delivered_at > now + MAX_CLOCK_SKEW:
        raise InvalidLead("delivered_at", f"is in the future: {lead.delivered_at.isoformat()}")


def roll_over(account: Account, at: datetime) -> tuple[Account, list[AccountReactivated]]:
    """R7, R8: start the budget period containing ``at`` when it is later than the stored one.

    Spend starts from zero and a budget pause lifts at the period's start. The period just
    ended is kept as the previous one, so late leads delivered in it are still charged to it.
    """
    if at < account.period.end:
        return account, []
    period = budget_period_at(at, account.signed_up_at, account.timezone)
    if period.start == account.period.end:
        # A period that ended paused for budget accepts no late lead (R8, R12).
        paused = PauseReason.BUDGET in account.pauses
        previous = account.period
        previous_remaining = Money(0) if paused else account.remaining
    else:  # whole periods went by without a lead: nothing was spent in the one before
        previous = budget_period_at(
            period.start - timedelta(microseconds=1), account.signed_up_at, account.timezone
        )
        previous_remaining = account.monthly_budget
    rolled = replace(
        account,
        period=period,
        spent=Money(0),
        previous_period=previous,
        previous_remaining=previous_remaining,
    )
    rolled, event = apply(rolled, Trigger.BUDGET_PERIOD_STARTED, period.start)
    return rolled, [event] if isinstance(event, AccountReactivated) else []


def decide(account: Account, lead: Lead) -> LeadDecision:
    """The outcome of ``lead`` for an account already rolled over to the lead's period."""
    if lead.delivered_at in account.period:
        return _decide_current(account, lead)
    if account.previous_period is not None and lead.delivered_at in account.previous_period:
        return _decide_previous(account, lead)
    raise InvalidLead(
        "delivered_at",
        f"{lead.delivered_at.isoformat()} is before the account's previous budget period",
    )


def _grace_ended(account: Account, lead: Lead, slot: Slot) -> LeadDecision | None:
    if not pauses_for_non_payment(account, lead.delivered_at):
        return None
    return LeadDecision(
        Outcome.REJECT,
        slot,
        RejectReason.PAUSED,
        "account paused for non_payment: the grace period ended unpaid",
        pauses_for_non_payment=True,
    )


def _decide_current(account: Account, lead: Lead) -> LeadDecision:
    lapsed = _grace_ended(account, lead, Slot.CURRENT)
    if lapsed is not None:
        return lapsed
    if account.pauses:
        return LeadDecision(
            Outcome.REJECT, Slot.CURRENT, RejectReason.PAUSED, _pause_detail(account)
        )
    if lead.price > account.remaining:
        return LeadDecision(
            Outcome.REJECT,
            Slot.CURRENT,
            RejectReason.BUDGET,
            f"price {lead.price} exceeds the remaining budget {account.remaining}",
            pauses_for_budget=True,
        )
    return LeadDecision(
        Outcome.CHARGE,
        Slot.CURRENT,
        pauses_for_budget=lead.price == account.remaining,
        reaches_threshold=lead.price >= account.invoice_headroom,
    )


def _decide_previous(account: Account, lead: Lead) -> LeadDecision:
    # The budget pause, if any, belongs to the current period; non-payment holds for all.
    lapsed = _grace_ended(account, lead, Slot.PREVIOUS)
    if lapsed is not None:
        return lapsed
    if PauseReason.NON_PAYMENT in account.pauses:
        return LeadDecision(
            Outcome.REJECT, Slot.PREVIOUS, RejectReason.PAUSED, _pause_detail(account)
        )
    remaining = account.previous_remaining or Money(0)
    if lead.price > remaining:
        return LeadDecision(
            Outcome.REJECT,
            Slot.PREVIOUS,
            RejectReason.BUDGET,
            f"price {lead.price} exceeds what remained of the previous budget period {remaining}",
        )
    return LeadDecision(
        Outcome.CHARGE, Slot.PREVIOUS, reaches_threshold=lead.price >= account.invoice_headroom
    )


def _pause_detail(account: Account) -> str:
    return "account paused for " + " and ".join(sorted(account.pauses))


def apply_decision(
    account: Account, lead: Lead, decision: LeadDecision, at: datetime
) -> tuple[Account, list[BillingEvent]]:
    """The account after ``decision`` was carried out at ``at``, and the events it produced."""
    events: list[BillingEvent] = []
    if decision.outcome is Outcome.CHARGE:
        if decision.slot is Slot.CURRENT:
            account = replace(account, spent=account.spent + lead.price)
        else:
            previous, remaining = account.previous_period, account.previous_remaining
            assert previous is not None and remaining is not None
            account = replace(account, previous_remaining=remaining - lead.price)
        account = replace(
            account,
            unbilled=account.unbilled + lead.price,
            invoice_due=account.invoice_due or decision.reaches_threshold,
        )
        events.append(
            LeadCharged(
                account.contractor_id,
                lead.lead_id,
                lead.price,
                lead.category,
                lead.delivered_at,
            )
        )
    else:
        assert decision.reason is not None
        events.append(
            LeadRejected(account.contractor_id, lead.lead_id, decision.reason, decision.detail)
        )
    if decision.pauses_for_budget:
        account, paused = apply(account, Trigger.BUDGET_REACHED, at)
        if isinstance(paused, AccountPaused):
            events.append(paused)
    if decision.pauses_for_non_payment:
        assert account.grace_ends_at is not None
        # R10: the pause starts at the grace end, not when it is noticed.
        account, paused = apply(account, Trigger.GRACE_ENDED_UNPAID, account.grace_ends_at)
        if isinstance(paused, AccountPaused):
            events.append(paused)
    return account, events
