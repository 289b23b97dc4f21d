"""R2, R3, R4, R6: invoices, and what a payment attempt does to them.

An invoice is immutable once issued: its lines and total never change. What changes is
its collection: each payment attempt is appended, and the status follows the attempts.
A paid invoice stays paid whatever arrives later (a late failure notice cannot undo it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from functions.billing.money import Money

FRIDAY = 4  # date.weekday()

# R3: the timezones the Friday run covers, one schedule each. An account must be in one.
BILLING_TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
)


class InvoiceKind(StrEnum):
    WEEKLY = "weekly"  # R3: every Friday in the account's timezone
    THRESHOLD = "threshold"  # R4: as soon as unbilled charges reach the threshold


class InvoiceStatus(StrEnum):
    OPEN = "open"  # issued, not collected yet
    PAID = "paid"
    PAST_DUE = "past_due"


class AttemptOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"  # the card was refused: decline_code says why
    NO_CARD = "no_card"  # nothing to charge: the account has no card on file
    UNKNOWN = "unknown"  # Stripe's answer never came: resolved later, never by charging again


@dataclass(frozen=True, slots=True)
class Card:
    """The card on file, as Stripe describes it; its number never reaches the billing."""

    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    @property
    def expiry_month(self) -> str:
        """The month the card is good through, to its last day: ``YYYY-MM``."""
        return f"{self.exp_year:04d}-{self.exp_month:02d}"

    def expired(self, at: datetime, timezone: str) -> bool:
        """A card is good through the last day of its expiry month."""
        local = at.astimezone(ZoneInfo(timezone))
        return (local.year, local.month) > (self.exp_year, self.exp_month)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    lead_id: str
    delivered_at: datetime
    category: str
    amount: Money


@dataclass(frozen=True, slots=True)
class PaymentAttempt:
    number: int
    at: datetime
    outcome: AttemptOutcome
    payment_intent_id: str | None = None
    decline_code: str | None = None
    card: Card | None = None
    # R11: the card update that made this attempt (a SetupIntent id, or the Stripe event of
    # an automatic card update), so that one update makes at most one attempt per invoice.
    card_update: str | None = None


@dataclass(frozen=True, slots=True)
class Invoice:
    invoice_id: str
    contractor_id: str
    kind: InvoiceKind
    issued_at: datetime
    lines: tuple[InvoiceLine, ...]
    status: InvoiceStatus = InvoiceStatus.OPEN
    attempts: tuple[PaymentAttempt, ...] = ()
    # R10, R12: when its payment settled the whole past-due balance of an account paused
    # for non-payment: when, and since when that pause held.
    reactivated_at: datetime | None = None
    reactivated_paused_since: datetime | None = None
    # The account credit (lead credits of invoiced charges) taken off this invoice when it
    # was issued; fixed with its lines. ``amount_due`` is what the card is charged.
    credit_applied: Money = Money(0)

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError("an invoice has at least one line: there are no $0 invoices")
        if self.credit_applied < Money(0) or self.credit_applied > self.total:
            raise ValueError(
                f"credit applied {self.credit_applied} must be from $0.00 to the total "
                f"{self.total}: an invoice is never negative"
            )

    @property
    def total(self) -> Money:
        """The sum of the leads' prices (R1): what the leads cost, before any credit."""
        return sum((line.amount for line in self.lines), Money(0))

    @property
    def amount_due(self) -> Money:
        """What is charged to the card (R6): the total less the credit applied."""
        return self.total - self.credit_applied

    @property
    def paid_with(self) -> Card | None:
        for attempt in self.attempts:
            if attempt.outcome is AttemptOutcome.SUCCEEDED:
                return attempt.card
        return None

    def attempted_with(self, card_update: str) -> bool:
        """R11: whether the card update ``card_update`` made an attempt on this invoice."""
        return any(attempt.card_update == card_update for attempt in self.attempts)

    @property
    def next_attempt_number(self) -> int:
        return len(self.attempts) + 1


def weekly_invoice_id(contractor_id: str, friday: date) -> str:
    """R3: one weekly invoice per account and Friday, whoever runs the job and how often.

    Invoice ids travel in URL paths: they are made of the contractor id (letters, digits
    and ``-_.:``, see ``account.CONTRACTOR_ID``) and unreserved characters only."""
    return f"{contractor_id}~W{friday.isoformat()}"


def threshold_invoice_id(contractor_id: str, sequence: int) -> str:
    """R4: the threshold invoice that follows the account's ``sequence``-th invoice, so two
    leads crossing the threshold together name the same invoice."""
    return f"{contractor_id}~T{sequence:06d}"


def local_friday(instant: datetime, timezone: str) -> date | None:
    """The local date when ``instant`` falls on a Friday in ``timezone``, else None (R3)."""
    local = instant.astimezone(ZoneInfo(timezone)).date()
    return local if local.weekday() == FRIDAY else None


def status_after(status: InvoiceStatus, outcome: AttemptOutcome) -> InvoiceStatus:
    """R6: succeeded: paid. Declined or no card: past due, unless it was paid already (a
    late failure never undoes a payment). Unknown: unchanged until Stripe's answer is known.
    """
    if outcome is AttemptOutcome.SUCCEEDED:
        return InvoiceStatus.PAID
    if outcome is AttemptOutcome.UNKNOWN or status is InvoiceStatus.PAID:
        return status
    return InvoiceStatus.PAST_DUE


def record_attempt(invoice: Invoice, attempt: PaymentAttempt) -> Invoice:
    """The invoice after a collection attempt (R6)."""
    status = status_after(invoice.status, attempt.outcome)
    return replace(invoice, status=status, attempts=(*invoice.attempts, attempt))
