"""Lead credits: an operator takes back the charge of a bad lead (R1, R2, R4, R6, R8).

A credit is a new fact, recorded once per lead (keyed by the lead's id, as its charge is):
the charge stays in the ledger as it was, and the credit is a new entry beside it.

- **A charge not invoiced yet** leaves the unbilled charges: no invoice lists it, and the
  unbilled amount (with the threshold headroom, R4) drops by its amount.
- **A charge invoiced already** (paid or not) stays on its invoice, which is immutable
  (R5). Its amount becomes account credit, which the next invoice takes off its total
  before the card is charged (``credit_to_apply``): never more than that total, so no
  invoice is negative; what is left stays on the account for the invoices after it.
- **Either way**, when the lead was delivered in the current budget period (R7), its amount
  goes back to that period's budget: the spend drops, and a budget pause lifts when the
  spend is now below the budget, as raising the budget does (R8). A charge of a period that
  has ended leaves that period alone: its spend is history, and what it left serves only
  late leads, which a period that ended paused for budget must never take (R8).

These functions are pure; the storage adapter (``functions.adapters.credits``) writes the
outcome in one transaction conditioned on the facts it was computed from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from functions.billing.account import Account, PauseReason
from functions.billing.errors import BillingError, FieldError
from functions.billing.events import AccountReactivated, BillingEvent, LeadCredited
from functions.billing.money import Money
from functions.billing.pauses import Trigger, apply

MAX_REASON_LENGTH = 500


class CreditKind(StrEnum):
    UNBILLED = "unbilled"  # taken off the unbilled charges: no invoice will list it
    ACCOUNT_CREDIT = "account_credit"  # invoiced already: credited against the next invoice


class InvalidCredit(FieldError):
    """A credit request with a value the billing cannot accept."""


class LeadNotFound(BillingError):
    """The account's ledger has no outcome for the lead: it was never delivered to that
    contractor, or it has not been settled yet."""

    def __init__(self, contractor_id: str, lead_id: str) -> None:
        super().__init__(f"no lead {lead_id!r} was charged or rejected on {contractor_id!r}")
        self.contractor_id = contractor_id
        self.lead_id = lead_id


class LeadNotCharged(BillingError):
    """The lead was rejected (R8, R10, R12): it was never charged, so there is nothing to
    credit."""

    def __init__(self, lead_id: str, reason: str) -> None:
        super().__init__(f"lead {lead_id!r} was rejected ({reason}), never charged")
        self.lead_id = lead_id
        self.reason = reason


class CreditMismatch(BillingError):
    """The account's spend or unbilled amount is smaller than the charge it should hold: a
    broken invariant that an operator must look at; nothing is credited."""


@dataclass(frozen=True, slots=True)
class Charge:
    """A lead's charge as the ledger holds it."""

    contractor_id: str
    lead_id: str
    amount: Money
    delivered_at: datetime
    invoice_id: str | None = None  # the invoice that claimed it; None while unbilled


@dataclass(frozen=True, slots=True)
class LeadCredit:
    """The credit of one lead's charge, as recorded; its events can be announced again
    from it (same event ids) when a retried request finds it recorded already."""

    contractor_id: str
    lead_id: str
    amount: Money
    kind: CreditKind
    reason: str
    credited_at: datetime
    invoice_id: str | None = None  # the invoice that billed the charge (account credit)
    budget_returned: bool = False  # the amount went back to the current period's budget
    reactivated_paused_since: datetime | None = None  # the budget pause the credit lifted

    def events(self) -> list[BillingEvent]:
        events: list[BillingEvent] = [
            LeadCredited(
                self.contractor_id,
                self.lead_id,
                self.amount,
                self.kind.value,
                self.invoice_id,
                self.reason,
                self.credited_at,
            )
        ]
        if self.reactivated_paused_since is not None:
            events.append(
                AccountReactivated(
                    self.contractor_id,
                    PauseReason.BUDGET,
                    self.credited_at,
                    paused_since=self.reactivated_paused_since,
                )
            )
        return events


@dataclass(frozen=True, slots=True)
class Credited:
    account: Account  # the account after the credit
    credit: LeadCredit


def validate_reason(value: object) -> str:
    """Why the lead is credited, as the operator wrote it: 1 to 500 characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidCredit("reason", "must be a non-empty string")
    if len(value) > MAX_REASON_LENGTH:
        raise InvalidCredit("reason", f"must be at most {MAX_REASON_LENGTH} characters")
    return value.strip()


def credit_charge(account: Account, charge: Charge, reason: str, at: datetime) -> Credited:
    """The account after crediting ``charge`` at ``at``, and the credit. ``account`` must be
    in the budget period containing ``at`` (``decision.roll_over``)."""
    if charge.contractor_id != account.contractor_id:
        raise ValueError(f"lead {charge.lead_id} was not charged to {account.contractor_id}")
    if at not in account.period:
        raise ValueError("roll the account over to the period of the credit first")
    reason = validate_reason(reason)
    amount = charge.amount
    changed = account
    budget_returned = charge.delivered_at in account.period
    reactivated: datetime | None = None
    if budget_returned:
        if account.spent < amount:
            raise CreditMismatch(
                f"account {account.contractor_id}: lead {charge.lead_id} charged {amount} "
                f"in this period, which shows a spend of {account.spent} only"
            )
        changed = replace(changed, spent=account.spent - amount)
        if changed.spent < changed.monthly_budget:
            # The transition of a raised budget: what remains is above zero again.
            changed, event = apply(changed, Trigger.BUDGET_RAISED, at)
            if isinstance(event, AccountReactivated):
                reactivated = event.paused_since
    if charge.invoice_id is None:
        if account.unbilled < amount:
            raise CreditMismatch(
                f"account {account.contractor_id}: lead {charge.lead_id} is unbilled for "
                f"{amount}, but the account's unbilled amount is {account.unbilled}"
            )
        unbilled = account.unbilled - amount
        changed = replace(
            changed,
            unbilled=unbilled,
            # R4: a threshold invoice is still due only while the unbilled charges reach it.
            invoice_due=account.invoice_due and unbilled >= account.threshold,
        )
        kind = CreditKind.UNBILLED
    else:
        changed = replace(changed, credit=account.credit + amount)
        kind = CreditKind.ACCOUNT_CREDIT
    credit = LeadCredit(
        contractor_id=account.contractor_id,
        lead_id=charge.lead_id,
        amount=amount,
        kind=kind,
        reason=reason,
        credited_at=at,
        invoice_id=charge.invoice_id,
        budget_returned=budget_returned,
        reactivated_paused_since=reactivated,
    )
    return Credited(changed, credit)


def credit_to_apply(available: Money, total: Money) -> Money:
    """The account credit an invoice of ``total`` takes when it is issued: all of it, up to
    the total, so that the invoice is never negative; the rest stays on the account."""
    return max(min(available, total), Money(0))
