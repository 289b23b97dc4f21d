"""R5, R6: the daily reconciliation of the ledger's payments with Stripe's.

Once a day, for the UTC day ``D`` that ended last (or the day an operator names):

1. **Attempts left unsettled are resolved.** Every invoice whose last payment attempt
   started more than ``collection.IN_FLIGHT`` ago and has no outcome (its answer never
   came: a timeout, a function that died, a threshold trigger whose stream record
   succeeded anyway) is read from the invoices' sparse ``unsettled`` index and resolved
   through ``Collection``: looked up in Stripe, and repeated under the same idempotency key
   only when Stripe has no trace of it. An open invoice is collected, a past-due one
   retried. A resolved invoice is announced as the run that started the attempt would have:
   its email once, ``InvoiceIssued`` for a first attempt, and the outcome's events.
2. **The day's payments are compared** (``billing.reconciliation.reconcile``): the
   ``payment`` entries the ledger recorded on ``D`` (the ledger's sparse
   ``payments_by_day`` index) against the PaymentIntents Stripe charged on ``D``, and those
   the day's entries name. Each difference is a metric, a log line with its ids and an
   event on the billing bus whose id is the difference's business fact, so a run of the
   same day again announces the same ids; nothing is corrected.

Resolving comes first, so that an attempt resolved by this run is not reported as a
payment Stripe made and the ledger lacks. Everything is keyed by its business id: a run
repeated (the schedule's retries, an operator's re-run) charges, emails and records nothing
more. A run that could not resolve an invoice or announce a difference fails after doing
the rest, so that it is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from aws_lambda_powertools import Logger

from functions.adapters.accounts import AccountStore
from functions.adapters.event_bus import EventBus
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.ledger import PaymentLedger
from functions.billing.events import InvoiceIssued, ReconciliationDifference
from functions.billing.invoices import AttemptOutcome, InvoiceStatus
from functions.billing.reconciliation import (
    Difference,
    DifferenceKind,
    ProcessorPayment,
    ProcessorRecords,
    RecordedPayment,
    day_before,
    day_window,
    reconcile,
)
from functions.usecases.collection import IN_FLIGHT, Collection

logger = Logger(child=True)

RUN = "reconcile"


class InvalidRun(ValueError):
    """An event that is not a reconciliation run, or names no day that can be read."""


class ReconcileIncomplete(RuntimeError):
    """Some attempts could not be resolved, or some differences not announced: the run
    fails so that it is retried, and a retry does only what is still due."""


def parse_run(event: Any, now: datetime) -> date:
    """The day a run reconciles: the event's ``day`` (``YYYY-MM-DD``, an operator's re-run),
    else the UTC day before the schedule's ``scheduled_time`` (the same day however late a
    retry runs), else the UTC day before ``now``."""
    if not isinstance(event, dict) or event.get("run") != RUN:
        raise InvalidRun(f"not a {RUN} run")
    try:
        if event.get("day"):
            return date.fromisoformat(str(event["day"]))
        if event.get("scheduled_time"):
            scheduled = datetime.fromisoformat(str(event["scheduled_time"]).replace("Z", "+00:00"))
            if scheduled.tzinfo is None:
                scheduled = scheduled.replace(tzinfo=UTC)
            return day_before(scheduled)
    except ValueError as error:
        raise InvalidRun(f"{RUN}: {error}") from error
    return day_before(now)


@dataclass(frozen=True, slots=True)
class ReconcileOutcome:
    day: date
    unsettled: int  # attempts found unsettled for longer than IN_FLIGHT
    resolved: int  # of them, settled by this run
    compared: int  # payments compared: the ledger's of the day, and Stripe's not among them
    differences: tuple[Difference, ...]
    failed: tuple[str, ...] = ()  # invoices not resolved, events not announced

    def count(self, kind: DifferenceKind) -> int:
        return sum(1 for difference in self.differences if difference.kind is kind)

    def check(self) -> None:
        if self.failed:
            raise ReconcileIncomplete(f"{len(self.failed)} not resolved or not announced")

    def summary(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "unsettled": self.unsettled,
            "resolved": self.resolved,
            "payments_compared": self.compared,
            "differences": len(self.differences),
        }


class ReconcileRun:
    def __init__(
        self,
        *,
        invoices: InvoiceStore,
        accounts: AccountStore,
        collection: Collection,
        ledger: PaymentLedger,
        records: Callable[[], ProcessorRecords],
        bus: EventBus,
    ) -> None:
        self._invoices = invoices
        self._accounts = accounts
        self._collection = collection
        self._ledger = ledger
        self._records = records
        self._bus = bus

    def run(self, day: date, now: datetime) -> ReconcileOutcome:
        failed: list[str] = []
        unsettled, resolved = self._resolve_unsettled(now, failed)
        differences, compared = self._compare(day)
        for difference in differences:
            logger.warning("reconciliation difference", extra=_ids(day, difference))
        announced = [ReconciliationDifference.of(day, difference) for difference in differences]
        if announced:
            failed += [announced[position].event_id for position in self._bus.publish(announced)]
        outcome = ReconcileOutcome(
            day, unsettled, resolved, compared, tuple(differences), tuple(failed)
        )
        logger.info("reconciliation done", extra=outcome.summary())
        return outcome

    # ------------------------------------------------------------------ unsettled attempts

    def _resolve_unsettled(self, now: datetime, failed: list[str]) -> tuple[int, int]:
        found = resolved = 0
        for invoice_id in self._invoices.unsettled_since_before(now - IN_FLIGHT):
            found += 1
            try:
                resolved += self._resolve(invoice_id, now)
            except Exception:
                logger.exception("unsettled attempt not resolved", extra={"invoice_id": invoice_id})
                failed.append(invoice_id)
        return found, resolved

    def _resolve(self, invoice_id: str, now: datetime) -> bool:
        """Settle the invoice's unsettled attempt from Stripe (or by making it), and announce
        its outcome; whether this run settled it."""
        invoice = self._invoices.get(invoice_id)
        if invoice is None or not invoice.attempts:
            return False
        started = invoice.attempts[-1]
        if started.outcome is not AttemptOutcome.UNKNOWN or now - started.at < IN_FLIGHT:
            return False  # settled since the index was read, or started again meanwhile
        account = self._accounts.get(invoice.contractor_id)
        if invoice.status is InvoiceStatus.OPEN:
            after = self._collection.collect(invoice, account, now)
        elif invoice.status is InvoiceStatus.PAST_DUE:
            after = self._collection.retry(invoice, account, now)
        else:
            return False
        last = after.attempts[-1] if after.attempts else None
        if last is None or last.number != started.number or last.outcome is AttemptOutcome.UNKNOWN:
            logger.warning("payment outcome still unknown", extra={"invoice_id": invoice_id})
            return False
        if after.status is InvoiceStatus.PAST_DUE:
            # R9, R14: the email names the grace end, which the failure just stored.
            account = self._accounts.get(invoice.contractor_id)
        # The run that started a first attempt announces the issue with its outcome (R5);
        # it never learned the outcome, so it is announced here (same event id if repeated).
        also = [InvoiceIssued.of(after)] if started.number == 1 else []
        self._collection.announce(after, account, now, also=also)
        logger.info(
            "unsettled attempt resolved",
            extra={
                "invoice_id": invoice_id,
                "contractor_id": after.contractor_id,
                "attempt": last.number,
                "outcome": last.outcome.value,
                "payment_intent_id": last.payment_intent_id,
            },
        )
        return True

    # ------------------------------------------------------------------ comparison

    def _compare(self, day: date) -> tuple[list[Difference], int]:
        start, end = day_window(day)
        recorded = self._ledger.recorded_on(day)
        records = self._records()
        processed = records.payments_between(start, end)
        known = {payment.payment_intent_id for payment in processed}
        # A payment recorded on the day whose PaymentIntent was made the day before.
        for entry in recorded:
            intent_id = entry.payment_intent_id
            if intent_id and intent_id not in known:
                found = records.payment_intent(intent_id)
                if found is not None:
                    processed.append(found)
                known.add(intent_id)
        recorded_intents = {entry.payment_intent_id for entry in recorded}
        unmatched = [
            payment
            for payment in processed
            if payment.invoice_id is not None
            and payment.succeeded
            and payment.payment_intent_id not in recorded_intents
        ]
        contractors: dict[str, str | None] = {}
        elsewhere = [
            payment.payment_intent_id
            for payment in unmatched
            if self._recorded_elsewhere(payment, contractors)
        ]
        differences = [
            difference
            if difference.contractor_id or difference.invoice_id is None
            else replace(difference, contractor_id=self._contractor(difference, contractors))
            for difference in reconcile(recorded, processed, recorded_elsewhere=elsewhere)
        ]
        return differences, len(recorded) + len(unmatched)

    def _recorded_elsewhere(
        self, payment: ProcessorPayment, contractors: dict[str, str | None]
    ) -> bool:
        """Whether the ledger recorded this PaymentIntent's payment on another day (made
        before midnight, recorded after it; or resolved by a later run)."""
        assert payment.invoice_id is not None
        contractor = self._contractor_of(payment.invoice_id, contractors)
        if contractor is None:
            return False
        recorded: RecordedPayment | None = self._ledger.payment_of(contractor, payment.invoice_id)
        return recorded is not None and recorded.payment_intent_id == payment.payment_intent_id

    def _contractor(self, difference: Difference, contractors: dict[str, str | None]) -> str | None:
        assert difference.invoice_id is not None
        return self._contractor_of(difference.invoice_id, contractors)

    def _contractor_of(self, invoice_id: str, contractors: dict[str, str | None]) -> str | None:
        if invoice_id not in contractors:
            contractors[invoice_id] = self._ledger.contractor_of(invoice_id)
        return contractors[invoice_id]


def _ids(day: date, difference: Difference) -> dict[str, Any]:
    """What a difference's log line says: its ids and amounts in cents, nothing else."""
    return {
        "day": day.isoformat(),
        "kind": difference.kind.value,
        "contractor_id": difference.contractor_id,
        "invoice_id": difference.invoice_id,
        "payment_intent_ids": list(difference.payment_intent_ids),
        "ledger_amount_cents": (
            difference.ledger_amount.cents if difference.ledger_amount is not None else None
        ),
        "processor_amount_cents": (
            difference.processor_amount.cents if difference.processor_amount is not None else None
        ),
        "event_id": ReconciliationDifference.of(day, difference).event_id,
    }
