"""The daily reconciliation (R6, R11): the payments the ledger recorded on a day against the
payments the processor made that day, and every difference between them.

Both sides are given as values; reading them is the adapters' work. A payment is matched
on its PaymentIntent first: the ledger records the one that paid each invoice. What does
not match is a ``Difference`` with its kind and ids, never corrected here: a difference is
money recorded and not taken, or taken and not recorded, and it goes to people (a metric,
a log line, an event), except what the billing can settle by itself: an attempt whose
answer never came is resolved from the processor's record of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol

from functions.billing.money import Money


@dataclass(frozen=True, slots=True)
class RecordedPayment:
    """A ``payment`` entry of the ledger: the invoice it paid, with the PaymentIntent."""

    contractor_id: str
    invoice_id: str
    payment_intent_id: str | None
    amount: Money
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class ProcessorPayment:
    """A PaymentIntent as the processor holds it, with what the billing wrote into it."""

    payment_intent_id: str
    invoice_id: str | None  # None: not made by the billing
    attempt: int | None
    amount: Money
    succeeded: bool
    created_at: datetime


class DifferenceKind(StrEnum):
    # Money taken that the ledger does not show: a payment to record (or to refund).
    UNRECORDED_PAYMENT = "unrecorded_payment"
    # A payment in the ledger that the processor did not make: money never taken.
    PAYMENT_NOT_MADE = "payment_not_made"
    # Both sides have the payment, for different amounts.
    AMOUNT_MISMATCH = "amount_mismatch"
    # More than one succeeded PaymentIntent for one invoice: the customer paid twice.
    CHARGED_TWICE = "charged_twice"


@dataclass(frozen=True, slots=True)
class Difference:
    kind: DifferenceKind
    invoice_id: str | None
    payment_intent_ids: tuple[str, ...]
    ledger_amount: Money | None
    processor_amount: Money | None
    contractor_id: str | None = None

    @property
    def key(self) -> str:
        """The difference's business id: the same difference found again has the same."""
        return f"{self.kind.value}~{self.invoice_id or '-'}~{'+'.join(self.payment_intent_ids)}"


class ProcessorRecords(Protocol):
    """What the reconciliation reads from the processor (``adapters.payments``); raises
    ``payments.PaymentsUnavailable`` when the processor cannot be reached."""

    def payments_between(self, start: datetime, end: datetime) -> list[ProcessorPayment]:
        """The PaymentIntents charged in ``[start, end)``, the billing's and any other."""
        ...

    def payment_intent(self, payment_intent_id: str) -> ProcessorPayment | None:
        """One PaymentIntent, whenever it was made; None when the processor has none."""
        ...


def day_before(at: datetime) -> date:
    """The day a daily run at ``at`` reconciles by default: the UTC day that ended last."""
    return at.astimezone(UTC).date() - timedelta(days=1)


def day_window(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a reconciliation day covers: from its midnight to the next."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def reconcile(
    recorded: Iterable[RecordedPayment],
    processed: Iterable[ProcessorPayment],
    *,
    recorded_elsewhere: Iterable[str] = (),
) -> list[Difference]:
    """The differences between the day's payments in the ledger and in the processor.

    ``processed`` holds the processor's PaymentIntents of the day, the billing's and any
    other, and those the day's recorded payments name (one made just before midnight and
    recorded after it); only the billing's (those naming an invoice) are compared.
    ``recorded_elsewhere``
    names the PaymentIntents of the day that the ledger recorded on another day (a payment
    made just before midnight and recorded just after it): they are not unrecorded.
    """
    ours = [payment for payment in processed if payment.invoice_id is not None]
    succeeded = [payment for payment in ours if payment.succeeded]
    by_intent = {payment.payment_intent_id: payment for payment in ours}
    known_elsewhere = set(recorded_elsewhere)
    differences: list[Difference] = []

    by_invoice: dict[str, list[ProcessorPayment]] = defaultdict(list)
    for payment in succeeded:
        assert payment.invoice_id is not None
        by_invoice[payment.invoice_id].append(payment)
    for invoice_id, payments in sorted(by_invoice.items()):
        if len(payments) > 1:
            differences.append(
                Difference(
                    DifferenceKind.CHARGED_TWICE,
                    invoice_id,
                    tuple(sorted(payment.payment_intent_id for payment in payments)),
                    None,
                    Money(sum(payment.amount.cents for payment in payments)),
                )
            )

    recorded_intents: set[str] = set()
    for entry in sorted(recorded, key=lambda entry: (entry.recorded_at, entry.invoice_id)):
        intent = by_intent.get(entry.payment_intent_id or "")
        if entry.payment_intent_id is not None:
            recorded_intents.add(entry.payment_intent_id)
        if entry.amount == Money(0) and entry.payment_intent_id is None:
            continue  # covered by account credit: no money was to be taken
        if intent is None or not intent.succeeded:
            differences.append(
                Difference(
                    DifferenceKind.PAYMENT_NOT_MADE,
                    entry.invoice_id,
                    (entry.payment_intent_id,) if entry.payment_intent_id else (),
                    entry.amount,
                    None if intent is None else intent.amount,
                    entry.contractor_id,
                )
            )
        elif intent.amount != entry.amount:
            differences.append(
                Difference(
                    DifferenceKind.AMOUNT_MISMATCH,
                    entry.invoice_id,
                    (intent.payment_intent_id,),
                    entry.amount,
                    intent.amount,
                    entry.contractor_id,
                )
            )

    for payment in sorted(succeeded, key=lambda payment: payment.created_at):
        if payment.payment_intent_id in recorded_intents | known_elsewhere:
            continue
        differences.append(
            Difference(
                DifferenceKind.UNRECORDED_PAYMENT,
                payment.invoice_id,
                (payment.payment_intent_id,),
                None,
                payment.amount,
            )
        )
    return differences
