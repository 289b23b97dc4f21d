"""Facts the billing announces to the lead distribution system and to the contractor.

Each event carries an ``event_id`` derived from its business id, so a consumer that sees
the same fact twice (deliveries are at-least-once) can tell it is the same fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from functions.billing.account import PauseReason
from functions.billing.invoices import Invoice, PaymentAttempt
from functions.billing.money import Money
from functions.billing.reconciliation import Difference, DifferenceKind


class RejectReason(StrEnum):
    BUDGET = "budget"
    PAUSED = "paused"
    INVALID = "invalid"
    UNKNOWN_CONTRACTOR = "unknown_contractor"


@dataclass(frozen=True, slots=True)
class LeadCharged:
    contractor_id: str
    lead_id: str
    amount: Money
    category: str
    delivered_at: datetime

    @property
    def event_id(self) -> str:
        return f"LeadCharged:{self.lead_id}"


@dataclass(frozen=True, slots=True)
class LeadRejected:
    contractor_id: str | None
    lead_id: str | None
    reason: RejectReason
    detail: str

    @property
    def event_id(self) -> str:
        return f"LeadRejected:{self.lead_id}"


@dataclass(frozen=True, slots=True)
class AccountPaused:
    contractor_id: str
    reason: PauseReason
    since: datetime

    @property
    def event_id(self) -> str:
        return f"AccountPaused:{self.contractor_id}:{self.reason}:{self.since.isoformat()}"


@dataclass(frozen=True, slots=True)
class AccountReactivated:
    contractor_id: str
    reason: PauseReason
    at: datetime
    paused_since: datetime

    @property
    def event_id(self) -> str:
        return (
            f"AccountReactivated:{self.contractor_id}:{self.reason}:{self.paused_since.isoformat()}"
        )


@dataclass(frozen=True, slots=True)
class InvoiceIssued:
    contractor_id: str
    invoice_id: str
    kind: str
    total: Money
    issued_at: datetime

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceIssued:
        """The fact that ``invoice`` was issued, whichever delivery announces it."""
        return cls(
            invoice.contractor_id,
            invoice.invoice_id,
            invoice.kind.value,
            invoice.total,
            invoice.issued_at,
        )

    @property
    def event_id(self) -> str:
        return f"InvoiceIssued:{self.invoice_id}"


@dataclass(frozen=True, slots=True)
class InvoicePaid:
    contractor_id: str
    invoice_id: str
    amount: Money
    payment_intent_id: str | None

    @property
    def event_id(self) -> str:
        return f"InvoicePaid:{self.invoice_id}"


@dataclass(frozen=True, slots=True)
class PaymentFailed:
    """R6, R9: a collection attempt failed; the grace period runs from the first failure."""

    contractor_id: str
    invoice_id: str
    amount: Money
    attempt: int
    reason: str

    @classmethod
    def of(cls, invoice: Invoice, attempt: PaymentAttempt) -> PaymentFailed:
        """The failure of ``attempt`` to collect ``invoice``: its decline code, or its
        outcome when the processor gave none."""
        return cls(
            invoice.contractor_id,
            invoice.invoice_id,
            invoice.amount_due,
            attempt.number,
            attempt.decline_code or attempt.outcome.value,
        )

    @property
    def event_id(self) -> str:
        return f"PaymentFailed:{self.invoice_id}:{self.attempt}"


@dataclass(frozen=True, slots=True)
class LeadCredited:
    """An operator credited a bad lead's charge (``billing.credits``): ``kind`` says how
    (``unbilled``: taken off the charges not invoiced yet; ``account_credit``: invoiced
    already, ``invoice_id`` names the invoice, and the amount is credited against the next
    invoice). At most once per lead, whence the event id."""

    contractor_id: str
    lead_id: str
    amount: Money
    kind: str
    invoice_id: str | None
    reason: str
    credited_at: datetime

    @property
    def event_id(self) -> str:
        return f"LeadCredited:{self.lead_id}"


@dataclass(frozen=True, slots=True)
class ReconciliationDifference:
    """The daily reconciliation (``billing.reconciliation``) found the ledger and the
    processor disagreeing about a payment of ``day`` (UTC): money recorded and not taken,
    taken and not recorded, taken for another amount, or taken twice. For people to look
    at; nothing was corrected. The event id is the business fact (the day, the kind and the
    ids), so a re-run of the same day announces the same ids again, never new ones."""

    contractor_id: str | None
    day: date
    kind: DifferenceKind
    invoice_id: str | None
    payment_intent_ids: tuple[str, ...]
    ledger_amount: Money | None
    processor_amount: Money | None

    @classmethod
    def of(cls, day: date, difference: Difference) -> ReconciliationDifference:
        return cls(
            difference.contractor_id,
            day,
            difference.kind,
            difference.invoice_id,
            difference.payment_intent_ids,
            difference.ledger_amount,
            difference.processor_amount,
        )

    @property
    def event_id(self) -> str:
        return (
            f"ReconciliationDifference:{self.day.isoformat()}:{self.kind}:"
            f"{self.invoice_id or '-'}:{'+'.join(self.payment_intent_ids) or '-'}"
        )


BillingEvent = (
    LeadCharged
    | LeadRejected
    | AccountPaused
    | AccountReactivated
    | InvoiceIssued
    | InvoicePaid
    | PaymentFailed
    | LeadCredited
    | ReconciliationDifference
)
